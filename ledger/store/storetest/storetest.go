// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's tests call Run with a function that opens a fresh, empty
// store (and registers its cleanup with t.Cleanup), and RunReopen with one
// that also reopens a closed store on the same underlying storage:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openEmpty) }
//
// The suite checks the contract written in package store, plus what the
// ledger relies on without it being spelt out there: that Update returns fn's
// error so errors.Is sees it, that times round-trip exactly (to the
// nanosecond, compared with time.Equal), that uint64 nonces and channel
// sequence numbers round-trip in full, and that the byte slices a store
// returns or is given stay valid and unshared after the call.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Run runs the conformance suite. Every subtest calls open for a fresh,
// empty store of its own; open registers the store's cleanup (closing it,
// deleting its storage) with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// suite lists Run's subtests.
var suite = []struct {
	name string
	fn   func(t testing.TB, s store.Store)
}{
	{"Balances", testBalances},
	{"Rollback", testRollback},
	{"ReadYourWrites", testReadYourWrites},
	{"ChannelRoundTrip", testChannelRoundTrip},
	{"ChannelReplace", testChannelReplace},
	{"ChannelsOf", testChannelsOf},
	{"Expired", testExpired},
	{"Records", testRecords},
	{"BuffersNotShared", testBuffersNotShared},
	{"History", testHistory},
	{"Totals", testTotals},
	{"Meta", testMeta},
	{"ViewReadOnly", testViewReadOnly},
	{"CancelledContext", testCancelledContext},
	{"ConcurrentTransfers", testConcurrentTransfers},
}

// RunReopen writes one of everything, closes the store with Close, reopens it
// with reopen (which opens the same underlying storage as old, already
// closed, and registers the new store's cleanup) and reads everything back;
// then it checks the reopened store keeps working (history sequence numbers
// continue, indexes are intact).
func RunReopen(t *testing.T, open func(t *testing.T) store.Store, reopen func(t *testing.T, old store.Store) store.Store) {
	s := open(t)
	f := newFixture()
	update(t, s, func(tx store.Tx) error { return f.write(tx) })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = reopen(t, s)
	view(t, s, func(tx store.Tx) error { return f.check(t, tx) })

	// The reopened store keeps assigning sequence numbers after the old
	// ones and keeps its indexes.
	update(t, s, func(tx store.Tx) error {
		seq, err := tx.AddEntry(store.Entry{Account: f.a, Time: f.t0, Kind: "after-reopen"})
		if err != nil {
			return err
		}
		if seq != uint64(len(f.entriesA))+1 {
			t.Errorf("AddEntry after reopen: seq %d, want %d", seq, len(f.entriesA)+1)
		}
		open := f.open
		open.Closed, open.ClosedAt, open.CloseKind = true, f.t0.Add(time.Hour), store.ByTimeout
		return tx.PutChannel(open)
	})
	view(t, s, func(tx store.Tx) error {
		ids, err := tx.Expired(f.t0.Add(1000*time.Hour), 10)
		if err != nil {
			return err
		}
		if len(ids) != 0 {
			t.Errorf("Expired after closing the only open channel: %x", ids)
		}
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != f.balA+f.balB || esc != 0 {
			t.Errorf("Totals = %d, %d; want %d, 0", bal, esc, f.balA+f.balB)
		}
		return nil
	})
}

// Helpers.

var errBoom = errors.New("storetest: boom")

func update(t testing.TB, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t testing.TB, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func addr(n byte) wallet.Address {
	var a wallet.Address
	a[0] = wallet.AddressPrefix
	for i := 1; i < len(a); i++ {
		a[i] = n ^ byte(i)
	}
	return a
}

func chanID(n byte) speed.ChannelID {
	var id speed.ChannelID
	for i := range id {
		id[i] = n + byte(i)
	}
	return id
}

// base is a time with nanoseconds, in a zone other than UTC: stores must
// keep the instant (compared with Equal), not the zone.
var base = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+3", 3*3600))

func newChannel(id byte, payer, payee wallet.Address, deposit uint64, deadline, opened time.Time) store.Channel {
	return store.Channel{
		Channel: speed.Channel{
			ID: chanID(id), Payer: payer, Payee: payee,
			Deposit: deposit, Deadline: deadline,
		},
		Nonce:    uint64(id) * 1000003,
		OpenedAt: opened,
	}
}

func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return a.Equal(b)
}

// fieldDiff collects the fields that differ between a got and a want.
type fieldDiff []string

func (d *fieldDiff) check(name string, ok bool, got, want any) {
	if !ok {
		*d = append(*d, fmt.Sprintf("%s = %v, want %v", name, got, want))
	}
}

func diffChannel(got, want store.Channel) string {
	var d fieldDiff
	f := d.check
	f("ID", got.ID == want.ID, got.ID, want.ID)
	f("Payer", got.Payer == want.Payer, got.Payer, want.Payer)
	f("Payee", got.Payee == want.Payee, got.Payee, want.Payee)
	f("Deposit", got.Deposit == want.Deposit, got.Deposit, want.Deposit)
	f("Deadline", sameTime(got.Deadline, want.Deadline), got.Deadline, want.Deadline)
	f("Closed", got.Closed == want.Closed, got.Closed, want.Closed)
	f("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	f("Paid", got.Paid == want.Paid, got.Paid, want.Paid)
	f("Nonce", got.Nonce == want.Nonce, got.Nonce, want.Nonce)
	f("OpenedAt", sameTime(got.OpenedAt, want.OpenedAt), got.OpenedAt, want.OpenedAt)
	f("ClosedAt", sameTime(got.ClosedAt, want.ClosedAt), got.ClosedAt, want.ClosedAt)
	f("CloseKind", got.CloseKind == want.CloseKind, got.CloseKind, want.CloseKind)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func diffEntry(got, want store.Entry) string {
	var d fieldDiff
	f := d.check
	f("Account", got.Account == want.Account, got.Account, want.Account)
	f("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	f("Time", sameTime(got.Time, want.Time), got.Time, want.Time)
	f("Kind", got.Kind == want.Kind, got.Kind, want.Kind)
	f("Credit", got.Credit == want.Credit, got.Credit, want.Credit)
	f("Debit", got.Debit == want.Debit, got.Debit, want.Debit)
	f("Balance", got.Balance == want.Balance, got.Balance, want.Balance)
	f("Ref", got.Ref == want.Ref, got.Ref, want.Ref)
	f("Counterparty", got.Counterparty == want.Counterparty, got.Counterparty, want.Counterparty)
	f("Memo", got.Memo == want.Memo, got.Memo, want.Memo)
	f("Service", got.Service == want.Service, got.Service, want.Service)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func checkChannel(t testing.TB, tx store.Tx, want store.Channel) {
	t.Helper()
	got, err := tx.Channel(want.ID)
	if err != nil {
		t.Errorf("Channel(%x): %v", want.ID[:4], err)
		return
	}
	if d := diffChannel(got, want); d != "" {
		t.Errorf("Channel(%x): %s", want.ID[:4], d)
	}
}

func checkBalance(t testing.TB, tx store.Tx, a wallet.Address, want uint64) {
	t.Helper()
	got, err := tx.Balance(a)
	if err != nil {
		t.Errorf("Balance(%x): %v", a[:4], err)
	} else if got != want {
		t.Errorf("Balance(%x) = %d, want %d", a[:4], got, want)
	}
}

func checkIDs(t testing.TB, what string, got []speed.ChannelID, want ...speed.ChannelID) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %s, want %s", what, shortIDs(got), shortIDs(want))
	}
}

func shortIDs(ids []speed.ChannelID) string {
	s := "["
	for i, id := range ids {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%x", id[:2])
	}
	return s + "]"
}

func channelIDs(chs []store.Channel) []speed.ChannelID {
	ids := make([]speed.ChannelID, len(chs))
	for i, c := range chs {
		ids[i] = c.ID
	}
	return ids
}

// Balances.

func testBalances(t testing.TB, s store.Store) {
	a, b, c := addr(1), addr(2), addr(3)
	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 0)
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 0)
		if err := tx.SetBalance(a, 5); err != nil {
			return err
		}
		if err := tx.SetBalance(b, math.MaxInt64); err != nil {
			return err
		}
		return tx.SetBalance(c, 990_000_000_000_000_000) // the total supply
	})
	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 5)
		checkBalance(t, tx, b, math.MaxInt64)
		checkBalance(t, tx, c, 990_000_000_000_000_000)
		checkBalance(t, tx, addr(4), 0)
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetBalance(a, 7); err != nil {
			return err
		}
		return tx.SetBalance(b, 0)
	})
	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 7)
		checkBalance(t, tx, b, 0)
		return nil
	})
}

// Rollback: an Update whose fn fails writes nothing, and returns fn's error.

func testRollback(t testing.TB, s store.Store) {
	a, b := addr(1), addr(2)
	old := newChannel(1, a, b, 10, base.Add(time.Hour), base)
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetBalance(a, 100); err != nil {
			return err
		}
		if err := tx.PutChannel(old); err != nil {
			return err
		}
		if err := tx.PutRecord([]byte("r1"), []byte("old")); err != nil {
			return err
		}
		if _, err := tx.AddEntry(store.Entry{Account: a, Time: base, Kind: "genesis", Credit: 100, Balance: 100}); err != nil {
			return err
		}
		return tx.PutMeta("m1", []byte("old"))
	})

	fresh := newChannel(2, b, a, 20, base.Add(-time.Hour), base.Add(time.Minute))
	closed := old
	closed.Closed, closed.ClosedAt, closed.CloseKind = true, base.Add(time.Minute), store.ByTimeout
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for _, step := range []func() error{
			func() error { return tx.SetBalance(a, 1) },
			func() error { return tx.SetBalance(b, 2) },
			func() error { return tx.PutChannel(closed) },
			func() error { return tx.PutChannel(fresh) },
			func() error { return tx.PutRecord([]byte("r1"), []byte("new")) },
			func() error { return tx.PutRecord([]byte("r2"), []byte("new")) },
			func() error {
				_, err := tx.AddEntry(store.Entry{Account: a, Time: base, Kind: "transfer", Debit: 99, Balance: 1})
				return err
			},
			func() error {
				_, err := tx.AddEntry(store.Entry{Account: b, Time: base, Kind: "transfer", Credit: 2, Balance: 2})
				return err
			},
			func() error { return tx.PutMeta("m1", []byte("new")) },
			func() error { return tx.PutMeta("m2", []byte("new")) },
		} {
			if err := step(); err != nil {
				t.Errorf("write in the failing Update: %v", err)
			}
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update whose fn failed returned %v, want an error wrapping fn's", err)
	}

	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 100)
		checkBalance(t, tx, b, 0)
		checkChannel(t, tx, old)
		if _, err := tx.Channel(fresh.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Channel of a rolled back PutChannel: %v, want ErrNotFound", err)
		}
		if v, err := tx.Record([]byte("r1")); err != nil || string(v) != "old" {
			t.Errorf("Record(r1) = %q, %v; want old", v, err)
		}
		if _, err := tx.Record([]byte("r2")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Record(r2) of a rolled back PutRecord: %v, want ErrNotFound", err)
		}
		if v, err := tx.Meta("m1"); err != nil || string(v) != "old" {
			t.Errorf("Meta(m1) = %q, %v; want old", v, err)
		}
		if _, err := tx.Meta("m2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Meta(m2) of a rolled back PutMeta: %v, want ErrNotFound", err)
		}
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 1 || h[0].Kind != "genesis" {
			t.Errorf("History(a) = %+v, %v; want the genesis entry only", h, err)
		}
		if h, err := tx.History(b, 0, 10); err != nil || len(h) != 0 {
			t.Errorf("History(b) = %+v, %v; want none", h, err)
		}
		ids, err := tx.Expired(base.Add(10*time.Hour), 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired", ids, old.ID)
		chs, err := tx.ChannelsOf(b, 10)
		if err != nil {
			return err
		}
		checkIDs(t, "ChannelsOf(b)", channelIDs(chs), old.ID)
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != 100 || esc != 10 {
			t.Errorf("Totals = %d, %d; want 100, 10", bal, esc)
		}
		return nil
	})

	// The store is still usable, and a later entry follows the committed
	// ones.
	update(t, s, func(tx store.Tx) error {
		seq, err := tx.AddEntry(store.Entry{Account: a, Time: base, Kind: "x"})
		if err != nil {
			return err
		}
		if seq <= 1 {
			t.Errorf("AddEntry after a rollback: seq %d, want > 1", seq)
		}
		return nil
	})
}

// ReadYourWrites: an Update sees its own writes.

func testReadYourWrites(t testing.TB, s store.Store) {
	a, b := addr(1), addr(2)
	ch := newChannel(1, a, b, 30, base, base.Add(-time.Hour))
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetBalance(a, 12); err != nil {
			return err
		}
		checkBalance(t, tx, a, 12)
		if err := tx.PutChannel(ch); err != nil {
			return err
		}
		checkChannel(t, tx, ch)
		ids, err := tx.Expired(base, 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired", ids, ch.ID)
		chs, err := tx.ChannelsOf(b, 10)
		if err != nil {
			return err
		}
		checkIDs(t, "ChannelsOf", channelIDs(chs), ch.ID)
		if err := tx.PutRecord([]byte("k"), []byte("v")); err != nil {
			return err
		}
		if v, err := tx.Record([]byte("k")); err != nil || string(v) != "v" {
			t.Errorf("Record = %q, %v; want v", v, err)
		}
		if _, err := tx.AddEntry(store.Entry{Account: a, Time: base, Kind: "k", Credit: 12, Balance: 12}); err != nil {
			return err
		}
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 1 {
			t.Errorf("History = %+v, %v; want one entry", h, err)
		}
		if err := tx.PutMeta("m", []byte("v")); err != nil {
			return err
		}
		if v, err := tx.Meta("m"); err != nil || string(v) != "v" {
			t.Errorf("Meta = %q, %v; want v", v, err)
		}
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != 12 || esc != 30 {
			t.Errorf("Totals = %d, %d; want 12, 30", bal, esc)
		}
		return nil
	})
}

// Channels.

func testChannelRoundTrip(t testing.TB, s store.Store) {
	a, b := addr(1), addr(2)
	open := newChannel(1, a, b, 123456789, base.Add(90*time.Minute+1), base)
	open.Nonce = math.MaxUint64
	closed := newChannel(2, b, a, math.MaxInt64, base.Add(time.Nanosecond), base.Add(-time.Hour).In(time.UTC))
	closed.Closed = true
	closed.Seq = math.MaxUint64
	closed.Paid = math.MaxInt64 - 1
	closed.Nonce = 1 << 63
	closed.ClosedAt = base.Add(time.Minute + 7)
	closed.CloseKind = store.ByState
	timedOut := newChannel(3, a, a, 1, base.Add(-time.Hour), base.Add(-2*time.Hour).Local())
	timedOut.Nonce = 0
	timedOut.Closed, timedOut.ClosedAt, timedOut.CloseKind = true, base.Add(-time.Hour), store.ByTimeout

	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Channel(open.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Channel of an absent id: %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, c := range []store.Channel{open, closed, timedOut} {
			if err := tx.PutChannel(c); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		for _, c := range []store.Channel{open, closed, timedOut} {
			checkChannel(t, tx, c)
		}
		got, err := tx.Channel(open.ID)
		if err != nil {
			return err
		}
		if !got.ClosedAt.IsZero() || got.CloseKind != store.Open || got.Closed {
			t.Errorf("open channel: ClosedAt %v, CloseKind %d, Closed %v; want zero", got.ClosedAt, got.CloseKind, got.Closed)
		}
		if _, err := tx.Channel(chanID(9)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Channel of an absent id: %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testChannelReplace(t testing.TB, s store.Store) {
	a, b, c := addr(1), addr(2), addr(3)
	x := newChannel(1, a, b, 10, base.Add(time.Hour), base)
	y := newChannel(2, a, c, 20, base.Add(2*time.Hour), base.Add(time.Minute))
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutChannel(x); err != nil {
			return err
		}
		return tx.PutChannel(y)
	})
	late := base.Add(10 * time.Hour)
	view(t, s, func(tx store.Tx) error {
		ids, err := tx.Expired(late, 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired before the close", ids, x.ID, y.ID)
		return nil
	})

	// Closing x takes it out of the open index, keeps it in both parties'
	// lists, once, with its new fields.
	xc := x
	xc.Closed, xc.Seq, xc.Paid, xc.ClosedAt, xc.CloseKind = true, 4, 6, base.Add(30*time.Minute), store.ByState
	update(t, s, func(tx store.Tx) error { return tx.PutChannel(xc) })
	view(t, s, func(tx store.Tx) error {
		checkChannel(t, tx, xc)
		ids, err := tx.Expired(late, 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired after the close", ids, y.ID)
		for _, who := range []wallet.Address{a, b} {
			chs, err := tx.ChannelsOf(who, 10)
			if err != nil {
				return err
			}
			var n int
			for _, ch := range chs {
				if ch.ID == x.ID {
					n++
					if d := diffChannel(ch, xc); d != "" {
						t.Errorf("ChannelsOf(%x) has the closed channel as %s", who[:2], d)
					}
				}
			}
			if n != 1 {
				t.Errorf("ChannelsOf(%x) lists the replaced channel %d times, want once", who[:2], n)
			}
		}
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != 0 || esc != 20 {
			t.Errorf("Totals = %d, %d; want 0, 20", bal, esc)
		}
		return nil
	})

	// Replacing an open channel with a later deadline moves it in the
	// index: it is no longer due at its old deadline.
	y2 := y
	y2.Deadline = base.Add(5 * time.Hour)
	update(t, s, func(tx store.Tx) error { return tx.PutChannel(y2) })
	view(t, s, func(tx store.Tx) error {
		ids, err := tx.Expired(base.Add(3*time.Hour), 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired at the old deadline", ids)
		ids, err = tx.Expired(y2.Deadline, 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired at the new deadline", ids, y.ID)
		chs, err := tx.ChannelsOf(c, 10)
		if err != nil {
			return err
		}
		if len(chs) != 1 || diffChannel(chs[0], y2) != "" {
			t.Errorf("ChannelsOf(c) = %+v, want the replaced channel once", chs)
		}
		return nil
	})

	// A closed channel stays closed out of the index even if replaced again.
	yc := y2
	yc.Closed, yc.ClosedAt, yc.CloseKind = true, y2.Deadline, store.ByTimeout
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutChannel(yc); err != nil {
			return err
		}
		return tx.PutChannel(yc)
	})
	view(t, s, func(tx store.Tx) error {
		ids, err := tx.Expired(late.Add(1000*time.Hour), 10)
		if err != nil {
			return err
		}
		checkIDs(t, "Expired with everything closed", ids)
		return nil
	})
}

func testChannelsOf(t testing.TB, s store.Store) {
	p, q, r, nobody := addr(1), addr(2), addr(3), addr(4)
	// Opened in an order that is neither id order nor deadline order.
	chs := []store.Channel{
		newChannel(5, p, q, 1, base.Add(5*time.Hour), base.Add(3*time.Second)),
		newChannel(1, p, r, 2, base.Add(1*time.Hour), base.Add(1*time.Second)),
		newChannel(9, q, p, 3, base.Add(3*time.Hour), base.Add(4*time.Second)),
		newChannel(3, p, q, 4, base.Add(2*time.Hour), base.Add(2*time.Second+1)),
		newChannel(7, r, q, 5, base.Add(4*time.Hour), base.Add(5*time.Second)),
	}
	chs[3].Closed, chs[3].ClosedAt, chs[3].CloseKind = true, base.Add(time.Hour), store.ByState
	update(t, s, func(tx store.Tx) error {
		for _, c := range chs {
			if err := tx.PutChannel(c); err != nil {
				return err
			}
		}
		return nil
	})
	id := func(i int) speed.ChannelID { return chs[i].ID }
	view(t, s, func(tx store.Tx) error {
		for _, tc := range []struct {
			name  string
			a     wallet.Address
			limit int
			want  []speed.ChannelID
		}{
			{"p", p, 10, []speed.ChannelID{id(2), id(0), id(3), id(1)}},
			{"p limit 2", p, 2, []speed.ChannelID{id(2), id(0)}},
			{"p limit 1", p, 1, []speed.ChannelID{id(2)}},
			{"q", q, 10, []speed.ChannelID{id(4), id(2), id(0), id(3)}},
			{"q limit 3", q, 3, []speed.ChannelID{id(4), id(2), id(0)}},
			{"r", r, 10, []speed.ChannelID{id(4), id(1)}},
			{"nobody", nobody, 10, nil},
		} {
			got, err := tx.ChannelsOf(tc.a, tc.limit)
			if err != nil {
				return err
			}
			checkIDs(t, "ChannelsOf("+tc.name+")", channelIDs(got), tc.want...)
			for _, g := range got {
				for _, c := range chs {
					if c.ID == g.ID {
						if d := diffChannel(g, c); d != "" {
							t.Errorf("ChannelsOf(%s): %s", tc.name, d)
						}
					}
				}
			}
		}
		return nil
	})
}

func testExpired(t testing.TB, s store.Store) {
	a, b := addr(1), addr(2)
	d := base.Add(time.Hour) // with nanoseconds
	chs := []store.Channel{
		newChannel(1, a, b, 1, d.Add(2*time.Second), base),
		newChannel(2, a, b, 1, d, base),
		newChannel(3, b, a, 1, d.Add(-time.Second), base),
		newChannel(4, a, b, 1, d.Add(-2*time.Second), base), // closed
		newChannel(5, b, a, 1, d.Add(time.Second), base),
	}
	chs[3].Closed, chs[3].ClosedAt, chs[3].CloseKind = true, d.Add(-3*time.Second), store.ByState
	update(t, s, func(tx store.Tx) error {
		for _, c := range chs {
			if err := tx.PutChannel(c); err != nil {
				return err
			}
		}
		return nil
	})
	id := func(i int) speed.ChannelID { return chs[i].ID }
	view(t, s, func(tx store.Tx) error {
		for _, tc := range []struct {
			name  string
			now   time.Time
			limit int
			want  []speed.ChannelID
		}{
			{"long before", base, 10, nil},
			{"before all open", d.Add(-time.Second - 1), 10, nil},
			{"at the first", d.Add(-time.Second), 10, []speed.ChannelID{id(2)}},
			{"1ns before d", d.Add(-1), 10, []speed.ChannelID{id(2)}},
			{"at d", d, 10, []speed.ChannelID{id(2), id(1)}},
			{"at d in UTC", d.UTC(), 10, []speed.ChannelID{id(2), id(1)}},
			{"long after", d.Add(24 * time.Hour), 10, []speed.ChannelID{id(2), id(1), id(4), id(0)}},
			{"long after limit 3", d.Add(24 * time.Hour), 3, []speed.ChannelID{id(2), id(1), id(4)}},
			{"long after limit 1", d.Add(24 * time.Hour), 1, []speed.ChannelID{id(2)}},
		} {
			got, err := tx.Expired(tc.now, tc.limit)
			if err != nil {
				return err
			}
			checkIDs(t, "Expired("+tc.name+")", got, tc.want...)
		}
		return nil
	})
}

// Records.

func testRecords(t testing.TB, s store.Store) {
	long := bytes.Repeat([]byte{0xab}, store.MaxRecordKey)
	keys := [][]byte{
		{0}, {0, 0}, {0, 0, 0}, []byte("a"), []byte("a\x00"), []byte("a\x00b"), []byte("ab"), {0xff}, long[:store.MaxRecordKey-1], long,
	}
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Record([]byte("absent")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Record of an absent key: %v, want ErrNotFound", err)
		}
		return nil
	})
	value := func(i int) []byte {
		if i == 0 {
			return []byte{} // empty values are values
		}
		return append(bytes.Repeat([]byte{byte(i), 0}, i*37), "end"...)
	}
	update(t, s, func(tx store.Tx) error {
		for i, k := range keys {
			if err := tx.PutRecord(k, value(i)); err != nil {
				return fmt.Errorf("PutRecord(%x): %w", k, err)
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		for i, k := range keys {
			v, err := tx.Record(k)
			if err != nil {
				t.Errorf("Record(%x): %v", k, err)
			} else if !bytes.Equal(v, value(i)) {
				t.Errorf("Record(%x) = %x, want %x", k, v, value(i))
			}
		}
		for _, k := range [][]byte{{0, 0, 0, 0}, []byte("b"), long[:10]} {
			if _, err := tx.Record(k); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Record(%x) of an absent key: %v, want ErrNotFound", k, err)
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		return tx.PutRecord(keys[3], []byte("overwritten"))
	})
	view(t, s, func(tx store.Tx) error {
		if v, err := tx.Record(keys[3]); err != nil || string(v) != "overwritten" {
			t.Errorf("Record after overwrite = %q, %v", v, err)
		}
		if v, err := tx.Record(keys[4]); err != nil || !bytes.Equal(v, value(4)) {
			t.Errorf("Record of a neighbour after overwrite = %x, %v", v, err)
		}
		return nil
	})

	tooLong := append(bytes.Clone(long), 1)
	err := s.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutRecord(tooLong, []byte("x"))
	})
	if err == nil {
		t.Errorf("PutRecord with a key of %d bytes succeeded, want an error", len(tooLong))
	}
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Record(tooLong); err == nil {
			t.Errorf("Record of a key of %d bytes found something", len(tooLong))
		}
		return nil
	})
}

// BuffersNotShared: slices a store returns stay valid after the transaction
// ends, and slices it is given may be reused by the caller once the call
// returns.
func testBuffersNotShared(t testing.TB, s store.Store) {
	key := []byte("key-1")
	val := []byte("value-1")
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutRecord(key, val); err != nil {
			return err
		}
		if err := tx.PutMeta("meta-1", val); err != nil {
			return err
		}
		// The caller reuses its buffers after the calls returned.
		copy(key, "KEY-X")
		copy(val, "VALUE-X")
		return nil
	})
	var rec, meta []byte
	view(t, s, func(tx store.Tx) error {
		var err error
		if _, err := tx.Record([]byte("KEY-X")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Record under the reused key buffer: %v, want ErrNotFound", err)
		}
		if rec, err = tx.Record([]byte("key-1")); err != nil {
			return err
		}
		meta, err = tx.Meta("meta-1")
		return err
	})
	if string(rec) != "value-1" || string(meta) != "value-1" {
		t.Errorf("values put then the buffer reused: record %q, meta %q; want value-1", rec, meta)
	}
	// Write a lot more, so that a store handing out views of its pages
	// would have them reused or unmapped.
	for i := range 20 {
		update(t, s, func(tx store.Tx) error {
			for j := range 50 {
				k := fmt.Appendf(nil, "fill-%d-%d", i, j)
				if err := tx.PutRecord(k, bytes.Repeat(k, 40)); err != nil {
					return err
				}
			}
			return tx.PutRecord([]byte("key-1"), []byte("changed"))
		})
	}
	if string(rec) != "value-1" || string(meta) != "value-1" {
		t.Errorf("values read in a finished View changed: record %q, meta %q; want value-1", rec, meta)
	}
	// Modifying a returned value does not modify the store.
	view(t, s, func(tx store.Tx) error {
		v, err := tx.Meta("meta-1")
		if err != nil {
			return err
		}
		if len(v) > 0 {
			v[0] = 'X'
		}
		v, err = tx.Meta("meta-1")
		if err != nil {
			return err
		}
		if string(v) != "value-1" {
			t.Errorf("Meta after modifying a returned value = %q", v)
		}
		return nil
	})
}

// History.

// memoOf is entry i's memo in testHistory: none for every other entry, else
// up to api.MaxMemo bytes of UTF-8.
func memoOf(i int) string {
	if i%2 == 0 {
		return ""
	}
	return strings.Repeat("é", min(i, 70))
}

// serviceOf is entry i's service in testHistory: none for every third
// entry, else a tag of up to speed.MaxServiceLen bytes, so that entries have
// a memo, a service, both or neither.
func serviceOf(i int) string {
	switch i % 3 {
	case 0:
		return ""
	case 1:
		return "proxy"
	}
	return strings.Repeat("s", min(i, 16))
}

func testHistory(t testing.TB, s store.Store) {
	a, b, c := addr(1), addr(2), addr(3)
	entry := func(acct wallet.Address, i int) store.Entry {
		return store.Entry{
			Account:      acct,
			Seq:          999, // ignored: the store assigns it
			Time:         base.Add(time.Duration(i)*time.Second + time.Duration(i)),
			Kind:         fmt.Sprintf("kind-%d", i),
			Credit:       uint64(i) * 10,
			Debit:        uint64(i),
			Balance:      math.MaxInt64 - uint64(i),
			Ref:          fmt.Sprintf("ref-%d-Zürich-✓", i),
			Counterparty: addr(byte(100 + i)),
			Memo:         memoOf(i),
			Service:      serviceOf(i),
		}
	}
	view(t, s, func(tx store.Tx) error {
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 0 {
			t.Errorf("History of an account without entries = %v, %v", h, err)
		}
		return nil
	})
	var wantA, wantB []store.Entry
	add := func(tx store.Tx, acct wallet.Address, i int, want *[]store.Entry) error {
		e := entry(acct, i)
		seq, err := tx.AddEntry(e)
		if err != nil {
			return err
		}
		if seq != uint64(len(*want))+1 {
			t.Errorf("AddEntry #%d for %x: seq %d, want %d", len(*want)+1, acct[:2], seq, len(*want)+1)
		}
		e.Seq = seq
		*want = append(*want, e)
		return nil
	}
	update(t, s, func(tx store.Tx) error {
		for i := range 3 {
			if err := add(tx, a, i, &wantA); err != nil {
				return err
			}
		}
		return add(tx, b, 10, &wantB)
	})
	update(t, s, func(tx store.Tx) error {
		if err := add(tx, b, 11, &wantB); err != nil {
			return err
		}
		if err := add(tx, a, 3, &wantA); err != nil {
			return err
		}
		return add(tx, a, 4, &wantA)
	})
	// a: seqs 1..5, b: seqs 1..2.
	rev := func(es []store.Entry, seqs ...int) []store.Entry {
		var out []store.Entry
		for _, s := range seqs {
			out = append(out, es[s-1])
		}
		return out
	}
	view(t, s, func(tx store.Tx) error {
		for _, tc := range []struct {
			name   string
			a      wallet.Address
			before uint64
			limit  int
			want   []store.Entry
		}{
			{"a", a, 0, 10, rev(wantA, 5, 4, 3, 2, 1)},
			{"a limit 2", a, 0, 2, rev(wantA, 5, 4)},
			{"a before 4", a, 4, 2, rev(wantA, 3, 2)},
			{"a before 2", a, 2, 2, rev(wantA, 1)},
			{"a before 1", a, 1, 10, nil},
			{"a before 6", a, 6, 1, rev(wantA, 5)},
			{"a before 100", a, 100, 10, rev(wantA, 5, 4, 3, 2, 1)},
			{"a before max", a, math.MaxUint64, 1, rev(wantA, 5)},
			{"b", b, 0, 10, rev(wantB, 2, 1)},
			{"c", c, 0, 10, nil},
		} {
			got, err := tx.History(tc.a, tc.before, tc.limit)
			if err != nil {
				return err
			}
			if len(got) != len(tc.want) {
				t.Errorf("History(%s) has %d entries, want %d", tc.name, len(got), len(tc.want))
				continue
			}
			for i := range got {
				if d := diffEntry(got[i], tc.want[i]); d != "" {
					t.Errorf("History(%s)[%d]: %s", tc.name, i, d)
				}
			}
		}
		return nil
	})
	// Paging through everything with before.
	view(t, s, func(tx store.Tx) error {
		var seqs []uint64
		before := uint64(0)
		for range 10 {
			page, err := tx.History(a, before, 2)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				seqs = append(seqs, e.Seq)
			}
			before = page[len(page)-1].Seq
		}
		if !slices.Equal(seqs, []uint64{5, 4, 3, 2, 1}) {
			t.Errorf("paging History(a) by 2 gave seqs %v, want 5 4 3 2 1", seqs)
		}
		return nil
	})
}

// Totals.

func testTotals(t testing.TB, s store.Store) {
	a, b, c := addr(1), addr(2), addr(3)
	view(t, s, func(tx store.Tx) error {
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		if bal != 0 || esc != 0 {
			t.Errorf("Totals of an empty store = %d, %d", bal, esc)
		}
		return nil
	})
	open1 := newChannel(1, a, b, 7, base, base)
	open2 := newChannel(2, b, c, 11, base.Add(time.Hour), base)
	closed := newChannel(3, a, c, 1000, base, base)
	closed.Closed, closed.ClosedAt, closed.CloseKind = true, base, store.ByTimeout
	update(t, s, func(tx store.Tx) error {
		for _, x := range []struct {
			a wallet.Address
			v uint64
		}{{a, 1}, {b, 20}, {c, 300}} {
			if err := tx.SetBalance(x.a, x.v); err != nil {
				return err
			}
		}
		for _, ch := range []store.Channel{open1, open2, closed} {
			if err := tx.PutChannel(ch); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(wantBal, wantEsc uint64) {
		t.Helper()
		view(t, s, func(tx store.Tx) error {
			bal, esc, err := tx.Totals()
			if err != nil {
				return err
			}
			if bal != wantBal || esc != wantEsc {
				t.Errorf("Totals = %d, %d; want %d, %d", bal, esc, wantBal, wantEsc)
			}
			return nil
		})
	}
	check(321, 18)
	// Closing a channel takes its deposit out of escrow.
	c1 := open1
	c1.Closed, c1.ClosedAt, c1.CloseKind, c1.Paid, c1.Seq = true, base, store.ByState, 3, 1
	update(t, s, func(tx store.Tx) error { return tx.PutChannel(c1) })
	check(321, 11)
	// Sums beyond 2^63 (each value below it) are exact.
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetBalance(a, 1<<62); err != nil {
			return err
		}
		if err := tx.SetBalance(b, 1<<62); err != nil {
			return err
		}
		return tx.SetBalance(c, 5)
	})
	check(1<<63+5, 11)
}

// Meta.

func testMeta(t testing.TB, s store.Store) {
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Meta("absent"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Meta of an absent key: %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutMeta("ledger-id", []byte("btspeed-test")); err != nil {
			return err
		}
		if err := tx.PutMeta("empty", []byte{}); err != nil {
			return err
		}
		return tx.PutMeta("binary", []byte{0, 1, 0, 0xff})
	})
	view(t, s, func(tx store.Tx) error {
		for k, want := range map[string]string{"ledger-id": "btspeed-test", "empty": "", "binary": "\x00\x01\x00\xff"} {
			v, err := tx.Meta(k)
			if err != nil || string(v) != want {
				t.Errorf("Meta(%q) = %q, %v; want %q", k, v, err, want)
			}
		}
		if _, err := tx.Meta("ledger"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Meta of a prefix of a key: %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.PutMeta("ledger-id", []byte("other")) })
	view(t, s, func(tx store.Tx) error {
		if v, err := tx.Meta("ledger-id"); err != nil || string(v) != "other" {
			t.Errorf("Meta after overwrite = %q, %v", v, err)
		}
		return nil
	})
}

// View.

func testViewReadOnly(t testing.TB, s store.Store) {
	a := addr(1)
	update(t, s, func(tx store.Tx) error { return tx.SetBalance(a, 9) })
	ch := newChannel(1, a, addr(2), 1, base, base)
	view(t, s, func(tx store.Tx) error {
		for name, err := range map[string]error{
			"SetBalance": tx.SetBalance(a, 1),
			"PutChannel": tx.PutChannel(ch),
			"PutRecord":  tx.PutRecord([]byte("k"), []byte("v")),
			"AddEntry": func() error {
				_, err := tx.AddEntry(store.Entry{Account: a, Time: base, Kind: "x"})
				return err
			}(),
			"PutMeta": tx.PutMeta("k", []byte("v")),
		} {
			if !errors.Is(err, store.ErrReadOnly) {
				t.Errorf("%s in View: %v, want ErrReadOnly", name, err)
			}
		}
		// Reads still work after refused writes.
		checkBalance(t, tx, a, 9)
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 9)
		if _, err := tx.Channel(ch.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Channel after PutChannel in View: %v, want ErrNotFound", err)
		}
		if _, err := tx.Record([]byte("k")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Record after PutRecord in View: %v, want ErrNotFound", err)
		}
		if _, err := tx.Meta("k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Meta after PutMeta in View: %v, want ErrNotFound", err)
		}
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 0 {
			t.Errorf("History after AddEntry in View = %v, %v", h, err)
		}
		return nil
	})
	// fn's error comes back from View too.
	if err := s.View(context.Background(), func(store.Tx) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("View whose fn failed returned %v, want fn's error", err)
	}
}

// Context.

func testCancelledContext(t testing.TB, s store.Store) {
	a := addr(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetBalance(a, 5); err != nil {
			return err
		}
		if err := tx.PutMeta("m", []byte("v")); err != nil {
			return err
		}
		_, err := tx.AddEntry(store.Entry{Account: a, Time: base, Kind: "x"})
		return err
	})
	if err == nil {
		t.Errorf("Update with a cancelled context succeeded")
	}
	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 0)
		if _, err := tx.Meta("m"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Meta after the cancelled Update: %v, want ErrNotFound", err)
		}
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 0 {
			t.Errorf("History after the cancelled Update = %v, %v", h, err)
		}
		return nil
	})
	// The store still works afterwards.
	update(t, s, func(tx store.Tx) error { return tx.SetBalance(a, 6) })
	view(t, s, func(tx store.Tx) error {
		checkBalance(t, tx, a, 6)
		return nil
	})
}

// Concurrency.

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
