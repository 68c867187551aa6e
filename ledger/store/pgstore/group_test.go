package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// TestGroupCommit: Updates queued while every worker is busy share
// transactions, and within one, an Update that fails (its own error, or a
// statement PostgreSQL refuses) writes nothing while the others commit.
func TestGroupCommit(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	ctx := context.Background()
	const n = 120
	queued := watchQueue(s, n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	holdWorkers(t, s, &wg, release, queued)
	errFail := errors.New("refused by fn")
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Update(ctx, func(tx store.Tx) error {
				a := account(i)
				b, err := tx.Balance(a)
				if err != nil {
					return err
				}
				if err := tx.SetBalance(a, b+uint64(i)+1); err != nil {
					return err
				}
				if _, err := tx.AddEntry(store.Entry{Account: a, Kind: "test", Credit: uint64(i) + 1, Balance: b + uint64(i) + 1}); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errFail
				case 2:
					// A statement PostgreSQL refuses (the CHECK on
					// the address's length), found at the flush.
					badWrite(tx)
				}
				return nil
			})
		}()
	}
	awaitQueued(t, queued, n) // all of them, while every worker is held
	close(release)
	wg.Wait()
	for i, err := range results {
		want := i%3 == 0
		if (err == nil) != want {
			t.Errorf("Update %d: %v, want success %v", i, err, want)
		}
	}
	err := s.View(ctx, func(tx store.Tx) error {
		for i := range n {
			b, err := tx.Balance(account(i))
			if err != nil {
				return err
			}
			h, err := tx.History(account(i), 0, 10)
			if err != nil {
				return err
			}
			want := uint64(0)
			if i%3 == 0 {
				want = uint64(i) + 1
			}
			if b != want || len(h) != int(min(want, 1)) {
				t.Errorf("account %d: balance %d and %d entries, want %d and %d", i, b, len(h), want, min(want, 1))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.commits.Load() - int64(s.g.workers); c >= n/3 {
		t.Errorf("%d commits for %d successful Updates queued together: no group commit", c, n/3)
	}
	t.Logf("%d commits, %d retries", s.commits.Load(), s.retries.Load())
}

// holdWorkers keeps every worker of s in an Update until release is
// closed: one Update each (then groups again), counted in wg; queued is
// watchQueue's channel, from which it takes the holders' own.
func holdWorkers(t *testing.T, s *Store, wg *sync.WaitGroup, release chan struct{}, queued <-chan struct{}) {
	s.g.max = 1
	var held sync.WaitGroup
	held.Add(s.g.workers)
	for i := range s.g.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := s.Update(context.Background(), func(tx store.Tx) error {
				if first {
					first = false
					held.Done()
					<-release
				}
				return tx.SetBalance(addr(byte(200+i)), 1)
			})
			if err != nil {
				t.Errorf("holder %d: %v", i, err)
			}
		}()
	}
	held.Wait()
	awaitQueued(t, queued, s.g.workers) // the holders' own
	s.g.max = maxGroup                  // read by the workers after release
}

// watchQueue makes s report each Update that enters its queue on the
// returned channel, which has room for n besides one per worker (for
// holdWorkers). It is set before any Update of the test.
func watchQueue(s *Store, n int) <-chan struct{} {
	queued := make(chan struct{}, n+s.g.workers)
	s.g.queued = func() {
		select {
		case queued <- struct{}{}:
		default: // more than the test said it would queue: awaitQueued fails first
		}
	}
	return queued
}

// awaitQueued waits until n more Updates have entered the queue.
func awaitQueued(t *testing.T, queued <-chan struct{}, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for i := range n {
		select {
		case <-queued:
		case <-deadline:
			t.Fatalf("%d of %d Updates queued after 30 s", i, n)
		}
	}
}

// badWrite queues a write PostgreSQL refuses (the CHECK on an address's
// length), found when the Update's writes are sent.
func badWrite(st store.Tx) {
	st.(*tx).queue("bad write", `INSERT INTO accounts (address, balance) VALUES ($1, 0)`, []byte{1})
}

func account(i int) wallet.Address { return addr(byte(i)) }

// TestUpdatePanic: an fn that panics (on a worker goroutine) fails its
// Update, writes nothing, and leaves the store working.
func TestUpdatePanic(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetBalance(addr(1), 5); err != nil {
			return err
		}
		if _, err := tx.Balance(addr(2)); err != nil { // sends the write
			return err
		}
		panic("boom")
	})
	if err == nil {
		t.Fatal("an Update whose fn panicked succeeded")
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetBalance(addr(2), 7) }); err != nil {
		t.Fatalf("Update after the panic: %v", err)
	}
	_ = s.View(ctx, func(tx store.Tx) error {
		a, _ := tx.Balance(addr(1))
		b, _ := tx.Balance(addr(2))
		if a != 0 || b != 7 {
			t.Errorf("balances %d and %d, want 0 (the panicked write undone) and 7", a, b)
		}
		return nil
	})
}

// TestCarriedWriteFails queues, for one group, a first Update whose write
// PostgreSQL refuses (found when the second Update's read carries it), a
// good one, and a last one whose refused write goes with the COMMIT: the
// good Update commits (run again after the first one's rollback), the
// others fail with PostgreSQL's error and write nothing.
func TestCarriedWriteFails(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	ctx := context.Background()
	queued := watchQueue(s, 3)
	release := make(chan struct{})
	var wg sync.WaitGroup
	holdWorkers(t, s, &wg, release, queued)
	results := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Update(ctx, func(tx store.Tx) error {
				b, err := tx.Balance(account(i))
				if err != nil {
					return err
				}
				if err := tx.SetBalance(account(i), b+5); err != nil {
					return err
				}
				if i != 1 {
					badWrite(tx)
				}
				return nil
			})
		}()
		awaitQueued(t, queued, 1) // queued in order
	}
	close(release)
	wg.Wait()
	for i, err := range results {
		if (err == nil) != (i == 1) {
			t.Errorf("Update %d: %v, want success %v", i, err, i == 1)
		}
	}
	err := s.View(ctx, func(tx store.Tx) error {
		for i := range 3 {
			b, err := tx.Balance(account(i))
			if want := uint64(5 * (i % 2)); err == nil && b != want {
				t.Errorf("account %d: balance %d, want %d", i, b, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
