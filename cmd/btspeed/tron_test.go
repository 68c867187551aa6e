package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
)

// btspeed tron balance reads TRX and BTT from a TRON node's gRPC API (the
// devnet here); an account TRON has never seen has none; a malformed
// address or node is a usage error.
func TestTronBalance(t *testing.T) {
	k, _ := wallet.GenerateKey()
	nobody, _ := wallet.GenerateKey()
	chain, err := devnet.Open(devnet.Config{Path: filepath.Join(t.TempDir(), "tron.db"), BlockInterval: time.Hour,
		Asset:    devnet.Asset{ID: "1002000", Precision: 6},
		Accounts: []devnet.Account{{Address: k.Address(), TRX: 12_500_000, Asset: 3_000_001}}})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	_, addr := devnettest.Serve(t, chain)
	node := "grpc://" + addr

	r := btspeed(t, nil, "", "tron", "balance", k.Address().String(), "--node", node)
	if r.code != 0 || r.out != "12.500000 TRX\n3.000001 BTT\n" {
		t.Fatalf("balance: %d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, map[string]string{"BTSPEED_TRON": node}, "", "tron", "balance", "--json", nobody.Address().String())
	var js struct {
		TRXSun   int64 `json:"trx_sun"`
		BTTUnits int64 `json:"btt_units"`
		Address  string
	}
	if r.code != 0 || json.Unmarshal([]byte(r.out), &js) != nil || js.TRXSun != 0 || js.BTTUnits != 0 || js.Address != nobody.Address().String() {
		t.Fatalf("an unseen account: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, nil, "", "tron", "balance", "Tnot-an-address", "--node", node); r.code != 2 && r.code != 1 || !strings.Contains(r.err, "address") {
		t.Fatalf("a bad address: %d %q", r.code, r.err)
	}
	if r := btspeed(t, nil, "", "tron", "balance", k.Address().String(), "--node", "http://x"); r.code != 2 || !strings.Contains(r.err, "grpc://") {
		t.Fatalf("a bad node: %d %q", r.code, r.err)
	}
}
