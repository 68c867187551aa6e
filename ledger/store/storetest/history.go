package storetest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

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

// historyEntry is entry i of acct in testHistory: every field set, with
// non-ASCII text, nanoseconds and a balance that needs 63 bits.
func historyEntry(acct wallet.Address, i int) store.Entry {
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

// addHistory adds entry i of acct in tx, checks it got the next sequence
// number after those in want, and appends it to want with that number.
func addHistory(t testing.TB, tx store.Tx, acct wallet.Address, i int, want *[]store.Entry) error {
	t.Helper()
	e := historyEntry(acct, i)
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

func testHistory(t testing.TB, s store.Store) {
	a, b, c := addr(1), addr(2), addr(3)
	view(t, s, func(tx store.Tx) error {
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 0 {
			t.Errorf("History of an account without entries = %v, %v", h, err)
		}
		return nil
	})
	var wantA, wantB []store.Entry
	update(t, s, func(tx store.Tx) error {
		for i := range 3 {
			if err := addHistory(t, tx, a, i, &wantA); err != nil {
				return err
			}
		}
		return addHistory(t, tx, b, 10, &wantB)
	})
	update(t, s, func(tx store.Tx) error {
		if err := addHistory(t, tx, b, 11, &wantB); err != nil {
			return err
		}
		if err := addHistory(t, tx, a, 3, &wantA); err != nil {
			return err
		}
		return addHistory(t, tx, a, 4, &wantA)
	})
	// a: seqs 1..5, b: seqs 1..2.
	view(t, s, func(tx store.Tx) error { return checkHistoryQueries(t, tx, a, b, c, wantA, wantB) })
	view(t, s, func(tx store.Tx) error { return checkHistoryPaging(t, tx, a) })
}

// checkHistoryQueries checks History's answers, newest first, for a (five
// entries, wantA), b (two, wantB) and c (none), with limits and before.
func checkHistoryQueries(t testing.TB, tx store.Tx, a, b, c wallet.Address, wantA, wantB []store.Entry) error {
	t.Helper()
	rev := func(es []store.Entry, seqs ...int) []store.Entry {
		var out []store.Entry
		for _, s := range seqs {
			out = append(out, es[s-1])
		}
		return out
	}
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
}

// checkHistoryPaging pages through a's five entries two at a time with
// before, and checks every entry comes once, newest first.
func checkHistoryPaging(t testing.TB, tx store.Tx, a wallet.Address) error {
	t.Helper()
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
