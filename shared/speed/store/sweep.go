package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// UploadTimeout is how long a proposed object may wait for all its data
// before the provider drops it and frees its quota.
const UploadTimeout = time.Hour

// sweepEvery is how often Serve sweeps.
const sweepEvery = time.Minute

// late says whether the provider may delete o at now (section 12.4): an
// upload not finished within UploadTimeout, a period whose payment is more
// than one period late, or a contract over for a period.
func late(m *objMeta, now time.Time) bool {
	if !m.Complete {
		return now.Unix() > m.Proposed+int64(UploadTimeout/time.Second)
	}
	period := int64(m.Terms.Period)
	for p := range uint64(m.Terms.Periods) {
		if slices.Contains(m.PaidPeriods, p) {
			continue
		}
		// Period p ends at start + (p+1)·period; one period later it is late.
		return now.Unix() >= int64(m.Start)+(int64(p)+2)*period
	}
	return now.Unix() >= int64(m.Start)+(int64(m.Terms.Periods)+1)*period
}

// Sweep deletes the objects late at now and frees their quota; it returns
// how many went.
func (p *Provider) Sweep(now time.Time) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	n := 0
	for id, o := range p.objs {
		if !late(&o.meta, now) {
			continue
		}
		if err := p.remove(o); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(p.objs, id)
		n++
		p.cfg.Log.Info("storage object deleted: unpaid or over", "obj", id, "requester", o.meta.Account)
	}
	return n, errors.Join(errs...)
}

// remove deletes an object's files and frees its quota (p.mu held).
func (p *Provider) remove(o *object) error {
	for _, path := range []string{p.dataPath(&o.meta), p.metaPath(&o.meta)} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: %w", err)
		}
	}
	p.used -= o.meta.Terms.Length
	p.usedBy[o.meta.Account] -= o.meta.Terms.Length
	return nil
}

// sweepLoop sweeps every minute until ctx ends.
func (p *Provider) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.Sweep(p.cfg.Now()); err != nil {
				p.cfg.Log.Warn("storage sweep", "err", err)
			}
		}
	}
}
