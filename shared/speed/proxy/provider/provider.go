// Package provider is the paid proxy's provider (docs/speed-protocol.md
// section 11, white paper M32): it accepts proxy connections, fetches the
// URLs requesters ask for from their origins through a guard that refuses
// every destination not on the public Internet (package netguard), and
// sends the content in chunks of a fixed size, each only when the one
// before it is paid (at most one unpaid chunk per requester, M22). Payments
// are Speed channel states checked by speed.ProviderSession. The provider
// never parses, renders or runs what it fetches: it copies bytes.
package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/netguard"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/wallet"
	"golang.org/x/time/rate"
)

// Config configures a provider. Zero values pick the defaults noted.
type Config struct {
	Key      *wallet.PrivateKey // the account payments go to
	Ledger   speed.Ledger
	LedgerID string
	// Rate is the price, base units per MiB; fetches whose max is lower
	// are refused with proxy.ReasonRate.
	Rate uint64
	// Chunk is the chunk size of new fetches (default proxy.DefaultChunk).
	Chunk uint32
	// MaxLength refuses longer content before any of it is sent (default
	// 1 GiB).
	MaxLength uint64
	// UploadRate caps the bytes a second sent to every requester together
	// (0: no cap).
	UploadRate int64
	// MaxConns caps connections served at once (default 64).
	MaxConns int
	// AllowLoopback lets the provider fetch from loopback addresses: for
	// tests on one machine only. Off, the default, it fetches from public
	// addresses only; private and link-local ones are refused even when on.
	AllowLoopback bool
	// HeaderTimeout bounds the wait for an origin's headers (default 15
	// s); IdleTimeout the wait for its next byte (default 60 s).
	HeaderTimeout, IdleTimeout time.Duration
	// PaymentTimeout and MaxStrikes are speed.ProviderConfig's (30 s, 3).
	PaymentTimeout time.Duration
	MaxStrikes     int
	// TickEvery is how often payment deadlines are checked (default 1 s).
	TickEvery time.Duration
	// Store keeps the latest state of each channel (nil: memory only).
	Store  speed.StateStore
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxLength     = 1 << 30
	DefaultMaxConns      = 64
	DefaultHeaderTimeout = 15 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
	maxRedirects         = 5
	closeTimeout         = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Chunk == 0 {
		c.Chunk = proxy.DefaultChunk
	}
	if c.MaxLength == 0 {
		c.MaxLength = DefaultMaxLength
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.TickEvery <= 0 {
		c.TickEvery = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Provider serves proxy connections.
type Provider struct {
	cfg     Config
	speed   speed.ProviderConfig
	client  *http.Client
	limiter *rate.Limiter // nil: no upload cap
	peerID  [20]byte
	sem     chan struct{}

	mu   sync.Mutex
	bans *speed.BanList
	wg   sync.WaitGroup

	statsMu sync.Mutex
	stats   Stats
}

// Stats counts what a provider did.
type Stats struct {
	Fetches, Refused uint64
	BytesSent        uint64
	Earned           uint64 // base units accepted in payments, counted when a connection ends
	Open             int    // connections being served
}

// New checks cfg and returns a provider.
func New(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if cfg.Key == nil || cfg.Ledger == nil {
		return nil, errors.New("provider: a key and a ledger are needed")
	}
	if err := speed.ValidateLedgerID(cfg.LedgerID); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	if c := uint64(cfg.Chunk); c < proxy.MinChunk || c > proxy.MaxChunk || c&(c-1) != 0 {
		return nil, fmt.Errorf("provider: chunk size %d is not a power of two from 16 KiB to 1 MiB", c)
	}
	p := &Provider{cfg: cfg, sem: make(chan struct{}, cfg.MaxConns), bans: speed.NewBanList()}
	p.speed = speed.ProviderConfig{Key: cfg.Key, Ledger: cfg.Ledger, LedgerID: cfg.LedgerID,
		PaymentTimeout: cfg.PaymentTimeout, MaxStrikes: cfg.MaxStrikes, Store: cfg.Store}
	if cfg.UploadRate > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(cfg.UploadRate), int(max(cfg.UploadRate, proxy.MaxBlock)))
	}
	p.client = originClient(cfg)
	copy(p.peerID[:], "-BS0001-")
	_, _ = rand.Read(p.peerID[8:]) // crypto/rand.Read never fails (Go 1.24+)
	return p, nil
}

// originClient is the HTTP client for origins: a guarded dialer, no proxy
// from the environment, no cookies, bounded redirects, no decompression.
func originClient(cfg Config) *http.Client {
	d := &netguard.Dialer{AllowLoopback: cfg.AllowLoopback, Net: net.Dialer{Timeout: cfg.HeaderTimeout}}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		TLSHandshakeTimeout:   cfg.HeaderTimeout,
		DisableCompression:    true,
		MaxConnsPerHost:       4,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       time.Minute,
	}
	return &http.Client{Transport: t, CheckRedirect: netguard.CheckRedirect(maxRedirects)}
}

// Stats returns what the provider did so far.
func (p *Provider) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

func (p *Provider) count(f func(*Stats)) {
	p.statsMu.Lock()
	f(&p.stats)
	p.statsMu.Unlock()
}

// Serve accepts proxy connections on ln until ctx ends or ln fails, then
// waits for the connections it started: each closes the channels that pay
// it before it ends.
func (p *Provider) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer p.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("provider: accepting: %w", err)
		}
		select {
		case p.sem <- struct{}{}:
		default:
			c.Close() // at the cap
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-p.sem }()
			p.serveConn(ctx, c)
		}()
	}
}

// serveConn runs one connection: handshakes, then the session.
func (p *Provider) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	log := p.cfg.Logger.With("peer", nc.RemoteAddr().String())
	host := hostOf(nc.RemoteAddr())
	if p.banned(host) {
		return
	}
	c, err := proxy.Handshake(nc, p.peerID, speed.Handshake{Version: speed.Version, Account: p.cfg.Key.Address(), Ledger: p.cfg.LedgerID})
	if err != nil {
		log.Debug("proxy handshake", "err", err)
		return
	}
	if c.Peer.Ledger != p.cfg.LedgerID || p.banned(c.Peer.Account.String()) {
		return
	}
	p.count(func(st *Stats) { st.Open++ })
	s := newSession(p, c, log, host)
	s.run(ctx)
}

// banned says whether an account or an address is banned.
func (p *Provider) banned(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bans.Banned(key, time.Now())
}

// ban bans a requester's account and address for the ban period (M20).
func (p *Provider) ban(a wallet.Address, host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bans.Ban(a.String(), time.Now(), speed.DefaultBanDuration)
	p.bans.Ban(host, time.Now(), speed.DefaultBanDuration)
}

// hostOf is the address part of a connection's remote address.
func hostOf(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	return a.String()
}
