//go:build !js

// Package tronsetup turns the TRON flags that cmd/ledger and cmd/relay
// share into a connection to TRON (the embedded development network, a
// node's gRPC API, or a proxy to a node's HTTP API that forwards only the
// documented calls) and, for a ledger, its exchange (ledger/exchange). The
// public development genesis and exchange key run only with the embedded
// devnet (Flags.Genesis, Flags.Open).
package tronsetup

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/server/daemon"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// DevBacking is the BTT (base units) the development exchange's devnet
// account holds at genesis, backing withdrawals of the ledger's
// development genesis money: 100,000,000 BTT.
const DevBacking = 100_000_000 * 1_000_000

// Flags are the TRON flags.
type Flags struct {
	Tron, APIKey, HTTP, Token, GRPC, Block, Confirmations string
	Solidity                                              string
	Key, Backing, Start, Poll                             string
	// NoExchange: this process runs no exchange (a relay in front of
	// another ledger); the exchange flags are then not needed.
	NoExchange bool
}

// Register adds the flags to fs; defTron is -tron's default.
func (f *Flags) Register(fs *flag.FlagSet, defTron string) {
	daemon.EnvFlag(fs, &f.Tron, "tron", "BTSPEED_TRON", defTron,
		"TRON: devnet (embedded, state in the data directory), grpc://HOST:PORT or grpcs://HOST:PORT (a node's gRPC API), http(s)://NODE (a node's HTTP API, only proxied at /tron/), or off")
	daemon.EnvFlag(fs, &f.APIKey, "tron-api-key", "TRON_PRO_API_KEY", "", "API key sent as TRON-PRO-API-KEY to the node (TronGrid)")
	daemon.EnvFlag(fs, &f.HTTP, "tron-http", "BTSPEED_TRON_HTTP", "", "with -tron grpc(s)://: a node's HTTP API to serve at /tron/ (e.g. https://api.trongrid.io)")
	daemon.EnvFlag(fs, &f.Solidity, "tron-solidity", "BTSPEED_TRON_SOLIDITY", "",
		"with -tron grpc(s)://: the node's solidity gRPC API, grpc(s)://HOST:PORT, which the exchange asks before it replaces an expired withdrawal transaction (default: the -tron endpoint; java-tron serves it on port 50061, TronGrid at grpcs://grpc.trongrid.io:50052)")
	daemon.EnvFlag(fs, &f.Token, "tron-token", "BTSPEED_TRON_TOKEN", "1002000", "BTT's TRC-10 token id (mainnet's is 1002000)")
	daemon.EnvFlag(fs, &f.GRPC, "tron-grpc", "BTSPEED_TRON_GRPC", "127.0.0.1:50051", "where the devnet serves TRON's gRPC API (\"off\": only inside the process)")
	daemon.EnvFlag(fs, &f.Block, "tron-block", "BTSPEED_TRON_BLOCK", "3s", "time between the devnet's blocks")
	daemon.EnvFlag(fs, &f.Confirmations, "tron-confirmations", "BTSPEED_TRON_CONFIRMATIONS", "", "blocks a deposit or withdrawal waits for (default 19, TRON's solidification; 2 on the devnet)")
	daemon.EnvFlag(fs, &f.Key, "exchange-key", "BTSPEED_EXCHANGE_KEY", "", "keystore file of the exchange's TRON key, which receives deposits and signs withdrawals (password from $BTSPEED_EXCHANGE_PASSWORD), or dev: the development exchange key, public, the default and only allowed with -tron devnet")
	daemon.EnvFlag(fs, &f.Backing, "exchange-backing", "BTSPEED_EXCHANGE_BACKING", "", "BTT the exchange's TRON address holds for the ledger's genesis money (default 0; 100000000 on the devnet)")
	daemon.EnvFlag(fs, &f.Poll, "exchange-poll", "BTSPEED_EXCHANGE_POLL", "", "time between the exchange's passes over TRON (default: the devnet's block interval, or 3s)")
	daemon.EnvFlag(fs, &f.Start, "exchange-start", "BTSPEED_EXCHANGE_START", "0", "the TRON block a new exchange starts scanning at")
}

// GenesisUsage is the help text of the -genesis flag cmd/ledger and
// cmd/relay register (for their ledger; Genesis resolves it).
const GenesisUsage = "genesis for an empty ledger: dev (the public development genesis, only with -tron devnet or off; the default there) or none (the default with a real TRON network: all money comes from deposits)"

// Genesis resolves the -genesis flag g for the TRON side the flags name:
// "" is dev with the embedded devnet or with no TRON at all (-tron off),
// none otherwise. The development genesis is refused with a real TRON
// network: its keys derive from the public genesis.DevMnemonic, so anyone
// could spend its accounts and withdraw the BTT that others deposit.
func (f Flags) Genesis(g string) (string, error) {
	noRealTRON := f.Tron == "devnet" || f.Tron == "off"
	switch {
	case g == "" && noRealTRON:
		return "dev", nil
	case g == "":
		return "none", nil
	case g == "dev" && !noRealTRON:
		return "", fmt.Errorf("-genesis dev ($BTSPEED_LEDGER_GENESIS): the development genesis is public (anyone can spend its accounts with the development mnemonic), "+
			"so it runs only with -tron devnet or off; with -tron %s set -genesis none (the ledger's money then comes from deposits)", f.Tron)
	case g == "dev" || g == "none":
		return g, nil
	}
	return "", fmt.Errorf("-genesis %q: want dev or none", g)
}

// TRON is an open connection to TRON.
type TRON struct {
	// HTTP serves TRON's HTTP API for /tron/ (nil: none).
	HTTP http.Handler
	// Node is the gRPC client (nil when there is none: -tron off or
	// http(s)://), Solidity the node's solidity API.
	Node     *client.GrpcClient
	Solidity api.WalletSolidityClient
	// Chain is the embedded devnet (nil otherwise); GRPCAddr where it
	// serves gRPC.
	Chain    *devnet.Chain
	GRPCAddr string
	// Policy is what the ledger needs to know of the exchange (nil: no
	// exchange).
	Policy *ledger.Exchange

	key           *wallet.PrivateKey
	confirmations int64
	start         int64
	poll          time.Duration
	log           *slog.Logger
	closers       []func()
}

// Open connects as the flags say. dataDir holds the devnet's state; funded
// are devnet genesis accounts besides the exchange's.
//
// The development exchange key (-exchange-key dev, public) is refused for
// an exchange on any TRON network but the embedded devnet.
func (f Flags) Open(ctx context.Context, dataDir string, funded []devnet.Account, log *slog.Logger) (*TRON, error) {
	if f.Key == "dev" && isGRPC(f.Tron) && !f.NoExchange {
		return nil, fmt.Errorf("-exchange-key dev ($BTSPEED_EXCHANGE_KEY): the development exchange key is public (anyone can sign withdrawals with it), "+
			"so it runs only with -tron devnet; with -tron %s set -exchange-key to the keystore file of your own TRON key "+
			"(password in $BTSPEED_EXCHANGE_PASSWORD)", f.Tron)
	}
	t := &TRON{log: log, poll: 3 * time.Second}
	var err error
	switch {
	case f.Tron == "off":
		return t, nil
	case strings.HasPrefix(f.Tron, "http://") || strings.HasPrefix(f.Tron, "https://"):
		if t.HTTP, err = proxy(f.Tron, f.APIKey); err != nil {
			return nil, fmt.Errorf("-tron: %w", err)
		}
		return t, nil
	case f.Tron == "devnet":
		err = t.openDevnet(f, dataDir, funded)
	case isGRPC(f.Tron):
		err = t.openGRPC(f)
	default:
		return nil, fmt.Errorf("-tron %q: want devnet, grpc://HOST:PORT, grpcs://HOST:PORT, http(s)://NODE or off", f.Tron)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	if f.NoExchange {
		return t, nil
	}
	if err := t.exchangeConfig(f); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// isGRPC says whether -tron names a node's gRPC API.
func isGRPC(tron string) bool {
	return strings.HasPrefix(tron, "grpc://") || strings.HasPrefix(tron, "grpcs://")
}

// proxy forwards the gateway's endpoints to a node's HTTP API, with the
// operator's API key.
func proxy(node, apiKey string) (http.Handler, error) {
	u, err := url.Parse(node)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%q is not an http(s) URL", node)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	inner := p.Director
	p.Director = func(r *http.Request) {
		inner(r)
		r.Host = u.Host
		if apiKey != "" {
			r.Header.Set("TRON-PRO-API-KEY", apiKey)
		}
	}
	return gateway(p), nil
}

func (t *TRON) openDevnet(f Flags, dataDir string, funded []devnet.Account) error {
	interval, err := time.ParseDuration(f.Block)
	if err != nil || interval <= 0 {
		return fmt.Errorf("-tron-block %q: want a duration", f.Block)
	}
	t.poll = interval
	if f.Key == "" || f.Key == "dev" {
		if t.key, err = genesis.DevExchangeKey(); err != nil {
			return err
		}
	}
	return t.startDevnet(Devnet{Path: filepath.Join(dataDir, "tron.db"), Block: interval, Token: f.Token, GRPC: f.GRPC, Funded: funded, Exchange: t.key != nil})
}

// Devnet says how to run the embedded TRON development network.
type Devnet struct {
	Path   string        // its bbolt file
	Block  time.Duration // between blocks
	Token  string        // BTT's TRC-10 id
	GRPC   string        // where to serve gRPC ("off": a loopback port only the process uses)
	Funded []devnet.Account
	// Exchange funds the development exchange's account (genesis
	// DevExchangeKey) with 1,000,000 TRX and DevBacking BTT.
	Exchange bool
}

// StartDevnet runs the development network and connects a gRPC client to
// it.
func StartDevnet(d Devnet, log *slog.Logger) (*TRON, error) {
	t := &TRON{log: log, poll: d.Block}
	if d.Exchange {
		k, err := genesis.DevExchangeKey()
		if err != nil {
			return nil, err
		}
		t.key = k
	}
	if err := t.startDevnet(d); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *TRON) startDevnet(d Devnet) error {
	dcfg := devnet.Config{Path: d.Path, BlockInterval: d.Block, Logger: t.log.With("component", "tron-devnet"),
		Asset: devnet.Asset{ID: d.Token, Name: "BitTorrent", Abbr: "BTT", Precision: 6, TotalSupply: 990_000_000_000 * 1_000_000}}
	if d.Exchange {
		dev, err := genesis.DevExchangeKey()
		if err != nil {
			return err
		}
		dcfg.Asset.Owner = dev.Address()
		dcfg.Accounts = append(dcfg.Accounts, devnet.Account{Address: dev.Address(), TRX: 1_000_000 * 1_000_000, Asset: DevBacking})
	}
	dcfg.Accounts = append(dcfg.Accounts, d.Funded...)
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o700); err != nil {
		return err
	}
	var err error
	if t.Chain, err = devnet.Open(dcfg); err != nil {
		return err
	}
	t.closers = append(t.closers, func() { t.Chain.Close() })
	t.HTTP = t.Chain.HTTPHandler()
	addr := d.GRPC
	if addr == "off" || addr == "" {
		addr = "127.0.0.1:0" // the exchange still talks to it
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-tron-grpc: %w", err)
	}
	gs := grpc.NewServer()
	t.Chain.Register(gs)
	go gs.Serve(ln) // ended by GracefulStop in Close
	t.closers = append(t.closers, gs.GracefulStop)
	t.GRPCAddr = ln.Addr().String()
	t.log.Info("tron devnet", "data", d.Path, "token", d.Token, "block", d.Block.String(), "grpc", t.GRPCAddr)
	if err := t.dial(t.GRPCAddr, insecure.NewCredentials(), ""); err != nil {
		return err
	}
	t.Solidity = api.NewWalletSolidityClient(t.Node.Conn) // the devnet serves both
	return nil
}

func (t *TRON) openGRPC(f Flags) error {
	addr, creds, err := endpoint("-tron", f.Tron)
	if err != nil {
		return err
	}
	solidity := f.Solidity
	if solidity == "" {
		solidity = f.Tron
	}
	saddr, screds, err := endpoint("-tron-solidity", solidity)
	if err != nil {
		return err
	}
	if f.HTTP != "" {
		if t.HTTP, err = proxy(f.HTTP, f.APIKey); err != nil {
			return fmt.Errorf("-tron-http: %w", err)
		}
	}
	if err := t.dial(addr, creds, f.APIKey); err != nil {
		return err
	}
	conn, err := grpc.NewClient(saddr, grpc.WithTransportCredentials(screds), grpc.WithUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if f.APIKey != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "TRON-PRO-API-KEY", f.APIKey)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	if err != nil {
		return fmt.Errorf("-tron-solidity %s: %w", solidity, err)
	}
	t.closers = append(t.closers, func() { conn.Close() })
	t.Solidity = api.NewWalletSolidityClient(conn)
	return nil
}

// endpoint reads a grpc(s)://HOST:PORT flag. Plaintext is for loopback
// only: on any other path, whoever sits on it could change what the
// exchange reads and what it is asked to sign.
func endpoint(flag, v string) (string, credentials.TransportCredentials, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Port() == "" || (u.Scheme != "grpc" && u.Scheme != "grpcs") {
		return "", nil, fmt.Errorf("%s %q: want grpc://HOST:PORT or grpcs://HOST:PORT", flag, v)
	}
	if u.Scheme == "grpcs" {
		return u.Host, credentials.NewClientTLSFromCert(nil, u.Hostname()), nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil, fmt.Errorf("%s %s: plaintext gRPC to a node that is not on this machine could be read and changed on the way; "+
			"set %s to grpcs://%s (TLS), or reach the node through a loopback address", flag, v, flag, u.Host)
	}
	return u.Host, insecure.NewCredentials(), nil
}

func (t *TRON) dial(addr string, creds credentials.TransportCredentials, apiKey string) error {
	gc := client.NewGrpcClientWithTimeout(addr, 20*time.Second)
	if apiKey != "" {
		gc.SetAPIKey(apiKey)
	}
	if err := gc.Start(grpc.WithTransportCredentials(creds)); err != nil {
		return fmt.Errorf("connecting to TRON at %s: %w", addr, err)
	}
	t.Node = gc
	t.closers = append(t.closers, gc.Stop)
	return nil
}

func (t *TRON) exchangeConfig(f Flags) error {
	if f.Key != "" && f.Key != "dev" {
		data, err := wallet.ReadKeystoreFile(f.Key)
		if err != nil {
			return fmt.Errorf("-exchange-key: %w", err)
		}
		if t.key, err = wallet.DecryptKeystore(data, []byte(os.Getenv("BTSPEED_EXCHANGE_PASSWORD"))); err != nil {
			return fmt.Errorf("-exchange-key %s: %w (password from $BTSPEED_EXCHANGE_PASSWORD)", f.Key, err)
		}
	}
	if t.key == nil {
		return errors.New("-exchange-key: the exchange needs its TRON key: set -exchange-key to a keystore file (password in $BTSPEED_EXCHANGE_PASSWORD)")
	}
	t.confirmations = 19
	if f.Tron == "devnet" {
		t.confirmations = 2
	}
	if f.Confirmations != "" {
		n, err := strconv.ParseInt(f.Confirmations, 10, 64)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("-tron-confirmations %q: want 1..1000", f.Confirmations)
		}
		t.confirmations = n
	}
	var backing uint64
	if f.Tron == "devnet" && (f.Key == "" || f.Key == "dev") {
		backing = DevBacking
	}
	if f.Backing != "" {
		b, err := speed.ParseBTT(f.Backing)
		if err != nil {
			return fmt.Errorf("-exchange-backing: %w", err)
		}
		backing = b
	}
	start, err := strconv.ParseInt(f.Start, 10, 64)
	if err != nil || start < 0 {
		return fmt.Errorf("-exchange-start %q: want a block number", f.Start)
	}
	t.start = start
	if f.Poll != "" {
		p, err := time.ParseDuration(f.Poll)
		if err != nil || p <= 0 {
			return fmt.Errorf("-exchange-poll %q: want a duration", f.Poll)
		}
		t.poll = p
	}
	t.Policy = &ledger.Exchange{Address: t.key.Address(), Token: f.Token, Confirmations: t.confirmations, Backing: backing, Devnet: t.Chain != nil}
	return nil
}

// Exchange makes l's exchange and installs its reserve check; the caller
// runs its Run loop. Step (nil: none) is exchange.Config.Step.
func (t *TRON) Exchange(l *ledger.Ledger, step func(string)) (*exchange.Exchange, error) {
	if t.Policy == nil || t.Node == nil {
		return nil, errors.New("tronsetup: no exchange configured")
	}
	ex, err := exchange.New(exchange.Config{Ledger: l, Node: t.Node, Solidity: t.Solidity, Key: t.key, Token: t.Policy.Token, Confirmations: t.confirmations,
		StartBlock: t.start, Poll: t.poll, Logger: t.log.With("component", "exchange"), Step: step})
	if err != nil {
		return nil, err
	}
	l.SetReserve(ex.Reserve)
	return ex, nil
}

// Close closes what Open opened, last first.
func (t *TRON) Close() {
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
	t.closers = nil
}
