package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
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

// btspeed ledger history: an account's latest entries on a real ledger,
// newest first, each channel entry with the service its channel paid for
// ("speed" for an untagged one) and a transfer with its memo; --json gives
// the ledger's entries with their service.
func TestLedgerHistory(t *testing.T) {
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx := context.Background()
	lc := client.New(lp.URL, nil)
	payer, _ := keystoreFile(t, t.TempDir(), "w.json")
	payee, _ := wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{payer.Address()}, 5_000_000); err != nil {
		t.Fatal(err)
	}
	info, err := lc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, svc := range []string{speed.ServiceProxy, ""} {
		o := speed.OpenRequest{Ledger: info.Ledger, Payer: payer.Address(), Payee: payee.Address(), Deposit: 1_000_000,
			Deadline: time.Now().Add(time.Hour).Unix(), Nonce: uint64(100 + i), Service: svc}
		s, err := o.Sign(payer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lc.OpenChannel(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	tr, _ := api.Transfer{Ledger: info.Ledger, From: payer.Address(), To: payee.Address(), Amount: 250_000, Nonce: 7, Memo: "invoice 7"}.Sign(payer)
	if _, err := lc.Transfer(ctx, tr); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BTSPEED_LEDGER": lp.URL}
	r := btspeed(t, env, "", "ledger", "history", payer.Address().String(), "--limit", "3")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || len(lines) != 4 {
		t.Fatalf("history: %d %q %q", r.code, r.out, r.err)
	}
	for i, want := range [][]string{
		{"transfer", "-0.250000 BTT", "2.750000 BTT", "-", payee.Address().String(), `"invoice 7"`},
		{"channel-deposit", "-1.000000 BTT", "3.000000 BTT", "speed", payee.Address().String()},
		{"channel-deposit", "-1.000000 BTT", "4.000000 BTT", "proxy", payee.Address().String()},
	} {
		f := strings.Fields(lines[1+i])
		if got := strings.Join(f[2:], " "); !strings.HasPrefix(got, strings.Join(want, " ")) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, got, strings.Join(want, " "))
		}
	}
	r = btspeed(t, env, "", "ledger", "history", payer.Address().String(), "--json")
	var es []api.Entry
	if r.code != 0 || json.Unmarshal([]byte(r.out), &es) != nil || len(es) != 4 || es[2].Service != "proxy" || es[1].Service != "" {
		t.Fatalf("history --json: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, env, "", "ledger", "history", payer.Address().String(), "--limit", "501"); r.code == 0 || !strings.Contains(r.err, "give 1 to 500") {
		t.Fatalf("--limit 501: %d %q", r.code, r.err)
	}
}
