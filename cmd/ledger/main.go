// Command ledger runs btspeed's private ledger: the HTTP JSON API of package
// ledger (docs/ledger-api.md) on embedded storage (a bbolt file, the
// default) or PostgreSQL (-postgres URL).
//
// Every flag can also be set by an environment variable, shown in -h. On an
// empty store with -genesis dev (the default with -tron off or devnet, and
// refused with a real TRON network) it writes the development network's
// genesis (package genesis), whose ecosystem account pays the faucet; with
// -genesis none (the default with a real TRON network) the ledger starts
// empty and its money comes from deposits.
//
// With -tron (devnet, or a node's grpc://HOST:PORT) it runs the exchange to
// TRON (docs/tron.md): deposits to the exchange address are credited, and
// withdrawals are sent. -tron devnet embeds a TRON development network,
// its state beside -db.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/internal/ratelimit"
	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/server/daemon"
	"github.com/btspeed/btspeed/server/tronsetup"
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
	trusted    []netip.Prefix
	rate       float64
	tron       tronsetup.Flags
	tls        daemon.TLS
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	daemon.EnvFlag(fs, &c.listen, "listen", "BTSPEED_LEDGER_LISTEN", "127.0.0.1:8500", "address to serve HTTP on")
	daemon.EnvFlag(fs, &c.id, "id", "BTSPEED_LEDGER_ID", "btspeed-devnet", "ledger id that requests must name")
	daemon.EnvFlag(fs, &c.db, "db", "BTSPEED_LEDGER_DB", "ledger.db", "bbolt file for embedded storage")
	daemon.EnvFlag(fs, &c.postgres, "postgres", "BTSPEED_LEDGER_POSTGRES", "", "PostgreSQL URL; replaces -db")
	daemon.EnvFlag(fs, &c.genesis, "genesis", "BTSPEED_LEDGER_GENESIS", "", tronsetup.GenesisUsage)
	bits := "20"
	daemon.EnvFlag(fs, &bits, "faucet-difficulty", "BTSPEED_FAUCET_DIFFICULTY", bits, "faucet proof-of-work difficulty in bits (0 turns the faucet off)")
	var trusted, rate string
	daemon.EnvFlag(fs, &trusted, "trusted-proxies", "BTSPEED_TRUSTED_PROXIES", "", "CIDRs or addresses of the reverse proxies (or relays) in front of the ledger, comma-separated: their X-Forwarded-For names the client (default: none)")
	daemon.EnvFlag(fs, &rate, "rate", "BTSPEED_LEDGER_RATE", "200", "requests per second per client, a batch counting each operation; bursts of twice as many (0: no limit)")
	c.tron.Register(fs, "off")
	c.tls.Register(fs, "acme beside -db")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := fmt.Sscan(bits, &c.faucetBits); err != nil || c.faucetBits > 40 {
		return fmt.Errorf("-faucet-difficulty %q: want 0..40", bits)
	}
	var err error
	if c.trusted, err = clientip.ParsePrefixes(trusted); err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	if c.rate, err = strconv.ParseFloat(rate, 64); err != nil || c.rate < 0 || c.rate > 1e6 {
		return fmt.Errorf("-rate %q: want requests per second, 0 for no limit", rate)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, c, log)
}

func serve(ctx context.Context, c config, log *slog.Logger) error {
	var err error
	if c.genesis, err = c.tron.Genesis(c.genesis); err != nil {
		return err
	}
	tron, err := c.tron.Open(ctx, filepath.Dir(c.db), nil, log)
	if err != nil {
		return err
	}
	defer tron.Close()
	clients := clientip.New(c.trusted)
	l, err := server.Open(ctx, server.Config{ID: c.id, DB: c.db, Postgres: c.postgres, Genesis: c.genesis,
		FaucetBits: c.faucetBits, FaucetTRX: tron.FaucetTRX(), Version: version, Logger: log, Exchange: tron.Policy, ClientAddr: clients.Addr})
	if err != nil {
		return err
	}
	defer l.Close()
	var ex *exchange.Exchange
	if tron.Policy != nil {
		if ex, err = tron.Exchange(l.Ledger, tronsetup.CrashStep()); err != nil {
			return err
		}
	}
	h := http.Handler(l.Handler())
	if tron.HTTP != nil {
		mux := http.NewServeMux()
		mux.Handle("/tron/", http.StripPrefix("/tron", tron.HTTP))
		mux.Handle("/", h)
		h = mux
	}
	if c.rate > 0 {
		h = ledger.Limit(h, ratelimit.New(c.rate, max(2*int(c.rate), api.MaxBatch), 0), clients.Addr)
	}
	if tron.Chain != nil {
		fmt.Printf("tron devnet gRPC on %s\n", tron.GRPCAddr)
	}
	inv, err := l.Check(ctx)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	url := "http://" + ln.Addr().String()
	if c.tls.On() {
		url = c.tls.PublicURL(ln)
		if c.tls.Cache == "" {
			c.tls.Cache = filepath.Join(filepath.Dir(c.db), "acme")
		}
	}
	serveLn, redirect, err := c.tls.Wrap(ln, log, os.Stdout)
	if err != nil {
		return err
	}
	log.Info("ledger serving", "id", c.id, "addr", ln.Addr().String(), "url", url, "supply", uint64(inv.Supply), "storage", l.Storage)
	// Print the address on stdout for scripts and tests that listen on :0.
	fmt.Printf("listening on %s\n", url)
	return daemon.Serve(ctx, serveLn, h, log, nil, redirect, func(ctx context.Context) {
		l.Lead(ctx, func(ctx context.Context) { background(ctx, l, ex, log) })
	})
}

// background runs the expiry loop and the exchange (if any) until ctx
// ends: in the one process leading those that share a PostgreSQL database.
func background(ctx context.Context, l *server.Ledger, ex *exchange.Exchange, log *slog.Logger) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.Run(ctx); err != nil {
			log.Error("expiry loop", "err", err)
		}
	}()
	if ex != nil {
		ex.Run(ctx)
	}
	wg.Wait()
}
