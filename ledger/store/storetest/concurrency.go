package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

var errInsufficient = errors.New("storetest: insufficient balance")

// testConcurrentTransfers runs 32 writers, each doing 50 Updates that move one
// unit between two of 8 accounts (read, check, write both), while readers
// check that every View sees the total intact. Afterwards every balance must
// be exactly what the committed transfers imply: a lost update or a
// non-serializable interleaving shows as a wrong balance.
func testConcurrentTransfers(t testing.TB, s store.Store) {
	const (
		accounts = 8
		writers  = 32
		perWrite = 50
		start    = 1000
		readers  = 4
	)
	var accts [accounts]wallet.Address
	for i := range accts {
		accts[i] = addr(byte(40 + i))
	}
	update(t, s, func(tx store.Tx) error {
		for _, a := range accts {
			if err := tx.SetBalance(a, start); err != nil {
				return err
			}
		}
		return nil
	})

	var (
		delta              [accounts]atomic.Int64
		done, insufficient atomic.Int64
		failed             atomic.Int64
		firstErr           atomic.Value
		wg                 sync.WaitGroup
		stop               = make(chan struct{})
		readerWG           sync.WaitGroup
		reads              atomic.Int64
	)
	for r := range readers {
		readerWG.Add(1)
		go func() {
			defer readerWG.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					if i > 0 {
						return
					}
				default:
				}
				err := s.View(context.Background(), func(tx store.Tx) error {
					var sum uint64
					for _, a := range accts {
						b, err := tx.Balance(a)
						if err != nil {
							return err
						}
						sum += b
					}
					if sum != accounts*start {
						t.Errorf("reader %d: a View saw balances summing to %d, want %d", r, sum, accounts*start)
					}
					if r%2 == 0 {
						bal, esc, err := tx.Totals()
						if err != nil {
							return err
						}
						if bal != accounts*start || esc != 0 {
							t.Errorf("reader %d: Totals in a View = %d, %d; want %d, 0", r, bal, esc, accounts*start)
						}
					}
					return nil
				})
				if err != nil {
					t.Errorf("reader %d: View: %v", r, err)
					return
				}
				reads.Add(1)
				time.Sleep(200 * time.Microsecond) // leave the writers room
			}
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range perWrite {
				from := rng.IntN(accounts)
				to := (from + 1 + rng.IntN(accounts-1)) % accounts
				err := s.Update(context.Background(), func(tx store.Tx) error {
					fb, err := tx.Balance(accts[from])
					if err != nil {
						return err
					}
					if fb < 1 {
						return errInsufficient
					}
					tb, err := tx.Balance(accts[to])
					if err != nil {
						return err
					}
					if err := tx.SetBalance(accts[from], fb-1); err != nil {
						return err
					}
					return tx.SetBalance(accts[to], tb+1)
				})
				switch {
				case err == nil:
					delta[from].Add(-1)
					delta[to].Add(1)
					done.Add(1)
				case errors.Is(err, errInsufficient):
					insufficient.Add(1)
				default:
					// Allowed (a conflict the backend gave up on), as
					// long as nothing was written.
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readerWG.Wait()

	t.Logf("%d transfers committed, %d refused for insufficient balance, %d failed; %d concurrent views",
		done.Load(), insufficient.Load(), failed.Load(), reads.Load())
	if n := failed.Load(); n > 0 {
		t.Logf("%d Updates failed, first: %v", n, firstErr.Load())
	}
	if done.Load() < writers*perWrite/2 {
		t.Errorf("only %d of %d transfers committed", done.Load(), writers*perWrite)
	}
	view(t, s, func(tx store.Tx) error {
		var sum uint64
		for i, a := range accts {
			b, err := tx.Balance(a)
			if err != nil {
				return err
			}
			want := start + delta[i].Load()
			if int64(b) != want {
				t.Errorf("account %d: balance %d, want %d from the committed transfers (lost or phantom update)", i, b, want)
			}
			if int64(b) < 0 || b > accounts*start {
				t.Errorf("account %d: balance %d went negative", i, b)
			}
			sum += b
		}
		if sum != accounts*start {
			t.Errorf("balances sum to %d after the transfers, want %d", sum, accounts*start)
		}
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != accounts*start || esc != 0 {
			t.Errorf("Totals = %d, %d; want %d, 0", bal, esc, accounts*start)
		}
		return nil
	})
}

// fixture is one of everything, for RunReopen.
type fixture struct {
	a, b             wallet.Address
	balA, balB       uint64
	t0               time.Time
	open, closed     store.Channel
	entriesA         []store.Entry
	recKey, recValue []byte
}

func newFixture() *fixture {
	f := &fixture{a: addr(1), b: addr(2), balA: 1234, balB: math.MaxInt64 / 2, t0: base}
	f.open = newChannel(1, f.a, f.b, 77, base.Add(time.Hour+3), base.Add(time.Second))
	f.open.Nonce = math.MaxUint64 - 5
	f.closed = newChannel(2, f.b, f.a, 88, base.Add(2*time.Hour), base.Add(2*time.Second))
	f.closed.Closed, f.closed.Seq, f.closed.Paid = true, math.MaxUint64-1, 44
	f.closed.ClosedAt, f.closed.CloseKind = base.Add(3*time.Second+9), store.ByState
	for i := range 2 {
		f.entriesA = append(f.entriesA, store.Entry{
			Account: f.a, Seq: uint64(i + 1), Time: base.Add(time.Duration(i) + time.Minute),
			Kind: "transfer", Credit: uint64(i), Debit: 3, Balance: 1234, Ref: fmt.Sprintf("ref%d", i), Counterparty: f.b,
		})
	}
	f.recKey, f.recValue = []byte{0, 1, 2, 0}, []byte{9, 0, 8}
	return f
}

func (f *fixture) write(tx store.Tx) error {
	if err := tx.SetBalance(f.a, f.balA); err != nil {
		return err
	}
	if err := tx.SetBalance(f.b, f.balB); err != nil {
		return err
	}
	if err := tx.PutChannel(f.open); err != nil {
		return err
	}
	if err := tx.PutChannel(f.closed); err != nil {
		return err
	}
	for _, e := range f.entriesA {
		if _, err := tx.AddEntry(e); err != nil {
			return err
		}
	}
	if err := tx.PutRecord(f.recKey, f.recValue); err != nil {
		return err
	}
	return tx.PutMeta("reopen", []byte("yes"))
}

func (f *fixture) check(t testing.TB, tx store.Tx) error {
	t.Helper()
	checkBalance(t, tx, f.a, f.balA)
	checkBalance(t, tx, f.b, f.balB)
	checkChannel(t, tx, f.open)
	checkChannel(t, tx, f.closed)
	chs, err := tx.ChannelsOf(f.a, 10)
	if err != nil {
		return err
	}
	checkIDs(t, "ChannelsOf after reopen", channelIDs(chs), f.closed.ID, f.open.ID)
	ids, err := tx.Expired(f.open.Deadline, 10)
	if err != nil {
		return err
	}
	checkIDs(t, "Expired after reopen", ids, f.open.ID)
	h, err := tx.History(f.a, 0, 10)
	if err != nil {
		return err
	}
	if len(h) != len(f.entriesA) {
		t.Errorf("History after reopen has %d entries, want %d", len(h), len(f.entriesA))
	} else {
		for i := range h {
			if d := diffEntry(h[i], f.entriesA[len(h)-1-i]); d != "" {
				t.Errorf("History after reopen [%d]: %s", i, d)
			}
		}
	}
	if v, err := tx.Record(f.recKey); err != nil || !bytes.Equal(v, f.recValue) {
		t.Errorf("Record after reopen = %x, %v; want %x", v, err, f.recValue)
	}
	if v, err := tx.Meta("reopen"); err != nil || string(v) != "yes" {
		t.Errorf("Meta after reopen = %q, %v", v, err)
	}
	bal, esc, err := tx.Totals()
	if err != nil {
		return err
	}
	if bal != f.balA+f.balB || esc != f.open.Deposit {
		t.Errorf("Totals after reopen = %d, %d; want %d, %d", bal, esc, f.balA+f.balB, f.open.Deposit)
	}
	return nil
}
