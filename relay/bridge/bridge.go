// Package bridge carries a browser peer's BitTorrent connection to a classic
// TCP or uTP peer. The browser either POSTs a WebRTC offer (a data channel,
// no trickle ICE) to /bridge?info_hash=HEX&peer=IP:PORT[&net=utp] and gets
// the relay's answer back, or opens a WebSocket to the same URL (the
// fallback where WebRTC cannot connect); over either it sends the BitTorrent
// handshake, and the relay dials the peer, exchanges the handshakes and then
// pipes bytes both ways. The browser speaks the wire protocol end to end;
// the relay stores nothing.
//
// It is not an open proxy, nor a TCP tunnel:
//   - it dials only addresses discovered for that info hash
//     (Config.Discovered: the relay's tracker, the DHT and the torrent's
//     trackers), on ports from 1024 up unless Config.AllowLowPorts, and
//     never private, loopback or other non-public addresses unless
//     Config.AllowPrivate;
//   - it reads the client's handshake itself and checks it names that info
//     hash; the peer gets that handshake and not a byte more until it has
//     answered with a BitTorrent handshake naming the same info hash
//     (within Config.HandshakeTimeout), and the client gets nothing from
//     the peer before that: anything else is cut off and counted;
//   - it caps connections per client and in total, bytes per second per
//     connection, and per client the rate of connections and of peer
//     lists (each of which may make the relay search trackers the client
//     names).
//
// Clients are told apart by Config.ClientAddr, counted by clientip.Key
// (IPv6 by /64).
package bridge

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/internal/ratelimit"
	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

// DefaultBytesPerSecond is Config.BytesPerSecond's default.
const DefaultBytesPerSecond = 32 << 20

// Config configures a Bridge.
type Config struct {
	// Discovered says whether addr was found as a peer of infoHash; nothing
	// else is dialled. Required.
	Discovered func(infoHash [20]byte, addr netip.AddrPort) bool
	// Peers lists the addresses discovered for infoHash (and may start a
	// fresh search, through the torrent's trackers as the browser knows
	// them): GET /bridge/peers answers with them. Nil lists none.
	Peers func(infoHash [20]byte, trackers []string) []netip.AddrPort
	// AllowPrivate allows private, loopback and link-local addresses (tests,
	// LANs).
	AllowPrivate bool
	// AllowLowPorts allows peers on ports below 1024, where well-known
	// services (SMTP, HTTP, ...) listen rather than BitTorrent peers;
	// without it such peers are neither listed nor dialled.
	AllowLowPorts bool
	// HandshakeTimeout bounds the wait for the client's handshake, and
	// then for the peer's (default 20 s each).
	HandshakeTimeout time.Duration
	// ClientAddr tells which client a request comes from, for the
	// per-client caps and rates (default clientip.Peer, the connection's
	// peer address; behind trusted proxies, a clientip.Resolver's Addr).
	ClientAddr func(*http.Request) netip.Addr
	// PeersRate caps GET /bridge/peers per client: tokens a second
	// (default 1), bursts of a minute's worth (at least PeersMaxCost). A
	// call costs 1 plus 1 per tracker URL it passes on, at most
	// PeersMaxCost. Negative: no limit.
	PeersRate float64
	// ConnectRate caps the bridged connections a client opens (WebRTC
	// offers and WebSocket upgrades): a second (default 2), bursts of 32.
	// Negative: no limit.
	ConnectRate float64
	// Now is the clock of the rates (default time.Now).
	Now func() time.Time
	// Dial opens the connection to the peer (default: TCP, 10 s timeout).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialUTP opens a uTP connection to the peer (net=utp); nil refuses
	// uTP.
	DialUTP func(ctx context.Context, addr string) (net.Conn, error)
	// RTC configures the relay's end of WebRTC bridges: the pion API with
	// its SettingEngine (UDP port or mux, public IPs, interfaces).
	RTC rtc.Config
	// ConnectTimeout bounds ICE and the data channel opening after the
	// answer (default 30 s).
	ConnectTimeout time.Duration
	// MaxPerClient and MaxTotal cap concurrent bridged connections (defaults
	// 16 and 2,000); BytesPerSecond caps each direction of each connection
	// (default 32 MiB/s: a Transmission seed sends a browser about 17 MB/s
	// through it, docs/browser-performance.md), in bursts of at most an eighth of a second's
	// worth however long the connection was idle.
	MaxPerClient   int
	MaxTotal       int
	BytesPerSecond int
	Logger         *slog.Logger
}

// PeersMaxCost is the most a GET /bridge/peers costs of its client's
// PeersRate tokens: 1, plus 1 per tracker URL, of which the relay's search
// uses at most 8 (discover.DefaultMaxTrackersPerLookup).
const PeersMaxCost = 1 + 8

// Bridge is the /bridge endpoint.
type Bridge struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	peersLim *ratelimit.Limiter // nil: no limit
	connLim  *ratelimit.Limiter // nil: no limit

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // WebRTC bridges, which outlive their request

	mu    sync.Mutex
	perIP map[netip.Addr]int // open connections by clientip.Key
	total int
	stats Stats // counters; Open is total
}

// Stats counts what a Bridge has done, for metrics.
type Stats struct {
	Bytes   uint64 // piped, both directions
	Open    int    // bridged connections open
	Refused uint64 // requests refused: malformed, not discovered, not public, low port, over the caps
	Limited uint64 // requests refused by the per-client rates (peer lists, connections)
	// ClientHandshakesRefused counts clients whose first 68 bytes were not
	// a BitTorrent handshake for the torrent (or came too late): nothing
	// was dialled.
	ClientHandshakesRefused uint64
	// PeerHandshakesRefused counts peers that did not answer with a
	// BitTorrent handshake for the torrent in time: both sides were
	// closed, and nothing of the peer's reached the client.
	PeerHandshakesRefused uint64
}

// New returns a bridge.
func New(cfg Config) *Bridge {
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.MaxPerClient <= 0 {
		cfg.MaxPerClient = 16
	}
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = 2000
	}
	if cfg.BytesPerSecond <= 0 {
		cfg.BytesPerSecond = DefaultBytesPerSecond
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 20 * time.Second
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientip.Peer
	}
	if cfg.PeersRate == 0 {
		cfg.PeersRate = 1
	}
	if cfg.ConnectRate == 0 {
		cfg.ConnectRate = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{cfg: cfg, log: cfg.Logger, perIP: make(map[netip.Addr]int), ctx: ctx, cancel: cancel,
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
	if cfg.PeersRate > 0 {
		b.peersLim = ratelimit.New(cfg.PeersRate, max(PeersMaxCost, int(math.Ceil(60*cfg.PeersRate))), 0)
	}
	if cfg.ConnectRate > 0 {
		b.connLim = ratelimit.New(cfg.ConnectRate, 32, 0)
	}
	return b
}

// Close ends the open WebRTC bridges and waits for them. (WebSocket
// bridges end with their HTTP server.)
func (b *Bridge) Close() {
	b.cancel()
	b.wg.Wait()
}

// Stats returns the Bridge's counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.stats
	st.Open = b.total
	return st
}

// Errors for refused bridge requests.
var (
	ErrNotDiscovered = errors.New("bridge: that address was not discovered for that torrent")
	ErrNotPublic     = errors.New("bridge: that address is not a public unicast address")
	ErrLowPort       = errors.New("bridge: that port is below 1024, where BitTorrent peers do not listen")
)

// Check decides whether a bridge to addr for infoHash may be opened (and
// addr listed for it).
func (b *Bridge) Check(infoHash [20]byte, addr netip.AddrPort) error {
	ip := addr.Addr().Unmap()
	if !b.cfg.AllowPrivate && (!ip.IsGlobalUnicast() || ip.IsPrivate()) {
		return ErrNotPublic
	}
	if !b.cfg.AllowLowPorts && addr.Port() < 1024 && addr.Port() != 0 {
		return ErrLowPort
	}
	if addr.Port() == 0 || b.cfg.Discovered == nil || !b.cfg.Discovered(infoHash, netip.AddrPortFrom(ip, addr.Port())) {
		return ErrNotDiscovered
	}
	return nil
}

func (b *Bridge) refuse(w http.ResponseWriter, code int, msg string) {
	b.count(&b.stats.Refused)
	http.Error(w, msg, code)
}

// client is the key r's client is counted under.
func (b *Bridge) client(r *http.Request) netip.Addr { return clientip.Key(b.cfg.ClientAddr(r)) }

// allow spends cost of client's tokens of lim, or answers 429 and false.
// It refills at rate tokens a second.
func (b *Bridge) allow(w http.ResponseWriter, lim *ratelimit.Limiter, rate float64, client netip.Addr, cost int, what string) bool {
	if lim.AllowN(client, b.cfg.Now(), cost) {
		return true
	}
	b.count(&b.stats.Limited)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(float64(cost)/rate)))))
	http.Error(w, "too many "+what+" from your address: wait a little and try again", http.StatusTooManyRequests)
	return false
}

// target is a checked bridge request.
type target struct {
	ih      [20]byte
	addr    netip.AddrPort
	network string // "tcp" or "utp"
}

// admit parses and checks a bridge request and takes a connection slot
// for its client; release gives the slot back. On failure it has answered.
func (b *Bridge) admit(w http.ResponseWriter, r *http.Request) (tg target, release func(), ok bool) {
	client := b.client(r)
	if !b.allow(w, b.connLim, b.cfg.ConnectRate, client, 1, "bridged connections") {
		return tg, nil, false
	}
	q := r.URL.Query()
	raw, err := hex.DecodeString(q.Get("info_hash"))
	if err != nil || len(raw) != 20 {
		b.refuse(w, http.StatusBadRequest, "info_hash: want 40 hex digits")
		return tg, nil, false
	}
	copy(tg.ih[:], raw)
	if tg.addr, err = netip.ParseAddrPort(q.Get("peer")); err != nil {
		b.refuse(w, http.StatusBadRequest, "peer: want IP:PORT")
		return tg, nil, false
	}
	switch tg.network = q.Get("net"); tg.network {
	case "", "tcp":
		tg.network = "tcp"
	case "utp":
		if b.cfg.DialUTP == nil {
			b.refuse(w, http.StatusBadRequest, "net: this relay does not dial uTP")
			return tg, nil, false
		}
	default:
		b.refuse(w, http.StatusBadRequest, "net: want tcp or utp")
		return tg, nil, false
	}
	if err := b.Check(tg.ih, tg.addr); err != nil {
		b.refuse(w, http.StatusForbidden, err.Error())
		return tg, nil, false
	}
	b.mu.Lock()
	if b.perIP[client] >= b.cfg.MaxPerClient || b.total >= b.cfg.MaxTotal {
		b.stats.Refused++
		b.mu.Unlock()
		http.Error(w, "too many bridged connections", http.StatusTooManyRequests)
		return tg, nil, false
	}
	b.perIP[client]++
	b.total++
	b.mu.Unlock()
	var once sync.Once
	return tg, func() {
		once.Do(func() {
			b.mu.Lock()
			if b.perIP[client]--; b.perIP[client] <= 0 {
				delete(b.perIP, client)
			}
			b.total--
			b.mu.Unlock()
		})
	}, true
}

// Caps of /bridge/peers.
const (
	maxListed      = 100
	maxTrackerURLs = 16
	maxTrackerURL  = 2048
)

// PeersResponse is the JSON /bridge/peers answers.
type PeersResponse struct {
	// Peers are IP:PORT addresses the bridge will dial for the torrent.
	Peers []string `json:"peers"`
	// UTP says whether the relay can reach them over uTP too (net=utp).
	UTP bool `json:"utp"`
}

// ServePeers answers GET /bridge/peers?info_hash=HEX[&tr=URL...]: the
// classic peers a browser can reach through this bridge. It costs the
// client 1 of its PeersRate tokens plus 1 per tracker URL (at most
// PeersMaxCost in all).
func (b *Bridge) ServePeers(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	q := r.URL.Query()
	raw, err := hex.DecodeString(q.Get("info_hash"))
	if err != nil || len(raw) != 20 {
		http.Error(w, "info_hash: want 40 hex digits", http.StatusBadRequest)
		return
	}
	var ih [20]byte
	copy(ih[:], raw)
	var trackers []string
	for _, u := range q["tr"] {
		if len(trackers) == maxTrackerURLs {
			break
		}
		if len(u) <= maxTrackerURL {
			trackers = append(trackers, u)
		}
	}
	if !b.allow(w, b.peersLim, b.cfg.PeersRate, b.client(r), min(1+len(trackers), PeersMaxCost), "peer lists") {
		return
	}
	res := PeersResponse{Peers: []string{}, UTP: b.cfg.DialUTP != nil}
	if b.cfg.Peers != nil {
		seen := make(map[netip.AddrPort]bool)
		for _, a := range b.cfg.Peers(ih, trackers) {
			if len(res.Peers) == maxListed {
				break
			}
			if !seen[a] && b.Check(ih, a) == nil {
				seen[a] = true
				res.Peers = append(res.Peers, a.String())
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// maxOffer caps a posted WebRTC offer.
const maxOffer = 64 << 10

// ServeHTTP opens one bridged connection: a POST carries a WebRTC offer
// and is answered with the relay's answer; a GET is a WebSocket upgrade.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		return
	}
	if r.Method == http.MethodPost {
		b.serveRTC(w, r)
		return
	}
	tg, release, ok := b.admit(w, r)
	if !ok {
		return
	}
	defer release()
	ws, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := NetConn(ws)
	defer c.Close()
	if err := b.pipe(r.Context(), c, tg); err != nil {
		b.log.Debug("bridge ended", "peer", tg.addr, "err", err)
	}
}

// serveRTC answers a WebRTC offer; the bridge then runs on a goroutine the
// Bridge owns until either side ends or the Bridge closes.
func (b *Bridge) serveRTC(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	var offer webrtc.SessionDescription
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err == nil {
		err = json.Unmarshal(body, &offer)
	}
	if err != nil || offer.Type != webrtc.SDPTypeOffer {
		b.refuse(w, http.StatusBadRequest, "body: want a JSON WebRTC offer {\"type\":\"offer\",\"sdp\":...} of at most 64 KiB")
		return
	}
	tg, release, ok := b.admit(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	p, err := rtc.NewAnswer(ctx, b.cfg.RTC, offer)
	cancel()
	if err != nil {
		release()
		b.refuse(w, http.StatusBadRequest, "offer: "+err.Error())
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer release()
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.ConnectTimeout)
		c, err := p.Connect(ctx)
		cancel()
		if err != nil {
			b.log.Debug("webrtc bridge did not connect", "peer", tg.addr, "err", err)
			return
		}
		defer c.Close()
		stop := context.AfterFunc(b.ctx, func() { c.Close() })
		defer stop()
		if err := b.pipe(b.ctx, c, tg); err != nil {
			b.log.Debug("bridge ended", "peer", tg.addr, "err", err)
		}
	}()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p.Local)
}
