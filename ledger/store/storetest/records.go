package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/btspeed/btspeed/ledger/store"
)

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
