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
	"context"
	"errors"
	"fmt"
	"slices"
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

// putChannels stores chs in one transaction.
func putChannels(t testing.TB, s store.Store, chs ...store.Channel) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, c := range chs {
			if err := tx.PutChannel(c); err != nil {
				return err
			}
		}
		return nil
	})
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
