package browsertest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// WebTorrentDir is WebTorrent's browser bundle (interop/webtorrent, npm ci
// there).
func WebTorrentDir() string {
	return filepath.Join(Dir(), "..", "webtorrent", "node_modules", "webtorrent", "dist")
}

// webTorrentPage loads the bundle (an ES module) and exposes it as
// window.WebTorrent, with window.wtReady set once it is there.
const webTorrentPage = `<!doctype html><meta charset=utf-8><title>WebTorrent</title>
<script type=module>
import WebTorrent from './webtorrent.min.js'
window.WebTorrent = WebTorrent
window.wtReady = true
</script>`

// ServeWebTorrent serves WebTorrent's own browser bundle on addr (host:0)
// and returns the URL of a page that loads it (wait for window.wtReady).
// The server stops when the test ends. A missing bundle fails the test
// under BTSPEED_REQUIRE_BROWSER=1 and skips it otherwise.
func ServeWebTorrent(t testing.TB, addr string) string {
	t.Helper()
	dir := WebTorrentDir()
	if _, err := os.Stat(filepath.Join(dir, "webtorrent.min.js")); err != nil {
		if os.Getenv("BTSPEED_REQUIRE_BROWSER") == "1" {
			t.Fatalf("WebTorrent's bundle is missing (npm ci in interop/webtorrent): %v", err)
		}
		t.Skipf("WebTorrent's bundle is missing (npm ci in interop/webtorrent): %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	mux.HandleFunc("/webtorrent.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(webTorrentPage))
	})
	return Serve(t, Listen(t, addr), mux).URL + "/webtorrent.html"
}

// Listen listens on addr (host:0, e.g. a network namespace's host
// address, which httptest.NewServer cannot take).
func Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// Serve serves h on ln until the test ends and returns the server.
func Serve(t testing.TB, ln net.Listener, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
