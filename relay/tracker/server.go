package tracker

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/internal/ratelimit"
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
	MaxJoined        = 256      // peer entries (swarm, peer_id) one WebSocket connection may hold

	// Per-address limits; an address is an IPv4 address or an IPv6 /64
	// (clientip.Key).
	DefaultAnnounceRate      = 5   // announces a second, in bursts of DefaultAnnounceBurst
	DefaultAnnounceBurst     = 100 //
	DefaultSwarmRate         = 1   // new swarms a second, in bursts of DefaultSwarmBurst
	DefaultSwarmBurst        = 100 //
	DefaultMaxPeersPerAddr   = 10  // entries in one swarm
	DefaultMaxSocketsPerAddr = 32  // WebSocket connections at once

	// RetryAfter is when a client refused by a per-address limit is told
	// to come back.
	RetryAfter = time.Minute
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
	// ClientAddr is a request's client address (default clientip.Peer,
	// the connection's; behind trusted proxies, clientip.Resolver.Addr).
	// HTTP peers are listed at it, and the per-address limits count by it.
	ClientAddr func(*http.Request) netip.Addr

	// Per-address limits, which keep one client from filling the tracker
	// or evicting others. A negative value turns a limit off.
	//
	// AnnounceRate is the announces per second one address may make (HTTP
	// announces and WebSocket announces other than answers; default 5, in
	// bursts of AnnounceBurst, default 100). SwarmRate is the new swarms
	// per second one address may create (default 1, bursts of SwarmBurst,
	// default 100). MaxPeersPerAddr is how many entries one address may
	// hold in one swarm (default 10): a newer one replaces its least
	// recently seen. MaxSocketsPerAddr caps one address's WebSocket
	// connections (default 32): beyond it the upgrade gets 429.
	AnnounceRate      float64
	AnnounceBurst     int
	SwarmRate         float64
	SwarmBurst        int
	MaxPeersPerAddr   int
	MaxSocketsPerAddr int

	// MessagesPerSecond caps what one WebSocket connection may send
	// (default 20, bursts of 40); beyond it the connection is closed.
	MessagesPerSecond int
	// Cluster, when set, shares the swarms with other relays (see
	// Cluster); nil keeps them in this process only.
	Cluster Cluster
	Logger  *slog.Logger
	Now     func() time.Time
}

// Server is the tracker. It is an http.Handler: GET /announce and /scrape
// for HTTP clients, a WebSocket upgrade on any path for WebTorrent clients.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader

	announces *ratelimit.Limiter // per address
	newSwarms *ratelimit.Limiter // per address

	mu      sync.Mutex
	swarms  map[[20]byte]*swarm
	rng     *rand.Rand
	conns   map[*wsConn]struct{}
	readers sync.WaitGroup     // the WebSocket readers (serveWebSocket); Close waits for them
	sockets map[netip.Addr]int // open WebSocket connections by clientip.Key
	stats   Stats
	closed  bool
}

// Stats counts what the tracker has done, for metrics.
type Stats struct {
	Swarms, Peers, WebSockets int
	Announces, Scrapes        uint64
	OffersRelayed             uint64
	AnswersRelayed            uint64
	Refused                   uint64 // malformed or disallowed requests
	RateLimited               uint64 // announces refused by a per-address limit (announces, new swarms)
	SocketsRefused            uint64 // WebSocket upgrades refused by MaxSocketsPerAddr
	// With a Cluster: failed cluster calls (each served locally instead),
	// offers and answers routed to other relays, delivered from them, and
	// delivered from them for peers no longer here.
	ClusterErrors                   uint64
	RoutedOut, RoutedIn, RoutedLost uint64
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
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientip.Peer
	}
	cfg.AnnounceRate = orDefault(cfg.AnnounceRate, DefaultAnnounceRate)
	cfg.AnnounceBurst = orDefault(cfg.AnnounceBurst, DefaultAnnounceBurst)
	cfg.SwarmRate = orDefault(cfg.SwarmRate, DefaultSwarmRate)
	cfg.SwarmBurst = orDefault(cfg.SwarmBurst, DefaultSwarmBurst)
	cfg.MaxPeersPerAddr = orDefault(cfg.MaxPeersPerAddr, DefaultMaxPeersPerAddr)
	if cfg.MaxPeersPerAddr < 0 {
		cfg.MaxPeersPerAddr = cfg.MaxPeers
	}
	cfg.MaxSocketsPerAddr = orDefault(cfg.MaxSocketsPerAddr, DefaultMaxSocketsPerAddr)
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		announces: ratelimit.New(max(cfg.AnnounceRate, 0), cfg.AnnounceBurst, 0),
		newSwarms: ratelimit.New(max(cfg.SwarmRate, 0), cfg.SwarmBurst, 0),
		upgrader: websocket.Upgrader{
			// Read buffer size 0: the HTTP server's own (hijacked) one is
			// reused; write buffers come from a pool and are held only
			// while writing.
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     func(*http.Request) bool { return true }, // a public tracker: any page may use it
		},
		swarms:  make(map[[20]byte]*swarm),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		conns:   make(map[*wsConn]struct{}),
		sockets: make(map[netip.Addr]int),
	}
	if cfg.Cluster != nil {
		cfg.Cluster.Subscribe(s.deliver)
	}
	return s
}

// orDefault is v, or def when v is zero (negative values stay: "off").
func orDefault[T int | float64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
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

// takeSocket reserves one of from's WebSocket connections, or reports that
// from holds all it may.
func (s *Server) takeSocket(from netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxSocketsPerAddr >= 0 && s.sockets[from] >= s.cfg.MaxSocketsPerAddr {
		s.stats.SocketsRefused++
		return false
	}
	s.sockets[from]++
	return true
}

// releaseSocketLocked gives back one of from's WebSocket connections.
func (s *Server) releaseSocketLocked(from netip.Addr) {
	if s.sockets[from] <= 1 {
		delete(s.sockets, from)
		return
	}
	s.sockets[from]--
}

// A refusal is why an announce was not served: its reason for the client,
// and whether a per-address limit refused it (the client is told to come
// back after RetryAfter).
type refusal struct {
	reason  string
	limited bool
}

var (
	refusedFull      = &refusal{reason: "tracker full"}
	refusedAnnounces = &refusal{reason: "too many announces from your address", limited: true}
	refusedSwarms    = &refusal{reason: "too many new swarms from your address", limited: true}
	refusedPeers     = &refusal{reason: "swarm full: retry later"}
	refusedJoined    = &refusal{reason: "this connection holds " + strconv.Itoa(MaxJoined) + " swarm entries, the most it may: open another"}
)

// message is the reason as a client sees it.
func (r *refusal) message() string {
	if r.limited {
		return r.reason + ": retry in " + strconv.Itoa(int(RetryAfter.Seconds())) + " seconds"
	}
	return r.reason
}

// countRefusal counts a refusal in the stats.
func (s *Server) countRefusal(r *refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.limited {
		s.stats.RateLimited++
	} else {
		s.stats.Refused++
	}
}

// swarmLocked returns the swarm of ih, creating it if create and there is
// room and from may create one; nil and why not otherwise (nil and nil
// when the swarm does not exist and create is false).
func (s *Server) swarmLocked(ih [20]byte, create bool, from netip.Addr, now time.Time) (*swarm, *refusal) {
	if sw := s.swarms[ih]; sw != nil || !create {
		return sw, nil
	}
	if len(s.swarms) >= s.cfg.MaxSwarms {
		return nil, refusedFull
	}
	if !s.newSwarms.Allow(from, now) {
		return nil, refusedSwarms
	}
	sw := newSwarm()
	s.swarms[ih] = sw
	return sw, nil
}

// announceLocked applies p's announce to sw (the swarm of ih), keeping the
// WebSocket connections' lists of their entries true. It returns p's entry,
// or nil after stopped or when the swarm has no room for p, and the entry
// that made room for p, if one did (for the cluster to drop too).
func (s *Server) announceLocked(ih [20]byte, sw *swarm, p peer, ev httptracker.Event, left int64, now time.Time) (entry, dropped *peer) {
	entry, dropped = sw.announce(p, ev, left, now, s.cfg.MaxPeers, s.cfg.MaxPeersPerAddr)
	if dropped != nil && dropped.conn != nil {
		delete(dropped.conn.joined, joinKey{ih, dropped.key})
	}
	return entry, dropped
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
	s.readers.Wait()
}

// allowed applies Config.Allow.
func (s *Server) allowed(ih [20]byte) bool { return s.cfg.Allow == nil || s.cfg.Allow(ih) }

// HTTPPeers returns up to max addresses of peers that announced infoHash
// over HTTP (classic peers), most recently seen first.
func (s *Server) HTTPPeers(infoHash [20]byte, max int) []netip.AddrPort {
	return s.clusterHTTPPeers(infoHash, max, s.localHTTPPeers(infoHash, max))
}

// localHTTPPeers is HTTPPeers from this tracker's own swarm.
func (s *Server) localHTTPPeers(infoHash [20]byte, max int) []netip.AddrPort {
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
// With a Cluster, an address announced to another relay counts too.
func (s *Server) Knows(infoHash [20]byte, addr netip.AddrPort) bool {
	s.mu.Lock()
	var p *peer
	if sw := s.swarms[infoHash]; sw != nil {
		p = sw.peers[addr.String()]
	}
	s.mu.Unlock()
	if p != nil && p.conn == nil {
		return true
	}
	if !s.clusterUp() {
		return false
	}
	ctx, cancel := clusterContext()
	defer cancel()
	_, ok, err := s.cfg.Cluster.Lookup(ctx, infoHash, HTTPPeer, addr.String())
	if err != nil {
		s.clusterFailed("lookup", err)
	}
	return ok
}

// clusterHTTPPeers adds the cluster's HTTP peers of infoHash to have, up
// to max in all.
func (s *Server) clusterHTTPPeers(infoHash [20]byte, max int, have []netip.AddrPort) []netip.AddrPort {
	if len(have) >= max || !s.clusterUp() {
		return have
	}
	ctx, cancel := clusterContext()
	defer cancel()
	es, _, err := s.cfg.Cluster.Announce(ctx, infoHash, HTTPPeer, nil, httptracker.Update, max)
	if err != nil {
		s.clusterFailed("peers", err)
		return have
	}
	for _, e := range es {
		if len(have) < max && !slices.Contains(have, e.Addr) {
			have = append(have, e.Addr)
		}
	}
	return have
}
