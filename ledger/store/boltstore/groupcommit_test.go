package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Refused updates, updates that fail after writing, and panicking updates
// share commit groups with successful ones: each must end as if it ran alone.
func TestGroupCommitKeepsEachUpdateSeparate(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	refusal := errors.New("refused")
	late := errors.New("late failure")
	const n = 400
	var wg sync.WaitGroup
	errs := make([]error, n)
	runs := make([]int, n)
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = errors.New("panicked in caller")
				}
			}()
			a := wallet.Address{0x41, byte(i), byte(i >> 8)}
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				mu.Lock()
				runs[i]++
				mu.Unlock()
				switch i % 4 {
				case 1: // refused without writing
					if _, err := tx.Balance(a); err != nil {
						return err
					}
					return refusal
				case 2: // fails after writing
					if err := tx.SetBalance(a, 99); err != nil {
						return err
					}
					return late
				case 3:
					if i%40 == 3 {
						panic("boom")
					}
				}
				return tx.SetBalance(a, uint64(i+1))
			})
		}()
	}
	func() {
		defer func() { recover() }()
		wg.Wait()
	}()
	for i := range n {
		a := wallet.Address{0x41, byte(i), byte(i >> 8)}
		var bal uint64
		s.View(ctx, func(tx store.Tx) error { bal, _ = tx.Balance(a); return nil })
		switch i % 4 {
		case 0, 3:
			if i%40 == 3 {
				if errs[i] == nil || errs[i].Error() != "panicked in caller" || bal != 0 {
					t.Errorf("%d: %v bal %d", i, errs[i], bal)
				}
				continue
			}
			if errs[i] != nil || bal != uint64(i+1) {
				t.Errorf("%d: %v bal %d", i, errs[i], bal)
			}
		case 1:
			if errs[i] != refusal || bal != 0 {
				t.Errorf("%d: %v bal %d", i, errs[i], bal)
			}
		case 2:
			if errs[i] != late || bal != 0 {
				t.Errorf("%d: %v bal %d", i, errs[i], bal)
			}
		}
	}
	t.Logf("runs: %v", runs[:12])
}
