package tracker_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/gorilla/websocket"
)

// The tracker attacked from loopback addresses acting as different clients
// (127.0.0.2 the attacker, 127.0.0.3 and up the others), with its default
// limits: what one address may do must not evict, starve or fool the rest.

// steppingClock is a clock that moves 1 ms a reading, so that the limits
// see the same time whatever the machine's speed, and peers are ordered.
func steppingClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// from is an HTTP client whose connections come from the loopback address
// ip.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// httpAnnounce announces over HTTP and returns the decoded answer.
func httpAnnounce(t *testing.T, cl *http.Client, srv *httptest.Server, ih, id [20]byte, port int, left int64) map[string]any {
	t.Helper()
	q := fmt.Sprintf("info_hash=%s&peer_id=%s&port=%d&left=%d&compact=1&numwant=200",
		url.QueryEscape(string(ih[:])), url.QueryEscape(string(id[:])), port, left)
	return getBencoded(t, cl, srv.URL+"/announce?"+q)
}

func getBencoded(t *testing.T, cl *http.Client, u string) map[string]any {
	t.Helper()
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := bencode.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		t.Fatalf("%s answered %q: %v", u, b, err)
	}
	return m
}

// httpScrape returns the seeders and leechers of ih.
func httpScrape(t *testing.T, cl *http.Client, srv *httptest.Server, ih [20]byte) (complete, incomplete int64) {
	t.Helper()
	m := getBencoded(t, cl, srv.URL+"/scrape?info_hash="+url.QueryEscape(string(ih[:])))
	f, _ := m["files"].(map[string]any)[string(ih[:])].(map[string]any)
	c, _ := f["complete"].(int64)
	i, _ := f["incomplete"].(int64)
	return c, i
}

// compactHas says whether a compact peer list holds ip:port.
func compactHas(s string, ip net.IP, port int) bool {
	want := string(ip.To4()) + string([]byte{byte(port >> 8), byte(port)})
	for i := 0; i+6 <= len(s); i += 6 {
		if s[i:i+6] == want {
			return true
		}
	}
	return false
}

// One address announcing 1,000 peers into a swarm does not evict the seeder
// another address announced, is refused most of them, and holds a handful
// of entries at most.
func TestHTTPFloodDoesNotEvictSeeder(t *testing.T) {
	_, srv := serve(t, tracker.Config{Now: steppingClock()})
	ih := id20()
	if m := httpAnnounce(t, from(t, "127.0.0.3"), srv, ih, id20(), 6881, 0); m["failure reason"] != nil {
		t.Fatalf("the seeder's announce: %v", m)
	}
	flood := from(t, "127.0.0.2")
	refused := 0
	for i := range 1000 {
		m := httpAnnounce(t, flood, srv, ih, id20(), 10000+i, 1000)
		if m["failure reason"] != nil {
			refused++
			if iv, _ := m["interval"].(int64); iv < 1 {
				t.Fatalf("a refusal without a retry interval: %v", m)
			}
		}
	}
	other := from(t, "127.0.0.4")
	complete, incomplete := httpScrape(t, other, srv, ih)
	if complete != 1 {
		t.Errorf("after the flood the swarm has %d seeders: the seeder was evicted", complete)
	}
	if refused < 800 {
		t.Errorf("%d of 1,000 announces from one address refused", refused)
	}
	if incomplete > 10 {
		t.Errorf("one address holds %d entries in the swarm", incomplete)
	}
	m := httpAnnounce(t, other, srv, ih, id20(), 7000, 1000)
	if peers, _ := m["peers"].(string); !compactHas(peers, net.ParseIP("127.0.0.3"), 6881) {
		t.Errorf("a newcomer is not given the seeder (%d peers given)", len(peers)/6)
	}
}

// One address cannot create thousands of swarms in a burst; another can
// still create one.
func TestHTTPNewSwarmsFromOneAddress(t *testing.T) {
	s, srv := serve(t, tracker.Config{Now: steppingClock()})
	flood := from(t, "127.0.0.2")
	created := 0
	for i := range 1000 {
		if m := httpAnnounce(t, flood, srv, id20(), id20(), 6881+i, 1000); m["failure reason"] == nil {
			created++
		}
	}
	if created > 200 || s.Stats().Swarms > 200 {
		t.Errorf("one address created %d swarms in one burst (the tracker holds %d)", created, s.Stats().Swarms)
	}
	if m := httpAnnounce(t, from(t, "127.0.0.3"), srv, id20(), id20(), 6881, 0); m["failure reason"] != nil {
		t.Errorf("another address cannot create a swarm: %v", m)
	}
}

// dialWSFrom opens a WebSocket to the tracker from the loopback address
// ip.
func dialWSFrom(t *testing.T, srv *httptest.Server, ip string) (*wsClient, *http.Response, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	wd := websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := wd.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{t: t, ws: ws}, resp, nil
}

func mustDialWSFrom(t *testing.T, srv *httptest.Server, ip string) *wsClient {
	t.Helper()
	c, _, err := dialWSFrom(t, srv, ip)
	if err != nil {
		t.Fatalf("WebSocket from %s: %v", ip, err)
	}
	return c
}

// A WebSocket that announced several peer ids and closed leaves none of
// them behind: a later announce counts only live peers, and its offers go
// to them.
func TestWebSocketCloseLeavesNoGhosts(t *testing.T) {
	_, srv := serve(t, tracker.Config{})
	ih := id20()
	a := mustDialWSFrom(t, srv, "127.0.0.2")
	for range 3 {
		a.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(id20()), "numwant": 0, "left": 0, "event": "started", "offers": []any{}})
		if m := a.recv(); m["failure reason"] != nil {
			t.Fatalf("a's announce: %v", m)
		}
	}
	b, bID := mustDialWSFrom(t, srv, "127.0.0.3"), id20()
	b.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(bID), "numwant": 0, "left": 0, "event": "started", "offers": []any{}})
	if m := b.recv(); m["complete"] != 4.0 {
		t.Fatalf("b's announce: %v", m)
	}
	a.ws.Close()
	probe := from(t, "127.0.0.5")
	deadline := time.Now().Add(5 * time.Second)
	for {
		complete, _ := httpScrape(t, probe, srv, ih)
		if complete == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed its socket, but the swarm still counts %d seeders (b and %d of a's peer ids)", complete, complete-1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, cID := mustDialWSFrom(t, srv, "127.0.0.4"), id20()
	var offers []any
	for range 5 {
		offers = append(offers, map[string]any{"offer": map[string]any{"type": "offer", "sdp": "v=0 from c"}, "offer_id": bin(id20())})
	}
	c.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(cID), "numwant": 5, "left": 100, "event": "started", "offers": offers})
	if m := c.recv(); m["complete"] != 1.0 || m["incomplete"] != 1.0 {
		t.Fatalf("c's announce: %v", m)
	}
	if m := b.recv(); m["peer_id"] != bin(cID) || m["offer"] == nil {
		t.Fatalf("b got %v, not c's offer", m)
	}
}

// One address may hold 32 WebSockets at once (the default): the 33rd is
// refused with 429 while another address still connects, and a closed one
// frees its place.
func TestWebSocketsPerAddress(t *testing.T) {
	_, srv := serve(t, tracker.Config{})
	var held []*wsClient
	for range 32 {
		held = append(held, mustDialWSFrom(t, srv, "127.0.0.2"))
	}
	_, resp, err := dialWSFrom(t, srv, "127.0.0.2")
	if err == nil {
		t.Fatal("the 33rd WebSocket from one address was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the 33rd WebSocket from one address: %v (response %+v)", err, resp)
	}
	mustDialWSFrom(t, srv, "127.0.0.3")
	held[0].ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, err := dialWSFrom(t, srv, "127.0.0.2"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed WebSocket did not free its place")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
