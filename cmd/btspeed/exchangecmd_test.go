package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// btspeed ledger deposit and withdraw against a real ledger process whose
// exchange watches a TRON devnet process: the wallet deposits 10 BTT from
// its TRON address, then withdraws 4 to another address; both wait until
// done, and the balances on both sides show it. Bad amounts and
// overdrafts are refused with a message.
func TestLedgerDepositAndWithdraw(t *testing.T) {
	dir := t.TempDir()
	k, keystore := keystoreFile(t, dir, "w.json")
	// The exchange's own key (the ledger refuses the public development
	// key with a TRON node), holding its backing on TRON.
	ex, exKeystore := keystoreFile(t, dir, "exchange.json")
	bob, _ := wallet.GenerateKey()
	tron := ledgertest.StartWith(t, ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/tron-devnet")},
		"-data", filepath.Join(dir, "tron"), "-grpc", "127.0.0.1:0", "-block", "100ms",
		"-fund", k.Address().String()+":100:50,"+ex.Address().String()+":1000:100000000")
	node := "grpc://" + tron.Printed("tron devnet gRPC on ")
	lp := ledgertest.StartWith(t, ledgertest.Options{Env: []string{"BTSPEED_EXCHANGE_PASSWORD=password123"}},
		"-db", filepath.Join(dir, "l.db"), "-faucet-difficulty", "0", "-tron", node,
		"-exchange-key", exKeystore, "-exchange-backing", "100000000", "-tron-confirmations", "2", "-exchange-poll", "50ms")
	env := map[string]string{"BTSPEED_LEDGER": lp.URL, "BTSPEED_WALLET": keystore, "BTSPEED_PASSWORD": "password123", "BTSPEED_TRON": node}

	r := btspeed(t, env, "", "ledger", "deposit", "10")
	if r.code != 0 || !strings.Contains(r.out, "credited: 10.000000 BTT on the ledger") {
		t.Fatalf("deposit: %d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, env, "", "tron", "balance", k.Address().String())
	if r.code != 0 || !strings.HasSuffix(r.out, "\n40.000000 BTT\n") {
		t.Fatalf("TRON balance after the deposit: %d %q %q", r.code, r.out, r.err)
	}

	r = btspeed(t, env, "", "ledger", "withdraw", "4", "--to", bob.Address().String(), "--json")
	var w api.WithdrawalStatus
	if r.code != 0 || json.Unmarshal([]byte(r.out), &w) != nil || w.Status != api.WithdrawalDone || w.Amount != 4_000_000 || w.To != bob.Address() || w.TxID == "" {
		t.Fatalf("withdraw: %d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, env, "", "tron", "balance", bob.Address().String())
	if r.code != 0 || !strings.HasSuffix(r.out, "\n4.000000 BTT\n") {
		t.Fatalf("bob's TRON balance: %d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, env, "", "ledger", "balance")
	if r.code != 0 || r.out != "6.000000 BTT\n" {
		t.Fatalf("ledger balance: %d %q %q", r.code, r.out, r.err)
	}

	if r := btspeed(t, env, "", "ledger", "withdraw", "7"); r.code == 0 || !strings.HasPrefix(r.err, "btspeed: your ledger balance is too low") || !strings.Contains(r.err, "\ncause: withdrawal refused: ledger: insufficient_funds") {
		t.Fatalf("an overdraft: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, env, "", "ledger", "deposit", "lots"); r.code != 2 || !strings.Contains(r.err, "amount") {
		t.Fatalf("a bad amount: %d %q", r.code, r.err)
	}
	if r := btspeed(t, env, "", "ledger", "deposit", "100"); r.code == 0 || !strings.HasPrefix(r.err, "btspeed: TRON would not build this deposit of 100.000000 BTT") {
		t.Fatalf("a deposit above the TRON balance: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, env, "", "ledger", "withdraw", "1", "--to", "Tnope"); r.code != 2 || !strings.Contains(r.err, "--to") {
		t.Fatalf("a bad --to: %d %q", r.code, r.err)
	}
}
