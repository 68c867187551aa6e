//go:build !js

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// An outsider cannot block withdrawals for everyone. Withdrawals to the
// exchange's own address, which TRON refuses to pay, are refused by the
// ledger (bad_recipient: 70 of them, more than the exchange's window of
// 64), and an account cannot queue more than 8 unfinished withdrawals
// (too_many_pending). A real user's withdrawal after all of them is paid,
// and the books and the reserve balance.
func TestNoWithdrawalBlocksTheOthers(t *testing.T) {
	ctx := context.Background()
	mallory, _ := wallet.GenerateKey()
	alice, _ := wallet.GenerateKey()
	r := newTronRig(t, mallory, alice)
	r.startLedger("")
	const total = 2000_000_000 // 1,000 BTT each on TRON at genesis
	accounts := []wallet.Address{mallory.Address(), alice.Address()}
	r.send(mallory, r.exchange, 100_000_000)
	r.send(alice, r.exchange, 10_000_000)
	r.mine(3)
	r.eventually("the deposits", func() bool {
		return r.onLedger(mallory.Address()) == 100_000_000 && r.onLedger(alice.Address()) == 10_000_000
	})

	try := func(to wallet.Address, nonce uint64) (api.WithdrawalStatus, error) {
		req, err := api.Withdrawal{Ledger: ledgerID, Account: mallory.Address(), To: to, Amount: 1_000_000, Nonce: nonce}.Sign(mallory)
		if err != nil {
			t.Fatal(err)
		}
		return r.lc.Withdraw(ctx, req)
	}
	nonce := malloryCannotBlockTheQueue(t, r, try, mallory.Address())

	w := r.withdraw(alice, alice.Address(), 5_000_000, 1)
	r.mineUntil("alice's withdrawal done", func() bool { return r.withdrawal(w.ID).Status == api.WithdrawalDone })
	if got := r.onTron(alice.Address()); got != 1000_000_000-10_000_000+5_000_000 {
		t.Fatalf("alice has %d BTT on TRON", got)
	}
	// Mallory's eight are paid too; then she may withdraw again.
	r.mineUntil("mallory's withdrawals paid", func() bool { return r.onTron(mallory.Address()) == 1000_000_000-100_000_000+8_000_000 })
	r.eventually("mallory's withdrawals done", func() bool {
		inv, err := r.lc.Invariant(ctx)
		r.mine(1)
		return err == nil && inv.Reserve != nil && inv.Reserve.Balance == inv.Reserve.Required
	})
	nonce++
	if _, err := try(mallory.Address(), nonce); err != nil {
		t.Fatalf("a withdrawal once the others are done: %v", err)
	}
	r.mineUntil("mallory's last withdrawal done", func() bool { return r.onTron(mallory.Address()) == 1000_000_000-100_000_000+9_000_000 })
	r.mine(3)
	r.eventually("nothing in flight", func() bool {
		inv, err := r.lc.Invariant(ctx)
		r.mine(1)
		return err == nil && inv.Reserve != nil && inv.Reserve.Balance == inv.Reserve.Required
	})
	r.settled("at the end", total, accounts...)
}

// malloryCannotBlockTheQueue has mallory (at addr, with 100 BTT on the
// ledger) try, through try, 70 withdrawals to the exchange's own address
// (each refused: bad_recipient, her balance untouched) and 9 unfinished
// ones to herself (the 9th refused: too_many_pending). It returns the last
// nonce used.
func malloryCannotBlockTheQueue(t *testing.T, r *tronRig, try func(wallet.Address, uint64) (api.WithdrawalStatus, error), addr wallet.Address) uint64 {
	t.Helper()
	nonce := uint64(0)
	for range 70 {
		nonce++
		if w, err := try(r.exchange, nonce); api.CodeOf(err) != api.CodeBadRecipient {
			t.Fatalf("withdrawal %d to the exchange's own address: %+v, %v; want code %s", nonce, w, err, api.CodeBadRecipient)
		}
	}
	if b := r.onLedger(addr); b != 100_000_000 {
		t.Fatalf("mallory has %d on the ledger after refused withdrawals, want 100000000", b)
	}
	// Unfinished withdrawals (no blocks are made meanwhile): 8 per account.
	for i := range 9 {
		nonce++
		_, err := try(addr, nonce)
		switch {
		case i < 8 && err != nil:
			t.Fatalf("withdrawal %d of 8: %v", i+1, err)
		case i == 8 && api.CodeOf(err) != api.CodeTooManyPending:
			t.Fatalf("a 9th unfinished withdrawal: %v; want code %s", err, api.CodeTooManyPending)
		}
	}

	return nonce
}

// The ledger refuses plaintext gRPC to a TRON node off this machine,
// naming the flag to set: whoever sits on the path could change what the
// exchange reads and is asked to sign.
func TestLedgerRefusesPlaintextGRPCToARemoteNode(t *testing.T) {
	dir := t.TempDir()
	k, _ := wallet.GenerateKey()
	ks, err := wallet.EncryptKeystore(k, []byte("pw"), wallet.LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "exchange.json")
	if err := os.WriteFile(keyFile, ks, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, tron, solidity string }{
		// 0.0.0.0 is not a loopback address (though Linux connects it to
		// this machine, so nothing leaves it if the ledger starts).
		{"-tron", "grpc://0.0.0.0:1", ""},
		{"-tron-solidity", "grpc://127.0.0.1:1", "grpc://0.0.0.0:1"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := []string{"-db", filepath.Join(dir, "l.db"), "-listen", "127.0.0.1:0", "-genesis", "none", "-tron", c.tron, "-exchange-key", keyFile}
		if c.solidity != "" {
			args = append(args, "-tron-solidity", c.solidity)
		}
		cmd := exec.CommandContext(ctx, ledgertest.Binary(t), args...)
		cmd.Env = append(os.Environ(), "BTSPEED_EXCHANGE_PASSWORD=pw")
		out, err := cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut || !strings.Contains(string(out), c.flag+" ") || !strings.Contains(string(out), "grpcs://") {
			t.Fatalf("%s %s: %v (timed out: %v)\n%s", c.flag, c.tron+c.solidity, err, timedOut, out)
		}
	}
}
