package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The redirect to https:// keeps the path and query, names the HTTPS port
// unless it is 443, and never points at a host outside -tls-domain; it
// redirects only reads.
func TestRedirectToHTTPS(t *testing.T) {
	hosts := []string{"relay.example.org", "r2.example.org"}
	for _, c := range []struct{ method, host, port, url, want string }{
		{"GET", "relay.example.org", "443", "/seeds?x=1", "https://relay.example.org/seeds?x=1"},
		{"HEAD", "R2.example.org:80", "8443", "/", "https://r2.example.org:8443/"},
		{"GET", "evil.example", "443", "/a", "https://relay.example.org/a"},
		{"POST", "relay.example.org", "443", "/ledger/v1/batch", ""},
	} {
		req := httptest.NewRequest(c.method, "http://"+c.host+c.url, nil)
		w := httptest.NewRecorder()
		redirect(hosts, c.port).ServeHTTP(w, req)
		if c.want == "" {
			if w.Code != http.StatusBadRequest {
				t.Fatalf("%s %s: %d, want 400", c.method, c.url, w.Code)
			}
			continue
		}
		if loc := w.Header().Get("Location"); w.Code != http.StatusFound || loc != c.want {
			t.Fatalf("%s %s%s: %d to %q, want 302 to %q", c.method, c.host, c.url, w.Code, loc, c.want)
		}
	}
}

// Certificates are asked for the -tls-domain names only, whatever port
// the Host header names.
func TestHostPolicy(t *testing.T) {
	allow := hostPolicy([]string{"relay.example.org"})
	for host, ok := range map[string]bool{"relay.example.org": true, "relay.example.org:5002": true, "other.example.org": false, "127.0.0.1": false} {
		if err := allow(context.Background(), host); (err == nil) != ok {
			t.Fatalf("host %q: %v, want allowed %v", host, err, ok)
		}
	}
}

// Without -tls-domain nothing changes; names no CA certifies are refused
// before anything listens.
func TestTLSFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	log := slog.New(slog.DiscardHandler)
	var off TLS
	if got, _, err := off.Wrap(ln, log, io.Discard); got != ln || err != nil {
		t.Fatalf("without -tls-domain: %v, %v; want the listener as it is", got, err)
	}
	for _, d := range []string{"localhost", "127.0.0.1", "relay.example.org,intranet"} {
		tl := TLS{Domains: d, Cache: t.TempDir(), HTTPAddr: "127.0.0.1:0"}
		if _, err := tl.Listen(ln, log); err == nil || !strings.Contains(err.Error(), "-tls-domain") {
			t.Fatalf("-tls-domain %s: %v, want refused", d, err)
		}
	}
	tl := TLS{Domains: "relay.example.org", HTTPAddr: "127.0.0.1:0"}
	if _, err := tl.Listen(ln, log); err == nil || !strings.Contains(err.Error(), "-tls-cache") {
		t.Fatalf("no cache: %v", err)
	}
	if u := (&TLS{Domains: " Relay.Example.org ,b.example.org"}).PublicURL(ln); u != "https://relay.example.org:"+port(ln.Addr().String()) {
		t.Fatalf("PublicURL %s", u)
	}
}
