package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	tronapi "github.com/fbsobreira/gotron-sdk/pkg/proto/api"
)

// stuckNode is a node whose first GetNowBlock hangs until released: the
// exchange's pass that makes it holds the exchange's lock meanwhile.
type stuckNode struct {
	exchange.Node
	entered, release chan struct{}
	first            bool
}

func (n *stuckNode) GetNowBlockCtx(ctx context.Context) (*tronapi.BlockExtention, error) {
	if n.first {
		n.first = false
		close(n.entered)
		<-n.release
	}
	return n.Node.GetNowBlockCtx(ctx)
}

// GET /v1/invariant reads the reserve without the exchange's lock: a pass
// stuck on a slow node does not hold the invariant up, and invariant
// requests cannot hold up the exchange's passes.
func TestReserveTakesNoExchangeLock(t *testing.T) {
	ctx := context.Background()
	exch, _ := wallet.GenerateKey()
	dir := t.TempDir()
	_, gc := openDevnet(t, dir, nil, devnet.Account{Address: exch.Address(), TRX: 100_000_000, Asset: 5_000_000})
	l := openLedger(t, dir, &ledger.Exchange{Address: exch.Address(), Token: btt, Confirmations: 2, Backing: 5_000_000, Devnet: true})
	node := &stuckNode{Node: gc, entered: make(chan struct{}), release: make(chan struct{}), first: true}
	ex, err := exchange.New(exchange.Config{Ledger: l.Ledger, Node: node, Solidity: solidity(gc), Key: exch, Token: btt, Confirmations: 2})
	if err != nil {
		t.Fatal(err)
	}
	l.SetReserve(ex.Reserve)
	scanned := make(chan error)
	go func() {
		_, err := ex.Scan(ctx)
		scanned <- err
	}()
	defer func() {
		if err := <-scanned; err != nil {
			t.Errorf("scan: %v", err)
		}
	}()
	defer close(node.release)
	<-node.entered // the scan holds the lock, stuck on the node
	got := make(chan error, 1)
	go func() {
		inv, err := l.CheckAll(ctx)
		if err == nil && (inv.Reserve == nil || !inv.OK || inv.Reserve.Balance != 5_000_000 || inv.Reserve.Required != 5_000_000) {
			t.Errorf("invariant %+v, reserve %+v", inv, inv.Reserve)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // a deadlock guard, not a speed target
		t.Fatal("the invariant waited for the exchange's pass (its lock)")
	}
}
