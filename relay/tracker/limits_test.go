package tracker_test

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/relay/tracker"
)

// New swarms have a rate of their own: an address announcing within its
// announce rate still creates no more than SwarmBurst swarms at once.
func TestNewSwarmRate(t *testing.T) {
	s, srv := serve(t, tracker.Config{Now: steppingClock(), AnnounceRate: -1, SwarmRate: 1, SwarmBurst: 20})
	cl := from(t, "127.0.0.2")
	var reason string
	for i := range 100 {
		if m := httpAnnounce(t, cl, srv, id20(), id20(), 6881+i, 0); m["failure reason"] != nil {
			reason, _ = m["failure reason"].(string)
		}
	}
	if n := s.Stats().Swarms; n < 20 || n > 21 {
		t.Errorf("%d swarms from one address with bursts of 20", n)
	}
	if !strings.Contains(reason, "new swarms") || !strings.Contains(reason, "retry in") {
		t.Errorf("refusal: %q", reason)
	}
	if st := s.Stats(); st.RateLimited != 100-uint64(st.Swarms) {
		t.Errorf("stats: %+v", st)
	}
}

// A full swarm makes room for a newcomer only from the address holding the
// most entries, while that one still holds at least as many as the
// newcomer's after the move: once every address holds one entry, newcomers
// are answered with peers but not listed, and nobody is evicted.
func TestFullSwarmEvictsOnlyFromTheBiggest(t *testing.T) {
	_, srv := serve(t, tracker.Config{Now: steppingClock(), MaxPeers: 4, MaxPeersPerAddr: 3})
	ih := id20()
	announceFrom := func(ip string, port int) map[string]any {
		t.Helper()
		m := httpAnnounce(t, from(t, ip), srv, ih, id20(), port, 0)
		if m["failure reason"] != nil {
			t.Fatalf("%s:%d: %v", ip, port, m)
		}
		return m
	}
	for port := range 3 {
		announceFrom("127.0.0.3", 1+port) // 127.0.0.3 holds three entries
	}
	announceFrom("127.0.0.4", 1) // full
	announceFrom("127.0.0.5", 1) // takes 127.0.0.3:1's place
	announceFrom("127.0.0.6", 1) // takes 127.0.0.3:2's place: one entry each now
	announceFrom("127.0.0.7", 1) // no room
	m := announceFrom("127.0.0.8", 1)
	peers, _ := m["peers"].(string)
	if len(peers) != 4*6 || m["complete"] != int64(4) {
		t.Fatalf("a newcomer to a full swarm: complete %v, %d peers", m["complete"], len(peers)/6)
	}
	for _, want := range []struct {
		ip   string
		port int
		in   bool
	}{{"127.0.0.3", 1, false}, {"127.0.0.3", 2, false}, {"127.0.0.3", 3, true}, {"127.0.0.4", 1, true},
		{"127.0.0.5", 1, true}, {"127.0.0.6", 1, true}, {"127.0.0.7", 1, false}} {
		if compactHas(peers, net.ParseIP(want.ip), want.port) != want.in {
			t.Errorf("%s:%d listed: %v, want %v", want.ip, want.port, !want.in, want.in)
		}
	}
}

// One connection holds at most MaxJoined entries; past that its announces
// are refused with a reason, and those it holds stay.
func TestWebSocketMaxJoined(t *testing.T) {
	s, srv := serve(t, tracker.Config{AnnounceRate: -1, SwarmRate: -1, MessagesPerSecond: 10_000})
	c, id := mustDialWSFrom(t, srv, "127.0.0.2"), id20()
	for i := range tracker.MaxJoined + 1 {
		c.send(map[string]any{"action": "announce", "info_hash": bin(id20()), "peer_id": bin(id), "numwant": 0, "left": 0, "event": "started"})
		m := c.recv()
		if refused := m["failure reason"] != nil; refused != (i == tracker.MaxJoined) {
			t.Fatalf("announce %d: %v", i+1, m)
		}
	}
	if st := s.Stats(); st.Peers != tracker.MaxJoined || st.Swarms != tracker.MaxJoined+1 {
		t.Fatalf("stats: %+v", st)
	}
}

// A WebSocket announce over the address's rate is refused with a reason
// that says when to come back; answers are not counted.
func TestWebSocketAnnounceRate(t *testing.T) {
	s, srv := serve(t, tracker.Config{Now: steppingClock(), AnnounceBurst: 3, AnnounceRate: 0.001})
	c, id := mustDialWSFrom(t, srv, "127.0.0.2"), id20()
	ih := id20()
	for i := range 4 {
		c.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(id), "numwant": 0, "left": 0})
		m := c.recv()
		reason, _ := m["failure reason"].(string)
		if (reason != "") != (i == 3) || (i == 3 && !strings.Contains(reason, "retry in")) {
			t.Fatalf("announce %d: %v", i+1, m)
		}
	}
	other, otherID := mustDialWSFrom(t, srv, "127.0.0.3"), id20()
	other.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(otherID), "numwant": 0, "left": 10,
		"offers": []any{map[string]any{"offer": map[string]any{"type": "offer", "sdp": "x"}, "offer_id": "o1"}}})
	if m := other.recv(); m["failure reason"] != nil {
		t.Fatalf("another address: %v", m)
	}
	if m := c.recv(); m["offer_id"] != "o1" {
		t.Fatalf("no offer: %v", m)
	}
	c.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(id), "to_peer_id": bin(otherID),
		"offer_id": "o1", "answer": map[string]any{"type": "answer", "sdp": "y"}})
	if m := other.recv(); m["offer_id"] != "o1" || m["answer"] == nil {
		t.Fatalf("the answer over the rate: %v", m)
	}
	if st := s.Stats(); st.RateLimited != 1 || st.AnswersRelayed != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// Behind a trusted proxy the tracker lists the address ClientAddr gives.
func TestClientAddr(t *testing.T) {
	_, srv := serve(t, tracker.Config{ClientAddr: func(r *http.Request) netip.Addr { return netip.MustParseAddr("192.0.2.7") }})
	ih := id20()
	httpAnnounce(t, from(t, "127.0.0.2"), srv, ih, id20(), 6881, 0)
	m := httpAnnounce(t, from(t, "127.0.0.3"), srv, ih, id20(), 6882, 0)
	if peers, _ := m["peers"].(string); !compactHas(peers, net.ParseIP("192.0.2.7"), 6881) {
		t.Fatalf("peers %q", peers)
	}
}
