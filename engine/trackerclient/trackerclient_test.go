package trackerclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/tracker"
	"github.com/btspeed/btspeed/engine/trackerclient"
)

// Replies that crash or flood anacrolix's client come back as errors.
func TestHostileHTTPReplies(t *testing.T) {
	for name, body := range map[string]string{
		"peer list of integers": "d8:intervali60e5:peersli1ei2eee",
		"huge":                  "d8:intervali60e5:peers" + "99999999:" + strings.Repeat("x", trackerclient.MaxResponse+10) + "e",
	} {
		t.Run(name, func(t *testing.T) {
			var sawNumwant string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sawNumwant = r.URL.Query().Get("numwant")
				w.Write([]byte(body))
			}))
			defer srv.Close()
			cl, err := trackerclient.New(srv.URL+"/announce", trackerclient.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := cl.Announce(ctx, tracker.AnnounceRequest{NumWant: 30, Port: 1}); err == nil {
				t.Fatal("a hostile reply was accepted")
			}
			if sawNumwant != "30" {
				t.Fatalf("numwant %q", sawNumwant)
			}
		})
	}
}
