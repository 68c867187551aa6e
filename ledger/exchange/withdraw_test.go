package exchange_test

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	tronapi "github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
)

// A signed withdrawal debits the ledger at once and the exchange pays it on
// TRON exactly once: the transaction is recorded before it is broadcast,
// broadcast again when the node lost it (a restarted devnet forgets its
// pool), replaced only after it expired outside any block, and marked done
// after the confirmations. The reserve covers what the ledger owes all
// along, and withdrawals never take more than the reserve backs.
func TestWithdrawalsToTheDevnet(t *testing.T) {
	r := openWithdrawRig(t)
	defer func() { r.chain.Close() }()
	r.start()
	w := r.aliceWithdrawsToBob()
	r.refusesReplaysForgeriesAndMoreThanBacked()
	r.rebroadcastsAfterRestartUntilDone(w)
	r.replacesOnlyOnceExpired()
}

// withdrawBacking is what the exchange's TRON account holds at the start
// of TestWithdrawalsToTheDevnet, backing the genesis.
const withdrawBacking = 20_000_000

// withdrawRig is TestWithdrawalsToTheDevnet's world: a devnet on a fake
// clock that makes blocks when asked, a ledger with an exchange to it, and
// the keys of Alice, Bob and the exchange. chain, gc and ex change when
// the devnet restarts.
type withdrawRig struct {
	t                *testing.T
	ctx              context.Context
	alice, bob, exch *wallet.PrivateKey
	clk              *devnettest.Clock
	dir              string // the devnet's and the ledger's
	tronCfg          devnet.Config
	chain            *devnet.Chain
	gc               *client.GrpcClient
	l                *server.Ledger
	ex               *exchange.Exchange
	steps            []string // what the first exchange did, in order
}

// openWithdrawRig opens the devnet, Alice and the exchange funded on it.
func openWithdrawRig(t *testing.T) *withdrawRig {
	r := &withdrawRig{t: t, ctx: context.Background()}
	r.alice, _ = wallet.GenerateKey()
	r.bob, _ = wallet.GenerateKey()
	r.exch, _ = wallet.GenerateKey()
	r.clk = devnettest.NewClock(time.Unix(1_800_000_000, 0))
	r.dir = t.TempDir()
	r.tronCfg = devnet.Config{Path: filepath.Join(r.dir, "tron.db"), BlockInterval: time.Hour, Now: r.clk.Now,
		Asset: devnet.Asset{ID: btt, Precision: 6},
		Accounts: []devnet.Account{{Address: r.alice.Address(), TRX: 100_000_000, Asset: 50_000_000},
			{Address: r.exch.Address(), TRX: 100_000_000, Asset: withdrawBacking}}}
	var err error
	if r.chain, err = devnet.Open(r.tronCfg); err != nil {
		t.Fatal(err)
	}
	return r
}

// start serves the devnet and opens the ledger and the exchange, recording
// its steps; the invariant holds.
func (r *withdrawRig) start() {
	t := r.t
	r.gc, _ = devnettest.Serve(t, r.chain)
	r.l = openLedger(t, r.dir, &ledger.Exchange{Address: r.exch.Address(), Token: btt, Confirmations: 2, Backing: withdrawBacking, Devnet: true})
	var err error
	r.ex, err = exchange.New(exchange.Config{Ledger: r.l.Ledger, Node: r.gc, Solidity: solidity(r.gc), Key: r.exch, Token: btt, Confirmations: 2,
		Step: func(s string) { r.steps = append(r.steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	r.l.SetReserve(r.ex.Reserve)
	r.checkAll("at the start")
}

// block makes n blocks, 3 s apart.
func (r *withdrawRig) block(n int) {
	r.t.Helper()
	for range n {
		r.clk.Add(3 * time.Second)
		if err := r.chain.MakeBlock(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// checkAll fails the test unless the ledger's invariant and the reserve
// hold; when says at which point.
func (r *withdrawRig) checkAll(when string) api.Invariant {
	r.t.Helper()
	inv, err := r.l.CheckAll(r.ctx)
	if err != nil || !inv.OK || inv.Reserve == nil || !inv.Reserve.OK {
		r.t.Fatalf("%s: invariant %+v reserve %+v: %v", when, inv, inv.Reserve, err)
	}
	return inv
}

// restartDevnet closes the devnet, which forgets its pool, and opens and
// serves it again.
func (r *withdrawRig) restartDevnet() {
	r.t.Helper()
	r.chain.Close()
	var err error
	if r.chain, err = devnet.Open(r.tronCfg); err != nil {
		r.t.Fatal(err)
	}
	r.gc, _ = devnettest.Serve(r.t, r.chain)
}

// aliceWithdrawsToBob: Alice deposits 10 BTT and withdraws 4 to Bob's
// TRON address; the ledger debits her at once, a retry is the same
// withdrawal. It returns the withdrawal's id.
func (r *withdrawRig) aliceWithdrawsToBob() string {
	t, ctx, l := r.t, r.ctx, r.l
	devnettest.SendToken(t, r.gc, r.alice, r.exch.Address(), btt, 10_000_000)
	r.block(3)
	if _, err := r.ex.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := l.Balance(ctx, r.alice.Address())
	req, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: r.alice.Address(), To: r.bob.Address(), Amount: 4_000_000, Nonce: 1}.Sign(r.alice)
	w, err := l.Withdraw(ctx, req)
	if err != nil || w.Status != api.WithdrawalQueued {
		t.Fatalf("withdraw: %+v %v", w, err)
	}
	if again, err := l.Withdraw(ctx, req); err != nil || again.ID != w.ID {
		t.Fatalf("a retry: %+v %v", again, err)
	}
	if b, _ := l.Balance(ctx, r.alice.Address()); b != before-4_000_000 {
		t.Fatalf("alice's balance %d after withdrawing, want %d", b, before-4_000_000)
	}
	inv := r.checkAll("after the request")
	if inv.Withdrawn != 4_000_000 || inv.Deposited != 10_000_000 || inv.Reserve.Required != withdrawBacking+6_000_000 {
		t.Fatalf("totals: %+v %+v", inv, inv.Reserve)
	}
	return w.ID
}

// refusesReplaysForgeriesAndMoreThanBacked: refused, a replayed nonce, a
// bad signature, more than the reserve backs.
func (r *withdrawRig) refusesReplaysForgeriesAndMoreThanBacked() {
	t, ctx, l := r.t, r.ctx, r.l
	req2, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: r.alice.Address(), To: r.alice.Address(), Amount: 2_000_000, Nonce: 1}.Sign(r.alice)
	if _, err := l.Withdraw(ctx, req2); api.CodeOf(err) != api.CodeNonceUsed {
		t.Fatalf("a used nonce: %v", err)
	}
	bad := req2
	bad.Nonce = 2
	if _, err := l.Withdraw(ctx, bad); api.CodeOf(err) != api.CodeBadSignature {
		t.Fatalf("a bad signature: %v", err)
	}
	keys, _ := genesis.DevKeys()
	big, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: keys[0].Address(), To: r.bob.Address(), Amount: withdrawBacking + 6_000_001, Nonce: 1}.Sign(keys[0])
	if _, err := l.Withdraw(ctx, big); api.CodeOf(err) != api.CodeReserve {
		t.Fatalf("more than the reserve backs: %v", err)
	}
}

// rebroadcastsAfterRestartUntilDone: the exchange signs, records,
// broadcasts withdrawal wID; the devnet restarts before a block and
// forgets its pool; the exchange broadcasts the same transaction again,
// and marks it done only after the confirmations.
func (r *withdrawRig) rebroadcastsAfterRestartUntilDone(wID string) {
	t, ctx, l := r.t, r.ctx, r.l
	if err := r.ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	id := mustID(t, wID)
	sent, _ := l.Withdrawal(ctx, id)
	if sent.Status != api.WithdrawalSent || sent.TxID == "" || sent.Attempts != 1 {
		t.Fatalf("after a pass: %+v", sent)
	}
	if want := []string{exchange.StepDepositSeen, exchange.StepDepositCredited, exchange.StepWithdrawSigned, exchange.StepWithdrawRecorded, exchange.StepWithdrawBroadcast}; !equal(r.steps, want) {
		t.Fatalf("steps %v, want %v", r.steps, want)
	}
	r.restartDevnet()
	r.ex, _ = exchange.New(exchange.Config{Ledger: l.Ledger, Node: r.gc, Solidity: solidity(r.gc), Key: r.exch, Token: btt, Confirmations: 2})
	l.SetReserve(r.ex.Reserve)
	r.block(1)
	if err := r.ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Withdrawal(ctx, id); again.TxID != sent.TxID || again.Attempts != 1 {
		t.Fatalf("the rebroadcast changed the transaction: %+v", again)
	}
	r.block(1) // the transaction lands
	if _, _, ok := r.chain.Balance(r.bob.Address()); !ok {
		t.Fatal("bob has no TRON account after the withdrawal's block")
	}
	r.checkAll("landed, not confirmed")
	if err := r.ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Withdrawal(ctx, id); got.Status != api.WithdrawalSent {
		t.Fatalf("done before the confirmations: %+v", got)
	}
	r.block(2)
	if err := r.ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	done, _ := l.Withdrawal(ctx, id)
	if done.Status != api.WithdrawalDone || done.Block == 0 || done.TxID != sent.TxID {
		t.Fatalf("after the confirmations: %+v", done)
	}
	if _, asset, _ := r.chain.Balance(r.bob.Address()); asset != 4_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 4000000", asset)
	}
	if p, _ := l.PendingWithdrawals(ctx, 0, 10); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	inv := r.checkAll("done")
	if inv.Reserve.Balance != inv.Reserve.Required {
		t.Fatalf("reserve %d, required %d: nothing should be in flight", inv.Reserve.Balance, inv.Reserve.Required)
	}
}

// replacesOnlyOnceExpired: a transaction that never reaches a node (lost
// between the record and the broadcast, and the node restarted) expires;
// only then does the exchange make a new one, and Bob is paid once.
func (r *withdrawRig) replacesOnlyOnceExpired() {
	t, ctx, l := r.t, r.ctx, r.l
	req3, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: r.alice.Address(), To: r.bob.Address(), Amount: 1_000_000, Nonce: 2}.Sign(r.alice)
	w3, err := l.Withdraw(ctx, req3)
	if err != nil {
		t.Fatal(err)
	}
	id3 := mustID(t, w3.ID)
	r.ex.Withdraw(ctx)
	first, _ := l.Withdrawal(ctx, id3)
	r.restartDevnet()
	lost := &dropBroadcasts{Node: r.gc, drop: true}
	r.ex, _ = exchange.New(exchange.Config{Ledger: l.Ledger, Node: lost, Solidity: solidity(r.gc), Key: r.exch, Token: btt, Confirmations: 2})
	for range 5 { // 15 s of blocks: not expired yet, and never broadcast
		r.block(1)
		if err := r.ex.Withdraw(ctx); err == nil {
			t.Fatal("a lost broadcast was not reported")
		}
		if got, _ := l.Withdrawal(ctx, id3); got.TxID != first.TxID {
			t.Fatalf("replaced before it expired: %+v", got)
		}
	}
	r.clk.Add(time.Minute)
	r.block(1)
	lost.drop = false
	if err := r.ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	second, _ := l.Withdrawal(ctx, id3)
	if second.TxID == first.TxID || second.Attempts != 2 {
		t.Fatalf("after expiring: %+v (first %s)", second, first.TxID)
	}
	r.block(3)
	if err := r.ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Withdrawal(ctx, id3); got.Status != api.WithdrawalDone {
		t.Fatalf("the replacement: %+v", got)
	}
	if _, asset, _ := r.chain.Balance(r.bob.Address()); asset != 5_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 5000000", asset)
	}
	l.SetReserve(r.ex.Reserve)
	inv := r.checkAll("at the end")
	if inv.Reserve.Balance != inv.Reserve.Required || inv.Reserve.Balance != withdrawBacking+10_000_000-5_000_000 {
		t.Fatalf("reserve %+v", inv.Reserve)
	}
}

// dropBroadcasts loses broadcasts while drop is set, as a crash between the
// record and the broadcast would.
type dropBroadcasts struct {
	exchange.Node
	drop bool
}

func (d *dropBroadcasts) BroadcastCtx(ctx context.Context, tx *core.Transaction) (*tronapi.Return, error) {
	if d.drop {
		return nil, errors.New("dropped")
	}
	return d.Node.BroadcastCtx(ctx, tx)
}

// solidity is the devnet's solidity API, served beside gc's.
func solidity(gc *client.GrpcClient) tronapi.WalletSolidityClient {
	return tronapi.NewWalletSolidityClient(gc.Conn)
}

func mustID(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("withdrawal id %q", s)
	}
	return [32]byte(b)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lyingNode builds a transfer to another address than asked.
type lyingNode struct {
	exchange.Node
	to wallet.Address
}

func (n *lyingNode) TransferAssetCtx(ctx context.Context, from, _, asset string, amount int64) (*tronapi.TransactionExtention, error) {
	return n.Node.TransferAssetCtx(ctx, from, n.to.String(), asset, amount)
}

// The exchange signs only the transfer it asked the node for: a node that
// builds something else gets nothing signed, and nothing is recorded.
func TestWithdrawalRefusesWhatTheNodeChanged(t *testing.T) {
	ctx := context.Background()
	alice, _ := wallet.GenerateKey()
	mallory, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	dir := t.TempDir()
	_, gc := openDevnet(t, dir, nil, devnet.Account{Address: exch.Address(), TRX: 100_000_000, Asset: 10_000_000})
	l := openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Backing: 10_000_000, Devnet: true})
	w := queueDevWithdrawal(t, l, alice.Address())
	ex, _ := exchange.New(exchange.Config{Ledger: l.Ledger, Node: &lyingNode{Node: gc, to: mallory.Address()}, Solidity: solidity(gc), Key: exch, Token: btt})
	if err := ex.Withdraw(ctx); err == nil || !strings.Contains(err.Error(), "refusing to sign") {
		t.Fatalf("a changed recipient: %v", err)
	}
	if got, _ := l.Withdrawal(ctx, mustID(t, w.ID)); got.Status != api.WithdrawalQueued || got.TxID != "" {
		t.Fatalf("after a refused build: %+v", got)
	}
}
