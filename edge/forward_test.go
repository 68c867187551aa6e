//go:build !js

package edge_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/btspeed/btspeed/edge"
)

// The Worker names the client to the origin by CF-Connecting-IP (what
// Cloudflare saw), never by the X-Forwarded-For the client wrote: the
// origin trusts the Worker's header (-trusted-proxies).
func TestForwardNamesTheClientCloudflareSaw(t *testing.T) {
	seen := make(chan []string, 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Values("X-Forwarded-For")
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	h, err := edge.New(edge.Config{Tracker: &edge.Tracker{}, Origin: u, Client: origin.Client()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, cf, xff, want string
	}{
		{"Cloudflare's address replaces the client's header", "198.51.100.7", "1.2.3.4", "198.51.100.7"},
		{"IPv6", "2001:db8::7", "", "2001:db8::7"},
		{"no CF-Connecting-IP: nothing", "", "1.2.3.4", ""},
		{"garbage CF-Connecting-IP: nothing", "1.2.3.4, 5.6.7.8", "1.2.3.4", ""},
	} {
		req := httptest.NewRequest("GET", "/ledger/v1/info", nil)
		if c.cf != "" {
			req.Header.Set("CF-Connecting-IP", c.cf)
		}
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		got := <-seen
		if (c.want == "" && len(got) != 0) || (c.want != "" && (len(got) != 1 || got[0] != c.want)) {
			t.Errorf("%s: the origin saw X-Forwarded-For %q, want %q", c.name, got, c.want)
		}
	}
}
