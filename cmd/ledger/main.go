// Command ledger runs btspeed's private ledger: the HTTP JSON API of package
// ledger (docs/ledger-api.md) on embedded storage (a bbolt file, the
// default) or PostgreSQL (-postgres URL).
//
// Every flag can also be set by an environment variable, shown in -h. On an
// empty store with -genesis dev it writes the development network's genesis
// (package genesis), whose ecosystem account pays the faucet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/boltstore"
	"github.com/btspeed/btspeed/ledger/store/pgstore"
	"github.com/btspeed/btspeed/shared/wallet"
)

// version is set by build.sh.
var version = "dev"

type config struct {
	listen     string
	id         string
	db         string
	postgres   string
	genesis    string
	faucetBits uint
	faucetOff  bool
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

// envFlag registers a string flag whose default comes from an environment
// variable.
func envFlag(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	if v := os.Getenv(env); v != "" {
		def = v
	}
	fs.StringVar(p, name, def, usage+" ($"+env+")")
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	envFlag(fs, &c.listen, "listen", "BTSPEED_LEDGER_LISTEN", "127.0.0.1:8500", "address to serve HTTP on")
	envFlag(fs, &c.id, "id", "BTSPEED_LEDGER_ID", "btspeed-devnet", "ledger id that requests must name")
	envFlag(fs, &c.db, "db", "BTSPEED_LEDGER_DB", "ledger.db", "bbolt file for embedded storage")
	envFlag(fs, &c.postgres, "postgres", "BTSPEED_LEDGER_POSTGRES", "", "PostgreSQL URL; replaces -db")
	envFlag(fs, &c.genesis, "genesis", "BTSPEED_LEDGER_GENESIS", "dev", "genesis for an empty store: dev, or none")
	bits := "20"
	envFlag(fs, &bits, "faucet-difficulty", "BTSPEED_FAUCET_DIFFICULTY", bits, "faucet proof-of-work difficulty in bits (0 turns the faucet off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := fmt.Sscan(bits, &c.faucetBits); err != nil || c.faucetBits > 40 {
		return fmt.Errorf("-faucet-difficulty %q: want 0..40", bits)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, c, log)
}

func serve(ctx context.Context, c config, log *slog.Logger) error {
	var st store.Store
	var err error
	if c.postgres != "" {
		st, err = pgstore.Open(ctx, c.postgres)
	} else {
		st, err = boltstore.Open(c.db, boltstore.Options{})
	}
	if err != nil {
		return err
	}
	defer st.Close()

	cfg := ledger.Config{ID: c.id, Store: st, Logger: log, Version: version}
	var allocs []genesis.Allocation
	if c.genesis == "dev" {
		if allocs, err = genesis.Dev(); err != nil {
			return err
		}
		if c.faucetBits > 0 {
			p := faucet.DefaultParams()
			p.Difficulty = uint8(c.faucetBits)
			cfg.Faucet = &p
			cfg.FaucetAccount = ecosystem(allocs)
		}
	} else if c.genesis != "none" {
		return fmt.Errorf("-genesis %q: want dev or none", c.genesis)
	}
	l, err := ledger.New(ctx, cfg)
	if err != nil {
		return err
	}
	if allocs != nil {
		if err := l.Init(ctx, allocs); err != nil {
			return err
		}
	}
	inv, err := l.Check(ctx)
	if err != nil {
		return fmt.Errorf("checking the books: %w", err)
	}
	if !inv.OK {
		return fmt.Errorf("books do not balance: balances %d + escrow %d != supply %d", inv.Balances, inv.Escrow, inv.Supply)
	}

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("ledger serving", "id", c.id, "addr", ln.Addr().String(), "supply", uint64(inv.Supply), "storage", storageName(c))
	// Print the address on stdout for scripts and tests that listen on :0.
	fmt.Printf("listening on http://%s\n", ln.Addr())

	// Two goroutines, both owned here: the HTTP server and the expiry loop.
	// Either ending (or a signal) stops both, and serve waits for both.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	runDone := make(chan struct{})
	go func() { serveErr <- srv.Serve(ln) }()
	go func() {
		defer close(runDone)
		if err := l.Run(ctx, time.Second); err != nil {
			log.Error("expiry loop", "err", err)
		}
	}()
	var err2 error
	select {
	case <-ctx.Done():
	case err2 = <-serveErr:
	}
	log.Info("ledger stopping")
	cancel()
	shut, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shut); err != nil && err2 == nil {
		err2 = err
	}
	<-runDone
	if err2 == nil {
		err2 = <-serveErr
	}
	if errors.Is(err2, http.ErrServerClosed) {
		return nil
	}
	return err2
}

func ecosystem(allocs []genesis.Allocation) wallet.Address {
	for _, al := range allocs {
		if al.Name == genesis.FaucetAllocation {
			return al.Account
		}
	}
	return wallet.Address{}
}

func storageName(c config) string {
	if c.postgres != "" {
		return "postgres"
	}
	return "bbolt:" + strings.TrimSpace(c.db)
}
