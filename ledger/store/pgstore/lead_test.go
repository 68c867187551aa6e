package pgstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
)

// TestLead: of three stores on one database one leads at a time; when the
// leader's connection is killed (as when its process dies) or the leader
// stops, another takes over.
func TestLead(t *testing.T) {
	u := pgtest.NewDB(t)
	const n = 3
	var (
		leading atomic.Int32 // fns running now
		overlap atomic.Bool
		mu      sync.Mutex
		leaders []int
		started = make(chan int, 16)
		wg      sync.WaitGroup
		cancels [n]context.CancelFunc
	)
	for i := range n {
		s := openAt(t, u)
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Lead(ctx, 100*time.Millisecond, func(ctx context.Context) {
				if leading.Add(1) > 1 {
					overlap.Store(true)
				}
				mu.Lock()
				leaders = append(leaders, i)
				mu.Unlock()
				started <- i
				<-ctx.Done()
				leading.Add(-1)
			})
		}()
	}
	t.Cleanup(func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	})
	first := <-started
	// Kill the leader's connection from outside, as PostgreSQL does when
	// its process dies.
	pgtest.Exec(t, u, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objid = $1`, leadLock&0xffffffff)
	second := <-started
	cancels[second]() // a clean stop hands over too
	third := <-started
	t.Logf("leaders in turn: %d, %d, %d", first, second, third)
	if overlap.Load() {
		t.Error("two stores led at once")
	}
	if second == third {
		t.Errorf("store %d led again after it stopped", second)
	}
}
