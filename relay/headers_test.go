//go:build !js

package relay

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// headersRule is one path rule of a Workers static assets _headers file.
type headersRule struct {
	path  string
	set   map[string]string
	unset []string
}

func readHeadersFile(t *testing.T, name string) []headersRule {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []headersRule
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "/"):
			rules = append(rules, headersRule{path: line, set: map[string]string{}})
		case len(rules) == 0:
			t.Fatalf("%s: %q before any path", name, line)
		case strings.HasPrefix(line, "!"):
			rules[len(rules)-1].unset = append(rules[len(rules)-1].unset, strings.TrimSpace(line[1:]))
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("%s: %q", name, line)
			}
			rules[len(rules)-1].set[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return rules
}

// headersFor applies the rules to urlPath as Workers static assets do: in
// order, each matching rule first removes its unset headers, then sets.
func headersFor(rules []headersRule, urlPath string) map[string]string {
	out := map[string]string{}
	for _, r := range rules {
		prefix, wild := strings.CutSuffix(r.path, "*")
		if !(urlPath == r.path || wild && strings.HasPrefix(urlPath, prefix)) {
			continue
		}
		for _, k := range r.unset {
			delete(out, k)
		}
		for k, v := range r.set {
			out[k] = v
		}
	}
	return out
}

// The edge serves the web app as Workers static assets with web/_headers:
// every page gets the same headers from there as from the relay (an https
// one: the edge is https).
func TestHeadersFileMatches(t *testing.T) {
	rules := readHeadersFile(t, filepath.Join("..", "web", headersFile))
	for _, p := range []string{"/", "/index.html", "/app.js", "/btspeed.wasm", "/embed.html", "/embed", "/example/publisher.html", "/pay.html"} {
		got := headersFor(rules, p)
		want := map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": contentSecurityPolicy(p, false),
		}
		if !embedPages[p] {
			want["X-Frame-Options"] = "DENY"
		}
		if len(got) != len(want) {
			t.Errorf("%s: _headers gives %q, the relay %q", p, got, want)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: _headers gives %s: %q, the relay %q", p, k, got[k], v)
			}
		}
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	for _, c := range []struct {
		path       string
		insecure   bool
		has, lacks []string
	}{
		{"/", false, []string{"script-src 'self' 'wasm-unsafe-eval';", "frame-ancestors 'none'", "connect-src 'self' https: wss:;", "style-src 'self';"}, []string{"unsafe-inline", "http:"}},
		{"/", true, []string{"connect-src 'self' https: wss: http: ws:;"}, []string{"unsafe-inline"}},
		// The payment confirmation window is never framed (clickjacking a payment).
		{"/pay.html", false, []string{"frame-ancestors 'none'", "script-src 'self' 'wasm-unsafe-eval';"}, []string{"unsafe-inline"}},
		{"/embed.html", false, []string{"script-src 'self' 'wasm-unsafe-eval';"}, []string{"frame-ancestors", "unsafe-inline"}},
		{"/example/publisher.html", false, []string{"style-src 'self' 'unsafe-inline';", "frame-ancestors 'none'", "script-src 'self' 'wasm-unsafe-eval';"}, nil},
	} {
		p := contentSecurityPolicy(c.path, c.insecure)
		for _, s := range c.has {
			if !strings.Contains(p, s) {
				t.Errorf("%s (insecure %v): %q lacks %q", c.path, c.insecure, p, s)
			}
		}
		for _, s := range c.lacks {
			if strings.Contains(p, s) {
				t.Errorf("%s (insecure %v): %q has %q", c.path, c.insecure, p, s)
			}
		}
	}
}
