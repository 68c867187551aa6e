package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
)

// startRelay runs dist/relay as an operator would, with a faucet of 8 bits
// and args.
func startRelay(t *testing.T, args ...string) *ledgertest.Process {
	t.Helper()
	return ledgertest.StartWith(t, ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")},
		append([]string{"-data", t.TempDir(), "-faucet-difficulty", "8", "-peer-listen", "127.0.0.1:0", "-dht", "off"}, args...)...)
}

// claims makes n faucet claims for new accounts through base (a ledger
// API URL) from the loopback address src, each with its own spoofed
// X-Forwarded-For when spoof is set, and returns how many were granted;
// a refusal must be the per-address limit.
func claims(t *testing.T, base string, src netip.Addr, n int, spoof bool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	granted := 0
	for i := range n {
		var h http.Header
		if spoof {
			h = http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", i+1)}}
		}
		_, err := ledgertest.ClaimFaucet(ctx, client.New(base, ledgertest.From(src, h)))
		switch {
		case err == nil:
			granted++
		case api.CodeOf(err) != api.CodeRateLimited:
			t.Fatalf("claim %d from %s: %v", i, src, err)
		}
	}
	return granted
}

// proxy is a reverse proxy on 127.0.0.1 in front of target, as Caddy or
// nginx would be: it appends the address a request came from to
// X-Forwarded-For.
func proxy(t *testing.T, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(srv.Close)
	return srv.URL
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Behind a reverse proxy the relay trusts (-trusted-proxies), each user is
// a client of its own: six users from six addresses each get their
// faucet grant (the 6th used to get "too many faucet grants to
// 127.0.0.1"). A user cannot escape its limit by writing X-Forwarded-For,
// through the proxy or straight to the relay.
func TestRelayBehindTrustedProxy(t *testing.T) {
	relay := startRelay(t, "-trusted-proxies", "127.0.0.1", "-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms")
	front := proxy(t, relay.URL)
	for i := range 6 {
		src := addr(fmt.Sprintf("127.0.0.%d", 10+i))
		if got := claims(t, front+"/ledger", src, 1, false); got != 1 {
			t.Fatalf("user %d (%s) behind the proxy was refused its grant", i+1, src)
		}
	}
	if got := claims(t, front+"/ledger", addr("127.0.0.20"), 7, true); got != 5 {
		t.Fatalf("a user spoofing X-Forwarded-For through the proxy got %d grants, want the limit of 5", got)
	}
	if got := claims(t, relay.URL+"/ledger", addr("127.0.0.21"), 7, true); got != 5 {
		t.Fatalf("a client spoofing X-Forwarded-For straight to the relay got %d grants, want the limit of 5", got)
	}
}

// A ledger behind a relay (-ledger URL) trusts the relay's address: the
// relay names each client in X-Forwarded-For, so six users of the relay
// each get their grant; neither a client of the relay nor one talking to
// the ledger directly can spoof the header.
func TestLedgerBehindRelay(t *testing.T) {
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "8",
		"-trusted-proxies", "127.0.0.1", "-rate", "200")
	relay := startRelay(t, "-ledger", lp.URL, "-tron", "off")
	for i := range 6 {
		src := addr(fmt.Sprintf("127.0.0.%d", 30+i))
		if got := claims(t, relay.URL+"/ledger", src, 1, false); got != 1 {
			t.Fatalf("user %d (%s) of the relay was refused its grant", i+1, src)
		}
	}
	if got := claims(t, relay.URL+"/ledger", addr("127.0.0.40"), 7, true); got != 5 {
		t.Fatalf("a relay client spoofing X-Forwarded-For got %d grants, want the limit of 5", got)
	}
	if got := claims(t, lp.URL, addr("127.0.0.41"), 7, true); got != 5 {
		t.Fatalf("a client spoofing X-Forwarded-For straight to the ledger got %d grants, want the limit of 5", got)
	}
	// A batch the relay counted (reading its body) reaches the ledger whole.
	var ch speed.ChannelID
	res, err := client.New(relay.URL+"/ledger", nil).Batch(context.Background(), []api.BatchOp{
		{Close: &api.BatchClose{Channel: ch, CloseRequest: api.CloseRequest{Seq: 1, Paid: 1}}},
		{Close: &api.BatchClose{Channel: ch, CloseRequest: api.CloseRequest{Seq: 2, Paid: 1}}}})
	if err != nil || len(res) != 2 || res[1].Status != http.StatusNotFound {
		t.Fatalf("a batch through the relay: %+v %v", res, err)
	}
}

// /healthz, which reads the embedded ledger, is rate-limited per client
// like the gateway (-ledger-rate), and a batch through the gateway costs
// one token per operation: one above the burst is refused as too large.
func TestRelayHealthzAndBatchesAreLimited(t *testing.T) {
	relay := startRelay(t, "-tron", "off", "-ledger-rate", "5")
	c := ledgertest.From(addr("127.0.0.60"), nil)
	status := func(resp *http.Response, err error) int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	refused := false
	for i := 0; i < 1000 && !refused; i++ {
		switch code := status(c.Get(relay.URL + "/healthz")); code {
		case http.StatusTooManyRequests:
			refused = true
		case http.StatusOK:
		default:
			t.Fatalf("/healthz: %d", code)
		}
	}
	if !refused {
		t.Fatal("1000 requests to /healthz from one client, none refused")
	}
	other := ledgertest.From(addr("127.0.0.61"), nil)
	batch := `{"ops":[` + strings.Repeat(`{"transfer":{}},`, 10) + `{"transfer":{}}]}` // 11 operations, burst 10
	if code := status(other.Post(relay.URL+"/ledger/v1/batch", "application/json", strings.NewReader(batch))); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a batch of 11 operations with a burst of 10: %d, want 413", code)
	}
	if code := status(other.Get(relay.URL + "/healthz")); code != http.StatusOK {
		t.Fatalf("another client's /healthz: %d", code)
	}
}
