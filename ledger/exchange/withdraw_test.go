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
	ctx := context.Background()
	alice, _ := wallet.GenerateKey()
	bob, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	clk := devnettest.NewClock(time.Unix(1_800_000_000, 0))
	dir := t.TempDir()
	const backing = 20_000_000
	tronCfg := devnet.Config{Path: filepath.Join(dir, "tron.db"), BlockInterval: time.Hour, Now: clk.Now,
		Asset: devnet.Asset{ID: btt, Precision: 6},
		Accounts: []devnet.Account{{Address: alice.Address(), TRX: 100_000_000, Asset: 50_000_000},
			{Address: exch.Address(), TRX: 100_000_000, Asset: backing}}}
	chain, err := devnet.Open(tronCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { chain.Close() }()
	gc, _ := devnettest.Serve(t, chain)
	block := func(n int) {
		t.Helper()
		for range n {
			clk.Add(3 * time.Second)
			if err := chain.MakeBlock(); err != nil {
				t.Fatal(err)
			}
		}
	}

	l := openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Confirmations: 2, Backing: backing, Devnet: true})
	var steps []string
	ex, err := exchange.New(exchange.Config{Ledger: l.Ledger, Node: gc, Solidity: solidity(gc), Key: exch, Token: btt, Confirmations: 2,
		Step: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	l.SetReserve(ex.Reserve)
	checkAll := func(when string) api.Invariant {
		t.Helper()
		inv, err := l.CheckAll(ctx)
		if err != nil || !inv.OK || inv.Reserve == nil || !inv.Reserve.OK {
			t.Fatalf("%s: invariant %+v reserve %+v: %v", when, inv, inv.Reserve, err)
		}
		return inv
	}
	checkAll("at the start")

	// Alice deposits 10 BTT and withdraws 4 to Bob's TRON address.
	devnettest.SendToken(t, gc, alice, exch.Address(), btt, 10_000_000)
	block(3)
	if _, err := ex.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := l.Balance(ctx, alice.Address())
	req, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: alice.Address(), To: bob.Address(), Amount: 4_000_000, Nonce: 1}.Sign(alice)
	w, err := l.Withdraw(ctx, req)
	if err != nil || w.Status != api.WithdrawalQueued {
		t.Fatalf("withdraw: %+v %v", w, err)
	}
	if again, err := l.Withdraw(ctx, req); err != nil || again.ID != w.ID {
		t.Fatalf("a retry: %+v %v", again, err)
	}
	if b, _ := l.Balance(ctx, alice.Address()); b != before-4_000_000 {
		t.Fatalf("alice's balance %d after withdrawing, want %d", b, before-4_000_000)
	}
	inv := checkAll("after the request")
	if inv.Withdrawn != 4_000_000 || inv.Deposited != 10_000_000 || inv.Reserve.Required != backing+6_000_000 {
		t.Fatalf("totals: %+v %+v", inv, inv.Reserve)
	}

	// Refused: a replayed nonce, a bad signature, more than the reserve backs.
	req2, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: alice.Address(), To: alice.Address(), Amount: 2_000_000, Nonce: 1}.Sign(alice)
	if _, err := l.Withdraw(ctx, req2); api.CodeOf(err) != api.CodeNonceUsed {
		t.Fatalf("a used nonce: %v", err)
	}
	bad := req2
	bad.Nonce = 2
	if _, err := l.Withdraw(ctx, bad); api.CodeOf(err) != api.CodeBadSignature {
		t.Fatalf("a bad signature: %v", err)
	}
	keys, _ := genesis.DevKeys()
	big, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: keys[0].Address(), To: bob.Address(), Amount: backing + 6_000_001, Nonce: 1}.Sign(keys[0])
	if _, err := l.Withdraw(ctx, big); api.CodeOf(err) != api.CodeReserve {
		t.Fatalf("more than the reserve backs: %v", err)
	}

	// The exchange signs, records, broadcasts; the devnet restarts before a
	// block and forgets its pool; the exchange broadcasts the same
	// transaction again.
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	id := mustID(t, w.ID)
	sent, _ := l.Withdrawal(ctx, id)
	if sent.Status != api.WithdrawalSent || sent.TxID == "" || sent.Attempts != 1 {
		t.Fatalf("after a pass: %+v", sent)
	}
	if want := []string{exchange.StepDepositSeen, exchange.StepDepositCredited, exchange.StepWithdrawSigned, exchange.StepWithdrawRecorded, exchange.StepWithdrawBroadcast}; !equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	chain.Close()
	if chain, err = devnet.Open(tronCfg); err != nil {
		t.Fatal(err)
	}
	gc, _ = devnettest.Serve(t, chain)
	ex, _ = exchange.New(exchange.Config{Ledger: l.Ledger, Node: gc, Solidity: solidity(gc), Key: exch, Token: btt, Confirmations: 2})
	l.SetReserve(ex.Reserve)
	block(1)
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Withdrawal(ctx, id); again.TxID != sent.TxID || again.Attempts != 1 {
		t.Fatalf("the rebroadcast changed the transaction: %+v", again)
	}
	block(1) // the transaction lands
	if _, _, ok := chain.Balance(bob.Address()); !ok {
		t.Fatal("bob has no TRON account after the withdrawal's block")
	}
	checkAll("landed, not confirmed")
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Withdrawal(ctx, id); got.Status != api.WithdrawalSent {
		t.Fatalf("done before the confirmations: %+v", got)
	}
	block(2)
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	done, _ := l.Withdrawal(ctx, id)
	if done.Status != api.WithdrawalDone || done.Block == 0 || done.TxID != sent.TxID {
		t.Fatalf("after the confirmations: %+v", done)
	}
	if _, asset, _ := chain.Balance(bob.Address()); asset != 4_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 4000000", asset)
	}
	if p, _ := l.PendingWithdrawals(ctx, 0, 10); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	inv = checkAll("done")
	if inv.Reserve.Balance != inv.Reserve.Required {
		t.Fatalf("reserve %d, required %d: nothing should be in flight", inv.Reserve.Balance, inv.Reserve.Required)
	}

	// A transaction that never reaches a node (lost between the record and
	// the broadcast, and the node restarted) expires; only then does the
	// exchange make a new one, and Bob is paid once.
	req3, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: alice.Address(), To: bob.Address(), Amount: 1_000_000, Nonce: 2}.Sign(alice)
	w3, err := l.Withdraw(ctx, req3)
	if err != nil {
		t.Fatal(err)
	}
	id3 := mustID(t, w3.ID)
	ex.Withdraw(ctx)
	first, _ := l.Withdrawal(ctx, id3)
	chain.Close()
	if chain, err = devnet.Open(tronCfg); err != nil {
		t.Fatal(err)
	}
	gc, _ = devnettest.Serve(t, chain)
	lost := &dropBroadcasts{Node: gc, drop: true}
	ex, _ = exchange.New(exchange.Config{Ledger: l.Ledger, Node: lost, Solidity: solidity(gc), Key: exch, Token: btt, Confirmations: 2})
	for range 5 { // 15 s of blocks: not expired yet, and never broadcast
		block(1)
		if err := ex.Withdraw(ctx); err == nil {
			t.Fatal("a lost broadcast was not reported")
		}
		if got, _ := l.Withdrawal(ctx, id3); got.TxID != first.TxID {
			t.Fatalf("replaced before it expired: %+v", got)
		}
	}
	clk.Add(time.Minute)
	block(1)
	lost.drop = false
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	second, _ := l.Withdrawal(ctx, id3)
	if second.TxID == first.TxID || second.Attempts != 2 {
		t.Fatalf("after expiring: %+v (first %s)", second, first.TxID)
	}
	block(3)
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Withdrawal(ctx, id3); got.Status != api.WithdrawalDone {
		t.Fatalf("the replacement: %+v", got)
	}
	if _, asset, _ := chain.Balance(bob.Address()); asset != 5_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 5000000", asset)
	}
	l.SetReserve(ex.Reserve)
	inv = checkAll("at the end")
	if inv.Reserve.Balance != inv.Reserve.Required || inv.Reserve.Balance != backing+10_000_000-5_000_000 {
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
