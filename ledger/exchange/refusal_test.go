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
	"github.com/btspeed/btspeed/ledger/server"
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
	r := newRefusalRig(t)
	ctx, l := r.ctx, r.l
	malloryBefore, _ := l.Balance(ctx, r.mallory.Address())
	var refused []string
	for i := range 68 {
		to := r.unbuildable
		if i >= 66 {
			to = r.unacceptable
		}
		refused = append(refused, r.withdraw(r.mallory, to, 1_000_000, uint64(i+1)))
	}
	real := r.withdraw(r.alice, r.bob, 3_000_000, 1)

	r.realPaidWithinSixPasses(real)
	// 54 s in: the refused transactions, made in the second pass, could
	// still land, however many refusals they had, so those withdrawals
	// wait.
	for ; r.passes < 18; r.passes++ {
		r.pass()
	}
	for _, id := range refused[66:] {
		if w := r.status(id); w.Status != api.WithdrawalSent || w.Refusals < refusalMax {
			t.Fatalf("a withdrawal whose transaction has not expired: %+v", w)
		}
	}
	for ; r.passes < 60; r.passes++ {
		r.pass()
	}
	r.refusedFailed(refused)
	r.refundedOnceEach(refused, malloryBefore)
	if p, _ := l.PendingWithdrawals(ctx, 0, 100); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	inv, err := l.CheckAll(ctx)
	if err != nil || !inv.OK || inv.Withdrawn != 3_000_000 || inv.Reserve == nil || !inv.Reserve.OK || inv.Reserve.Balance != inv.Reserve.Required {
		t.Fatalf("invariant %+v reserve %+v: %v", inv, inv.Reserve, err)
	}
}

// refusalMax is the exchange's MaxRefusals in
// TestRefusedWithdrawalsFailWithoutHoldingTheQueue.
const refusalMax = 8

// refusalRig is TestRefusedWithdrawalsFailWithoutHoldingTheQueue's world:
// a devnet on a fake clock, a ledger served over HTTP with an exchange
// whose node refuses to build transfers to unbuildable and to accept
// transactions paying unacceptable; mallory and alice (genesis accounts)
// and bob; and how many passes the exchange made.
type refusalRig struct {
	t                              *testing.T
	ctx                            context.Context
	clk                            *devnettest.Clock
	chain                          *devnet.Chain
	l                              *server.Ledger
	lc                             *client.Client
	ex                             *exchange.Exchange
	mallory, alice                 *wallet.PrivateKey
	bob, unbuildable, unacceptable wallet.Address
	passes                         int
}

// newRefusalRig opens the devnet, the exchange funded on it with its
// backing, and the ledger, served over HTTP until t ends.
func newRefusalRig(t *testing.T) *refusalRig {
	r := &refusalRig{t: t, ctx: context.Background()}
	bob, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	unbuildable, _ := wallet.GenerateKey()
	unacceptable, _ := wallet.GenerateKey()
	r.bob, r.unbuildable, r.unacceptable = bob.Address(), unbuildable.Address(), unacceptable.Address()
	keys, _ := genesis.DevKeys()
	r.mallory, r.alice = keys[0], keys[1]
	r.clk = devnettest.NewClock(time.Unix(1_800_000_000, 0))
	dir := t.TempDir()
	const backing = 1_000_000_000
	chain, gc := openDevnet(t, dir, r.clk.Now, devnet.Account{Address: exch.Address(), TRX: 100_000_000, Asset: backing})
	r.chain = chain
	r.l = openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Confirmations: 2, Backing: backing, MaxPending: 100, Devnet: true})
	srv := httptest.NewServer(r.l.Handler())
	t.Cleanup(srv.Close)
	r.lc = client.New(srv.URL, nil)
	ex, err := exchange.New(exchange.Config{Ledger: r.l.Ledger, Node: &refusingNode{Node: gc, build: r.unbuildable, accept: r.unacceptable},
		Solidity: solidity(gc), Key: exch, Token: btt, Confirmations: 2, MaxRefusals: refusalMax})
	if err != nil {
		t.Fatal(err)
	}
	r.ex = ex
	r.l.SetReserve(ex.Reserve)
	return r
}

// withdraw asks, through the HTTP API, for a withdrawal signed by k and
// returns its id.
func (r *refusalRig) withdraw(k *wallet.PrivateKey, to wallet.Address, amount, nonce uint64) string {
	r.t.Helper()
	req, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: k.Address(), To: to, Amount: amount, Nonce: nonce}.Sign(k)
	w, err := r.lc.Withdraw(r.ctx, req)
	if err != nil {
		r.t.Fatal(err)
	}
	return w.ID
}

// status is withdrawal id as GET /v1/withdrawals/{id} shows it.
func (r *refusalRig) status(id string) api.WithdrawalStatus {
	r.t.Helper()
	w, err := r.lc.Withdrawal(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

// pass makes a block 3 s on and lets the exchange make a withdrawal pass.
func (r *refusalRig) pass() {
	r.clk.Add(3 * time.Second)
	if err := r.chain.MakeBlock(); err != nil {
		r.t.Fatal(err)
	}
	r.ex.Withdraw(r.ctx) // errors: the refusals
}

// realPaidWithinSixPasses checks the real withdrawal is done, and bob
// paid on TRON, within 6 passes: every other pass looks at it; 3 blocks
// for its transaction and the confirmations.
func (r *refusalRig) realPaidWithinSixPasses(real string) {
	t := r.t
	for ; r.status(real).Status != api.WithdrawalDone; r.passes++ {
		if r.passes == 6 { // every other pass looks at it; 3 blocks for its transaction and the confirmations
			t.Fatalf("the real withdrawal is not done after %d passes: %+v", r.passes, r.status(real))
		}
		r.pass()
	}
	if _, got, _ := r.chain.Balance(r.bob); got != 3_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 3000000", got)
	}
}

// refusedFailed checks every refused withdrawal failed after refusalMax
// refusals, saying why: the first 66 never built, the other 2 built and
// refused.
func (r *refusalRig) refusedFailed(refused []string) {
	t := r.t
	for i, id := range refused {
		w := r.status(id)
		if w.Status != api.WithdrawalFailed || w.Refusals < refusalMax || w.Error == "" {
			t.Fatalf("refused withdrawal %d: %+v", i, w)
		}
		if i < 66 && (w.TxID != "" || !strings.Contains(w.Error, "refused to build")) {
			t.Fatalf("a withdrawal the node never built: %+v", w)
		}
		if i >= 66 && (w.TxID == "" || w.Attempts < 1 || !strings.Contains(w.Error, "refused the transaction")) {
			t.Fatalf("a withdrawal whose transaction the node refused: %+v", w)
		}
	}
}

// refundedOnceEach checks the refused withdrawals were refunded once
// each, also when asked again: mallory has what she had before them, and
// her history one refund per withdrawal.
func (r *refusalRig) refundedOnceEach(refused []string, malloryBefore uint64) {
	t, ctx, l := r.t, r.ctx, r.l
	if _, err := l.FailWithdrawal(ctx, mustID(t, refused[0])); err != nil {
		t.Fatal(err)
	}
	if b, _ := l.Balance(ctx, r.mallory.Address()); b != malloryBefore {
		t.Fatalf("mallory has %d after the refunds, want %d", b, malloryBefore)
	}
	es, err := r.lc.History(ctx, r.mallory.Address(), 0, 500)
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
}
