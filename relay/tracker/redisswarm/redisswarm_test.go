package redisswarm_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	actracker "github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"github.com/anacrolix/torrent/types/infohash"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm/redistest"
	"github.com/btspeed/btspeed/shared/webtorrent"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

func redisZ(score int64, member string) redis.Z {
	return redis.Z{Score: float64(score), Member: member}
}

func id20() [20]byte {
	var b [20]byte
	rand.Read(b[:])
	return b
}

// relayNode is one relay's tracker on a shared Redis.
type relayNode struct {
	t   *tracker.Server
	c   *redisswarm.Cluster
	url string // http://127.0.0.1:PORT
}

// cluster starts n trackers sharing the Redis at url.
func cluster(t *testing.T, url string, n int) []relayNode {
	return clusterWith(t, url, n, tracker.Config{})
}

// clusterWith is cluster with the trackers configured as cfg.
func clusterWith(t *testing.T, url string, n int, cfg tracker.Config) []relayNode {
	t.Helper()
	var out []relayNode
	for range n {
		c, err := redisswarm.New(redisswarm.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Cluster = c
		s := tracker.New(cfg)
		srv := httptest.NewServer(s)
		t.Cleanup(func() { s.Close(); srv.Close(); c.Close() })
		out = append(out, relayNode{t: s, c: c, url: srv.URL})
	}
	return out
}

func announce(t *testing.T, url string, ih, peerID [20]byte, port uint16, left int64, ev actracker.AnnounceEvent) actracker.AnnounceResponse {
	t.Helper()
	cl, err := actracker.NewClient(url+"/announce", actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := cl.Announce(context.Background(), actracker.AnnounceRequest{InfoHash: ih, PeerId: peerID, Port: port, Left: left, Event: ev, NumWant: 50}, trHttp.AnnounceOpt{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func scrape(t *testing.T, url string, ih [20]byte) (seeders, leechers, completed int32) {
	t.Helper()
	cl, err := actracker.NewClient(url+"/announce", actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sc, err := cl.Scrape(context.Background(), []infohash.T{ih})
	if err != nil || len(sc) != 1 {
		t.Fatalf("scrape: %v %v", sc, err)
	}
	return sc[0].Seeders, sc[0].Leechers, sc[0].Completed
}

// A peer announced over HTTP to relay A is returned by B's announce,
// counted in C's scrape, and known to C (the bridge's discovered check).
func TestHTTPPeersAcrossRelays(t *testing.T) {
	rs := cluster(t, redistest.Start(t).URL, 3)
	ih, seed, leech := id20(), id20(), id20()
	if r := announce(t, rs[0].url, ih, seed, 6881, 0, actracker.Started); r.Seeders != 1 {
		t.Fatalf("A's answer to the seed: %+v", r)
	}
	r := announce(t, rs[1].url, ih, leech, 6882, 1000, actracker.Started)
	if r.Seeders != 1 || r.Leechers != 1 || len(r.Peers) != 1 || r.Peers[0].Port != 6881 {
		t.Fatalf("B's answer to the leech: %+v (want the seed announced on A)", r)
	}
	if s, l, _ := scrape(t, rs[2].url, ih); s != 1 || l != 1 {
		t.Fatalf("C's scrape: %d seeders %d leechers, want 1 and 1", s, l)
	}
	announce(t, rs[1].url, ih, leech, 6882, 0, actracker.Completed)
	if s, l, d := scrape(t, rs[2].url, ih); s != 2 || l != 0 || d != 1 {
		t.Fatalf("C's scrape after completed: %d %d %d, want 2 0 1", s, l, d)
	}
	seedAddr := netip.MustParseAddrPort("127.0.0.1:6881")
	if !rs[2].t.Knows(ih, seedAddr) || rs[2].t.Knows(ih, netip.MustParseAddrPort("127.0.0.1:9")) {
		t.Fatal("C does not know the seed announced on A (or knows an address nobody announced)")
	}
	if ps := rs[2].t.HTTPPeers(ih, 10); len(ps) != 2 {
		t.Fatalf("C's HTTP peers: %v, want the 2 announced on A and B", ps)
	}
	announce(t, rs[0].url, ih, seed, 6881, 0, actracker.Stopped)
	if s, _, _ := scrape(t, rs[2].url, ih); s != 1 {
		t.Fatalf("C's scrape after the seed stopped on A: %d seeders, want 1", s)
	}
}

// wsClient is a WebSocket tracker client speaking the wire format.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialWS(t *testing.T, url string) *wsClient {
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{t: t, ws: ws}
}

func (c *wsClient) send(m *webtorrent.Message) {
	if err := c.ws.WriteJSON(m); err != nil {
		c.t.Fatal(err)
	}
}

// next reads messages until one matches.
func (c *wsClient) next(match func(*webtorrent.Message) bool) *webtorrent.Message {
	for {
		var m webtorrent.Message
		if err := c.ws.ReadJSON(&m); err != nil {
			c.t.Fatal(err)
		}
		if m.FailureReason != "" {
			c.t.Fatalf("tracker refused: %s", m.FailureReason)
		}
		if match(&m) {
			return &m
		}
	}
}

// eventually polls cond every 20 ms until it returns "" and fails with
// what it returned last after 30 s, far above what any wait here needs.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		last := cond()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s waiting for %s: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bin(b [20]byte) string { return webtorrent.BinString(b[:]) }

// A WebSocket peer on relay C offers; the offer reaches a peer on relay A
// through Redis, and A's answer comes back to C.
func TestWebSocketOffersAcrossRelays(t *testing.T) {
	rs := cluster(t, redistest.Start(t).URL, 3)
	ih, x, y, offerID := id20(), id20(), id20(), id20()
	ihs := webtorrent.Hashes{bin(ih)}
	a := dialWS(t, rs[0].url)
	a.send(&webtorrent.Message{Action: "announce", InfoHash: ihs, PeerID: bin(x), Left: webtorrent.Count(0), Event: "started"})
	a.next(func(m *webtorrent.Message) bool { return m.Interval != nil })
	c := dialWS(t, rs[2].url)
	offer := json.RawMessage(`{"type":"offer","sdp":"v=0 from C"}`)
	c.send(&webtorrent.Message{Action: "announce", InfoHash: ihs, PeerID: bin(y), Left: webtorrent.Count(100), Event: "started",
		Offers: []webtorrent.Offer{{Offer: offer, OfferID: bin(offerID)}}})
	got := c.next(func(m *webtorrent.Message) bool { return m.Interval != nil })
	if got.Complete.Value(-1) != 1 || got.Incomplete.Value(-1) != 1 {
		t.Fatalf("C's answer counts %v seeds %v leeches, want the cluster's 1 and 1", got.Complete.Value(-1), got.Incomplete.Value(-1))
	}
	o := a.next(func(m *webtorrent.Message) bool { return len(m.Offer) > 0 })
	if o.PeerID != bin(y) || o.OfferID != bin(offerID) || string(o.Offer) != string(offer) {
		t.Fatalf("the offer A delivered: %+v", o)
	}
	answer := json.RawMessage(`{"type":"answer","sdp":"v=0 from A"}`)
	a.send(&webtorrent.Message{Action: "announce", InfoHash: ihs, PeerID: bin(x), ToPeerID: bin(y), OfferID: bin(offerID), Answer: answer})
	an := c.next(func(m *webtorrent.Message) bool { return len(m.Answer) > 0 })
	if an.PeerID != bin(x) || an.OfferID != bin(offerID) || string(an.Answer) != string(answer) {
		t.Fatalf("the answer C delivered: %+v", an)
	}
	// A relay counts a message routed out once Redis has taken it, which
	// can be after the other relay delivered it.
	eventually(t, "each relay to count one message routed in and one out", func() string {
		sa, sc := rs[0].t.Stats(), rs[2].t.Stats()
		if sc.RoutedOut == 1 && sa.RoutedIn == 1 && sa.RoutedOut == 1 && sc.RoutedIn == 1 {
			return ""
		}
		return fmt.Sprintf("A %+v, C %+v", sa, sc)
	})
	// The seed's connection to A closes: its entry leaves Redis, and C's
	// scrape stops counting it.
	a.ws.Close()
	eventually(t, "C's scrape to drop the seed whose connection to A closed", func() string {
		if s, _, _ := scrape(t, rs[2].url, ih); s != 0 {
			return fmt.Sprintf("%d seeders", s)
		}
		return ""
	})
}

// What Redis holds that is not a live relay's well-formed entry is not
// matched: a WebSocket peer of a relay whose heartbeat stopped, malformed
// entries, a malformed routed message.
func TestDeadRelaysAndMalformedData(t *testing.T) {
	srv := redistest.Start(t)
	rs := cluster(t, srv.URL, 1)
	rdb := srv.Client(t)
	ctx := context.Background()
	ih, ghost := id20(), id20()
	h := "btspeed:" + hex.EncodeToString(ih[:])
	far := time.Now().Add(time.Hour).UnixMilli()
	gk := hex.EncodeToString(ghost[:])
	rdb.HSet(ctx, h+":w", gk, "1|deadrelay|"+gk+"|-", "bogus", "not an entry", hex.EncodeToString(make([]byte, 20)), "1|"+rs[0].c.ID()+"|zz|-")
	rdb.HSet(ctx, h+":h", "1.2.3.4:5", "1|-|"+gk+"|9.9.9.9:9")
	for _, k := range []string{gk, "bogus", hex.EncodeToString(make([]byte, 20))} {
		rdb.ZAdd(ctx, h+":wx", redisZ(far, k))
	}
	rdb.ZAdd(ctx, h+":hx", redisZ(far, "1.2.3.4:5"))

	me := id20()
	c := dialWS(t, rs[0].url)
	c.send(&webtorrent.Message{Action: "announce", InfoHash: webtorrent.Hashes{bin(ih)}, PeerID: bin(me), Left: webtorrent.Count(5), Event: "started",
		Offers: []webtorrent.Offer{{Offer: json.RawMessage(`{"type":"offer","sdp":"x"}`), OfferID: bin(id20())}}})
	got := c.next(func(m *webtorrent.Message) bool { return m.Interval != nil })
	if got.Complete.Value(-1) != 0 || got.Incomplete.Value(-1) != 1 {
		t.Fatalf("counts %v seeds %v leeches, want only this peer: not the dead relay's seed nor the malformed entries",
			got.Complete.Value(-1), got.Incomplete.Value(-1))
	}
	if st := rs[0].t.Stats(); st.RoutedOut != 0 || st.RoutedIn != 0 || st.OffersRelayed != 0 {
		t.Fatalf("an offer went to a dead relay's or a malformed entry: %+v", st)
	}
	if rs[0].t.Knows(ih, netip.MustParseAddrPort("1.2.3.4:5")) {
		t.Fatal("a malformed HTTP entry (address and key disagree) was taken as a peer")
	}
	if rs[0].c.Malformed() == 0 {
		t.Fatal("the malformed entry was not counted")
	}
	before := rs[0].c.Malformed()
	rdb.Publish(ctx, "btspeed:relay:"+rs[0].c.ID(), "{not json")
	eventually(t, "the malformed routed message to be counted", func() string {
		if n := rs[0].c.Malformed(); n == before {
			return fmt.Sprintf("still %d malformed", n)
		}
		return ""
	})
}

// With Redis gone, each relay serves from its own swarms: two peers on the
// same relay still meet, over HTTP and WebSocket; the cluster reports
// itself down.
func TestRedisOutageFallsBackToLocalSwarms(t *testing.T) {
	srv := redistest.Start(t)
	rs := cluster(t, srv.URL, 2)
	ih, p1, p2 := id20(), id20(), id20()
	announce(t, rs[0].url, ih, p1, 7001, 0, actracker.Started)
	srv.Stop()
	r := announce(t, rs[0].url, ih, p2, 7002, 10, actracker.Started)
	if len(r.Peers) != 1 || r.Peers[0].Port != 7001 {
		t.Fatalf("A's answer with Redis down: %+v, want the peer announced on A", r)
	}
	eventually(t, "the cluster to report itself down at its next heartbeat", func() string {
		if rs[0].c.Up() {
			return fmt.Sprintf("still up, stats %+v", rs[0].t.Stats())
		}
		return ""
	})
	ws1, ws2 := dialWS(t, rs[0].url), dialWS(t, rs[0].url)
	ihs := webtorrent.Hashes{bin(ih)}
	ws1.send(&webtorrent.Message{Action: "announce", InfoHash: ihs, PeerID: bin(p1), Left: webtorrent.Count(0), Event: "started"})
	ws1.next(func(m *webtorrent.Message) bool { return m.Interval != nil })
	ws2.send(&webtorrent.Message{Action: "announce", InfoHash: ihs, PeerID: bin(p2), Left: webtorrent.Count(9), Event: "started",
		Offers: []webtorrent.Offer{{Offer: json.RawMessage(`{"type":"offer","sdp":"local"}`), OfferID: bin(id20())}}})
	if o := ws1.next(func(m *webtorrent.Message) bool { return len(m.Offer) > 0 }); o.PeerID != bin(p2) {
		t.Fatalf("offer on A with Redis down: %+v", o)
	}
	if st := rs[0].t.Stats(); st.ClusterErrors == 0 && rs[0].c.Up() {
		t.Fatalf("the outage left no trace: %+v", st)
	}
}

// An entry a relay drops to make room (here: an address holding its one
// entry per swarm announces another port) leaves Redis too: the other
// relay counts one peer, not two.
func TestDroppedEntryLeavesTheCluster(t *testing.T) {
	rs := clusterWith(t, redistest.Start(t).URL, 2, tracker.Config{MaxPeersPerAddr: 1})
	ih := id20()
	announce(t, rs[0].url, ih, id20(), 7001, 5, actracker.Started)
	announce(t, rs[0].url, ih, id20(), 7002, 5, actracker.Started)
	if s, l, _ := scrape(t, rs[1].url, ih); s != 0 || l != 1 {
		t.Fatalf("B's scrape: %d seeders %d leechers, want the 1 entry A kept", s, l)
	}
	if rs[1].t.Knows(ih, netip.MustParseAddrPort("127.0.0.1:7001")) {
		t.Fatal("B still knows the entry A dropped")
	}
}
