//go:build !js

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/ledgertest"
)

func TestLedgerProcessServesAndStops(t *testing.T) {
	p := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "8")
	resp, err := httpGet(p.URL + "/v1/invariant")
	if err != nil || !strings.Contains(resp, `"ok":true`) {
		t.Fatalf("invariant: %s %v", resp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}
