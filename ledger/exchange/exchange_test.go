package exchange_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
)

const btt = "1002000"

// A TRC-10 BTT transfer to the exchange address credits the sender's
// ledger account once it has the confirmations, exactly once: a second
// scan, a scan from a cursor that lagged (a crash between the credit and
// the cursor), and a ledger reopened from its file credit nothing more.
// Transfers of another token, or to another address, credit nothing. The
// supply invariant holds with the deposit in it.
func TestDepositsFromTheDevnet(t *testing.T) {
	ctx := context.Background()
	alice, _ := wallet.GenerateKey()
	carol, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	clk := devnettest.NewClock(time.Unix(1_800_000_000, 0))
	dir := t.TempDir()
	chain, err := devnet.Open(devnet.Config{Path: filepath.Join(dir, "tron.db"), BlockInterval: time.Hour, Now: clk.Now,
		Asset:    devnet.Asset{ID: btt, Precision: 6},
		Accounts: []devnet.Account{{Address: alice.Address(), TRX: 100_000_000, Asset: 50_000_000}, {Address: carol.Address(), TRX: 100_000_000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	gc, _ := devnettest.Serve(t, chain)
	block := func() {
		clk.Add(3 * time.Second)
		if err := chain.MakeBlock(); err != nil {
			t.Fatal(err)
		}
	}

	dbPath := filepath.Join(dir, "ledger.db")
	l, err := server.Open(ctx, server.Config{ID: "btspeed-devnet", DB: dbPath, Genesis: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := exchange.New(exchange.Config{Ledger: l.Ledger, Node: gc, Address: exch.Address(), Token: btt, Confirmations: 2})
	if err != nil {
		t.Fatal(err)
	}
	devnettest.SendToken(t, gc, alice, exch.Address(), btt, 7_000_000)  // a deposit
	devnettest.SendToken(t, gc, alice, carol.Address(), btt, 1_000_000) // not to the exchange
	block()                                                             // block 1
	before, _ := l.Balance(ctx, alice.Address())
	if found, err := ex.Scan(ctx); err != nil || len(found) != 0 {
		t.Fatalf("a scan before any confirmation: %v %v", found, err)
	}
	block()
	block() // block 3: block 1 has two confirmations
	depositCreditedOnce(t, ctx, l, ex, before, alice.Address(), carol.Address())
	l.Close()

	// Reopened from its file: the same books, and no credit twice.
	l2, err := server.Open(ctx, server.Config{ID: "btspeed-devnet", DB: dbPath, Genesis: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	ex2, _ := exchange.New(exchange.Config{Ledger: l2.Ledger, Node: gc, Address: exch.Address(), Token: btt, Confirmations: 2})
	devnettest.SendToken(t, gc, alice, exch.Address(), btt, 500_000)
	block()
	block()
	block()
	found, err := ex2.Scan(ctx)
	if err != nil || len(found) != 1 || found[0].Amount != 500_000 {
		t.Fatalf("after reopening: %+v %v", found, err)
	}
	if b, _ := l2.Balance(ctx, alice.Address()); b != before+7_500_000 {
		t.Fatalf("alice's balance after reopening %d, want %d", b, before+7_500_000)
	}
	if inv, err := l2.Check(ctx); err != nil || !inv.OK {
		t.Fatalf("invariant after reopening: %+v %v", inv, err)
	}
}

// depositCreditedOnce scans the confirmed deposit of 7 BTT from alice
// (who had before on the ledger): credited to her, nothing to carol (not
// a deposit), and nothing more on a rescan or a scan from a cursor that
// lagged; the invariant holds with the deposit in it.
func depositCreditedOnce(t *testing.T, ctx context.Context, l *server.Ledger, ex *exchange.Exchange, before uint64, alice, carol wallet.Address) {
	t.Helper()
	found, err := ex.Scan(ctx)
	if err != nil || len(found) != 1 || found[0].Amount != 7_000_000 || found[0].From != alice || found[0].Already {
		t.Fatalf("the confirmed deposit: %+v %v", found, err)
	}
	if b, _ := l.Balance(ctx, alice); b != before+7_000_000 {
		t.Fatalf("alice's ledger balance %d, want %d", b, before+7_000_000)
	}
	if b, _ := l.Balance(ctx, carol); b != 0 {
		t.Fatalf("carol got %d on the ledger for a transfer that was not a deposit", b)
	}
	// A rescan, and a scan from a cursor that lagged.
	if found, err := ex.Scan(ctx); err != nil || len(found) != 0 {
		t.Fatalf("a second scan: %+v %v", found, err)
	}
	if err := l.SetTronCursor(ctx, 0); err != nil {
		t.Fatal(err)
	}
	found, err = ex.Scan(ctx)
	if err != nil || len(found) != 1 || !found[0].Already {
		t.Fatalf("a rescan: %+v %v", found, err)
	}
	if b, _ := l.Balance(ctx, alice); b != before+7_000_000 {
		t.Fatalf("alice's balance after a rescan %d, want %d", b, before+7_000_000)
	}
	inv, err := l.Check(ctx)
	if err != nil || !inv.OK {
		t.Fatalf("invariant: %+v %v", inv, err)
	}
	if d, _ := l.Deposited(ctx); d != 7_000_000 {
		t.Fatalf("deposited %d", d)
	}
}
