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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/webtorrent.html"
}
