package exchange_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
	tronapi "github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// wrongTxid builds the right transfer but gives it another txid, and
// counts the broadcasts it gets.
type wrongTxid struct {
	exchange.Node
	broadcasts int
}

func (n *wrongTxid) TransferAssetCtx(ctx context.Context, from, to, asset string, amount int64) (*tronapi.TransactionExtention, error) {
	ext, err := n.Node.TransferAssetCtx(ctx, from, to, asset, amount)
	if err == nil {
		ext.Txid[0] ^= 1
	}
	return ext, err
}

func (n *wrongTxid) BroadcastCtx(ctx context.Context, tx *core.Transaction) (*tronapi.Return, error) {
	n.broadcasts++
	return n.Node.BroadcastCtx(ctx, tx)
}

// The exchange signs nothing for a node whose txid is not the hash of the
// raw data it built.
func TestWithdrawalRefusesAWrongTxid(t *testing.T) {
	ctx := context.Background()
	bob, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	dir := t.TempDir()
	chain, gc := openDevnet(t, dir, nil, devnet.Account{Address: exch.Address(), TRX: 100_000_000, Asset: 10_000_000})
	l := openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Backing: 10_000_000, Devnet: true})
	w := queueDevWithdrawal(t, l, bob.Address())
	if err := chain.MakeBlock(); err != nil { // a head block to expire after
		t.Fatal(err)
	}
	node := &wrongTxid{Node: gc}
	ex, _ := exchange.New(exchange.Config{Ledger: l.Ledger, Node: node, Solidity: solidity(gc), Key: exch, Token: btt})
	if err := ex.Withdraw(ctx); err == nil || !strings.Contains(err.Error(), "refusing to sign") || !strings.Contains(err.Error(), "txid") {
		t.Fatalf("a wrong txid: %v", err)
	}
	if got, _ := l.Withdrawal(ctx, mustID(t, w.ID)); got.Status != api.WithdrawalQueued || got.TxID != "" || node.broadcasts != 0 {
		t.Fatalf("after a wrong txid: %+v, %d broadcasts", got, node.broadcasts)
	}
}

// laggingNode is a full node behind the chain: it knows of no transaction
// in a block while lag is set.
type laggingNode struct {
	exchange.Node
	lag bool
}

func (n *laggingNode) GetTransactionInfoByIDCtx(ctx context.Context, id string) (*core.TransactionInfo, error) {
	if n.lag {
		return nil, errors.New("transaction info not found")
	}
	return n.Node.GetTransactionInfoByIDCtx(ctx, id)
}

// staleSolidity is a solidity node whose newest solidified block is the
// genesis while stale is set.
type staleSolidity struct {
	tronapi.WalletSolidityClient
	stale bool
}

func (s *staleSolidity) GetNowBlock2(ctx context.Context, in *tronapi.EmptyMessage, opts ...grpc.CallOption) (*tronapi.BlockExtention, error) {
	if s.stale {
		return s.GetBlockByNum2(ctx, &tronapi.NumberMessage{Num: 0}, opts...)
	}
	return s.WalletSolidityClient.GetNowBlock2(ctx, in, opts...)
}

func (s *staleSolidity) GetTransactionInfoById(ctx context.Context, in *tronapi.BytesMessage, opts ...grpc.CallOption) (*core.TransactionInfo, error) {
	if s.stale {
		return &core.TransactionInfo{}, nil
	}
	return s.WalletSolidityClient.GetTransactionInfoById(ctx, in, opts...)
}

func (s *staleSolidity) GetTransactionById(ctx context.Context, in *tronapi.BytesMessage, opts ...grpc.CallOption) (*core.Transaction, error) {
	if s.stale {
		return &core.Transaction{}, nil
	}
	return s.WalletSolidityClient.GetTransactionById(ctx, in, opts...)
}

// A full node that lags and answers "not found" for a withdrawal's
// transaction that did land, after it expired, does not make the exchange
// pay again: it replaces a transaction only when the solidity node's
// chain has passed the expiration without it. While the solidity node is
// behind too, the exchange waits; once it has caught up, it finds the
// transaction and the withdrawal is done, paid once.
func TestLaggingNodeCannotMakeTheExchangePayTwice(t *testing.T) {
	ctx := context.Background()
	bob, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	clk := devnettest.NewClock(time.Unix(1_800_000_000, 0))
	dir := t.TempDir()
	chain, gc := openDevnet(t, dir, clk.Now, devnet.Account{Address: exch.Address(), TRX: 100_000_000, Asset: 10_000_000})
	block := func() {
		t.Helper()
		clk.Add(3 * time.Second)
		if err := chain.MakeBlock(); err != nil {
			t.Fatal(err)
		}
	}
	l := openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Backing: 10_000_000, Devnet: true})
	w := queueDevWithdrawal(t, l, bob.Address())
	id := mustID(t, w.ID)
	node := &laggingNode{Node: gc}
	sol := &staleSolidity{WalletSolidityClient: solidity(gc), stale: true}
	ex, _ := exchange.New(exchange.Config{Ledger: l.Ledger, Node: node, Solidity: sol, Key: exch, Token: btt, Confirmations: 2})
	block()
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := l.Withdrawal(ctx, id)
	block() // it lands
	if _, got, _ := chain.Balance(bob.Address()); got != 2_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 2000000", got)
	}
	node.lag = true
	clk.Add(2 * time.Minute) // long expired
	for range 5 {
		block()
		ex.Withdraw(ctx)
		if got, _ := l.Withdrawal(ctx, id); got.TxID != first.TxID || got.Attempts != 1 || got.Status != api.WithdrawalSent {
			t.Fatalf("replaced on a lagging node's word: %+v (first %s)", got, first.TxID)
		}
	}
	sol.stale = false
	block()
	if err := ex.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	block()
	ex.Withdraw(ctx)
	if got, _ := l.Withdrawal(ctx, id); got.Status != api.WithdrawalDone || got.TxID != first.TxID || got.Attempts != 1 {
		t.Fatalf("after the solidity node caught up: %+v", got)
	}
	if _, got, _ := chain.Balance(bob.Address()); got != 2_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 2000000: paid twice", got)
	}
}

// lyingBlocks changes the blocks a node returns: it gives every
// transaction another txid (each time), or adds a forged transaction.
type lyingBlocks struct {
	exchange.Node
	txids bool
	forge *core.Transaction
}

func (n *lyingBlocks) GetBlockByNumCtx(ctx context.Context, num int64) (*tronapi.BlockExtention, error) {
	blk, err := n.Node.GetBlockByNumCtx(ctx, num)
	if err != nil {
		return blk, err
	}
	for _, t := range blk.Transactions {
		if n.txids {
			t.Txid[0] ^= byte(time.Now().UnixNano()) | 1
		}
	}
	if n.forge != nil {
		raw, _ := proto.Marshal(n.forge.RawData)
		id := sha256.Sum256(raw)
		blk.Transactions = append(blk.Transactions, &tronapi.TransactionExtention{Transaction: n.forge, Txid: id[:]})
	}
	return blk, nil
}

// A node's blocks are not taken on trust: a deposit's id is the hash of
// its raw data (a node giving another txid, which would credit a rescanned
// deposit again, is an error and credits nothing), and a deposit must be
// signed by its sender (a transfer a node made up credits nothing).
func TestDepositsNeedTheirTxidAndTheirSendersSignature(t *testing.T) {
	ctx := context.Background()
	alice, _ := wallet.GenerateKey()
	mallory, _ := wallet.GenerateKey()
	exch, _ := wallet.GenerateKey()
	clk := devnettest.NewClock(time.Unix(1_800_000_000, 0))
	dir := t.TempDir()
	chain, gc := openDevnet(t, dir, clk.Now, devnet.Account{Address: alice.Address(), TRX: 100_000_000, Asset: 50_000_000})
	l := openLedger(t, dir, nil)
	devnettest.SendToken(t, gc, alice, exch.Address(), btt, 7_000_000)
	for range 3 {
		clk.Add(3 * time.Second)
		if err := chain.MakeBlock(); err != nil {
			t.Fatal(err)
		}
	}

	liar := &lyingBlocks{Node: gc, txids: true}
	ex, _ := exchange.New(exchange.Config{Ledger: l.Ledger, Node: liar, Address: exch.Address(), Token: btt, Confirmations: 2})
	for range 2 { // a rescan, as after a crash
		if _, err := ex.Scan(ctx); err == nil || !strings.Contains(err.Error(), "txid") {
			t.Fatalf("a node giving other txids: %v", err)
		}
		if err := l.SetTronCursor(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := l.Balance(ctx, alice.Address()); b != 0 {
		t.Fatalf("alice has %d on the ledger from a lying node", b)
	}

	// A transfer from mallory to the exchange that mallory never signed
	// (signed by another key).
	other, _ := wallet.GenerateKey()
	param, _ := anypb.New(&core.TransferAssetContract{AssetName: []byte(btt), OwnerAddress: mallory.Address().Bytes(),
		ToAddress: exch.Address().Bytes(), Amount: 1_000_000_000})
	forged := &core.Transaction{RawData: &core.TransactionRaw{Timestamp: clk.Now().UnixMilli(), Expiration: clk.Now().UnixMilli() + 60_000,
		Contract: []*core.Transaction_Contract{{Type: core.Transaction_Contract_TransferAssetContract, Parameter: param}}}}
	raw, _ := proto.Marshal(forged.RawData)
	_, sig := other.SignTransaction(raw)
	forged.Signature = [][]byte{sig[:]}
	liar.txids, liar.forge = false, forged
	found, err := ex.Scan(ctx)
	if err != nil || len(found) != 1 || found[0].From != alice.Address() || found[0].Amount != 7_000_000 {
		t.Fatalf("a scan with a forged deposit: %+v %v", found, err)
	}
	if b, _ := l.Balance(ctx, mallory.Address()); b != 0 {
		t.Fatalf("mallory has %d on the ledger from a transfer she never signed", b)
	}
	if b, _ := l.Balance(ctx, alice.Address()); b != 7_000_000 {
		t.Fatalf("alice has %d on the ledger, want 7000000", b)
	}
}
