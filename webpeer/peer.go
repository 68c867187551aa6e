// Package webpeer is the browser peer's logic, free of syscall/js so that it
// runs and is tested natively too: the wallet kept encrypted in the page's
// storage, the engine with WebRTC peers (WebSocket trackers) and bridged
// classic peers (the relay's bridge), Speed paying and earning through the
// relay's ledger gateway, the user's settings and the spending history,
// and the torrents, kept with that history across restarts (persist.go).
// wasm/ binds it to JavaScript (docs/js-api.md). Built with the tag
// btspeed_embed (the embed build, embed.go) it leaves out the wallet's TRON
// side, the paid proxy's client and the storage client.
package webpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/wallet"

	"github.com/btspeed/btspeed/shared/fetch"
)

// KV is small durable storage: the browser's localStorage, a map in tests.
type KV interface {
	Get(key string) (string, bool)
	Set(key, value string) error
	Delete(key string)
}

// MapKV is a KV in memory.
type MapKV struct {
	mu sync.Mutex
	m  map[string]string
}

// Get returns the value of key.
func (k *MapKV) Get(key string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok
}

// Set stores value under key.
func (k *MapKV) Set(key, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]string)
	}
	k.m[key] = value
	return nil
}

// Delete removes key.
func (k *MapKV) Delete(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
}

// Config configures a Peer.
type Config struct {
	// Relay is the relay's base URL (http(s)://host[:port]); its WebSocket
	// tracker, bridge and ledger gateway are used.
	Relay string
	// Relays are further relays (base URLs, as Relay) whose WebSocket
	// trackers back up Relay's: with no Trackers, every torrent gets the
	// tier [Relay's, Relays'...], announced to one at a time, moving on
	// when one fails (BEP 12, engine/wstracker). Relays sharing swarms
	// through Redis (docs/self-hosting.md) make a downloader on any of
	// them meet the peers of all.
	Relays []string
	// Trackers are WebSocket trackers added to every torrent, one tier
	// (default: the relays').
	Trackers []string
	// KV keeps the wallet, settings, torrents and Speed history (default:
	// in memory).
	KV KV
	// RTC configures WebRTC (the browser's own settings when zero).
	RTC rtc.Config
	// HTTPClient reaches the relay (nil: fetch.Default(), the browser's
	// fetch in js/wasm).
	HTTPClient fetch.Doer
	// Storage opens the storage of torrent ih, capped at limit bytes, with
	// what it kept from an earlier start (default: memory, kept nowhere).
	Storage func(ih metainfo.Hash, info *metainfo.Info, limit int64) (engine.Storage, error)
	// Keystore sets the keystore's scrypt cost (default LightScrypt: the
	// browser runs scrypt on its only thread). A stored keystore weaker
	// than this is re-encrypted with it when it unlocks.
	Keystore wallet.ScryptParams
	// Forget deletes the stored data of a torrent removed (its storage
	// closed); nil: nothing outlives the storage (memory).
	Forget func(ih metainfo.Hash) error
	// KeepNothing keeps no torrent or Speed history for the next start
	// (an embedded player): they last as long as the peer.
	KeepNothing bool
	// Sweep, at Start, deletes the stored data of every torrent but keep's
	// (what removed torrents left); nil: nothing to sweep.
	Sweep func(keep []metainfo.Hash) error
	// HistoryEvery is the spending history's resolution (default 1 min).
	HistoryEvery time.Duration
	// StallAfter is how long a torrent may get no data before its status
	// says it stalled (default 30 s; engine.Config.StallAfter).
	StallAfter time.Duration
	// SaveEvery is how often the torrents' counters and the Speed totals
	// are saved in KV for the next start (default 2 s).
	SaveEvery time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// Settings are the user's controls, amounts in base units.
type Settings struct {
	Speed        bool   `json:"speed"`
	SpendingRate uint32 `json:"spending_rate"` // parts per million (bidder.PPM = 1.0)
	Budget       uint64 `json:"budget"`        // over all torrents; 0: no cap
	// TorrentBudget is each torrent's budget unless it has its own; 0: 1%
	// of the wallet when the torrent first bids (bidder.DefaultBudget).
	TorrentBudget uint64 `json:"torrent_budget"`
	// MaxPrice is the most ever bid, base units per GiB; 0:
	// bidder.DefaultMaxPrice.
	MaxPrice     uint64 `json:"max_price"`
	Reserve      uint64 `json:"reserve"`       // base units per MiB
	StorageLimit int64  `json:"storage_limit"` // bytes of browser storage
}

// DefaultSettings are a new user's.
func DefaultSettings() Settings {
	return Settings{Speed: true, SpendingRate: bidder.PPM, MaxPrice: bidder.DefaultMaxPrice, StorageLimit: 2 << 30}
}

const settingsKey = "btspeed.settings"

// Point is one sample of the spending history: totals so far.
type Point struct {
	Time   time.Time `json:"time"`
	Spent  uint64    `json:"spent"`
	Earned uint64    `json:"earned"`
}

// maxHistory caps the history (a day at one point a minute).
const maxHistory = 1440

// Peer is the browser peer.
type Peer struct {
	cfg      Config
	log      *slog.Logger
	ledger   *client.Client
	ledgerID string
	wallet   *Wallet
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// opMu serialises what starts, adds to, removes from or stops the
	// engine; it is held across slow work (the ledger, hashing) and never
	// taken by the getters, so a caller on the browser's event loop never
	// waits for the network.
	opMu sync.Mutex
	// mu guards the fields below and is only held briefly.
	mu       sync.Mutex
	eng      *engine.Client
	engAddr  string // the account eng pays and earns with; "" without Speed
	torrents map[metainfo.Hash]*Torrent
	order    []metainfo.Hash
	settings Settings
	history  []Point
	// totals carried over from engines closed before (a re-made engine
	// starts its counters at zero) and from the page's earlier starts
	spentBefore, earnedBefore uint64

	savedMu sync.Mutex
	saved   map[string]string // what is in KV as this peer last wrote it

	storeMu sync.Mutex // serialises changes of the storage records (store.go)
}

// Start connects to the relay's ledger gateway and loads the stored
// wallet and settings. The engine starts with the first torrent.
func Start(ctx context.Context, cfg Config) (*Peer, error) {
	u, err := url.Parse(cfg.Relay)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webpeer: relay URL %q: want http(s)://host", cfg.Relay)
	}
	cfg.Relay = strings.TrimSuffix(cfg.Relay, "/")
	if len(cfg.Trackers) == 0 {
		cfg.Trackers = []string{"ws" + strings.TrimPrefix(cfg.Relay, "http")}
		for _, r := range cfg.Relays {
			u, err := url.Parse(r)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("webpeer: relay URL %q: want http(s)://host", r)
			}
			if t := "ws" + strings.TrimPrefix(strings.TrimSuffix(r, "/"), "http"); !slices.Contains(cfg.Trackers, t) {
				cfg.Trackers = append(cfg.Trackers, t)
			}
		}
	}
	if cfg.KV == nil {
		cfg.KV = &MapKV{}
	}
	if cfg.Storage == nil {
		cfg.Storage = func(_ metainfo.Hash, info *metainfo.Info, limit int64) (engine.Storage, error) {
			return storage.NewMemory(info, limit)
		}
	}
	if cfg.Keystore == (wallet.ScryptParams{}) {
		cfg.Keystore = wallet.LightScrypt
	}
	if cfg.HistoryEvery <= 0 {
		cfg.HistoryEvery = time.Minute
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lc := client.New(cfg.Relay+"/ledger", cfg.HTTPClient)
	info, err := lc.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("webpeer: the relay's ledger: %w", err)
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Peer{cfg: cfg, log: cfg.Logger, ledger: lc, ledgerID: info.Ledger, ctx: pctx, cancel: cancel,
		torrents: make(map[metainfo.Hash]*Torrent), settings: DefaultSettings(), saved: make(map[string]string)}
	if raw, ok := cfg.KV.Get(settingsKey); ok {
		var s Settings
		if err := json.Unmarshal([]byte(raw), &s); err == nil {
			p.settings = s
		} else {
			p.log.Warn("stored settings unreadable; using defaults", "err", err)
		}
	}
	p.wallet = &Wallet{kv: cfg.KV, ledger: lc, ledgerID: info.Ledger, params: cfg.Keystore, onChange: p.walletChanged, now: cfg.Now, log: cfg.Logger,
		tron: newTronState(cfg.Relay, fetch.Or(cfg.HTTPClient))}
	p.loadHistory()
	p.restore()
	p.wg.Add(2)
	go p.every(p.cfg.HistoryEvery, p.notePoint)
	go p.every(p.cfg.SaveEvery, p.saveState) // kept for the next start
	return p, nil
}

// Wallet returns the wallet.
func (p *Peer) Wallet() *Wallet { return p.wallet }

// LedgerID is the ledger the relay gateways to.
func (p *Peer) LedgerID() string { return p.ledgerID }

// Settings returns the current settings.
func (p *Peer) Settings() Settings {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.settings
}

// SetSettings stores and applies s.
func (p *Peer) SetSettings(s Settings) error {
	if s.StorageLimit <= 0 {
		return errors.New("webpeer: the storage limit must be positive")
	}
	raw, _ := json.Marshal(s)
	if err := p.cfg.KV.Set(settingsKey, string(raw)); err != nil {
		return fmt.Errorf("webpeer: store settings: %w", err)
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	p.settings = s
	eng, withSpeed := p.eng, p.engAddr != ""
	p.mu.Unlock()
	if eng != nil && withSpeed { // an engine without Speed gets them when the wallet unlocks
		return eng.SetSpeed(speedSettings(s))
	}
	return nil
}

func speedSettings(s Settings) engine.SpeedSettings {
	return engine.SpeedSettings{Enabled: s.Speed, SpendingRate: s.SpendingRate, Budget: s.Budget,
		TorrentBudget: s.TorrentBudget, MaxPrice: s.MaxPrice, Reserve: s.Reserve}
}

// Totals returns what Speed spent and earned since the peer started.
func (p *Peer) Totals() (spent, earned uint64) {
	p.mu.Lock()
	spent, earned = p.spentBefore, p.earnedBefore
	eng := p.eng
	p.mu.Unlock()
	if eng != nil {
		s, e, _ := eng.SpeedTotals()
		spent, earned = spent+s, earned+e
	}
	return spent, earned
}

// History returns the spending history, oldest first.
func (p *Peer) History() []Point {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Point(nil), p.history...)
}

// every runs fn each period until the peer closes (p.wg counts it).
func (p *Peer) every(period time.Duration, fn func()) {
	defer p.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// notePoint adds the Speed totals now to the history.
func (p *Peer) notePoint() {
	spent, earned := p.Totals()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.history) == maxHistory {
		p.history = append(p.history[:0], p.history[1:]...)
	}
	p.history = append(p.history, Point{Time: p.cfg.Now(), Spent: spent, Earned: earned})
}

// Close stops every torrent (closing the payment channels) and the peer;
// the torrents and their data are kept for the next start.
func (p *Peer) Close() error {
	p.cancel()
	p.wg.Wait()
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.saveState()
	p.closeEngineOp()
	p.saveState()
	p.mu.Lock()
	p.torrents = map[metainfo.Hash]*Torrent{}
	p.order = nil
	p.mu.Unlock()
	return nil
}

// TorrentOptions are per-torrent choices.
type TorrentOptions struct {
	// Speed overrides the global settings for this torrent when set.
	Speed *engine.SpeedSettings
	// Stream says a player will stream the torrent's first video or audio
	// file (StreamFile): its start and its last piece are requested first
	// as soon as the info arrives, before the player's first read.
	Stream bool
}

// maxTorrentFile caps a .torrent fetched or given.
const maxTorrentFile = 16 << 20

// Add adds a torrent from a magnet link, the bytes of a .torrent, or the
// http(s) URL of one.
func (p *Peer) Add(ctx context.Context, source []byte, opts TorrentOptions) (*Torrent, error) {
	src := strings.TrimSpace(string(source))
	var spec engine.TorrentSpec
	switch {
	case strings.HasPrefix(src, "magnet:"):
		var err error
		if spec, err = engine.SpecFromMagnet(src); err != nil {
			return nil, fmt.Errorf("webpeer: %w", err)
		}
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		b, err := p.fetch(ctx, src)
		if err != nil {
			return nil, err
		}
		if spec, err = specFromTorrent(b); err != nil {
			return nil, err
		}
	default:
		var err error
		if spec, err = specFromTorrent(source); err != nil {
			return nil, err
		}
	}
	return p.addSpec(spec, opts, nil)
}

func specFromTorrent(b []byte) (engine.TorrentSpec, error) {
	if len(b) > maxTorrentFile {
		return engine.TorrentSpec{}, fmt.Errorf("webpeer: a .torrent of %d bytes is over the %d byte limit", len(b), maxTorrentFile)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return engine.TorrentSpec{}, fmt.Errorf("webpeer: not a magnet link, a .torrent or a URL of one: %w", err)
	}
	if _, err := mi.UnmarshalInfo(); err != nil {
		return engine.TorrentSpec{}, fmt.Errorf("webpeer: the .torrent's info is malformed: %w", err)
	}
	return engine.SpecFromMetaInfo(mi), nil
}

func (p *Peer) fetch(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("webpeer: %w", err)
	}
	hc := fetch.Or(p.cfg.HTTPClient)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("webpeer: fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("webpeer: fetch %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTorrentFile+1))
	if err != nil {
		return nil, fmt.Errorf("webpeer: fetch %s: %w", u, err)
	}
	return b, nil
}

// errDuplicate says a torrent is added already.
var errDuplicate = errors.New("webpeer: the torrent is already added")

// addSpec starts a torrent; prefill, when set, is the content to seed.
func (p *Peer) addSpec(spec engine.TorrentSpec, opts TorrentOptions, prefill []byte) (*Torrent, error) {
	t := &Torrent{p: p, ih: spec.InfoHash, override: cloneSettings(opts.Speed), gone: make(chan struct{})}
	if opts.Stream {
		spec.Stream = StreamFile
	}
	if err := p.addTorrent(t, spec, prefill); err != nil {
		return nil, err
	}
	return t, nil
}

// addTorrent starts t in the engine, lists it and keeps it for the next
// start.
func (p *Peer) addTorrent(t *Torrent, spec engine.TorrentSpec, prefill []byte) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	_, dup := p.torrents[spec.InfoHash]
	limit := p.settings.StorageLimit - p.usedLocked()
	p.mu.Unlock()
	if dup {
		return fmt.Errorf("%w: %s", errDuplicate, spec.InfoHash.HexString())
	}
	eng, err := p.engineOp()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(spec.Trackers, func(tier []string) bool { return slices.Equal(tier, p.cfg.Trackers) }) {
		spec.Trackers = append(spec.Trackers, p.cfg.Trackers)
	}
	spec.Speed = cloneSettings(t.override)
	spec.Storage = t.opener(limit, prefill)
	spec.Check = spec.Check || prefill != nil
	t.mu.Lock()
	t.spec = spec
	t.mu.Unlock()
	et, err := eng.AddTorrent(spec)
	if err != nil {
		return fmt.Errorf("webpeer: %w", err)
	}
	t.mu.Lock()
	t.t = et
	t.mu.Unlock()
	p.mu.Lock()
	p.torrents[spec.InfoHash] = t
	p.order = append(p.order, spec.InfoHash)
	p.mu.Unlock()
	p.saveTorrent(t)
	p.listTorrent(spec.InfoHash.HexString(), true)
	p.watchInfo(t)
	return nil
}

// usedLocked is the storage the torrents hold (their full lengths).
func (p *Peer) usedLocked() int64 {
	var n int64
	for _, t := range p.torrents {
		n += t.length()
	}
	return n
}

// Torrents returns the torrents in the order they were added.
func (p *Peer) Torrents() []*Torrent {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Torrent, 0, len(p.order))
	for _, ih := range p.order {
		out = append(out, p.torrents[ih])
	}
	return out
}

// Remove stops a torrent, closes its payment channels and deletes it and
// its stored data.
func (p *Peer) Remove(ih metainfo.Hash) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	t, ok := p.torrents[ih]
	if !ok {
		p.mu.Unlock()
		return fmt.Errorf("webpeer: no torrent %s", ih.HexString())
	}
	eng := p.eng
	delete(p.torrents, ih)
	for i, h := range p.order {
		if h == ih {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	t.removed()
	// Closes its payment channels and storage: outside mu. A torrent
	// paused, or whose move to a new engine failed, is in none.
	if eng != nil {
		if err := eng.Remove(ih); err != nil && !errors.Is(err, engine.ErrUnknownTorrent) {
			return err
		}
	}
	t.closeStorage()
	return p.forget(ih)
}
