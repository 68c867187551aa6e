package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/storetest"
	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T) store.Store {
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, open, func(t *testing.T, old store.Store) store.Store {
		path := old.(*Store).Path()
		old.Close() // RunReopen may have closed it already; closing twice is harmless
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), u64(SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("opened a store with a newer schema")
	}
}

func TestCorruptRecordsAreErrors(t *testing.T) {
	if _, err := decodeChannel([]byte{1, 2, 3}); err == nil {
		t.Fatal("short channel record decoded")
	}
	if _, err := decodeEntry([21]byte{}, 1, []byte{1}); err == nil {
		t.Fatal("short entry decoded")
	}
}
