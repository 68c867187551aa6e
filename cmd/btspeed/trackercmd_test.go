package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/relay/tracker"
)

// btspeed tracker scrape asks a tracker (the relay's) how many seed a
// torrent; a tracker without it answers zeros; a bad argument is a usage
// error and an unreachable tracker fails.
func TestTrackerScrape(t *testing.T) {
	srv := httptest.NewServer(tracker.New(tracker.Config{}))
	defer srv.Close()
	ih := strings.Repeat("\x11", 20)
	q := url.Values{"info_hash": {ih}, "peer_id": {strings.Repeat("p", 20)}, "port": {"6881"}, "left": {"0"}, "event": {"completed"}}
	resp, err := http.Get(srv.URL + "/announce?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hexIH := strings.Repeat("11", 20)
	r := btspeed(t, nil, "", "tracker", "scrape", hexIH, "--tracker", srv.URL+"/announce")
	if r.code != 0 || r.out != srv.URL+"/announce: 1 seeding, 0 downloading, 1 completed\n" {
		t.Fatalf("%d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, nil, "", "tracker", "scrape", strings.Repeat("22", 20), "--tracker", srv.URL+"/announce", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"complete":0`) {
		t.Fatalf("unknown torrent: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, nil, "", "tracker", "scrape", hexIH); r.code != 2 {
		t.Fatalf("no tracker: %d %q", r.code, r.err)
	}
	if r := btspeed(t, nil, "", "tracker", "scrape", hexIH, "--tracker", "http://127.0.0.1:9/announce"); r.code != 1 {
		t.Fatalf("unreachable: %d %q %q", r.code, r.out, r.err)
	}
}
