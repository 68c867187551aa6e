package tracker

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

// FuzzWebSocketMessage feeds arbitrary messages to a WebSocket client's
// handler: never a panic, and every answer is a JSON object.
func FuzzWebSocketMessage(f *testing.F) {
	f.Add([]byte(`{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","numwant":1,"left":0,"event":"started","offers":[{"offer":{"type":"offer","sdp":"x"},"offer_id":"cccccccccccccccccccc"}]}`))
	f.Add([]byte(`{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","to_peer_id":"dddddddddddddddddddd","answer":{"type":"answer"},"offer_id":"x"}`))
	f.Add([]byte(`{"action":"scrape","info_hash":["aaaaaaaaaaaaaaaaaaaa"]}`))
	f.Add([]byte(`{"action":"announce","left":"1e400","numwant":-1}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := New(Config{})
		ip := netip.MustParseAddr("127.0.0.1")
		// writing: as if a writer were draining, so the answers stay queued
		// here (there is no WebSocket to write them to).
		c := &wsConn{s: s, ip: ip, from: ip, writing: true, done: make(chan struct{}), joined: make(map[joinKey]struct{})}
		s.conns[c] = struct{}{}
		c.handle(msg)
		c.handle(msg) // again: a repeat must be as safe
		for _, b := range c.queue {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("answer is not a JSON object: %v", err)
			}
		}
	})
}

// FuzzHTTPAnnounce sends arbitrary queries to /announce and /scrape: never
// a panic, and every answer is bencoded.
func FuzzHTTPAnnounce(f *testing.F) {
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=6881&left=0&compact=1")
	f.Add("info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&compact=0&numwant=99999")
	f.Fuzz(func(t *testing.T, q string) {
		s := New(Config{})
		for _, path := range []string{"/announce", "/scrape"} {
			r := httptest.NewRequest("GET", "http://tracker"+path, nil)
			r.URL.RawQuery = q
			r.RemoteAddr = "127.0.0.1:5000"
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			var v map[string]any
			if err := bencode.NewDecoder(bytes.NewReader(w.Body.Bytes())).Decode(&v); err != nil {
				t.Fatalf("%s?%s answered %q: %v", path, q, w.Body.Bytes(), err)
			}
		}
	})
}
