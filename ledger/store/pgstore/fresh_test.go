package pgstore

import (
	"context"
	"sync"
	"testing"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// TestFreshAccountsConcurrent has two stores on one database (two
// front-ends) credit accounts that do not exist yet, all at once, each
// Update reading the balance and writing it back with an entry: every
// credit must show in the balance (no Update saw an account absent after
// another had created it) and each history must be numbered 1 to n.
func TestFreshAccountsConcurrent(t *testing.T) {
	u := pgtest.NewDB(t)
	stores := []*Store{openAt(t, u), openAt(t, u)}
	accts := []wallet.Address{addr(201), addr(202), addr(203)}
	const writers, each = 12, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for i := range each {
				a := accts[(w+i)%len(accts)]
				errs <- s.Update(context.Background(), func(tx store.Tx) error {
					b, err := tx.Balance(a)
					if err != nil {
						return err
					}
					if err := tx.SetBalance(a, b+1); err != nil {
						return err
					}
					_, err = tx.AddEntry(store.Entry{Account: a, Kind: "test", Credit: 1, Balance: b + 1, Counterparty: a})
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var total uint64
	err := stores[0].View(context.Background(), func(tx store.Tx) error {
		for _, a := range accts {
			b, err := tx.Balance(a)
			if err != nil {
				return err
			}
			total += b
			h, err := tx.History(a, 0, writers*each)
			if err != nil {
				return err
			}
			if uint64(len(h)) != b {
				t.Errorf("%s: balance %d, %d entries", a, b, len(h))
			}
			for i, e := range h {
				if want := b - uint64(i); e.Seq != want || e.Balance != want {
					t.Errorf("%s: entry %d has seq %d balance %d, want %d", a, i, e.Seq, e.Balance, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != writers*each {
		t.Errorf("balances add up to %d, want %d credits", total, writers*each)
	}
}
