package ledger

import (
	"context"
	"errors"
	"sync"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/store"
)

// checks shares the scans behind the supply invariant (Check reads every
// account): at most one runs at a time, and every caller that arrives while
// one runs waits for the next and shares it. A caller so never gets a
// result computed before it asked, and any number of callers costs at most
// one scan running and one waiting.
type checks struct {
	mu      sync.Mutex
	started uint64        // scans started
	running bool          // scan number started is under way
	done    chan struct{} // closed when it ends
	waiting int           // callers waiting for a scan (tests watch it)
	last    checkResult
}

type checkResult struct {
	n   uint64 // the scan's number (0: none yet)
	inv api.Invariant
	err error
}

// totals is Check, shared between concurrent callers (see checks).
func (l *Ledger) totals(ctx context.Context) (api.Invariant, error) {
	c := &l.checks
	c.mu.Lock()
	need := c.started + 1
	for c.last.n < need {
		if !c.running {
			c.started++
			n := c.started
			c.running, c.done = true, make(chan struct{})
			c.mu.Unlock()
			inv, err := l.Check(ctx)
			c.mu.Lock()
			c.running = false
			close(c.done)
			if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
				c.last = checkResult{n: n, inv: inv, err: err}
			}
			if err != nil && c.last.n != n {
				c.mu.Unlock()
				return inv, err // cancelled: the waiters start another
			}
			continue
		}
		done := c.done
		c.waiting++
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
			return api.Invariant{}, ctx.Err()
		}
		c.mu.Lock()
		c.waiting--
	}
	r := c.last
	c.mu.Unlock()
	return r.inv, r.err
}

// Supply is the money the ledger holds (0 before any genesis or deposit):
// one record read, for /healthz and /v1/info, which must not scan every
// account per request.
func (l *Ledger) Supply(ctx context.Context) (uint64, error) {
	var s uint64
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		s, err = getMeta(tx, metaSupply)
		return err
	})
	return s, storeErr(err)
}
