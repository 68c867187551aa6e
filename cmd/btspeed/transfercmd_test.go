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

// btspeed ledger transfer against a real ledger process: the wallet sends
// 1.25 BTT to bob and both balances show it, once with the text output and
// once with --json and a --memo the ledger keeps in both histories; bad
// amounts, a memo over 140 bytes, bad or missing --to, a transfer to itself
// and an overdraft are refused with a message for people, moving nothing.
func TestLedgerTransfer(t *testing.T) {
	dir := t.TempDir()
	lp := ledgertest.Start(t, "-db", filepath.Join(dir, "l.db"), "-faucet-difficulty", "0")
	k, keystore := keystoreFile(t, dir, "w.json")
	bob, _ := wallet.GenerateKey()
	lc := client.New(lp.URL, nil)
	ctx := context.Background()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{k.Address()}, 3_000_000); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{envLedger: lp.URL, envWallet: keystore, envPassword: "password123"}
	balances := func(want, wantBob uint64) {
		t.Helper()
		got, err := lc.Balance(ctx, k.Address())
		if err != nil {
			t.Fatal(err)
		}
		gotBob, err := lc.Balance(ctx, bob.Address())
		if err != nil {
			t.Fatal(err)
		}
		if got != want || gotBob != wantBob {
			t.Fatalf("balances %d and %d, want %d and %d", got, gotBob, want, wantBob)
		}
	}

	r := btspeed(t, env, "", "ledger", "transfer", "1.25", "--to", bob.Address().String())
	if r.code != 0 || !strings.HasPrefix(r.out, "sent 1.250000 BTT to "+bob.Address().String()+": transfer ") {
		t.Fatalf("transfer: %d %q %q", r.code, r.out, r.err)
	}
	balances(1_750_000, 1_250_000)
	r = btspeed(t, env, "", "ledger", "transfer", "--json", "0.000001", "--to", bob.Address().String(), "--memo", "invoice 7 — merci")
	var js struct {
		ID, To, Memo string
		BaseUnits    uint64 `json:"base_units"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.out), &js) != nil || len(js.ID) != 64 || js.To != bob.Address().String() || js.BaseUnits != 1 ||
		js.Memo != "invoice 7 — merci" {
		t.Fatalf("transfer --json: %d %q %q", r.code, r.out, r.err)
	}
	for _, a := range []wallet.Address{k.Address(), bob.Address()} {
		if h, err := lc.History(ctx, a, 0, 1); err != nil || len(h) != 1 || h[0].Ref != js.ID || h[0].Memo != js.Memo {
			t.Fatalf("%s's history: %+v %v", a, h, err)
		}
	}
	balances(1_749_999, 1_250_001)

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"a word for an amount": {[]string{"lots", "--to", bob.Address().String()}, "amount \"lots\": want a positive BTT amount"},
		"a zero amount":        {[]string{"0", "--to", bob.Address().String()}, "amount \"0\": want a positive BTT amount"},
		"seven decimals":       {[]string{"0.0000001", "--to", bob.Address().String()}, "at most 6 decimals"},
		"no amount":            {[]string{"--to", bob.Address().String()}, "give the amount of BTT to send"},
		"no --to":              {[]string{"1"}, "give the account to send to with --to"},
		"a bad --to":           {[]string{"1", "--to", "Tnope"}, "--to \"Tnope\" is not a ledger address"},
		"itself":               {[]string{"1", "--to", k.Address().String()}, "--to is this wallet's own address"},
		"a long memo":          {[]string{"1", "--to", bob.Address().String(), "--memo", strings.Repeat("x", 141)}, "--memo: memo of 141 bytes, at most 140"},
	} {
		r := btspeed(t, env, "", append([]string{"ledger", "transfer"}, tc.args...)...)
		if r.code != exitFailure || !strings.Contains(r.err, tc.want) || r.out != "" {
			t.Errorf("%s: %d %q %q", name, r.code, r.out, r.err)
		}
	}
	r = btspeed(t, env, "", "ledger", "transfer", "2", "--to", bob.Address().String())
	if r.code == 0 || !strings.HasPrefix(r.err, "btspeed: your ledger balance is too low for this") || !strings.Contains(r.err, "\ncause: transfer refused: ledger: insufficient_funds") {
		t.Fatalf("an overdraft: %d %q %q", r.code, r.out, r.err)
	}
	balances(1_749_999, 1_250_001)
}
