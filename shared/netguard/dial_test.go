//go:build !js

package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// A loopback listener: refused by the zero Dialer (before any connection:
// the listener never accepts one), reached with AllowLoopback; private and
// link-local addresses stay refused even then, by address and by name.
func TestDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx := context.Background()
	var strict Dialer
	for _, host := range []string{"127.0.0.1", "localhost", "::1", "10.0.0.1", "169.254.169.254", "192.168.1.1", "0.0.0.0"} {
		if _, err := strict.DialContext(ctx, "tcp", net.JoinHostPort(host, port)); !errors.Is(err, ErrForbidden) {
			t.Errorf("default dialer to %s: %v, want ErrForbidden", host, err)
		}
	}
	loose := Dialer{AllowLoopback: true}
	for _, host := range []string{"10.0.0.1", "169.254.169.254", "172.16.0.1", "[fd00::1]"} {
		if _, err := loose.DialContext(ctx, "tcp", host+":80"); !errors.Is(err, ErrForbidden) {
			t.Errorf("AllowLoopback dialer to %s: %v, want ErrForbidden", host, err)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a refused dial reached the listener")
	default:
	}
	c, err := loose.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("AllowLoopback dialer to %s: %v", ln.Addr(), err)
	}
	c.Close()
	<-accepted
	if err := loose.control("tcp", "10.1.2.3:80", nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("control(10.1.2.3): %v", err)
	}
}

// Redirects through an http.Client using the Dialer: one to a private
// address fails at the dialer, https to http and more than max are refused.
func TestRedirects(t *testing.T) {
	var target string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer srv.Close()
	d := &Dialer{AllowLoopback: true}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, CheckRedirect: CheckRedirect(5)}
	for _, tc := range []struct {
		target string
		want   error
	}{
		{"http://169.254.169.254/latest/meta-data/", ErrForbidden},
		{"http://10.0.0.1/", ErrForbidden},
		{"ftp://example.org/", ErrRedirect},
		{"/loop", ErrRedirect},
	} {
		target = tc.target
		_, err := client.Get(srv.URL)
		if !errors.Is(err, tc.want) {
			t.Errorf("redirect to %s: %v, want %v", tc.target, err, tc.want)
		}
	}
	check := CheckRedirect(5)
	from, _ := http.NewRequest("GET", "https://example.org/", nil)
	to, _ := http.NewRequest("GET", "http://example.org/", nil)
	if err := check(to, []*http.Request{from}); !errors.Is(err, ErrRedirect) {
		t.Errorf("https to http: %v", err)
	}
	to.URL, _ = url.Parse("https://example.org/x")
	if err := check(to, []*http.Request{from}); err != nil {
		t.Errorf("https to https: %v", err)
	}
}
