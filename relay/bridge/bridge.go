// Package bridge carries a browser peer's BitTorrent connection to a classic
// TCP peer: the browser opens a WebSocket to /bridge?info_hash=HEX&peer=
// IP:PORT, sends the BitTorrent handshake, and the relay dials the peer and
// pipes bytes both ways. The browser speaks the wire protocol end to end; the
// relay stores nothing.
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
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures a Bridge.
type Config struct {
	// Discovered says whether addr was found as a peer of infoHash; nothing
	// else is dialled. Required.
	Discovered func(infoHash [20]byte, addr netip.AddrPort) bool
	// AllowPrivate allows private, loopback and link-local addresses (tests,
	// LANs).
	AllowPrivate bool
	// Dial opens the connection to the peer (default: TCP, 10 s timeout).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg, log: cfg.Logger, perIP: make(map[netip.Addr]int),
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
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

// ServeHTTP opens one bridged connection.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw, err := hex.DecodeString(q.Get("info_hash"))
	if err != nil || len(raw) != 20 {
		b.refuse(w, http.StatusBadRequest, "info_hash: want 40 hex digits")
		return
	}
	var ih [20]byte
	copy(ih[:], raw)
	addr, err := netip.ParseAddrPort(q.Get("peer"))
	if err != nil {
		b.refuse(w, http.StatusBadRequest, "peer: want IP:PORT")
		return
	}
	if err := b.Check(ih, addr); err != nil {
		b.refuse(w, http.StatusForbidden, err.Error())
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	client, _ := netip.ParseAddr(host)
	client = client.Unmap()
	b.mu.Lock()
	if b.perIP[client] >= b.cfg.MaxPerClient || b.total >= b.cfg.MaxTotal {
		b.refusals++
		b.mu.Unlock()
		http.Error(w, "too many bridged connections", http.StatusTooManyRequests)
		return
	}
	b.perIP[client]++
	b.total++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.perIP[client]--; b.perIP[client] <= 0 {
			delete(b.perIP, client)
		}
		b.total--
		b.mu.Unlock()
	}()
	ws, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := NetConn(ws)
	defer c.Close()
	if err := b.pipe(r.Context(), c, ih, addr); err != nil {
		b.log.Debug("bridge ended", "peer", addr, "err", err)
	}
}

// protocolHeader is the start of every BitTorrent handshake.
var protocolHeader = []byte("\x13BitTorrent protocol")

// pipe checks the client's handshake, dials the peer and copies both ways
// until either side ends.
func (b *Bridge) pipe(ctx context.Context, client net.Conn, ih [20]byte, addr netip.AddrPort) error {
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
	peer, err := b.cfg.Dial(dctx, "tcp", addr.String())
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
