// Package discover finds classic BitTorrent peers for the torrents that
// browser peers join through the relay, so that the relay's bridge (which
// dials only addresses discovered for an info hash) can offer them to
// browsers.
//
// A Discoverer searches two sources, in the background, when asked to
// (Lookup):
//
//   - the BitTorrent DHT (BEP 5), as a node of anacrolix/dht, with a
//     bounded get_peers traversal that never announces the relay;
//   - the torrent's own HTTP and UDP trackers (BEP 3, BEP 15), announced to
//     with event "started" (which is what makes trackers hand out peers)
//     and at once "stopped", so that the relay, which is not a peer of the
//     torrent, does not stay listed.
//
// What it finds is kept per info hash for Config.PeerTTL and answered by
// Peers and Knows.
//
// Everything remote parties control is bounded: info hashes tracked
// (least recently looked up evicted), peers per info hash, trackers per
// lookup, concurrent lookups, tracker response sizes and the time any
// lookup may take. Tracker URLs come from browsers, so unless
// Config.AllowPrivate is set a tracker whose host resolves to anything but
// a public address is refused before any request, connections and UDP
// packets to non-public addresses are refused when made (redirects, DNS
// rebinding), the DHT neither talks to nor accepts packets from non-public
// addresses, and non-public peer addresses are dropped.
package discover

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/btspeed/btspeed/engine/trackerclient"
	"github.com/btspeed/btspeed/shared/netguard"
)

// Defaults of Config.
const (
	DefaultPort                 = 6881
	DefaultMaxTorrents          = 10_000
	DefaultMaxPeersPerTorrent   = 500
	DefaultMaxTrackersPerLookup = 8
	DefaultMaxLookups           = 64
	DefaultRefresh              = time.Minute
	DefaultPeerTTL              = 30 * time.Minute
	DefaultLookupTimeout        = time.Minute
	DefaultTrackerTimeout       = 15 * time.Second
	DefaultDHTQueriesPerSecond  = 50

	// NumWant is how many peers a tracker announce asks for.
	NumWant = 50
	// MaxTrackerResponse caps the bytes read from one HTTP tracker
	// connection (headers, TLS and body together).
	MaxTrackerResponse = trackerclient.MaxResponse
	// maxTrackerURL caps the length of a tracker URL.
	maxTrackerURL = 2048
	// sweepInterval is how often expired peers are forgotten.
	sweepInterval = time.Minute
)

// Config configures a Discoverer. The zero value searches trackers only
// (the DHT needs DHTAddr).
type Config struct {
	// DHTAddr is the listen address of the DHT's UDP socket, e.g. ":6881",
	// or "127.0.0.1:0" in tests; "" disables the DHT.
	DHTAddr string
	// DHTBootstrap lists host:port of the nodes the DHT starts from when
	// its routing table is empty (default, when empty: anacrolix's global
	// bootstrap nodes, dht.DefaultGlobalBootstrapHostPorts).
	DHTBootstrap []string
	// DHTQueriesPerSecond caps the DHT queries sent (default 50, bursts
	// of as many).
	DHTQueriesPerSecond int

	// AllowPrivate accepts tracker URLs, DHT nodes and peers on private,
	// loopback, link-local and other non-public addresses (tests, LANs).
	// Without it a tracker URL whose host resolves to a non-public address
	// is refused (an SSRF guard: browsers supply tracker URLs), the DHT
	// ignores non-public nodes and non-public peer addresses are dropped.
	AllowPrivate bool

	// Port is the port reported in tracker announces (default 6881).
	Port int
	// MaxTorrents caps the info hashes tracked at once (default 10,000);
	// beyond it the least recently looked up is forgotten.
	MaxTorrents int
	// MaxPeersPerTorrent caps the addresses kept per info hash (default
	// 500); beyond it the least recently seen go first.
	MaxPeersPerTorrent int
	// MaxTrackersPerLookup caps the tracker URLs one lookup announces to
	// (default 8); the first ones (after dropping duplicates and
	// unsupported schemes) are used.
	MaxTrackersPerLookup int
	// MaxLookups caps the lookups running at once (default 64); a Lookup
	// beyond it does nothing (and a later one may start).
	MaxLookups int
	// Refresh is how often, at most, a lookup runs for the same info hash
	// (default 1 min).
	Refresh time.Duration
	// PeerTTL is how long a discovered address is remembered after it was
	// last seen (default 30 min).
	PeerTTL time.Duration
	// LookupTimeout bounds one lookup, DHT traversal included (default
	// 1 min).
	LookupTimeout time.Duration
	// TrackerTimeout bounds one tracker's announces (default 15 s).
	TrackerTimeout time.Duration

	// LookupIP resolves tracker and bootstrap host names (default
	// net.DefaultResolver.LookupNetIP over "ip"). IP literals are not
	// resolved. UDP trackers are also resolved by anacrolix's client, with
	// the system resolver, at each packet; those packets are checked again
	// before they are sent.
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
	// DialContext opens TCP connections to HTTP trackers, to an IP
	// literal address already checked (default: a net.Dialer).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// ListenPacket opens the DHT's and the UDP tracker client's sockets
	// (default net.ListenPacket).
	ListenPacket func(network, addr string) (net.PacketConn, error)

	// Now is the clock for Refresh and PeerTTL (default time.Now).
	Now func() time.Time
	// Logger receives what goes wrong, anacrolix's DHT and tracker logs
	// included (default: discarded).
	Logger *slog.Logger
}

// Stats counts what a Discoverer holds and has done, for metrics.
type Stats struct {
	Torrents         int    // info hashes tracked
	Peers            int    // addresses known and not expired, all info hashes
	Lookups          uint64 // lookups started
	LookupsActive    int    // lookups running
	LookupsSkipped   uint64 // Lookup calls that found MaxLookups running
	TrackerAnnounces uint64 // successful tracker announces ("started" ones)
	TrackerErrors    uint64 // failed tracker announces
	TrackersRefused  uint64 // tracker URLs refused by the SSRF guard
	PeersDropped     uint64 // peer addresses dropped as invalid or not public
	DHTNodes         int    // nodes in the DHT routing table
	DHTMalformed     uint64 // DHT packets dropped because decoding them panics
}

// Discoverer finds peers of info hashes through the DHT and trackers. Its
// methods are safe for concurrent use.
type Discoverer struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Discoverer starts

	dht     *dht.Server    // nil without DHTAddr
	dhtConn net.PacketConn // the DHT's socket

	peerID [20]byte // for tracker announces
	key    int32    // for tracker announces

	mu       sync.Mutex
	closed   bool
	torrents map[[20]byte]*torrent
	lru      *list.List // of *torrent, most recently looked up first
	running  int
	stats    Stats // counters only; the rest is computed by Stats
}

// torrent is what is known of one info hash. Guarded by Discoverer.mu.
type torrent struct {
	ih         [20]byte
	elem       *list.Element
	lastLookup time.Time // when the last lookup started
	running    bool
	peers      map[netip.AddrPort]time.Time // address → last seen
}

// New returns a Discoverer; with Config.DHTAddr it has joined the DHT
// (listening, and bootstrapping in the background).
func New(cfg Config) (*Discoverer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	d := &Discoverer{
		cfg:      cfg,
		log:      cfg.Logger,
		torrents: make(map[[20]byte]*torrent),
		lru:      list.New(),
	}
	var b [24]byte
	rand.Read(b[:])
	copy(d.peerID[:], "-BR0001-")
	copy(d.peerID[8:], b[:12])
	d.key = int32(binary.BigEndian.Uint32(b[12:]))
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if cfg.DHTAddr != "" {
		if err := d.startDHT(); err != nil {
			d.cancel()
			return nil, err
		}
	}
	d.wg.Go(d.sweeper)
	return d, nil
}

// setDefaults fills in defaults and checks the configuration.
func (cfg *Config) setDefaults() error {
	for _, v := range []struct {
		name string
		n    int
	}{
		{"Port", cfg.Port}, {"MaxTorrents", cfg.MaxTorrents}, {"MaxPeersPerTorrent", cfg.MaxPeersPerTorrent},
		{"MaxTrackersPerLookup", cfg.MaxTrackersPerLookup}, {"MaxLookups", cfg.MaxLookups},
		{"DHTQueriesPerSecond", cfg.DHTQueriesPerSecond},
	} {
		if v.n < 0 {
			return fmt.Errorf("discover: %s is negative (%d)", v.name, v.n)
		}
	}
	if cfg.Port > 65535 {
		return fmt.Errorf("discover: Port %d is out of range", cfg.Port)
	}
	for _, hp := range cfg.DHTBootstrap {
		if _, err := parseHostPort(hp); err != nil {
			return fmt.Errorf("discover: DHT bootstrap node %q: %w", hp, err)
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Port, DefaultPort)
	def(&cfg.MaxTorrents, DefaultMaxTorrents)
	def(&cfg.MaxPeersPerTorrent, DefaultMaxPeersPerTorrent)
	def(&cfg.MaxTrackersPerLookup, DefaultMaxTrackersPerLookup)
	def(&cfg.MaxLookups, DefaultMaxLookups)
	def(&cfg.DHTQueriesPerSecond, DefaultDHTQueriesPerSecond)
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&cfg.Refresh, DefaultRefresh)
	defDur(&cfg.PeerTTL, DefaultPeerTTL)
	defDur(&cfg.LookupTimeout, DefaultLookupTimeout)
	defDur(&cfg.TrackerTimeout, DefaultTrackerTimeout)
	if len(cfg.DHTBootstrap) == 0 {
		cfg.DHTBootstrap = dht.DefaultGlobalBootstrapHostPorts
	}
	if cfg.LookupIP == nil {
		cfg.LookupIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.DialContext == nil {
		cfg.DialContext = (&net.Dialer{Timeout: DefaultTrackerTimeout}).DialContext
	}
	if cfg.ListenPacket == nil {
		cfg.ListenPacket = net.ListenPacket
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// parseHostPort checks a host:port with a non-zero numeric port.
func parseHostPort(hp string) (port uint16, err error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return 0, err
	}
	if host == "" {
		return 0, errors.New("no host")
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return uint16(n), nil
}

// Lookup starts, in the background, a search for peers of ih through the
// DHT and the given tracker URLs (http, https and udp; others are ignored,
// and at most Config.MaxTrackersPerLookup are used). It does nothing when a
// search for ih is running or started less than Config.Refresh ago, when
// Config.MaxLookups searches are running, or when there is nowhere to
// search (no DHT and no usable tracker). It does not block.
func (d *Discoverer) Lookup(ih [20]byte, trackers []string) {
	urls := d.trackerURLs(trackers)
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	t := d.torrentLocked(ih)
	if t.running || (!t.lastLookup.IsZero() && now.Sub(t.lastLookup) < d.cfg.Refresh) {
		return
	}
	if d.dht == nil && len(urls) == 0 {
		return
	}
	if d.running >= d.cfg.MaxLookups {
		d.stats.LookupsSkipped++
		return
	}
	d.running++
	d.stats.Lookups++
	t.running, t.lastLookup = true, now
	d.wg.Go(func() { d.lookup(t, urls) })
}

// LookupPeers calls Lookup and returns Peers: the signature of the
// bridge's Config.Peers.
func (d *Discoverer) LookupPeers(ih [20]byte, trackers []string) []netip.AddrPort {
	d.Lookup(ih, trackers)
	return d.Peers(ih)
}

// torrentLocked returns the entry of ih, creating it (and evicting the least
// recently looked up beyond MaxTorrents), and marks it most recently looked
// up.
func (d *Discoverer) torrentLocked(ih [20]byte) *torrent {
	if t := d.torrents[ih]; t != nil {
		d.lru.MoveToFront(t.elem)
		return t
	}
	for len(d.torrents) >= d.cfg.MaxTorrents {
		old := d.lru.Remove(d.lru.Back()).(*torrent)
		delete(d.torrents, old.ih) // a running lookup finds it gone
	}
	t := &torrent{ih: ih, peers: make(map[netip.AddrPort]time.Time)}
	t.elem = d.lru.PushFront(t)
	d.torrents[ih] = t
	return t
}

// lookup runs one search of t's info hash: the DHT and the trackers at once.
func (d *Discoverer) lookup(t *torrent, urls []string) {
	defer func() {
		d.mu.Lock()
		t.running = false
		d.running--
		d.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.LookupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if d.dht != nil {
		wg.Go(func() { d.searchDHT(ctx, t.ih) })
	}
	for _, u := range urls {
		wg.Go(func() { d.announce(ctx, t.ih, u) })
	}
	wg.Wait()
}

// addPeers records addresses found for ih, dropping invalid and (without
// AllowPrivate) non-public ones. Nothing is recorded if ih is no longer
// tracked.
func (d *Discoverer) addPeers(ih [20]byte, found []netip.AddrPort) {
	keep := make([]netip.AddrPort, 0, min(len(found), d.cfg.MaxPeersPerTorrent))
	dropped := 0
	for _, ap := range found {
		ap, ok := d.peerAddr(ap)
		if !ok {
			dropped++
			continue
		}
		// Beyond the cap, later addresses of one batch would only evict
		// earlier ones.
		if len(keep) < d.cfg.MaxPeersPerTorrent {
			keep = append(keep, ap)
		}
	}
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.PeersDropped += uint64(dropped)
	t := d.torrents[ih]
	if t == nil {
		return
	}
	for _, ap := range keep {
		if _, ok := t.peers[ap]; !ok && len(t.peers) >= d.cfg.MaxPeersPerTorrent {
			d.makeRoomLocked(t, now)
		}
		t.peers[ap] = now
	}
}

// makeRoomLocked forgets t's expired peers or, if none, its least recently
// seen one.
func (d *Discoverer) makeRoomLocked(t *torrent, now time.Time) {
	var oldest netip.AddrPort
	var at time.Time
	expired := false
	for ap, seen := range t.peers {
		if d.expired(seen, now) {
			delete(t.peers, ap)
			expired = true
		} else if !oldest.IsValid() || seen.Before(at) {
			oldest, at = ap, seen
		}
	}
	if !expired && oldest.IsValid() {
		delete(t.peers, oldest)
	}
}

// peerAddr normalizes a peer address (IPv4 unmapped, no zone) and says
// whether it may be kept.
func (d *Discoverer) peerAddr(ap netip.AddrPort) (netip.AddrPort, bool) {
	a := ap.Addr().Unmap().WithZone("")
	if !a.IsValid() || ap.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.AddrPort{}, false
	}
	if !d.cfg.AllowPrivate && !netguard.IsPublic(a) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, ap.Port()), true
}

func (d *Discoverer) expired(seen, now time.Time) bool { return now.Sub(seen) > d.cfg.PeerTTL }

// Peers returns the addresses discovered for ih and not expired, in no
// particular order.
func (d *Discoverer) Peers(ih [20]byte) []netip.AddrPort {
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.torrents[ih]
	if t == nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, len(t.peers))
	for ap, seen := range t.peers {
		if !d.expired(seen, now) {
			out = append(out, ap)
		}
	}
	return out
}

// Knows says whether addr was discovered for ih and has not expired.
// IPv4-mapped IPv6 addresses match their IPv4 form.
func (d *Discoverer) Knows(ih [20]byte, addr netip.AddrPort) bool {
	addr = netip.AddrPortFrom(addr.Addr().Unmap().WithZone(""), addr.Port())
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.torrents[ih]
	if t == nil {
		return false
	}
	seen, ok := t.peers[addr]
	return ok && !d.expired(seen, now)
}

// Stats returns the Discoverer's counters and sizes. It walks every address
// held: call it at metrics-scrape rates, not per request.
func (d *Discoverer) Stats() Stats {
	now := d.cfg.Now()
	d.mu.Lock()
	st := d.stats
	st.Torrents = len(d.torrents)
	st.LookupsActive = d.running
	for _, t := range d.torrents {
		for _, seen := range t.peers {
			if !d.expired(seen, now) {
				st.Peers++
			}
		}
	}
	d.mu.Unlock()
	if d.dht != nil {
		st.DHTNodes = d.dht.NumNodes()
	}
	return st
}

// count adds to one of the counters.
func (d *Discoverer) count(c *uint64) {
	d.mu.Lock()
	*c++
	d.mu.Unlock()
}

// sweeper forgets expired peers every sweepInterval until Close.
func (d *Discoverer) sweeper() {
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
			d.sweep()
		}
	}
}

// sweep forgets expired peers.
func (d *Discoverer) sweep() {
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.torrents {
		for ap, seen := range t.peers {
			if d.expired(seen, now) {
				delete(t.peers, ap)
			}
		}
	}
}

// DHTAddr returns the address of the DHT's UDP socket (useful with port
// 0), or an invalid AddrPort without the DHT.
func (d *Discoverer) DHTAddr() netip.AddrPort {
	if d.dhtConn == nil {
		return netip.AddrPort{}
	}
	ua, _ := d.dhtConn.LocalAddr().(*net.UDPAddr)
	if ua == nil {
		return netip.AddrPort{}
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Close stops the lookups and the DHT and waits for the Discoverer's
// goroutines. Lookups started afterwards do nothing.
func (d *Discoverer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	if d.dht != nil {
		d.dht.Close()
		// dht.Server.Close closes the socket in a goroutine of its own:
		// closing it here too frees the port before Close returns.
		d.dhtConn.Close()
	}
	d.wg.Wait()
	return nil
}
