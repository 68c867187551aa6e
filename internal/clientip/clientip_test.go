package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	trusted, err := ParsePrefixes("127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	r := New(trusted)
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:1234", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy names the client", "127.0.0.1:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries to the left are not believed", "127.0.0.1:80", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops are skipped", "127.0.0.1:80", []string{"198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"several header lines", "127.0.0.1:80", []string{"9.9.9.9", "198.51.100.1"}, "198.51.100.1"},
		{"trusted proxy without header", "127.0.0.1:80", nil, "127.0.0.1"},
		{"garbled entry stops at the last named hop", "127.0.0.1:80", []string{"bogus, 10.1.2.3"}, "10.1.2.3"},
		{"mapped IPv4", "[::ffff:127.0.0.1]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		for _, h := range c.xff {
			req.Header.Add(Header, h)
		}
		if got := r.Addr(req).String(); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	var zero *Resolver
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:80"
	req.Header.Set(Header, "198.51.100.1")
	if got := zero.Addr(req).String(); got != "127.0.0.1" {
		t.Errorf("nil resolver believed the header: %s", got)
	}
}

func TestParsePrefixesRefusesGarbage(t *testing.T) {
	for _, s := range []string{"nope", "10.0.0.0/99", "1.2.3"} {
		if _, err := ParsePrefixes(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if p, err := ParsePrefixes(" "); err != nil || len(p) != 0 {
		t.Errorf("empty: %v %v", p, err)
	}
}

func TestKeyGroupsIPv6By64(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if Key(a) != Key(b) {
		t.Errorf("same /64, different keys: %s %s", Key(a), Key(b))
	}
	if Key(a) == Key(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("different /64, same key")
	}
	if Key(netip.MustParseAddr("::ffff:1.2.3.4")) != netip.MustParseAddr("1.2.3.4") {
		t.Error("mapped IPv4 not unmapped")
	}
}

func TestForward(t *testing.T) {
	r := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	for _, c := range []struct{ remote, xff, want string }{
		{"127.0.0.1:80", "1.2.3.4, 198.51.100.1", "198.51.100.1"}, // behind a trusted proxy
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},       // the client's own header dropped
		{"bogus", "198.51.100.1", ""},                             // no client: no header
	} {
		in := httptest.NewRequest("GET", "/", nil)
		in.RemoteAddr = c.remote
		in.Header.Set(Header, c.xff)
		out := in.Clone(in.Context())
		r.Forward(out, in)
		if got := out.Header.Get(Header); got != c.want || len(out.Header.Values(Header)) > 1 {
			t.Errorf("%s with %q: forwarded %q, want %q", c.remote, c.xff, out.Header.Values(Header), c.want)
		}
	}
}
