package exchange_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
	tronapi "github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
)

// refusingNode refuses to build transfers to the addresses in build, and
// to accept transactions paying the addresses in accept, as TRON refuses
// a transfer to oneself (or one its rules forbid) whatever the exchange
// does.
type refusingNode struct {
	exchange.Node
	build, accept wallet.Address
}

func (n *refusingNode) TransferAssetCtx(ctx context.Context, from, to, asset string, amount int64) (*tronapi.TransactionExtention, error) {
	if to == n.build.String() {
		return nil, errors.New("contract validate error : Cannot transfer asset to this account")
	}
	return n.Node.TransferAssetCtx(ctx, from, to, asset, amount)
}

func (n *refusingNode) BroadcastCtx(ctx context.Context, tx *core.Transaction) (*tronapi.Return, error) {
	var m core.TransferAssetContract
	if err := tx.GetRawData().GetContract()[0].GetParameter().UnmarshalTo(&m); err == nil && string(m.ToAddress) == string(n.accept[:]) {
		return &tronapi.Return{Code: tronapi.Return_CONTRACT_VALIDATE_ERROR, Message: []byte("refused")}, errors.New("result error: refused")
	}
	return n.Node.BroadcastCtx(ctx, tx)
}

// Withdrawals that TRON keeps refusing neither hold up the others nor stay
// forever: 66 that the node refuses to build and 2 whose transactions it
// refuses, queued first, and a real user's after them. The real one is
// paid within a few passes; each refused one fails after MaxRefusals
// refusals, not before its transaction (if it has one) has expired outside
// every block, and is refunded exactly once, as GET /v1/withdrawals/{id}
// and the account's history show; the books and the reserve still balance.
func TestRefusedWithdrawalsFailWithoutHoldingTheQueue(t *testing.T) {
	ctx := context.Background()
	bob, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	unbuildable, _ := wallet.GenerateKey()
	unacceptable, _ := wallet.GenerateKey()
	keys, _ := genesis.DevKeys()
	mallory, alice := keys[0], keys[1]
	clk := devnettest.NewClock(time.Unix(1_800_000_000, 0))
	dir := t.TempDir()
	const backing = 1_000_000_000
	chain, gc := openDevnet(t, dir, clk.Now, devnet.Account{Address: exch.Address(), TRX: 100_000_000, Asset: backing})
	l := openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Confirmations: 2, Backing: backing, MaxPending: 100, Devnet: true})
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	lc := client.New(srv.URL, nil)
	const maxRefusals = 8
	ex, err := exchange.New(exchange.Config{Ledger: l.Ledger, Node: &refusingNode{Node: gc, build: unbuildable.Address(), accept: unacceptable.Address()},
		Solidity: solidity(gc), Key: exch, Token: btt, Confirmations: 2, MaxRefusals: maxRefusals})
	if err != nil {
		t.Fatal(err)
	}
	l.SetReserve(ex.Reserve)

	malloryBefore, _ := l.Balance(ctx, mallory.Address())
	withdraw := func(k *wallet.PrivateKey, to wallet.Address, amount, nonce uint64) string {
		t.Helper()
		req, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: k.Address(), To: to, Amount: amount, Nonce: nonce}.Sign(k)
		w, err := lc.Withdraw(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return w.ID
	}
	var refused []string
	for i := range 68 {
		to := unbuildable.Address()
		if i >= 66 {
			to = unacceptable.Address()
		}
		refused = append(refused, withdraw(mallory, to, 1_000_000, uint64(i+1)))
	}
	real := withdraw(alice, bob.Address(), 3_000_000, 1)

	status := func(id string) api.WithdrawalStatus {
		t.Helper()
		w, err := lc.Withdrawal(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	pass := func() {
		clk.Add(3 * time.Second)
		if err := chain.MakeBlock(); err != nil {
			t.Fatal(err)
		}
		ex.Withdraw(ctx) // errors: the refusals
	}
	passes := 0
	for ; status(real).Status != api.WithdrawalDone; passes++ {
		if passes == 6 { // every other pass looks at it; 3 blocks for its transaction and the confirmations
			t.Fatalf("the real withdrawal is not done after %d passes: %+v", passes, status(real))
		}
		pass()
	}
	if _, got, _ := chain.Balance(bob.Address()); got != 3_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 3000000", got)
	}
	// 54 s in: the refused transactions, made in the second pass, could
	// still land, however many refusals they had, so those withdrawals
	// wait.
	for ; passes < 18; passes++ {
		pass()
	}
	for _, id := range refused[66:] {
		if w := status(id); w.Status != api.WithdrawalSent || w.Refusals < maxRefusals {
			t.Fatalf("a withdrawal whose transaction has not expired: %+v", w)
		}
	}

	for ; passes < 60; passes++ {
		pass()
	}
	for i, id := range refused {
		w := status(id)
		if w.Status != api.WithdrawalFailed || w.Refusals < maxRefusals || w.Error == "" {
			t.Fatalf("refused withdrawal %d: %+v", i, w)
		}
		if i < 66 && (w.TxID != "" || !strings.Contains(w.Error, "refused to build")) {
			t.Fatalf("a withdrawal the node never built: %+v", w)
		}
		if i >= 66 && (w.TxID == "" || w.Attempts < 1 || !strings.Contains(w.Error, "refused the transaction")) {
			t.Fatalf("a withdrawal whose transaction the node refused: %+v", w)
		}
	}
	// Refunded once each, also when asked again.
	if _, err := l.FailWithdrawal(ctx, mustID(t, refused[0])); err != nil {
		t.Fatal(err)
	}
	if b, _ := l.Balance(ctx, mallory.Address()); b != malloryBefore {
		t.Fatalf("mallory has %d after the refunds, want %d", b, malloryBefore)
	}
	es, err := lc.History(ctx, mallory.Address(), 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	refunds := map[string]int{}
	for _, e := range es {
		if e.Kind == "withdrawal-refund" {
			refunds[e.Ref]++
			if e.Credit != 1_000_000 {
				t.Fatalf("a refund of %d: %+v", e.Credit, e)
			}
		}
	}
	for _, id := range refused {
		if refunds[id] != 1 {
			t.Fatalf("withdrawal %s refunded %d times", id, refunds[id])
		}
	}
	if len(refunds) != len(refused) {
		t.Fatalf("%d refunds for %d failed withdrawals", len(refunds), len(refused))
	}
	if p, _ := l.PendingWithdrawals(ctx, 0, 100); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	inv, err := l.CheckAll(ctx)
	if err != nil || !inv.OK || inv.Withdrawn != 3_000_000 || inv.Reserve == nil || !inv.Reserve.OK || inv.Reserve.Balance != inv.Reserve.Required {
		t.Fatalf("invariant %+v reserve %+v: %v", inv, inv.Reserve, err)
	}
}
