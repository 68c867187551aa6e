// Package bridge carries a browser peer's BitTorrent connection to a classic
// TCP or uTP peer. The browser either POSTs a WebRTC offer (a data channel,
// no trickle ICE) to /bridge?info_hash=HEX&peer=IP:PORT[&net=utp] and gets
// the relay's answer back, or opens a WebSocket to the same URL (the
// fallback where WebRTC cannot connect); over either it sends the BitTorrent
// handshake, and the relay dials the peer and pipes bytes both ways. The
// browser speaks the wire protocol end to end; the relay stores nothing.
//
// It is not an open proxy: it dials only addresses discovered for that info
// hash (Config.Discovered: the relay's tracker, and later DHT and the
// torrent's trackers), checks that the handshake names that info hash,
// refuses private, loopback and other non-public addresses unless
// Config.AllowPrivate, and caps connections per client and in total, and
// bytes per second per connection.
package bridge

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

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
	// (default 8 MiB/s).
	MaxPerClient   int
	MaxTotal       int
	BytesPerSecond int
	Logger         *slog.Logger
}

// Bridge is the /bridge endpoint.
type Bridge struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // WebRTC bridges, which outlive their request

	mu       sync.Mutex
	perIP    map[netip.Addr]int
	total    int
	bridged  uint64 // bytes piped, both directions
	refusals uint64
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
		cfg.BytesPerSecond = 8 << 20
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Bridge{cfg: cfg, log: cfg.Logger, perIP: make(map[netip.Addr]int), ctx: ctx, cancel: cancel,
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
}

// Close ends the open WebRTC bridges and waits for them. (WebSocket
// bridges end with their HTTP server.)
func (b *Bridge) Close() {
	b.cancel()
	b.wg.Wait()
}

// Stats returns bytes bridged, open connections and refusals.
func (b *Bridge) Stats() (bridged uint64, open int, refused uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bridged, b.total, b.refusals
}

// Errors for refused bridge requests.
var (
	ErrNotDiscovered = errors.New("bridge: that address was not discovered for that torrent")
	ErrNotPublic     = errors.New("bridge: that address is not a public unicast address")
)

// Check decides whether a bridge to addr for infoHash may be opened.
func (b *Bridge) Check(infoHash [20]byte, addr netip.AddrPort) error {
	ip := addr.Addr().Unmap()
	if !b.cfg.AllowPrivate && (!ip.IsGlobalUnicast() || ip.IsPrivate()) {
		return ErrNotPublic
	}
	if addr.Port() == 0 || b.cfg.Discovered == nil || !b.cfg.Discovered(infoHash, netip.AddrPortFrom(ip, addr.Port())) {
		return ErrNotDiscovered
	}
	return nil
}

func (b *Bridge) refuse(w http.ResponseWriter, code int, msg string) {
	b.mu.Lock()
	b.refusals++
	b.mu.Unlock()
	http.Error(w, msg, code)
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
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	client, _ := netip.ParseAddr(host)
	client = client.Unmap()
	b.mu.Lock()
	if b.perIP[client] >= b.cfg.MaxPerClient || b.total >= b.cfg.MaxTotal {
		b.refusals++
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
// classic peers a browser can reach through this bridge.
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

// protocolHeader is the start of every BitTorrent handshake.
var protocolHeader = []byte("\x13BitTorrent protocol")

// pipe checks the client's handshake, dials the peer and copies both ways
// until either side ends.
func (b *Bridge) pipe(ctx context.Context, client net.Conn, tg target) error {
	ih, addr := tg.ih, tg.addr
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	hs := make([]byte, 68)
	if _, err := io.ReadFull(client, hs); err != nil {
		return err
	}
	if !bytes.Equal(hs[:20], protocolHeader) || !bytes.Equal(hs[28:48], ih[:]) {
		return errors.New("the handshake does not name the bridged torrent")
	}
	client.SetReadDeadline(time.Time{})
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var peer net.Conn
	var err error
	if tg.network == "utp" {
		peer, err = b.cfg.DialUTP(dctx, addr.String())
	} else {
		peer, err = b.cfg.Dial(dctx, "tcp", addr.String())
	}
	cancel()
	if err != nil {
		return err
	}
	defer peer.Close()
	if _, err := peer.Write(hs); err != nil {
		return err
	}
	done := make(chan struct{}, 2)
	go func() { b.copy(peer, client); peer.Close(); done <- struct{}{} }()
	go func() { b.copy(client, peer); client.Close(); done <- struct{}{} }()
	<-done
	<-done
	return nil
}

// copy copies src to dst at most BytesPerSecond.
func (b *Bridge) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	start, sent := time.Now(), 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			sent += n
			b.mu.Lock()
			b.bridged += uint64(n)
			b.mu.Unlock()
			if ahead := time.Duration(float64(sent)/float64(b.cfg.BytesPerSecond)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		if err != nil {
			return
		}
	}
}
