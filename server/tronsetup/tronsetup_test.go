//go:build !js

package tronsetup

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/tron/devnet"
)

// -genesis resolves to dev only where no real TRON network is connected.
func TestGenesis(t *testing.T) {
	for _, c := range []struct {
		tron, genesis, want, err string
	}{
		{"devnet", "", "dev", ""},
		{"off", "", "dev", ""},
		{"devnet", "none", "none", ""},
		{"grpc://127.0.0.1:50051", "", "none", ""},
		{"grpcs://grpc.trongrid.io:50051", "", "none", ""},
		{"https://api.trongrid.io", "", "none", ""},
		{"grpc://127.0.0.1:50051", "none", "none", ""},
		{"grpc://127.0.0.1:50051", "dev", "", "set -genesis none"},
		{"https://api.trongrid.io", "dev", "", "set -genesis none"},
		{"devnet", "mine", "", "want dev or none"},
	} {
		got, err := Flags{Tron: c.tron}.Genesis(c.genesis)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("-tron %s -genesis %q: %q %v, want %q and an error with %q", c.tron, c.genesis, got, err, c.want, c.err)
		}
	}
}

// Every call the /tron/ gateway forwards is one the devnet serves: the
// list is the documented API, and what the wallet and TronWeb use.
func TestGatewayCallsAreTheDevnets(t *testing.T) {
	chain, err := devnet.Open(devnet.Config{Path: filepath.Join(t.TempDir(), "tron.db"), BlockInterval: time.Hour,
		Asset: devnet.Asset{ID: "1002000", Precision: 6}})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	h := chain.HTTPHandler()
	for path, methods := range gatewayMethods {
		for _, m := range methods {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(m, path, strings.NewReader("{}")))
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: the devnet answers %d", m, path, rec.Code)
			}
		}
	}
}
