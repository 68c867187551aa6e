package discover_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	actracker "github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"golang.org/x/time/rate"

	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/relay/discover"
	"github.com/btspeed/btspeed/relay/tracker"
)

// wait is the deadline of every poll: generous, nothing here is timed.
const wait = 20 * time.Second

func id20() [20]byte {
	var b [20]byte
	rand.Read(b[:])
	return b
}

// logger discards unless DISCOVER_LOG is set (then stderr: t.Log would
// panic on anacrolix's goroutines logging after the test).
func logger() *slog.Logger {
	if os.Getenv("DISCOVER_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newDiscoverer starts a Discoverer closed at cleanup.
func newDiscoverer(t *testing.T, cfg discover.Config) *discover.Discoverer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = logger()
	}
	d, err := discover.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// poll waits until cond holds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLookups waits until n lookups have started and none runs.
func waitLookups(t *testing.T, d *discover.Discoverer, n uint64) discover.Stats {
	t.Helper()
	var st discover.Stats
	poll(t, fmt.Sprintf("%d lookups to finish", n), func() bool {
		st = d.Stats()
		return st.Lookups >= n && st.LookupsActive == 0
	})
	if st.Lookups != n {
		t.Fatalf("%d lookups started, want %d", st.Lookups, n)
	}
	return st
}

// startTracker runs the relay's own tracker on 127.0.0.1.
func startTracker(t *testing.T, cfg tracker.Config) (*tracker.Server, *httptest.Server) {
	t.Helper()
	s := tracker.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv
}

// announce announces a peer with anacrolix's tracker client; director, if
// set, edits the HTTP request.
func announce(t *testing.T, trackerURL string, ih [20]byte, port uint16, ev actracker.AnnounceEvent, director func(*http.Request) error) actracker.AnnounceResponse {
	t.Helper()
	cl, err := actracker.NewClient(trackerURL, actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := cl.Announce(ctx, actracker.AnnounceRequest{
		InfoHash: ih, PeerId: id20(), Port: port, Left: 1000, Event: ev, NumWant: -1,
	}, trHttp.AnnounceOpt{HttpRequestDirector: director})
	if err != nil {
		t.Fatalf("announcing to %s: %v", trackerURL, err)
	}
	return res
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// peerStore is a test DHT node's store of announced peers. (anacrolix's
// peer_store.InMemory, v2.23.0, keys peers by IP alone and decodes that
// key as IP and port: it hands out garbage.)
type peerStore struct {
	mu sync.Mutex
	m  map[peer_store.InfoHash][]krpc.NodeAddr
}

func (s *peerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.m[ih] {
		if p.String() == na.String() {
			return
		}
	}
	if ip4 := na.IP.To4(); ip4 != nil {
		na.IP = ip4
	}
	s.m[ih] = append(s.m[ih], na)
}

func (s *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.m[ih])
}

// dhtNode configures a test DHT node.
type dhtNode struct {
	store     bool    // store announced peers (and hand out tokens)
	id        krpc.ID // zero: random
	bootstrap []*dht.Server
}

// startDHTNode runs a DHT node on 127.0.0.1, bootstrapping from the given
// nodes only (never the global ones).
func startDHTNode(t *testing.T, cfg dhtNode) *dht.Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc := dht.NewDefaultServerConfig()
	sc.Conn = pc
	sc.NodeId = cfg.id
	sc.NoSecurity = true
	if cfg.store {
		sc.PeerStore = &peerStore{m: make(map[peer_store.InfoHash][]krpc.NodeAddr)}
	}
	sc.SendLimiter = rate.NewLimiter(rate.Inf, 0)
	sc.StartingNodes = func() ([]dht.Addr, error) {
		var out []dht.Addr
		for _, b := range cfg.bootstrap {
			out = append(out, dht.NewAddr(b.Addr()))
		}
		if len(out) == 0 {
			return nil, errors.New("no bootstrap nodes")
		}
		return out, nil
	}
	s, err := dht.NewServer(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); pc.Close() })
	if len(cfg.bootstrap) > 0 {
		if _, err := s.Bootstrap(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestDHT: a peer announced into a three-node loopback DHT is found
// through it, two hops away from the only node the discoverer starts from.
func TestDHT(t *testing.T) {
	ih := id20()
	// n0 stores peers. n1 stores nothing (so it answers get_peers with
	// nodes, never values) and has an ID next to ih: anacrolix's nodes
	// only answer with nodes from the info hash's bucket and farther ones,
	// so that makes n1 answer with all it knows (n0). n2 announces the peer.
	n0 := startDHTNode(t, dhtNode{store: true})
	id1 := krpc.ID(ih)
	id1[19] ^= 1
	n1 := startDHTNode(t, dhtNode{id: id1, bootstrap: []*dht.Server{n0}})
	n2 := startDHTNode(t, dhtNode{store: true, bootstrap: []*dht.Server{n0}})
	a, err := n2.AnnounceTraversal(ih, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: 7777}))
	if err != nil {
		t.Fatal(err)
	}
	for range a.Peers {
	}
	<-a.Finished()
	a.Close()
	announced := []krpc.NodeAddr{{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 7777}}
	poll(t, "n0 to store the peer", func() bool { return len(n0.PeerStore().GetPeers(ih)) > 0 })

	d := newDiscoverer(t, discover.Config{
		DHTAddr:      "127.0.0.1:0",
		DHTBootstrap: []string{n1.Addr().String()},
		AllowPrivate: true,
	})
	// One packet that makes anacrolix's decoder panic (a "values" entry
	// of one byte) must not crash the process.
	c, err := net.Dial("udp", d.DHTAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("d1:rd2:id20:aaaaaaaaaaaaaaaaaaaa6:valuesl1:xee1:t2:aa1:y1:re"))
	c.Close()
	poll(t, "the malformed packet to be dropped", func() bool { return d.Stats().DHTMalformed == 1 })

	d.Lookup(ih, nil)
	peer := ap("127.0.0.1:7777")
	poll(t, "the DHT peer to be found", func() bool { return d.Knows(ih, peer) })
	if got := d.Peers(ih); !slices.Equal(got, []netip.AddrPort{peer}) {
		t.Errorf("Peers = %v, want [%v]", got, peer)
	}
	if d.Knows(ih, ap("127.0.0.1:7778")) || d.Knows(id20(), peer) {
		t.Error("an address not discovered (or for another info hash) is known")
	}
	// The IPv4-mapped form is the same address.
	if !d.Knows(ih, ap("[::ffff:127.0.0.1]:7777")) {
		t.Error("the IPv4-mapped form of a known address is not known")
	}
	st := waitLookups(t, d, 1)
	if st.DHTNodes == 0 || st.Torrents != 1 || st.Peers != 1 {
		t.Errorf("stats: %+v", st)
	}
	// The lookup did not announce the discoverer.
	for _, n := range []*dht.Server{n0, n2} {
		if got := n.PeerStore().GetPeers(ih); len(got) != 0 && fmt.Sprint(got) != fmt.Sprint(announced) {
			t.Errorf("%v stores %v, want only the announced peer", n, got)
		}
	}
}

// TestDHTNonPublic: without AllowPrivate the DHT will not talk to loopback
// nodes (they stand for hostile nodes steering it at local services).
func TestDHTNonPublic(t *testing.T) {
	n0 := startDHTNode(t, dhtNode{store: true})
	d := newDiscoverer(t, discover.Config{DHTAddr: "127.0.0.1:0", DHTBootstrap: []string{n0.Addr().String()}})
	d.Lookup(id20(), nil)
	waitLookups(t, d, 1)
	if st := d.Stats(); st.DHTNodes != 0 {
		t.Errorf("the DHT table holds %d loopback nodes", st.DHTNodes)
	}
	if n := n0.Stats().Nodes; n != 0 {
		t.Errorf("the loopback node heard from the discoverer (%d nodes)", n)
	}
}

// TestHTTPTracker: a peer announced to the relay's tracker is found through
// the tracker URL, and the discoverer does not stay listed there.
func TestHTTPTracker(t *testing.T) {
	tr, srv := startTracker(t, tracker.Config{})
	url := srv.URL + "/announce"
	ih := id20()
	announce(t, url, ih, 6881, actracker.Started, nil)

	d := newDiscoverer(t, discover.Config{AllowPrivate: true, Port: 7000})
	d.Lookup(ih, []string{url, url + "#dup", "wss://tracker.example/announce", "ftp://x/"})
	st := waitLookups(t, d, 1)
	peer := ap("127.0.0.1:6881")
	if !d.Knows(ih, peer) || !slices.Equal(d.Peers(ih), []netip.AddrPort{peer}) {
		t.Fatalf("Peers = %v, want [%v]", d.Peers(ih), peer)
	}
	if d.Knows(ih, ap("127.0.0.1:6882")) {
		t.Error("an unrelated address is known")
	}
	if st.TrackerAnnounces != 1 || st.TrackerErrors != 0 {
		t.Errorf("stats: %+v (want one announce: duplicates and other schemes dropped)", st)
	}
	if tr.Knows(ih, ap("127.0.0.1:7000")) {
		t.Error("the discoverer is still listed by the tracker")
	}
	if ts := tr.Stats(); ts.Peers != 1 || ts.Announces != 3 {
		t.Errorf("tracker stats %+v: want the peer only, and started+stopped from the discoverer", ts)
	}
	// Within Refresh, Lookup does not search again.
	d.Lookup(ih, []string{url})
	if st := d.Stats(); st.Lookups != 1 {
		t.Errorf("%d lookups within Refresh, want 1", st.Lookups)
	}
}

// TestUDPTracker: a peer announced over UDP to opentracker is found through
// the udp:// URL, and the discoverer does not stay listed.
func TestUDPTracker(t *testing.T) {
	ih := id20()
	ot := btclientstest.StartOpentracker(t, ih)
	u, err := url.Parse(ot.AnnounceURL())
	if err != nil {
		t.Fatal(err)
	}
	udpURL := "udp://" + u.Host
	announce(t, udpURL, ih, 6881, actracker.Started, nil)

	d := newDiscoverer(t, discover.Config{AllowPrivate: true, Port: 7000})
	d.Lookup(ih, []string{udpURL})
	st := waitLookups(t, d, 1)
	if st.TrackerAnnounces != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// opentracker lists the announcer itself: the relay is not its own peer.
	var found netip.AddrPort
	for _, p := range d.Peers(ih) {
		if p.Port() == 6881 && p.Addr().IsLoopback() {
			found = p
		}
		if p.Port() == 7000 {
			t.Errorf("the discoverer's own address %v is among the peers", p)
		}
	}
	if !found.IsValid() || !d.Knows(ih, found) {
		t.Fatalf("Peers = %v, want a loopback peer on port 6881", d.Peers(ih))
	}
	if d.Knows(ih, netip.AddrPortFrom(found.Addr(), 6882)) {
		t.Error("an unrelated address is known")
	}
	res := announce(t, udpURL, ih, 6881, actracker.None, nil)
	for _, p := range res.Peers {
		if p.Port == 7000 {
			t.Errorf("opentracker still lists the discoverer: %v", res.Peers)
		}
	}
}

// TestPrivateTrackerRefused: without AllowPrivate, tracker URLs on
// loopback (literal, or a name resolving there) get no request at all.
func TestPrivateTrackerRefused(t *testing.T) {
	tr, srv := startTracker(t, tracker.Config{})
	ih := id20()
	announce(t, srv.URL+"/announce", ih, 6881, actracker.Started, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	var mu sync.Mutex
	var dials []string
	d := newDiscoverer(t, discover.Config{
		LookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			if host == "rebind.test" { // one public address and one loopback
				return []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("127.0.0.1")}, nil
			}
			return nil, fmt.Errorf("no such host %q", host)
		},
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			mu.Lock()
			dials = append(dials, addr)
			mu.Unlock()
			return nil, errors.New("no dialling in this test")
		},
	})
	d.Lookup(ih, []string{
		srv.URL + "/announce",
		fmt.Sprintf("http://rebind.test:%d/announce", port),
		fmt.Sprintf("udp://127.0.0.1:%d", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/announce", port),
		fmt.Sprintf("http://10.1.2.3:%d/announce", port),
	})
	st := waitLookups(t, d, 1)
	if st.TrackersRefused != 5 || st.TrackerAnnounces != 0 || st.TrackerErrors != 0 {
		t.Errorf("stats: %+v, want 5 refused", st)
	}
	if ts := tr.Stats(); ts.Announces != 1 {
		t.Errorf("the tracker got %d announces, want only the peer's", ts.Announces)
	}
	if len(dials) != 0 {
		t.Errorf("dialled %v", dials)
	}
	if got := d.Peers(ih); len(got) != 0 {
		t.Errorf("Peers = %v", got)
	}
}

// publicTracker runs the relay's tracker and a Discoverer without
// AllowPrivate that reaches it as http://tracker.test/announce, a name
// resolving to a documentation address (a stand-in for a public one) that
// the test's dialer connects to the loopback listener.
func publicTracker(t *testing.T, cfg discover.Config) (*tracker.Server, string, *discover.Discoverer) {
	t.Helper()
	loopback := clientip.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	tr, srv := startTracker(t, tracker.Config{ClientAddr: loopback.Addr})
	cfg.AllowPrivate = false
	cfg.Port = 7000 // not a peer's port: the tracker keys peers by address
	cfg.LookupIP = func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "tracker.test" {
			return []netip.Addr{netip.MustParseAddr("203.0.113.1")}, nil
		}
		return nil, fmt.Errorf("no such host %q", host)
	}
	cfg.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "203.0.113.1:80" {
			return nil, fmt.Errorf("unexpected dial to %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return tr, srv.URL + "/announce", newDiscoverer(t, cfg)
}

// fromIP makes an announce come from ip (the tracker trusts
// X-Forwarded-For from loopback).
func fromIP(ip string) func(*http.Request) error {
	return func(r *http.Request) error { r.Header.Set("X-Forwarded-For", ip); return nil }
}

// TestNonPublicPeersDropped: through a tracker with a public address, the
// loopback peer it hands out is dropped and the public one kept.
func TestNonPublicPeersDropped(t *testing.T) {
	_, local, d := publicTracker(t, discover.Config{})
	ih := id20()
	announce(t, local, ih, 6881, actracker.Started, nil)
	announce(t, local, ih, 6882, actracker.Started, fromIP("10.0.0.7"))
	announce(t, local, ih, 6883, actracker.Started, fromIP("203.0.113.9"))
	d.Lookup(ih, []string{"http://tracker.test/announce"})
	st := waitLookups(t, d, 1)
	want := ap("203.0.113.9:6883")
	if got := d.Peers(ih); !slices.Equal(got, []netip.AddrPort{want}) {
		t.Errorf("Peers = %v, want [%v]", got, want)
	}
	if d.Knows(ih, ap("127.0.0.1:6881")) || d.Knows(ih, ap("10.0.0.7:6882")) {
		t.Error("a non-public peer is known")
	}
	if st.TrackerAnnounces != 1 || st.PeersDropped != 2 {
		t.Errorf("stats: %+v", st)
	}
}

// TestMaxTorrents: beyond MaxTorrents the least recently looked up info
// hash is forgotten.
func TestMaxTorrents(t *testing.T) {
	_, local, d := publicTracker(t, discover.Config{MaxTorrents: 2})
	ihs := [][20]byte{id20(), id20(), id20()}
	for i, ih := range ihs {
		announce(t, local, ih, uint16(6881+i), actracker.Started, fromIP("203.0.113.9"))
	}
	for i, ih := range ihs[:2] {
		d.Lookup(ih, []string{"http://tracker.test/announce"})
		waitLookups(t, d, uint64(i+1))
	}
	d.Lookup(ihs[0], nil) // looked up again (within Refresh: no search): ihs[1] is now the oldest
	d.Lookup(ihs[2], []string{"http://tracker.test/announce"})
	st := waitLookups(t, d, 3)
	if st.Torrents != 2 || st.Peers != 2 {
		t.Errorf("stats: %+v", st)
	}
	if d.Knows(ihs[1], ap("203.0.113.9:6882")) || len(d.Peers(ihs[1])) != 0 {
		t.Error("the least recently looked up info hash is still known")
	}
	if !d.Knows(ihs[0], ap("203.0.113.9:6881")) || !d.Knows(ihs[2], ap("203.0.113.9:6883")) {
		t.Error("a recently looked up info hash was forgotten")
	}
}

// TestMaxPeersPerTorrent: no more than MaxPeersPerTorrent addresses are
// kept per info hash.
func TestMaxPeersPerTorrent(t *testing.T) {
	_, local, d := publicTracker(t, discover.Config{MaxPeersPerTorrent: 3})
	ih := id20()
	for i := range 6 {
		announce(t, local, ih, 6881, actracker.Started, fromIP(fmt.Sprintf("203.0.113.%d", 10+i)))
	}
	d.Lookup(ih, []string{"http://tracker.test/announce"})
	st := waitLookups(t, d, 1)
	if got := d.Peers(ih); len(got) != 3 || st.Peers != 3 {
		t.Errorf("Peers = %v (stats %+v), want 3", got, st)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestRefreshAndPeerTTL: lookups repeat no more often than Refresh, and an
// address not seen again for PeerTTL is forgotten.
func TestRefreshAndPeerTTL(t *testing.T) {
	clk := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, local, d := publicTracker(t, discover.Config{Now: clk.Now, Refresh: time.Minute, PeerTTL: 10 * time.Minute})
	ih := id20()
	peer := ap("203.0.113.9:6881")
	announce(t, local, ih, 6881, actracker.Started, fromIP("203.0.113.9"))
	trackers := []string{"http://tracker.test/announce"}
	d.Lookup(ih, trackers)
	waitLookups(t, d, 1)
	if !d.Knows(ih, peer) {
		t.Fatal("peer not found")
	}
	clk.Add(59 * time.Second)
	d.Lookup(ih, trackers)
	waitLookups(t, d, 1)
	clk.Add(2 * time.Second)
	d.Lookup(ih, trackers)
	waitLookups(t, d, 2)

	announce(t, local, ih, 6881, actracker.Stopped, fromIP("203.0.113.9"))
	clk.Add(10 * time.Minute)
	if !d.Knows(ih, peer) {
		t.Fatal("peer forgotten before PeerTTL")
	}
	clk.Add(time.Second)
	if d.Knows(ih, peer) || len(d.Peers(ih)) != 0 || d.Stats().Peers != 0 {
		t.Fatal("peer known after PeerTTL")
	}
	d.Lookup(ih, trackers) // the tracker no longer lists it
	waitLookups(t, d, 3)
	if d.Knows(ih, peer) {
		t.Fatal("peer known again")
	}
}

// TestHostileHTTPTracker: malformed and oversized tracker answers are
// errors, not crashes or memory.
func TestHostileHTTPTracker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic": // a dictionary-model peer list holding an integer
			w.Write([]byte("d8:intervali60e5:peersli1eee"))
		case "/huge": // a valid answer with a few megabytes of compact peers
			fmt.Fprintf(w, "d8:intervali60e5:peers%d:", 6<<20)
			w.Write([]byte(strings.Repeat("\xcb\x00\x71\x09\x1a\xe1", 1<<20)))
			w.Write([]byte("e"))
		}
	}))
	t.Cleanup(srv.Close)
	d := newDiscoverer(t, discover.Config{AllowPrivate: true})
	ih := id20()
	d.Lookup(ih, []string{srv.URL + "/panic", srv.URL + "/huge"})
	st := waitLookups(t, d, 1)
	if st.TrackerErrors != 2 || st.TrackerAnnounces != 0 || len(d.Peers(ih)) != 0 {
		t.Errorf("stats %+v, peers %v", st, d.Peers(ih))
	}
}

// TestConfigAndClose: bad configurations are refused; Close is idempotent
// and Lookup after it does nothing.
func TestConfigAndClose(t *testing.T) {
	for _, cfg := range []discover.Config{
		{DHTAddr: "127.0.0.1:0", DHTBootstrap: []string{"no-port"}},
		{DHTAddr: "127.0.0.1:0", DHTBootstrap: []string{"host:0"}},
		{Port: 70000},
		{MaxTorrents: -1},
		{DHTAddr: "256.0.0.1:0"},
	} {
		if d, err := discover.New(cfg); err == nil {
			d.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	d, err := discover.New(discover.Config{DHTAddr: "127.0.0.1:0", DHTBootstrap: []string{"127.0.0.1:9"}, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	d.Lookup(id20(), nil)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d.Lookup(id20(), []string{"http://127.0.0.1:9/announce"})
	if st := d.Stats(); st.Lookups != 1 || st.LookupsActive != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}

// TestHostileUDPTracker: a UDP tracker answering every request three times
// (which would block anacrolix's client for ever) is announced to normally.
func TestHostileUDPTracker(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		b := make([]byte, 2048)
		for {
			n, addr, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			if n < 16 {
				continue
			}
			action, tid := binary.BigEndian.Uint32(b[8:12]), b[12:16]
			var resp []byte
			switch action {
			case 0: // connect: action, transaction ID, connection ID
				resp = binary.BigEndian.AppendUint32(nil, 0)
				resp = append(append(resp, tid...), 1, 2, 3, 4, 5, 6, 7, 8)
			case 1: // announce: action, transaction ID, interval, leechers, seeders, peers
				resp = binary.BigEndian.AppendUint32(nil, 1)
				resp = append(resp, tid...)
				resp = append(resp, 0, 0, 0, 60, 0, 0, 0, 1, 0, 0, 0, 0, 127, 0, 0, 1, 0x1a, 0xe1)
			}
			for range 3 {
				pc.WriteTo(resp, addr)
			}
		}
	}()
	d := newDiscoverer(t, discover.Config{AllowPrivate: true, Port: 7000})
	ih := id20()
	d.Lookup(ih, []string{"udp://" + pc.LocalAddr().String()})
	st := waitLookups(t, d, 1)
	if st.TrackerAnnounces != 1 || !d.Knows(ih, ap("127.0.0.1:6881")) {
		t.Errorf("stats %+v, peers %v", st, d.Peers(ih))
	}
}
