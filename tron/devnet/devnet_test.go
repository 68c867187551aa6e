package devnet_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
)

const btt = "1002000"

// serve runs the chain's gRPC service on loopback and returns gotron-sdk's
// own client connected to it.
func serve(t *testing.T, c *devnet.Chain) *client.GrpcClient {
	gc, _ := devnettest.Serve(t, c)
	return gc
}

func sign(t *testing.T, k *wallet.PrivateKey, tx *core.Transaction) *core.Transaction {
	t.Helper()
	raw, err := proto.Marshal(tx.RawData)
	if err != nil {
		t.Fatal(err)
	}
	_, sig := k.SignTransaction(raw)
	tx.Signature = append(tx.Signature, sig[:])
	return tx
}

// gotron-sdk's client, unchanged, reads accounts and the asset, builds a
// TRC-10 transfer, and broadcasts it signed; the next block holds it and
// balances move by the amount and the documented fees. What a node refuses
// is refused: a replay, a signature by someone else, more than the balance,
// an expired transaction, an unknown reference block. The chain survives a
// restart.
func TestGotronClientAgainstTheDevnet(t *testing.T) {
	alice, _ := wallet.GenerateKey()
	bob, _ := wallet.GenerateKey()
	mallory, _ := wallet.GenerateKey()
	clk := devnettest.NewClock(time.Unix(1_800_000_000, 0))
	cfg := devnet.Config{
		Path:          filepath.Join(t.TempDir(), "tron.db"),
		Asset:         devnet.Asset{ID: btt, Name: "BitTorrent", Abbr: "BTT", Precision: 6, TotalSupply: 1e15, Owner: alice.Address()},
		Accounts:      []devnet.Account{{Address: alice.Address(), TRX: 100_000_000, Asset: 5_000_000_000}, {Address: mallory.Address(), TRX: 10_000_000}},
		BlockInterval: time.Hour, // blocks are made by the test
		Now:           clk.Now,
	}
	c, err := devnet.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gc := serve(t, c)

	acc, err := gc.GetAccount(alice.Address().String())
	if err != nil || acc.Balance != 100_000_000 || acc.AssetV2[btt] != 5_000_000_000 {
		t.Fatalf("alice: %v %v", acc, err)
	}
	asset, err := gc.GetAssetIssueByID(btt)
	if err != nil || asset.Precision != 6 || string(asset.Abbr) != "BTT" {
		t.Fatalf("asset: %v %v", asset, err)
	}
	tx, info := transferToANewAccount(t, clk, c, gc, alice, bob)
	nodeRefusesWhatItShould(t, clk, gc, alice, bob, mallory)
	trxTransferGoesThrough(t, clk, c, gc, mallory, bob)

	// A restart: the same state, the same history.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := devnet.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	gc2 := serve(t, c2)
	if trx, a, _ := c2.Balance(bob.Address()); trx != 2_000_000 || a != 1_500_000 {
		t.Fatalf("bob after a restart: %d sun, %d BTT", trx, a)
	}
	if info, err := gc2.GetTransactionInfoByID(hexOf(info.Id)); err != nil || info.BlockNumber != 1 {
		t.Fatalf("history after a restart: %v %v", info, err)
	}
	if _, err := gc2.Broadcast(tx); err == nil || !strings.Contains(err.Error(), "duplicate transaction") {
		t.Fatalf("a replay after a restart: %v", err)
	}
}

// transferToANewAccount sends 1.5 BTT from alice to bob's new account: a
// replay is refused in the pool and once mined; the next block holds it
// and the balances move by the amount and the fee. It returns the
// transaction and its info.
func transferToANewAccount(t *testing.T, clk *devnettest.Clock, c *devnet.Chain, gc *client.GrpcClient, alice, bob *wallet.PrivateKey) (*core.Transaction, *core.TransactionInfo) {
	t.Helper()
	ext, err := gc.TransferAsset(alice.Address().String(), bob.Address().String(), btt, 1_500_000)
	if err != nil {
		t.Fatal(err)
	}
	tx := sign(t, alice, ext.Transaction)
	if _, err := gc.Broadcast(tx); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	if _, err := gc.Broadcast(tx); err == nil || !strings.Contains(err.Error(), "duplicate transaction") {
		t.Fatalf("a replay in the pool: %v", err)
	}
	clk.Add(3 * time.Second)
	if err := c.MakeBlock(); err != nil {
		t.Fatal(err)
	}
	info, err := gc.GetTransactionInfoByID(strings.TrimPrefix(hexOf(ext.Txid), "0x"))
	if err != nil || info.BlockNumber != 1 || info.Fee != 1_001_000 {
		t.Fatalf("transaction info: %v %v", info, err)
	}
	if _, err := gc.Broadcast(tx); err == nil || !strings.Contains(err.Error(), "duplicate transaction") {
		t.Fatalf("a replay of a mined transaction: %v", err)
	}
	if trx, a, _ := c.Balance(alice.Address()); trx != 100_000_000-1_001_000 || a != 5_000_000_000-1_500_000 {
		t.Fatalf("alice after: %d sun, %d BTT", trx, a)
	}
	if trx, a, _ := c.Balance(bob.Address()); trx != 0 || a != 1_500_000 {
		t.Fatalf("bob after: %d sun, %d BTT", trx, a)
	}
	return tx, info
}

// nodeRefusesWhatItShould checks the node refuses a transfer signed by
// someone else, more than the balance, one with no TRX for the fee, an
// expired transaction and an unknown reference block.
func nodeRefusesWhatItShould(t *testing.T, clk *devnettest.Clock, gc *client.GrpcClient, alice, bob, mallory *wallet.PrivateKey) {
	t.Helper()
	// Signed by someone else.
	ext, err := gc.TransferAsset(alice.Address().String(), mallory.Address().String(), btt, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Broadcast(sign(t, mallory, ext.Transaction)); err == nil || !strings.Contains(err.Error(), "signature error") {
		t.Fatalf("a transfer signed by another key: %v", err)
	}
	// More than the balance: refused when built.
	if _, err := gc.TransferAsset(alice.Address().String(), mallory.Address().String(), btt, 6_000_000_000); err == nil || !strings.Contains(err.Error(), "balance is not sufficient") {
		t.Fatalf("more than the balance: %v", err)
	}
	// Bob has BTT but no TRX for the fee.
	if _, err := gc.TransferAsset(bob.Address().String(), alice.Address().String(), btt, 1); err == nil {
		t.Fatal("a transfer with no TRX for the fee was built")
	}
	// Expired.
	ext, err = gc.Transfer(mallory.Address().String(), alice.Address().String(), 1_000)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	if _, err := gc.Broadcast(sign(t, mallory, ext.Transaction)); err == nil || !strings.Contains(err.Error(), "transaction expired") {
		t.Fatalf("an expired transaction: %v", err)
	}
	// An unknown reference block.
	ext, err = gc.Transfer(mallory.Address().String(), alice.Address().String(), 1_000)
	if err != nil {
		t.Fatal(err)
	}
	ext.Transaction.RawData.RefBlockHash = []byte("notablok")
	if _, err := gc.Broadcast(sign(t, mallory, ext.Transaction)); err == nil || !strings.Contains(err.Error(), "reference block not found") {
		t.Fatalf("an unknown reference block: %v", err)
	}
}

// trxTransferGoesThrough sends 2 TRX from mallory to bob: the next block,
// block 2, holds it.
func trxTransferGoesThrough(t *testing.T, clk *devnettest.Clock, c *devnet.Chain, gc *client.GrpcClient, mallory, bob *wallet.PrivateKey) {
	t.Helper()
	ext, err := gc.Transfer(mallory.Address().String(), bob.Address().String(), 2_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Broadcast(sign(t, mallory, ext.Transaction)); err != nil {
		t.Fatal(err)
	}
	clk.Add(3 * time.Second)
	if err := c.MakeBlock(); err != nil {
		t.Fatal(err)
	}
	now, err := gc.GetNowBlock()
	if err != nil || now.BlockHeader.RawData.Number != 2 || len(now.Transactions) != 1 {
		t.Fatalf("head block: %v %v", now, err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}
