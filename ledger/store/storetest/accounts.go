package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

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
	err := s.Update(context.Background(), func(tx store.Tx) error {
		writeOverEverything(t, tx, a, b, old, fresh)
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update whose fn failed returned %v, want an error wrapping fn's", err)
	}
	view(t, s, func(tx store.Tx) error { return checkRolledBack(t, tx, a, b, old, fresh) })

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

// writeOverEverything is the body of testRollback's failing Update: it
// changes or adds one of every kind of thing a store holds (balances, old
// closed by timeout, fresh, records, history entries, meta), each write
// expected to succeed.
func writeOverEverything(t testing.TB, tx store.Tx, a, b wallet.Address, old, fresh store.Channel) {
	t.Helper()
	closed := old
	closed.Closed, closed.ClosedAt, closed.CloseKind = true, base.Add(time.Minute), store.ByTimeout
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
}

// checkRolledBack checks that tx sees what testRollback committed and
// nothing of its failing Update, in the data and in the indexes (history,
// expiry, channels by account, totals).
func checkRolledBack(t testing.TB, tx store.Tx, a, b wallet.Address, old, fresh store.Channel) error {
	t.Helper()
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
