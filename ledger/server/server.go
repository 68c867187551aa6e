//go:build !js

// Package server opens and runs a complete ledger: storage (a bbolt file or
// PostgreSQL), the development genesis and faucet when asked, the books
// checked at start-up, and the expiry loop. cmd/ledger serves it alone; the
// relay embeds it behind its /ledger/ gateway.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/boltstore"
	"github.com/btspeed/btspeed/ledger/store/pgstore"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Config says which ledger to open.
type Config struct {
	ID       string // the ledger id requests must name
	DB       string // bbolt file (embedded storage, the default)
	Postgres string // PostgreSQL URL; replaces DB
	Genesis  string // "dev": write the development genesis into an empty store; "none"
	// FaucetBits is the faucet's proof-of-work difficulty (0: no faucet);
	// only with the dev genesis, whose ecosystem account pays it.
	FaucetBits uint
	// FaucetTRX is ledger.Config.FaucetTRX (devnet test TRX with each
	// grant; nil: none).
	FaucetTRX func(ctx context.Context, to wallet.Address) (uint64, error)
	Version   string
	Logger    *slog.Logger
	// Exchange enables withdrawals to TRON (ledger/exchange sends them).
	Exchange *ledger.Exchange
	// ClientAddr tells which client a request comes from, for the
	// faucet's per-address limit (nil: the connection's peer; a
	// clientip.Resolver's Addr behind trusted proxies).
	ClientAddr func(*http.Request) netip.Addr
}

// Ledger is an open ledger and its storage.
type Ledger struct {
	*ledger.Ledger
	Storage string // "bbolt:FILE" or "postgres"
	st      store.Store
	log     *slog.Logger
}

// Open opens the storage, writes the genesis into an empty store and checks
// that the books balance.
func Open(ctx context.Context, c Config) (*Ledger, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var st store.Store
	var err error
	name := "bbolt:" + strings.TrimSpace(c.DB)
	if c.Postgres != "" {
		st, err = pgstore.Open(ctx, c.Postgres)
		name = "postgres"
	} else {
		st, err = boltstore.Open(c.DB, boltstore.Options{})
	}
	if err != nil {
		return nil, err
	}
	l, err := open(ctx, c, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Ledger{Ledger: l, Storage: name, st: st, log: c.Logger}, nil
}

func open(ctx context.Context, c Config, st store.Store) (*ledger.Ledger, error) {
	cfg := ledger.Config{ID: c.ID, Store: st, Logger: c.Logger, Version: c.Version, Exchange: c.Exchange, ClientAddr: c.ClientAddr}
	var allocs []genesis.Allocation
	var err error
	switch c.Genesis {
	case "dev":
		if allocs, err = genesis.Dev(); err != nil {
			return nil, err
		}
		if c.FaucetBits > 0 {
			p := faucet.DefaultParams()
			p.Difficulty = uint8(c.FaucetBits)
			cfg.Faucet = &p
			cfg.FaucetAccount = ecosystem(allocs)
			cfg.FaucetTRX = c.FaucetTRX
		}
	case "none", "":
	default:
		return nil, fmt.Errorf("genesis %q: want dev or none", c.Genesis)
	}
	l, err := ledger.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if allocs != nil {
		if err := l.Init(ctx, allocs); err != nil {
			return nil, err
		}
	}
	inv, err := l.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the books: %w", err)
	}
	if !inv.OK {
		return nil, fmt.Errorf("books do not balance: balances %d + escrow %d != supply %d", inv.Balances, inv.Escrow, inv.Supply)
	}
	return l, nil
}

func ecosystem(allocs []genesis.Allocation) wallet.Address {
	for _, al := range allocs {
		if al.Name == genesis.FaucetAllocation {
			return al.Account
		}
	}
	return wallet.Address{}
}

// Run expires channels every interval until ctx ends.
func (l *Ledger) Run(ctx context.Context) error {
	err := l.Ledger.Run(ctx, time.Second)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Lead runs fn, the loops of which one process at a time may run (the
// expiry loop, the exchange), until ctx ends. On PostgreSQL, where several
// ledger processes (front-ends) may share the database, it runs fn only
// while this process leads them (pgstore.Store.Lead): one at a time, and
// another within a few seconds of the leader's death. The embedded
// store has one process, which runs fn at once.
func (l *Ledger) Lead(ctx context.Context, fn func(ctx context.Context)) {
	pg, ok := l.st.(*pgstore.Store)
	if !ok {
		fn(ctx)
		return
	}
	_ = pg.Lead(ctx, time.Second, func(ctx context.Context) {
		l.log.Info("leading the front-ends on this database: the expiry loop and the exchange run here")
		fn(ctx)
		l.log.Info("no longer leading")
	})
}

// Close closes the storage.
func (l *Ledger) Close() error { return l.st.Close() }
