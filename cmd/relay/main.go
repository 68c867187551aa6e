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
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/server/daemon"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy/provider"
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
	trackerRate, trackerSockets, redis                 string
	trusted, ledgerRate                                string
	tron                                               tronsetup.Flags
	tls                                                daemon.TLS
	bridgePrivate, banner                              bool

	bridgeLowPorts  bool
	bridgePeersRate string
	bridgeRate      string

	proxyListen, proxyRate, proxyMaxSize, proxyUpload string
	proxyLoopback                                     bool
	storage                                           storageFlags
}

func run(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	var c config
	daemon.EnvFlag(fs, &c.listen, "listen", "BTSPEED_RELAY_LISTEN", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	daemon.EnvFlag(fs, &c.data, "data", "BTSPEED_RELAY_DATA", ".btspeed/relay", "directory for the embedded ledger's file")
	daemon.EnvFlag(fs, &c.ledgerURL, "ledger", "BTSPEED_RELAY_LEDGER", "", "URL of a ledger to gateway to instead of the embedded one")
	daemon.EnvFlag(fs, &c.ledgerID, "ledger-id", "BTSPEED_LEDGER_ID", "btspeed-devnet", "the embedded ledger's id")
	daemon.EnvFlag(fs, &c.genesis, "genesis", "BTSPEED_LEDGER_GENESIS", "", tronsetup.GenesisUsage)
	daemon.EnvFlag(fs, &c.faucet, "faucet-difficulty", "BTSPEED_FAUCET_DIFFICULTY", "20", "faucet proof-of-work bits (0: no faucet)")
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
	daemon.EnvFlag(fs, &c.trackerRate, "tracker-rate", "BTSPEED_RELAY_TRACKER_RATE", strconv.Itoa(tracker.DefaultAnnounceRate), "tracker announces a second one address may make, in bursts of 20 times as many (0: no per-address rates)")
	daemon.EnvFlag(fs, &c.trackerSockets, "tracker-sockets", "BTSPEED_RELAY_TRACKER_SOCKETS", strconv.Itoa(tracker.DefaultMaxSocketsPerAddr), "WebSocket connections one address may hold at once (0: no cap)")
	daemon.EnvFlag(fs, &c.trusted, "trusted-proxies", "BTSPEED_TRUSTED_PROXIES", "", "CIDRs or addresses of the reverse proxies in front of the relay (Caddy, nginx, the edge Worker), comma-separated: their X-Forwarded-For names the client (default: none)")
	daemon.EnvFlag(fs, &c.ledgerRate, "ledger-rate", "BTSPEED_RELAY_LEDGER_RATE", "20", "/ledger/, /tron/ and /healthz requests per second per client, a batch counting each operation; bursts of twice as many")
	daemon.EnvFlag(fs, &c.proxyListen, "proxy-listen", "BTSPEED_RELAY_PROXY_LISTEN", "", "TCP address to serve the paid proxy on, fetching URLs for BTT paid to -wallet; browsers reach it at GET /proxy/ws (docs/speed-protocol.md section 11; default off)")
	daemon.EnvFlag(fs, &c.proxyRate, "proxy-rate", "BTSPEED_RELAY_PROXY_RATE", "0.01", "the paid proxy's price, BTT per MiB")
	daemon.EnvFlag(fs, &c.proxyMaxSize, "proxy-max-size", "BTSPEED_RELAY_PROXY_MAX_SIZE", strconv.Itoa(provider.DefaultMaxLength), "the largest content the paid proxy fetches, bytes")
	daemon.EnvFlag(fs, &c.proxyUpload, "proxy-upload-limit", "BTSPEED_RELAY_PROXY_UPLOAD_LIMIT", "0", "the paid proxy's upload cap, bytes a second for all requesters together (0: none)")
	fs.BoolVar(&c.proxyLoopback, "proxy-allow-loopback", false, "let the paid proxy fetch from loopback addresses: for tests on one machine only")
	daemon.EnvFlag(fs, &c.redis, "redis", "BTSPEED_REDIS", "", "Redis URL (redis://HOST:6379/0) shared by several relays: their trackers share swarms, peers on any relay meet (default: swarms in this process only)")
	c.tron.Register(fs, "devnet")
	c.storage.register(fs)
	c.tls.Register(fs, "DATA/acme")
	fs.BoolVar(&c.bridgePrivate, "bridge-private", os.Getenv("BTSPEED_RELAY_BRIDGE_PRIVATE") == "1", "let the bridge dial private and loopback addresses ($BTSPEED_RELAY_BRIDGE_PRIVATE=1)")
	fs.BoolVar(&c.banner, "banner", os.Getenv("BTSPEED_RELAY_BANNER") == "1", "print what runs and what to try first, for a newcomer's local run ($BTSPEED_RELAY_BANNER=1)")
	fs.BoolVar(&c.bridgeLowPorts, "bridge-allow-low-ports", os.Getenv("BTSPEED_RELAY_BRIDGE_ALLOW_LOW_PORTS") == "1", "let the bridge list and dial peers on ports below 1024 ($BTSPEED_RELAY_BRIDGE_ALLOW_LOW_PORTS=1)")
	daemon.EnvFlag(fs, &c.bridgeRate, "bridge-rate", "BTSPEED_RELAY_BRIDGE_RATE", "32", "MiB/s each bridged connection may carry each way (at most 1024)")
	daemon.EnvFlag(fs, &c.bridgePeersRate, "bridge-peers-rate", "BTSPEED_RELAY_BRIDGE_PEERS_RATE", "1", "GET /bridge/peers tokens per client per second, bursts of a minute's worth; a call costs 1 plus 1 per tracker URL, at most 9 (0: no limit)")
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
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	url := c.urls(ln)
	cfg, bits, err := relayConfig(c, log)
	if err != nil {
		return err
	}
	tron, ex, closeLedger, err := openLedger(ctx, &c, &cfg, bits, log)
	if err != nil {
		return err
	}
	defer closeLedger()
	storage, storeAddr, err := c.storage.start(ctx, &cfg, c.ledgerURL, c.data, log)
	if err != nil {
		return err
	}
	rl, err := relay.New(cfg)
	if err != nil {
		return err
	}
	stopped := func() {
		if err := rl.Close(); err != nil {
			log.Warn("closing the seeder", "err", err)
		}
	}
	serveLn, redirect, err := c.tls.Wrap(ln, log, os.Stdout)
	if err != nil {
		return errors.Join(err, rl.Close())
	}
	printStart(c, url, cfg, bits, tron, rl, storeAddr)
	log.Info("relay serving", "addr", ln.Addr().String(), "url", url, "ledger", ledgerName(cfg), "seeds", len(cfg.Seed), "speed", cfg.Key != nil)
	return daemon.Serve(ctx, serveLn, rl, log, stopped, redirect,
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
		}, storage)
}

// openLedger opens what the relay's money runs on: the TRON side (the
// embedded devnet, a node or nothing) into cfg.Tron, the embedded ledger
// into cfg.Ledger unless -ledger names one elsewhere, and the exchange
// between them where both are here. closeAll closes them, last opened
// first.
func openLedger(ctx context.Context, c *config, cfg *relay.Config, bits uint, log *slog.Logger) (tron *tronsetup.TRON, ex *exchange.Exchange, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for _, f := range slices.Backward(closers) {
			f()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	var funded []devnet.Account
	if cfg.Key != nil {
		// The relay's wallet gets 1,000,000 TRX and 1,000,000 BTT on the
		// devnet's genesis.
		funded = append(funded, devnet.Account{Address: cfg.Key.Address(), TRX: 1_000_000 * 1_000_000, Asset: 1_000_000 * 1_000_000})
	}
	c.tron.NoExchange = c.ledgerURL != "" // that ledger runs its own
	if c.ledgerURL == "" {
		if c.genesis, err = c.tron.Genesis(c.genesis); err != nil {
			return nil, nil, closeAll, err
		}
	}
	if tron, err = c.tron.Open(ctx, c.data, funded, log); err != nil {
		return nil, nil, closeAll, err
	}
	closers = append(closers, func() { tron.Close() })
	if tron.Chain != nil {
		fmt.Printf("tron devnet gRPC on %s\n", tron.GRPCAddr)
	}
	cfg.Tron = tron.HTTP
	if c.ledgerURL == "" {
		if err := os.MkdirAll(c.data, 0o700); err != nil {
			return nil, nil, closeAll, fmt.Errorf("-data: %w", err)
		}
		l, err := server.Open(ctx, server.Config{ID: c.ledgerID, DB: filepath.Join(c.data, "ledger.db"), Genesis: c.genesis,
			FaucetBits: bits, FaucetTRX: tron.FaucetTRX(), Version: version, Logger: log, Exchange: tron.Policy, ClientAddr: cfg.Clients.Addr})
		if err != nil {
			return nil, nil, closeAll, err
		}
		closers = append(closers, func() { l.Close() })
		cfg.Ledger = l
	}
	if cfg.Ledger != nil && tron.Policy != nil {
		if ex, err = tron.Exchange(cfg.Ledger.Ledger, tronsetup.CrashStep()); err != nil {
			return nil, nil, closeAll, err
		}
	}
	return tron, ex, closeAll, nil
}

// urls returns the URL the relay serves on ln (https://DOMAIN with
// -tls-domain), which -public-url defaults to, and puts the ACME cache
// under -data unless -tls-cache says where.
func (c *config) urls(ln net.Listener) string {
	url := "http://" + ln.Addr().String()
	if c.tls.On() {
		url = c.tls.PublicURL(ln)
		if c.tls.Cache == "" {
			c.tls.Cache = filepath.Join(c.data, "acme")
		}
	}
	if c.publicURL == "" {
		c.publicURL = url
	}
	return url
}

// relayConfig reads the flags into the relay's configuration; bits is the
// faucet's difficulty.
func relayConfig(c config, log *slog.Logger) (cfg relay.Config, bits uint, err error) {
	reserve, err := speed.ParseBTT(c.reserve)
	if err != nil {
		return cfg, 0, fmt.Errorf("-reserve: %w", err)
	}
	if _, err := fmt.Sscan(c.faucet, &bits); err != nil || bits > 40 {
		return cfg, 0, fmt.Errorf("-faucet-difficulty %q: want 0..40", c.faucet)
	}
	trusted, err := clientip.ParsePrefixes(c.trusted)
	if err != nil {
		return cfg, 0, fmt.Errorf("-trusted-proxies: %w", err)
	}
	rate, err := strconv.Atoi(c.ledgerRate)
	if err != nil || rate < 1 || rate > 1_000_000 {
		return cfg, 0, fmt.Errorf("-ledger-rate %q: want requests per second, at least 1", c.ledgerRate)
	}
	cfg = relay.Config{Redis: c.redis, LedgerURL: c.ledgerURL, WebDir: c.web, PeerListen: c.peerListen, PublicURL: c.publicURL,
		Reserve: reserve, Logger: log, Version: version, BridgeAllowPrivate: c.bridgePrivate, BridgeAllowLowPorts: c.bridgeLowPorts,
		Clients: clientip.New(trusted), LedgerRate: rate}
	if err := networkConfig(c, &cfg); err != nil {
		return cfg, 0, err
	}
	if cfg.Proxy, err = proxyConfig(c); err != nil {
		return cfg, 0, err
	}
	if cfg.Tracker, err = trackerConfig(c); err != nil {
		return cfg, 0, err
	}
	if c.seeds != "" {
		cfg.Seed = strings.Split(c.seeds, ",")
	}
	if c.wallet != "" {
		data, err := wallet.ReadKeystoreFile(c.wallet)
		if err != nil {
			return cfg, 0, err
		}
		if cfg.Key, err = wallet.DecryptKeystore(data, []byte(os.Getenv("BTSPEED_PASSWORD"))); err != nil {
			return cfg, 0, fmt.Errorf("%s: %w (password from $BTSPEED_PASSWORD)", c.wallet, err)
		}
	}
	return cfg, bits, nil
}

// networkConfig reads the DHT, bridge and WebRTC flags into cfg.
func networkConfig(c config, cfg *relay.Config) (err error) {
	if c.dht != "off" {
		cfg.DHT = c.dht
	}
	for _, n := range strings.Split(c.dhtBootstrap, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.DHTBootstrap = append(cfg.DHTBootstrap, n)
		}
	}
	if cfg.BridgePeersRate, err = strconv.ParseFloat(c.bridgePeersRate, 64); err != nil || !(cfg.BridgePeersRate >= 0) || math.IsInf(cfg.BridgePeersRate, 0) {
		return fmt.Errorf("-bridge-peers-rate %q: want a number of tokens a second, 0 for no limit", c.bridgePeersRate)
	}
	if cfg.BridgePeersRate == 0 {
		cfg.BridgePeersRate = -1 // relay.Config: negative is no limit
	}
	mibs, err := strconv.Atoi(c.bridgeRate)
	if err != nil || mibs < 1 || mibs > 1024 {
		return fmt.Errorf("-bridge-rate %q: want a whole number of MiB/s from 1 to 1024", c.bridgeRate)
	}
	cfg.BridgeBytesPerSecond = mibs << 20
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
	return nil
}

// proxyConfig reads the paid proxy's flags.
func proxyConfig(c config) (relay.ProxyConfig, error) {
	pc := relay.ProxyConfig{Listen: c.proxyListen}
	pc.Provider.AllowLoopback = c.proxyLoopback
	var err error
	if pc.Provider.Rate, err = speed.ParseBTT(c.proxyRate); err != nil {
		return pc, fmt.Errorf("-proxy-rate: %w", err)
	}
	if pc.Provider.MaxLength, err = strconv.ParseUint(c.proxyMaxSize, 10, 64); err != nil || pc.Provider.MaxLength == 0 {
		return pc, fmt.Errorf("-proxy-max-size %q: want a number of bytes", c.proxyMaxSize)
	}
	if pc.Provider.UploadRate, err = strconv.ParseInt(c.proxyUpload, 10, 64); err != nil || pc.Provider.UploadRate < 0 {
		return pc, fmt.Errorf("-proxy-upload-limit %q: want bytes a second, 0 for no cap", c.proxyUpload)
	}
	return pc, nil
}

// trackerConfig reads the tracker's per-address limits (an address: an IPv4
// address or an IPv6 /64).
func trackerConfig(c config) (tracker.Config, error) {
	var tc tracker.Config
	rate, err := strconv.ParseFloat(c.trackerRate, 64)
	if err != nil || rate < 0 || rate > 1e6 {
		return tc, fmt.Errorf("-tracker-rate %q: want announces a second, 0 for no limit", c.trackerRate)
	}
	tc.AnnounceRate, tc.AnnounceBurst = rate, max(1, int(20*rate))
	if rate == 0 {
		tc.AnnounceRate, tc.SwarmRate = -1, -1
	}
	sockets, err := strconv.Atoi(c.trackerSockets)
	if err != nil || sockets < 0 {
		return tc, fmt.Errorf("-tracker-sockets %q: want a number of connections, 0 for no cap", c.trackerSockets)
	}
	tc.MaxSocketsPerAddr = sockets
	if sockets == 0 {
		tc.MaxSocketsPerAddr = -1
	}
	return tc, nil
}

// printStart prints, on standard output, the banner (with -banner), the
// addresses served (HTTP, the paid proxy and storage when on) and a magnet
// link per seed.
func printStart(c config, url string, cfg relay.Config, bits uint, tron *tronsetup.TRON, rl *relay.Relay, storeAddr string) {
	if c.banner {
		banner{url: url, data: c.data, genesis: c.genesis, faucet: bits, cfg: cfg, tron: tron, tronFlag: c.tron.Tron, token: c.tron.Token,
			reserve: c.reserve, wallet: c.wallet, dht: cfg.DHT, proxy: rl.ProxyAddr(), store: storeAddr}.print(os.Stdout, version)
	}
	fmt.Printf("listening on %s\n", url)
	if a := rl.ProxyAddr(); a != "" {
		fmt.Printf("paid proxy on %s\n", a)
	}
	if storeAddr != "" {
		fmt.Printf("storage provider on %s for %s\n", storeAddr, cfg.Key.Address())
	}
	for _, s := range rl.Seeds() {
		fmt.Printf("seeding %s: %s\n", s.Path, s.Magnet)
	}
}

func ledgerName(c relay.Config) string {
	if c.Ledger != nil {
		return "embedded " + c.Ledger.Storage
	}
	return c.LedgerURL
}
