//go:build !js

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
)

// bogusCloses is a batch of n closes of channels that do not exist.
func bogusCloses(n int) []byte {
	ops := make([]api.BatchOp, n)
	for i := range ops {
		id := speed.ChannelID{byte(i), byte(i >> 8), 0xb0, 0x95}
		ops[i] = api.BatchOp{Close: &api.BatchClose{Channel: id, CloseRequest: api.CloseRequest{Seq: 1, Paid: 1}}}
	}
	b, _ := json.Marshal(api.Batch{Ops: ops})
	return b
}

// The ledger process limits each client (-rate), a batch costing one
// token per operation: a client sending batches of 64 bogus closes is
// refused after about the burst (256) plus the rate in operations, not
// requests; /v1/info is limited too; other clients are not affected.
func TestLedgerRateLimitsPerOperation(t *testing.T) {
	p := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0", "-rate", "20")
	attacker := ledgertest.From(netip.MustParseAddr("127.0.0.50"), nil)
	body := bogusCloses(64)
	start := time.Now()
	admitted, refused := 0, false
	for range 40 {
		resp, err := attacker.Post(p.URL+"/v1/batch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var e api.ErrorResponse
		if resp.StatusCode == http.StatusTooManyRequests {
			json.NewDecoder(resp.Body).Decode(&e)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if e.Error.Code != api.CodeRateLimited || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 with %+v, Retry-After %q", e, resp.Header.Get("Retry-After"))
			}
			refused = true
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("batch %d: status %d", admitted, resp.StatusCode)
		}
		admitted++
	}
	allowed := 256 + 20*time.Since(start).Seconds()
	if !refused || float64(admitted*64) > allowed+64 {
		t.Fatalf("%d batches of 64 operations admitted (refused: %v); the limit allows about %.0f operations", admitted, refused, allowed)
	}
	if code := get(t, http.DefaultClient, p.URL+"/v1/info"); code != http.StatusOK {
		t.Fatalf("another client's /v1/info: %d", code)
	}
	prober := ledgertest.From(netip.MustParseAddr("127.0.0.51"), nil)
	for i := range 2000 {
		if code := get(t, prober, p.URL+"/v1/info"); code == http.StatusTooManyRequests {
			return
		} else if code != http.StatusOK {
			t.Fatalf("/v1/info %d: %d", i, code)
		}
	}
	t.Fatal("2000 requests to /v1/info from one client, none refused")
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", url, err))
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
