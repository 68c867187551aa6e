package storetest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

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
	putChannels(t, s, open, closed, timedOut)
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
	view(t, s, func(tx store.Tx) error { return checkClosedReplaced(t, tx, xc, y, late, a, b) })

	// Replacing an open channel with a later deadline moves it in the
	// index: it is no longer due at its old deadline.
	y2 := y
	y2.Deadline = base.Add(5 * time.Hour)
	update(t, s, func(tx store.Tx) error { return tx.PutChannel(y2) })
	view(t, s, func(tx store.Tx) error { return checkDeadlineMoved(t, tx, y2, c) })

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

// checkClosedReplaced checks, after xc replaced an open channel with its
// closed state, that only y (still open) is due at late, that both parties
// a and b list xc once with its new fields, and that the totals hold y's
// deposit in escrow.
func checkClosedReplaced(t testing.TB, tx store.Tx, xc, y store.Channel, late time.Time, a, b wallet.Address) error {
	t.Helper()
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
			if ch.ID == xc.ID {
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
}

// checkDeadlineMoved checks, after y2 replaced an open channel with a later
// deadline, that it is due at its new deadline and not before, and that
// its payee c lists it once as y2.
func checkDeadlineMoved(t testing.TB, tx store.Tx, y2 store.Channel, c wallet.Address) error {
	t.Helper()
	ids, err := tx.Expired(base.Add(3*time.Hour), 10)
	if err != nil {
		return err
	}
	checkIDs(t, "Expired at the old deadline", ids)
	ids, err = tx.Expired(y2.Deadline, 10)
	if err != nil {
		return err
	}
	checkIDs(t, "Expired at the new deadline", ids, y2.ID)
	chs, err := tx.ChannelsOf(c, 10)
	if err != nil {
		return err
	}
	if len(chs) != 1 || diffChannel(chs[0], y2) != "" {
		t.Errorf("ChannelsOf(c) = %+v, want the replaced channel once", chs)
	}
	return nil
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
	putChannels(t, s, chs...)
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
	putChannels(t, s, chs...)
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
