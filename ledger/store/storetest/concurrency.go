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

// The shape of testConcurrentTransfers.
const (
	transferAccounts = 8    // accounts the transfers move units between
	transferWriters  = 32   // goroutines doing Updates
	transfersEach    = 50   // Updates per writer, one unit each
	transferStart    = 1000 // every account's opening balance
	transferReaders  = 4    // goroutines doing Views meanwhile
)

// testConcurrentTransfers runs 32 writers, each doing 50 Updates that move one
// unit between two of 8 accounts (read, check, write both), while readers
// check that every View sees the total intact. Afterwards every balance must
// be exactly what the committed transfers imply: a lost update or a
// non-serializable interleaving shows as a wrong balance.
func testConcurrentTransfers(t testing.TB, s store.Store) {
	x := &transfers{t: t, s: s, stop: make(chan struct{})}
	for i := range x.accts {
		x.accts[i] = addr(byte(40 + i))
	}
	update(t, s, func(tx store.Tx) error {
		for _, a := range x.accts {
			if err := tx.SetBalance(a, transferStart); err != nil {
				return err
			}
		}
		return nil
	})

	var writers, readers sync.WaitGroup
	for r := range transferReaders {
		readers.Go(func() { x.read(r) })
	}
	for w := range transferWriters {
		writers.Go(func() { x.write(w) })
	}
	writers.Wait()
	close(x.stop)
	readers.Wait()

	t.Logf("%d transfers committed, %d refused for insufficient balance, %d failed; %d concurrent views",
		x.done.Load(), x.insufficient.Load(), x.failed.Load(), x.reads.Load())
	if n := x.failed.Load(); n > 0 {
		t.Logf("%d Updates failed, first: %v", n, x.firstErr.Load())
	}
	if x.done.Load() < transferWriters*transfersEach/2 {
		t.Errorf("only %d of %d transfers committed", x.done.Load(), transferWriters*transfersEach)
	}
	view(t, s, x.checkFinal)
}

// transfers is the state testConcurrentTransfers shares between its
// writers, its readers and the final check.
type transfers struct {
	t     testing.TB
	s     store.Store
	accts [transferAccounts]wallet.Address
	// delta is each account's net change from the committed transfers.
	delta                             [transferAccounts]atomic.Int64
	done, insufficient, failed, reads atomic.Int64
	firstErr                          atomic.Value  // the first failed Update's error
	stop                              chan struct{} // closed when the writers are done
}

// read is reader r: it checks the total in Views, without pause but for a
// short sleep, until stop is closed and it has done at least one.
func (x *transfers) read(r int) {
	for i := 0; ; i++ {
		select {
		case <-x.stop:
			if i > 0 {
				return
			}
		default:
		}
		err := x.s.View(context.Background(), func(tx store.Tx) error { return x.checkTotal(r, tx) })
		if err != nil {
			x.t.Errorf("reader %d: View: %v", r, err)
			return
		}
		x.reads.Add(1)
		time.Sleep(200 * time.Microsecond) // leave the writers room
	}
}

// checkTotal is one of reader r's Views: the balances sum to the opening
// total and, for every other reader, Totals agrees.
func (x *transfers) checkTotal(r int, tx store.Tx) error {
	var sum uint64
	for _, a := range x.accts {
		b, err := tx.Balance(a)
		if err != nil {
			return err
		}
		sum += b
	}
	if sum != transferAccounts*transferStart {
		x.t.Errorf("reader %d: a View saw balances summing to %d, want %d", r, sum, transferAccounts*transferStart)
	}
	if r%2 == 0 {
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != transferAccounts*transferStart || esc != 0 {
			x.t.Errorf("reader %d: Totals in a View = %d, %d; want %d, 0", r, bal, esc, transferAccounts*transferStart)
		}
	}
	return nil
}

// write is writer w: transfersEach Updates, each moving one unit between
// two accounts its seeded random source picks, counted by outcome.
func (x *transfers) write(w int) {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	for range transfersEach {
		from := rng.IntN(transferAccounts)
		to := (from + 1 + rng.IntN(transferAccounts-1)) % transferAccounts
		err := x.s.Update(context.Background(), func(tx store.Tx) error { return x.transfer(tx, from, to) })
		switch {
		case err == nil:
			x.delta[from].Add(-1)
			x.delta[to].Add(1)
			x.done.Add(1)
		case errors.Is(err, errInsufficient):
			x.insufficient.Add(1)
		default:
			// Allowed (a conflict the backend gave up on), as
			// long as nothing was written.
			x.failed.Add(1)
			x.firstErr.CompareAndSwap(nil, err)
		}
	}
}

// transfer moves one unit from account from to account to in tx, or
// returns errInsufficient when from has none.
func (x *transfers) transfer(tx store.Tx, from, to int) error {
	fb, err := tx.Balance(x.accts[from])
	if err != nil {
		return err
	}
	if fb < 1 {
		return errInsufficient
	}
	tb, err := tx.Balance(x.accts[to])
	if err != nil {
		return err
	}
	if err := tx.SetBalance(x.accts[from], fb-1); err != nil {
		return err
	}
	return tx.SetBalance(x.accts[to], tb+1)
}

// checkFinal checks, once every writer is done, that each balance is its
// opening balance plus its committed delta and that the totals are intact.
func (x *transfers) checkFinal(tx store.Tx) error {
	t := x.t
	var sum uint64
	for i, a := range x.accts {
		b, err := tx.Balance(a)
		if err != nil {
			return err
		}
		want := transferStart + x.delta[i].Load()
		if int64(b) != want {
			t.Errorf("account %d: balance %d, want %d from the committed transfers (lost or phantom update)", i, b, want)
		}
		if int64(b) < 0 || b > transferAccounts*transferStart {
			t.Errorf("account %d: balance %d went negative", i, b)
		}
		sum += b
	}
	if sum != transferAccounts*transferStart {
		t.Errorf("balances sum to %d after the transfers, want %d", sum, transferAccounts*transferStart)
	}
	bal, esc, err := tx.Totals()
	if err != nil {
		return err
	}
	if bal != transferAccounts*transferStart || esc != 0 {
		t.Errorf("Totals = %d, %d; want %d, 0", bal, esc, transferAccounts*transferStart)
	}
	return nil
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
