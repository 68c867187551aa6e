package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// btspeed ledger balance: an address's balance on a real ledger, or the
// installed wallet's (read from its keystore without the password).
func TestLedgerBalance(t *testing.T) {
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	k, keystore := keystoreFile(t, t.TempDir(), "w.json")
	if err := ledgertest.Fund(context.Background(), client.New(lp.URL, nil), []wallet.Address{k.Address()}, 2_500_001); err != nil {
		t.Fatal(err)
	}
	r := btspeed(t, map[string]string{"BTSPEED_LEDGER": lp.URL}, "", "ledger", "balance", k.Address().String())
	if r.code != 0 || r.out != "2.500001 BTT\n" {
		t.Fatalf("balance of an address: %d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, map[string]string{"BTSPEED_WALLET": keystore}, "", "ledger", "balance", "--json", "--ledger", lp.URL)
	var js struct {
		Address   string
		BaseUnits uint64 `json:"base_units"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.out), &js) != nil || js.Address != k.Address().String() || js.BaseUnits != 2_500_001 {
		t.Fatalf("balance of the installed wallet: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, map[string]string{"BTSPEED_LEDGER": lp.URL, "BTSPEED_WALLET": filepath.Join(t.TempDir(), "none.json")}, "", "ledger", "balance"); r.code == 0 || !strings.Contains(r.err, "give an ADDRESS") {
		t.Fatalf("no wallet and no address: %d %q", r.code, r.err)
	}
}
