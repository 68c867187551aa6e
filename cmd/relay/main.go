// Command relay runs btspeed's relay (package relay): the HTTP and WebTorrent
// WebSocket tracker, the /ledger/ gateway to an embedded ledger (or -ledger
// URL), the web app from -web, and seeds for -seed paths, earning BTT with
// Speed for the wallet in -wallet (password from $BTSPEED_PASSWORD).
//
// Every flag can also be set by an environment variable, shown in -h. It
// prints "listening on http://ADDR" and a magnet link per seed on standard
// output, logs JSON to standard error, and stops gracefully on SIGINT or
// SIGTERM (closing the channels that pay it first).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/btspeed/btspeed/internal/daemon"
	"github.com/btspeed/btspeed/internal/tronsetup"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
)

// version is set by build.sh.
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
}

type config struct {
	listen, data, ledgerURL, ledgerID, genesis, faucet string
	web, seeds, wallet, reserve, peerListen, publicURL string
	rtcPort, rtcIPs, dht, dhtBootstrap                 string
	tron                                               tronsetup.Flags
	bridgePrivate                                      bool
}

func run(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	var c config
	daemon.EnvFlag(fs, &c.listen, "listen", "BTSPEED_RELAY_LISTEN", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	daemon.EnvFlag(fs, &c.data, "data", "BTSPEED_RELAY_DATA", ".btspeed/relay", "directory for the embedded ledger's file")
	daemon.EnvFlag(fs, &c.ledgerURL, "ledger", "BTSPEED_RELAY_LEDGER", "", "URL of a ledger to gateway to instead of the embedded one")
	daemon.EnvFlag(fs, &c.ledgerID, "ledger-id", "BTSPEED_LEDGER_ID", "btspeed-devnet", "the embedded ledger's id")
	daemon.EnvFlag(fs, &c.genesis, "genesis", "BTSPEED_LEDGER_GENESIS", "dev", "genesis for an empty embedded ledger: dev, or none")
	daemon.EnvFlag(fs, &c.faucet, "faucet-difficulty", "BTSPEED_FAUCET_DIFFICULTY", "16", "faucet proof-of-work bits (0: no faucet)")
	daemon.EnvFlag(fs, &c.web, "web", "BTSPEED_RELAY_WEB", "", "directory of the web app to serve at / (e.g. dist/web)")
	daemon.EnvFlag(fs, &c.seeds, "seed", "BTSPEED_RELAY_SEED", "", "files or directories to seed, comma-separated")
	daemon.EnvFlag(fs, &c.wallet, "wallet", "BTSPEED_RELAY_WALLET", "", "keystore file of the account seeding earns for (password from $BTSPEED_PASSWORD)")
	daemon.EnvFlag(fs, &c.reserve, "reserve", "BTSPEED_RELAY_RESERVE", "0", "reserve price for the relay's upload slots, BTT per MiB")
	daemon.EnvFlag(fs, &c.peerListen, "peer-listen", "BTSPEED_RELAY_PEER_LISTEN", ":0", "where the seeder accepts BitTorrent peers, TCP and uTP")
	daemon.EnvFlag(fs, &c.publicURL, "public-url", "BTSPEED_RELAY_PUBLIC_URL", "", "the relay's public base URL, announced in its torrents (default http://LISTEN)")
	daemon.EnvFlag(fs, &c.rtcPort, "rtc-port", "BTSPEED_RELAY_RTC_PORT", "0", "one UDP port for every WebRTC connection (0: ephemeral ports)")
	daemon.EnvFlag(fs, &c.rtcIPs, "rtc-ip", "BTSPEED_RELAY_RTC_IP", "", "public IPs to announce as WebRTC candidates, comma-separated (behind 1:1 NAT)")
	daemon.EnvFlag(fs, &c.dht, "dht", "BTSPEED_RELAY_DHT", ":6881", "UDP address of the DHT node that finds classic peers for the bridge (\"off\" disables it)")
	daemon.EnvFlag(fs, &c.dhtBootstrap, "dht-bootstrap", "BTSPEED_RELAY_DHT_BOOTSTRAP", "", "DHT nodes to start from, host:port comma-separated (default: the well-known ones)")
	c.tron.Register(fs, "devnet")
	fs.BoolVar(&c.bridgePrivate, "bridge-private", os.Getenv("BTSPEED_RELAY_BRIDGE_PRIVATE") == "1", "let the bridge dial private and loopback addresses ($BTSPEED_RELAY_BRIDGE_PRIVATE=1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, c, log)
}

func serve(ctx context.Context, c config, log *slog.Logger) error {
	reserve, err := speed.ParseBTT(c.reserve)
	if err != nil {
		return fmt.Errorf("-reserve: %w", err)
	}
	var bits uint
	if _, err := fmt.Sscan(c.faucet, &bits); err != nil || bits > 40 {
		return fmt.Errorf("-faucet-difficulty %q: want 0..40", c.faucet)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	if c.publicURL == "" {
		c.publicURL = "http://" + ln.Addr().String()
	}
	cfg := relay.Config{LedgerURL: c.ledgerURL, WebDir: c.web, PeerListen: c.peerListen, PublicURL: c.publicURL,
		Reserve: reserve, Logger: log, Version: version, BridgeAllowPrivate: c.bridgePrivate}
	if c.dht != "off" {
		cfg.DHT = c.dht
	}
	for _, n := range strings.Split(c.dhtBootstrap, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.DHTBootstrap = append(cfg.DHTBootstrap, n)
		}
	}
	if cfg.RTCPort, err = strconv.Atoi(c.rtcPort); err != nil || cfg.RTCPort < 0 || cfg.RTCPort > 65535 {
		return fmt.Errorf("-rtc-port %q: want a UDP port number", c.rtcPort)
	}
	for _, ip := range strings.Split(c.rtcIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			if _, perr := netip.ParseAddr(ip); perr != nil {
				return fmt.Errorf("-rtc-ip %q: %w", ip, perr)
			}
			cfg.RTCPublicIPs = append(cfg.RTCPublicIPs, ip)
		}
	}
	if c.seeds != "" {
		cfg.Seed = strings.Split(c.seeds, ",")
	}
	if c.wallet != "" {
		data, err := wallet.ReadKeystoreFile(c.wallet)
		if err != nil {
			return err
		}
		k, err := wallet.DecryptKeystore(data, []byte(os.Getenv("BTSPEED_PASSWORD")))
		if err != nil {
			return fmt.Errorf("%s: %w (password from $BTSPEED_PASSWORD)", c.wallet, err)
		}
		cfg.Key = k
	}
	var funded []devnet.Account
	if cfg.Key != nil {
		// The relay's wallet gets 1,000,000 TRX and 1,000,000 BTT on the
		// devnet's genesis.
		funded = append(funded, devnet.Account{Address: cfg.Key.Address(), TRX: 1_000_000 * 1_000_000, Asset: 1_000_000 * 1_000_000})
	}
	c.tron.NoExchange = c.ledgerURL != "" // that ledger runs its own
	tron, err := c.tron.Open(ctx, c.data, funded, log)
	if err != nil {
		return err
	}
	defer tron.Close()
	if tron.Chain != nil {
		fmt.Printf("tron devnet gRPC on %s\n", tron.GRPCAddr)
	}
	cfg.Tron = tron.HTTP
	if c.ledgerURL == "" {
		l, err := server.Open(ctx, server.Config{ID: c.ledgerID, DB: filepath.Join(c.data, "ledger.db"), Genesis: c.genesis,
			FaucetBits: bits, Version: version, Logger: log, Exchange: tron.Policy})
		if err != nil {
			return err
		}
		defer l.Close()
		cfg.Ledger = l
	}
	var ex *exchange.Exchange
	if cfg.Ledger != nil && tron.Policy != nil {
		if ex, err = tron.Exchange(cfg.Ledger.Ledger, tronsetup.CrashStep()); err != nil {
			return err
		}
	}
	rl, err := relay.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	for _, s := range rl.Seeds() {
		fmt.Printf("seeding %s: %s\n", s.Path, s.Magnet)
	}
	log.Info("relay serving", "addr", ln.Addr().String(), "ledger", ledgerName(cfg), "seeds", len(cfg.Seed), "speed", cfg.Key != nil)
	stopped := func() {
		if err := rl.Close(); err != nil {
			log.Warn("closing the seeder", "err", err)
		}
	}
	return daemon.Serve(ctx, ln, rl, log, stopped,
		func(ctx context.Context) { rl.Expire(ctx, time.Minute) },
		func(ctx context.Context) {
			if cfg.Ledger != nil {
				if err := cfg.Ledger.Run(ctx); err != nil {
					log.Error("ledger expiry loop", "err", err)
				}
			}
		},
		func(ctx context.Context) {
			if ex != nil {
				ex.Run(ctx)
			}
		})
}

func ledgerName(c relay.Config) string {
	if c.Ledger != nil {
		return "embedded " + c.Ledger.Storage
	}
	return c.LedgerURL
}
