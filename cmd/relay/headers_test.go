package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger/ledgertest"
)

// webCopy is the repository's web/ as build.sh lays it out in dist/web,
// with a stand-in btspeed.wasm (its bytes do not matter here).
func webCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-R", filepath.Join("..", "..", "web")+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying web/: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "btspeed.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// directive returns the value of a Content-Security-Policy directive, and
// whether the policy has it.
func directive(policy, name string) (string, bool) {
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == name {
			return strings.Join(f[1:], " "), true
		}
	}
	return "", false
}

var (
	inlineScript  = regexp.MustCompile(`(?i)<script\b([^>]*)>`)
	inlineHandler = regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)
)

// The relay as an operator runs it with -web, fetched as any browser would:
// every response says nosniff; the app's pages carry a
// Content-Security-Policy that runs only the relay's own scripts (and the
// wasm), and may not be framed by other sites; the player page that
// <bt-speed> frames keeps the policy but may be framed anywhere. The pages
// themselves have nothing inline that the policy would block.
func TestRelayWebHeaders(t *testing.T) {
	bin := ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")
	web := webCopy(t)
	start := func(extra ...string) *ledgertest.Process {
		return ledgertest.StartWith(t, ledgertest.Options{Binary: bin}, append([]string{"-web", web, "-data", t.TempDir(),
			"-faucet-difficulty", "0", "-peer-listen", "127.0.0.1:0", "-dht", "off", "-tron-grpc", "127.0.0.1:0",
			"-tron-block", "200ms"}, extra...)...)
	}
	relay := start()

	pages := []struct {
		path  string
		frame bool // other sites may frame it
	}{
		{"/", false},
		{"/index.html", false}, // redirected to /
		{"/example/publisher.html", false},
		{"/embed.html", true},
		{"/embed.html?src=magnet%3A%3Fxt%3Durn%3Abtih%3A" + strings.Repeat("ab", 20), true},
	}
	for _, p := range pages {
		resp, body := fetch(t, relay.URL+p.path)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || h.Get("X-Content-Type-Options") != "nosniff" || csp == "" {
			t.Fatalf("%s: %d, nosniff %q, policy %q", p.path, resp.StatusCode, h.Get("X-Content-Type-Options"), csp)
		}
		if s, _ := directive(csp, "script-src"); s != "'self' 'wasm-unsafe-eval'" {
			t.Errorf("%s: script-src %q", p.path, s)
		}
		if s, _ := directive(csp, "object-src"); s != "'none'" {
			t.Errorf("%s: object-src %q", p.path, s)
		}
		if c, _ := directive(csp, "connect-src"); !strings.Contains(c, "'self'") || !strings.Contains(c, "wss:") {
			t.Errorf("%s: connect-src %q", p.path, c)
		}
		fa, hasFA := directive(csp, "frame-ancestors")
		switch {
		case p.frame && (hasFA || h.Get("X-Frame-Options") != ""):
			t.Errorf("%s: other sites frame it, yet frame-ancestors %q, X-Frame-Options %q", p.path, fa, h.Get("X-Frame-Options"))
		case !p.frame && (fa != "'none'" || h.Get("X-Frame-Options") != "DENY"):
			t.Errorf("%s: frame-ancestors %q, X-Frame-Options %q; want 'none' and DENY", p.path, fa, h.Get("X-Frame-Options"))
		}
		for _, m := range inlineScript.FindAllStringSubmatch(body, -1) {
			if !strings.Contains(m[1], "src=") {
				t.Errorf("%s has an inline script, which its policy blocks: %s", p.path, m[0])
			}
		}
		if m := inlineHandler.FindString(body); m != "" {
			t.Errorf("%s has an inline event handler, which its policy blocks: %s", p.path, m)
		}
	}

	// Everything else says nosniff too: the app's files, the ledger
	// gateway's JSON, errors.
	for _, path := range []string{"/app.js", "/player.js", "/btspeed.wasm", "/app.css", "/sw.js", "/healthz", "/ledger/v1/info", "/no-such-file"} {
		resp, _ := fetch(t, relay.URL+path)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s (%d, %s): no nosniff", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := fetch(t, relay.URL+"/_headers"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/_headers (the edge's copy of the headers): %d, want 404", resp.StatusCode)
	}

	// A relay served over plain http lets the page reach http: and ws:
	// (trackers and .torrent URLs on a LAN); one whose public URL is https
	// does not.
	resp, _ := fetch(t, relay.URL+"/")
	if c, _ := directive(resp.Header.Get("Content-Security-Policy"), "connect-src"); !strings.Contains(c, "ws:") {
		t.Errorf("plain-http relay: connect-src %q", c)
	}
	secure := start("-public-url", "https://relay.example.org")
	resp, _ = fetch(t, secure.URL+"/")
	if c, _ := directive(resp.Header.Get("Content-Security-Policy"), "connect-src"); c != "'self' https: wss:" {
		t.Errorf("https relay: connect-src %q, want 'self' https: wss:", c)
	}
}
