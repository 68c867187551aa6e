package engine

import (
	"context"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

// countingLedger counts balance reads.
type countingLedger struct {
	speed.Ledger
	reads int
}

func (c *countingLedger) Balance(ctx context.Context, a wallet.Address) (uint64, error) {
	c.reads++
	return c.Ledger.Balance(ctx, a)
}

// Our balance is read once per TTL; opening a channel drops the cached
// value, so the next read sees the deposit gone; others' balances are
// never cached.
func TestBalanceCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	ml := memledger.New("btspeed-test", clock)
	me, _ := wallet.GenerateKey()
	other, _ := wallet.GenerateKey()
	ml.Mint(me.Address(), 1000)
	ml.Mint(other.Address(), 5)
	cl := &countingLedger{Ledger: ml}
	bc := newBalanceCache(cl, me.Address(), time.Second, clock)
	ctx := context.Background()
	for range 5 {
		if b, err := bc.Balance(ctx, me.Address()); err != nil || b != 1000 {
			t.Fatalf("balance %d, %v", b, err)
		}
	}
	if cl.reads != 1 {
		t.Fatalf("%d reads within the TTL, want 1", cl.reads)
	}
	bc.Balance(ctx, other.Address())
	bc.Balance(ctx, other.Address())
	if cl.reads != 3 {
		t.Fatalf("%d reads, want 3 (others' balances are not cached)", cl.reads)
	}
	req := speed.OpenRequest{Ledger: "btspeed-test", Payer: me.Address(), Payee: other.Address(), Deposit: 300, Deadline: now.Add(time.Hour).Unix(), Nonce: 1}
	signed, err := req.Sign(me)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.OpenChannel(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if b, _ := bc.Balance(ctx, me.Address()); b != 700 || cl.reads != 4 {
		t.Fatalf("after opening a channel: balance %d after %d reads, want 700 after 4", b, cl.reads)
	}
	now = now.Add(2 * time.Second)
	bc.Balance(ctx, me.Address())
	if cl.reads != 5 {
		t.Fatalf("%d reads after the TTL, want 5", cl.reads)
	}
}
