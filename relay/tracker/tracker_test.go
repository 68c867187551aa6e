package tracker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	actracker "github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"github.com/anacrolix/torrent/types/infohash"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/gorilla/websocket"
)

func id20() [20]byte {
	var b [20]byte
	rand.Read(b[:])
	return b
}

// serve runs a tracker on 127.0.0.1.
func serve(t *testing.T, cfg tracker.Config) (*tracker.Server, *httptest.Server) {
	t.Helper()
	s := tracker.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv
}

// announce uses anacrolix's tracker client, a real client library.
func announce(t *testing.T, url string, ih, peerID [20]byte, port uint16, left int64, ev actracker.AnnounceEvent) actracker.AnnounceResponse {
	t.Helper()
	cl, err := actracker.NewClient(url, actracker.NewClientOpts{})
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

func TestHTTPAnnounceAndScrape(t *testing.T) {
	_, srv := serve(t, tracker.Config{})
	url := srv.URL + "/announce"
	ih := id20()
	seed, leech := id20(), id20()
	r := announce(t, url, ih, seed, 6881, 0, actracker.Started)
	if r.Seeders != 1 || r.Leechers != 0 || len(r.Peers) != 0 {
		t.Fatalf("first announce: %+v", r)
	}
	r = announce(t, url, ih, leech, 6882, 1000, actracker.Started)
	if r.Seeders != 1 || r.Leechers != 1 || len(r.Peers) != 1 || r.Peers[0].Port != 6881 || r.Peers[0].IP.String() != "127.0.0.1" {
		t.Fatalf("second announce: %+v", r)
	}
	r = announce(t, url, ih, leech, 6882, 0, actracker.Completed)
	if r.Seeders != 2 || r.Leechers != 0 {
		t.Fatalf("completed: %+v", r)
	}
	cl, err := actracker.NewClient(url, actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sc, err := cl.Scrape(context.Background(), []infohash.T{ih, id20()})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc) != 2 || sc[0].Seeders != 2 || sc[0].Leechers != 0 || sc[0].Completed != 1 || sc[1].Seeders != 0 {
		t.Fatalf("scrape: %+v", sc)
	}
	r = announce(t, url, ih, seed, 6881, 0, actracker.Stopped)
	if r.Seeders != 1 {
		t.Fatalf("after stopped: %+v", r)
	}
}

// Malformed HTTP announces get a BEP 3 failure reason, and change nothing.
func TestHTTPBadRequests(t *testing.T) {
	s, srv := serve(t, tracker.Config{})
	for _, q := range []string{
		"info_hash=short&peer_id=aaaaaaaaaaaaaaaaaaaa&port=1",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=x&port=1",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=aaaaaaaaaaaaaaaaaaaa&port=0",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=aaaaaaaaaaaaaaaaaaaa&port=99999",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=aaaaaaaaaaaaaaaaaaaa&port=1&left=-5",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=aaaaaaaaaaaaaaaaaaaa&port=1&event=exploded",
	} {
		body := get(t, srv.URL+"/announce?"+q)
		if !strings.Contains(body, "failure reason") {
			t.Errorf("%s: %q", q, body)
		}
	}
	if st := s.Stats(); st.Peers != 0 || st.Refused != 6 {
		t.Fatalf("stats after bad requests: %+v", st)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}

// wsClient is a WebSocket tracker client sending the messages WebTorrent
// sends (binary strings for ids).
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialWS(t *testing.T, srv *httptest.Server) *wsClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{t: t, ws: ws}
}

func bin(b [20]byte) string {
	r := make([]rune, 20)
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) recv() map[string]any {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m map[string]any
	if err := c.ws.ReadJSON(&m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// Offers go to other WebSocket peers of the swarm, answers come back to the
// offerer, each with the right peer ids and offer id; a closed socket
// leaves the swarm.
func TestWebSocketSignalling(t *testing.T) {
	s, srv := serve(t, tracker.Config{})
	ih, a, b := id20(), id20(), id20()
	ca, cb := dialWS(t, srv), dialWS(t, srv)
	ca.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(a), "numwant": 0, "left": 0, "event": "started", "offers": []any{}})
	if m := ca.recv(); m["action"] != "announce" || m["complete"] != 1.0 || m["info_hash"] != bin(ih) {
		t.Fatalf("announce answer: %v", m)
	}
	offer := map[string]any{"type": "offer", "sdp": "v=0 fake sdp from b"}
	oid := id20()
	cb.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(b), "numwant": 1, "left": 100, "event": "started",
		"offers": []any{map[string]any{"offer": offer, "offer_id": bin(oid)}}})
	if m := cb.recv(); m["complete"] != 1.0 || m["incomplete"] != 1.0 {
		t.Fatalf("b's announce answer: %v", m)
	}
	got := ca.recv()
	if got["peer_id"] != bin(b) || got["offer_id"] != bin(oid) || got["info_hash"] != bin(ih) || got["offer"].(map[string]any)["sdp"] != offer["sdp"] {
		t.Fatalf("a got %v", got)
	}
	answer := map[string]any{"type": "answer", "sdp": "v=0 fake answer from a"}
	ca.send(map[string]any{"action": "announce", "info_hash": bin(ih), "peer_id": bin(a), "to_peer_id": bin(b), "offer_id": bin(oid), "answer": answer})
	got = cb.recv()
	if got["peer_id"] != bin(a) || got["offer_id"] != bin(oid) || got["answer"].(map[string]any)["sdp"] != answer["sdp"] {
		t.Fatalf("b got %v", got)
	}
	cb.send(map[string]any{"action": "scrape", "info_hash": bin(ih)})
	sc := cb.recv()
	files := sc["files"].(map[string]any)[bin(ih)].(map[string]any)
	if files["complete"] != 1.0 || files["incomplete"] != 1.0 {
		t.Fatalf("scrape: %v", sc)
	}
	ca.ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Peers != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a closed its socket but the swarm has %d peers", s.Stats().Peers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := s.Stats()
	if st.OffersRelayed != 1 || st.AnswersRelayed != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// Malformed WebSocket messages get a failure reason; the connection stays
// usable; a flood closes it.
func TestWebSocketBadInput(t *testing.T) {
	_, srv := serve(t, tracker.Config{MessagesPerSecond: 50})
	c := dialWS(t, srv)
	for _, m := range []string{`{`, `{"action":"fly"}`, `{"action":"announce","info_hash":"short","peer_id":"x"}`,
		`{"action":"announce","info_hash":"` + strings.Repeat("\u0100", 20) + `","peer_id":"aaaaaaaaaaaaaaaaaaaa"}`,
		`{"action":"scrape","info_hash":[]}`} {
		c.ws.WriteMessage(websocket.TextMessage, []byte(m))
		if got := c.recv(); got["failure reason"] == nil {
			t.Fatalf("%s: %v", m, got)
		}
	}
	big := `{"action":"announce","x":"` + strings.Repeat("a", tracker.MaxMessage) + `"}`
	c.ws.WriteMessage(websocket.TextMessage, []byte(big))
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ws.ReadMessage(); err == nil {
		t.Fatal("an oversized message did not close the connection")
	}
	f := dialWS(t, srv)
	for range 500 {
		if f.ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"fly"}`)) != nil {
			break
		}
	}
	f.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := f.ws.ReadMessage(); err != nil {
			break // closed
		}
	}
}

// WebTorrent's own tracker client (npm bittorrent-tracker, in Node)
// announces over WebSocket and scrapes.
func TestWebTorrentTrackerClient(t *testing.T) {
	dir := filepath.Join("..", "..", "interop", "bittorrent-tracker")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bittorrent-tracker")); err != nil {
		msg := "npm packages of interop/bittorrent-tracker are not installed (./build.sh test installs them)"
		if os.Getenv("BTSPEED_REQUIRE_INTEROP") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, srv := serve(t, tracker.Config{})
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ih := id20()
	run := func(left string) map[string]any {
		peer := id20()
		out, err := exec.Command("node", filepath.Join(dir, "client.mjs"), url, hex.EncodeToString(ih[:]), hex.EncodeToString(peer[:]), left).Output()
		if err != nil {
			t.Fatalf("node: %v: %s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return m
	}
	// A seed announces and scrapes, then leaves (destroy sends stopped).
	m := run("0")
	if u := m["update"].(map[string]any); u["complete"] != 1.0 {
		t.Fatalf("seed: %v", m)
	}
	if sc := m["scrape"].(map[string]any); sc["complete"] != 1.0 {
		t.Fatalf("seed's scrape: %v", m)
	}
	m = run("1000")
	if u := m["update"].(map[string]any); u["incomplete"] != 1.0 || u["complete"] != 0.0 {
		t.Fatalf("leecher after the seed left: %v", m)
	}
}
