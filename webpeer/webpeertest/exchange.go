//go:build !js

// Package webpeertest runs, for the browser peer's tests, what a relay
// runs for deposits and withdrawals: the embedded TRON devnet and a ledger
// with its exchange, set up by the same code as the relay's flags
// (-tron devnet -tron-block 500ms -tron-grpc 127.0.0.1:0
// -tron-confirmations 2), and a funder key that holds TRX and BTT on the
// devnet's genesis, as the relay's -wallet key does.
package webpeertest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// Token is BTT's TRC-10 id on the devnet.
const Token = "1002000"

// Genesis holdings of the funder: 1,000,000 TRX (in sun) and 1,000,000
// BTT (in base units).
const (
	FunderTRX = 1_000_000 * 1_000_000
	FunderBTT = 1_000_000 * 1_000_000
)

// Fee is what the devnet charges for every transaction, in sun; AccountFee
// more when the transaction creates its recipient's account.
const (
	Fee        = 1_000
	AccountFee = 1_000_000
)

// Exchange is a TRON devnet with a ledger and its exchange running.
type Exchange struct {
	Ledger *server.Ledger
	TRON   *tronsetup.TRON
	// Funder holds FunderTRX and FunderBTT on the devnet's genesis.
	Funder *wallet.PrivateKey
	// Node is gotron-sdk's gRPC client connected to the devnet.
	Node *client.GrpcClient
}

// Start runs the devnet (a block every 500 ms), a ledger (development
// genesis, a faucet of 8 bits) with the exchange (2 confirmations) and
// the exchange's loop, until the test ends. Edits change the TRON flags
// first (e.g. -exchange-backing).
func Start(t testing.TB, edits ...func(*tronsetup.Flags)) *Exchange {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	funder, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	flags := tronsetup.Flags{Tron: "devnet", Block: "500ms", GRPC: "127.0.0.1:0", Confirmations: "2", Token: Token, Start: "0"}
	for _, edit := range edits {
		edit(&flags)
	}
	tron, err := flags.Open(ctx, dir, []devnet.Account{{Address: funder.Address(), TRX: FunderTRX, Asset: FunderBTT}}, log)
	if err != nil {
		cancel()
		t.Fatalf("the TRON devnet: %v", err)
	}
	t.Cleanup(tron.Close)
	l, err := server.Open(ctx, server.Config{ID: "btspeed-devnet", DB: filepath.Join(dir, "ledger.db"), Genesis: "dev", FaucetBits: 8, FaucetTRX: tron.FaucetTRX(), Exchange: tron.Policy})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ex, err := tron.Exchange(l.Ledger, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); ex.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done }) // runs before the ledger and the devnet close
	gc := client.NewGrpcClientWithTimeout(tron.GRPCAddr, 20*time.Second)
	if err := gc.Start(grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gc.Stop)
	return &Exchange{Ledger: l, TRON: tron, Funder: funder, Node: gc}
}

// Relay puts the ledger and TRON's HTTP API into a relay's configuration.
func (e *Exchange) Relay(c *relay.Config) {
	c.Ledger = e.Ledger
	c.Tron = e.TRON.HTTP
}

// Fund sends trx sun and btt base units from the funder to a over TRON's
// gRPC API (gotron-sdk's client, signed with the funder's key) and waits
// until a block has both. The TRX goes first, creating the account.
func (e *Exchange) Fund(t testing.TB, to wallet.Address, trx, btt int64) {
	t.Helper()
	var ids [][]byte
	if trx > 0 {
		ext, err := e.Node.Transfer(e.Funder.Address().String(), to.String(), trx)
		if err != nil {
			t.Fatalf("building the TRX transfer: %v", err)
		}
		ids = append(ids, e.sign(t, ext.Transaction))
	}
	if btt > 0 {
		ext, err := e.Node.TransferAsset(e.Funder.Address().String(), to.String(), Token, btt)
		if err != nil {
			t.Fatalf("building the BTT transfer: %v", err)
		}
		ids = append(ids, e.sign(t, ext.Transaction))
	}
	for _, id := range ids {
		e.WaitInBlock(t, fmt.Sprintf("%x", id))
	}
}

// sign signs tx with the funder's key and broadcasts it; it returns the
// transaction's id.
func (e *Exchange) sign(t testing.TB, tx *core.Transaction) []byte {
	t.Helper()
	raw, err := proto.Marshal(tx.GetRawData())
	if err != nil {
		t.Fatal(err)
	}
	id, sig := e.Funder.SignTransaction(raw)
	tx.Signature = [][]byte{sig[:]}
	if _, err := e.Node.Broadcast(tx); err != nil {
		t.Fatalf("broadcasting: %v", err)
	}
	return id[:]
}

// WaitInBlock waits until a block has the transaction txid (hex).
func (e *Exchange) WaitInBlock(t testing.TB, txid string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := e.Node.GetTransactionInfoByID(txid)
		if err == nil && info.GetBlockNumber() > 0 {
			return info.GetBlockNumber()
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %s is in no block after 30 s (%v)", txid, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitBlocks waits until the devnet has made n blocks after its head now
// (it makes one every 500 ms): time for a transaction broadcast before to
// be in one.
func (e *Exchange) WaitBlocks(t testing.TB, n int64) {
	t.Helper()
	head := func() int64 {
		b, err := e.Node.GetNowBlock()
		if err != nil {
			t.Fatalf("the devnet's head block: %v", err)
		}
		return b.GetBlockHeader().GetRawData().GetNumber()
	}
	want := head() + n
	deadline := time.Now().Add(30 * time.Second)
	for h := head(); h < want; h = head() {
		if time.Now().After(deadline) {
			t.Fatalf("the devnet is at block %d after 30 s, want %d", h, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Balances returns what a holds on the devnet: TRX in sun, BTT in base
// units.
func (e *Exchange) Balances(t testing.TB, a wallet.Address) (trx, btt int64) {
	t.Helper()
	acc, err := e.Node.GetAccount(a.String())
	if err != nil && err.Error() == "account not found" { // gotron-sdk's word for an account TRON has never seen
		return 0, 0
	}
	if err != nil {
		t.Fatalf("the TRON account %s: %v", a, err)
	}
	return acc.GetBalance(), acc.GetAssetV2()[Token]
}
