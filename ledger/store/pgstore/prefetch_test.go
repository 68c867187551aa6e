package pgstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
	"github.com/btspeed/btspeed/shared/speed"
)

// TestPrefetchRecord checks that Record answers after PrefetchRecord as it
// would without: a present record, an absent one, one written in the same
// Update after its prefetch, and in a View.
func TestPrefetchRecord(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	ctx := context.Background()
	present, absent, written := []byte("present"), []byte("absent"), []byte("written")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutRecord(present, []byte("v1")) }); err != nil {
		t.Fatal(err)
	}
	check := func(tx store.Tx, key, want []byte) {
		t.Helper()
		v, err := tx.Record(key)
		switch {
		case want == nil && !errors.Is(err, store.ErrNotFound):
			t.Errorf("Record(%s) after a prefetch: %q, %v; want ErrNotFound", key, v, err)
		case want != nil && (err != nil || !bytes.Equal(v, want)):
			t.Errorf("Record(%s) after a prefetch: %q, %v; want %q", key, v, err, want)
		}
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, k := range [][]byte{present, absent, written} {
			store.PrefetchRecord(tx, k)
		}
		check(tx, present, []byte("v1"))
		check(tx, absent, nil)
		check(tx, written, nil)
		if err := tx.PutRecord(written, []byte("v2")); err != nil {
			return err
		}
		store.PrefetchRecord(tx, written)
		check(tx, written, []byte("v2"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx store.Tx) error {
		store.PrefetchRecord(tx, written)
		store.PrefetchRecord(tx, absent)
		check(tx, written, []byte("v2"))
		check(tx, absent, nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadChannel checks ReadChannel against a View's Channel.
func TestReadChannel(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	ctx := context.Background()
	var id, other speed.ChannelID
	id[0], other[0] = 1, 2
	ch := store.Channel{Channel: speed.Channel{ID: id, Payer: addr(1), Payee: addr(2), Deposit: 100,
		Deadline: time.Unix(2e9, 5).UTC(), Seq: 3, Paid: 40}, Nonce: 7, OpenedAt: time.Unix(1e9, 0).UTC()}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutChannel(ch) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadChannel(ctx, id)
	if err != nil || got != ch {
		t.Errorf("ReadChannel: %+v, %v; want %+v", got, err, ch)
	}
	if _, err := s.ReadChannel(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadChannel of an absent channel: %v, want ErrNotFound", err)
	}
}
