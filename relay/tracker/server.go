package tracker

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/httptracker"
	"github.com/gorilla/websocket"
)

// Limits and defaults.
const (
	DefaultInterval  = 10 * time.Minute // HTTP announce interval; WebSocket peers get a fifth of it
	DefaultMaxPeers  = 1000             // per swarm
	DefaultMaxSwarms = 100_000
	DefaultNumwant   = httptracker.DefaultNumwant
	MaxNumwant       = httptracker.MaxNumwant
	MaxOffers        = 20       // per WebSocket announce
	MaxMessage       = 64 << 10 // one WebSocket message
)

// Config configures a Server. The zero value works.
type Config struct {
	// Interval is the announce interval for HTTP peers (default 10 min);
	// WebSocket peers are told a fifth of it, as bittorrent-tracker does.
	// Peers not heard from for three intervals are dropped.
	Interval  time.Duration
	MaxPeers  int // per swarm (default 1000); the least recently seen go first
	MaxSwarms int // (default 100,000); announces for new swarms beyond it fail
	// Allow, when set, decides which info hashes the tracker serves.
	Allow func(infoHash [20]byte) bool
	// TrustProxy takes the client's address from X-Forwarded-For (behind a
	// reverse proxy).
	TrustProxy bool
	// MessagesPerSecond caps what one WebSocket connection may send
	// (default 20, bursts of 40); beyond it the connection is closed.
	MessagesPerSecond int
	Logger            *slog.Logger
	Now               func() time.Time
}

// Server is the tracker. It is an http.Handler: GET /announce and /scrape
// for HTTP clients, a WebSocket upgrade on any path for WebTorrent clients.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu     sync.Mutex
	swarms map[[20]byte]*swarm
	rng    *rand.Rand
	conns  map[*wsConn]struct{}
	stats  Stats
	closed bool
}

// Stats counts what the tracker has done, for metrics.
type Stats struct {
	Swarms, Peers, WebSockets int
	Announces, Scrapes        uint64
	OffersRelayed             uint64
	AnswersRelayed            uint64
	Refused                   uint64 // malformed or disallowed requests
}

// New returns a tracker.
func New(cfg Config) *Server {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.MaxSwarms <= 0 {
		cfg.MaxSwarms = DefaultMaxSwarms
	}
	if cfg.MessagesPerSecond <= 0 {
		cfg.MessagesPerSecond = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		upgrader: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
			CheckOrigin:     func(*http.Request) bool { return true }, // a public tracker: any page may use it
		},
		swarms: make(map[[20]byte]*swarm),
		rng:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		conns:  make(map[*wsConn]struct{}),
	}
}

// ServeHTTP routes tracker requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		s.serveWebSocket(w, r)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/announce"):
		s.serveAnnounce(w, r)
	case strings.HasSuffix(r.URL.Path, "/scrape"):
		s.serveScrape(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Stats returns the tracker's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Swarms = len(s.swarms)
	for _, sw := range s.swarms {
		st.Peers += len(sw.peers)
	}
	st.WebSockets = len(s.conns)
	return st
}

// swarmLocked returns the swarm of ih, creating it if create and there is
// room; nil if not.
func (s *Server) swarmLocked(ih [20]byte, create bool) *swarm {
	sw := s.swarms[ih]
	if sw == nil && create && len(s.swarms) < s.cfg.MaxSwarms {
		sw = newSwarm()
		s.swarms[ih] = sw
	}
	return sw
}

// Expire drops peers not heard from for three intervals and empty swarms;
// Run calls it every interval.
func (s *Server) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := s.cfg.Now().Add(-3 * s.cfg.Interval)
	for ih, sw := range s.swarms {
		sw.expire(cutoff)
		if len(sw.peers) == 0 {
			delete(s.swarms, ih)
		}
	}
}

// Close closes every WebSocket connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// allowed applies Config.Allow.
func (s *Server) allowed(ih [20]byte) bool { return s.cfg.Allow == nil || s.cfg.Allow(ih) }

// HTTPPeers returns up to max addresses of peers that announced infoHash
// over HTTP (classic peers), most recently seen first.
func (s *Server) HTTPPeers(infoHash [20]byte, max int) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarms[infoHash]
	if sw == nil {
		return nil
	}
	var ps []*peer
	for _, p := range sw.peers {
		if p.conn == nil {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *peer) int { return b.seen.Compare(a.seen) })
	out := make([]netip.AddrPort, 0, min(len(ps), max))
	for _, p := range ps[:min(len(ps), max)] {
		out = append(out, p.addr)
	}
	return out
}

// Knows says whether addr announced itself over HTTP for infoHash and is
// still in the swarm: the bridge dials only such addresses.
func (s *Server) Knows(infoHash [20]byte, addr netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarms[infoHash]
	if sw == nil {
		return false
	}
	p := sw.peers[addr.String()]
	return p != nil && p.conn == nil
}
