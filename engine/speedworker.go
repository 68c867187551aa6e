package engine

import (
	"context"
	"time"
)

// speedWorker is a Speed connection's third goroutine (beside its reader and
// writer). It runs, in the order they were queued and without the torrent
// lock, the work that must not block the reader: every call into the
// requester session (bid responses, blocks, payments, in stream order), and
// the provider's ledger work (checking payments, closing channels).
//
// # Rules
//
//   - Jobs run one at a time, in the order enqueueLocked queued them; each
//     takes the torrent lock itself when it needs it.
//   - A connection may have at most maxSpeedJobs jobs queued: a peer that
//     floods us with Speed messages past it is dropped. Retries waiting for
//     their time count apart, under the same cap.
//   - A retry (retryLocked) runs after a backoff of 1 s, 2 s, 4 s ... up to
//     speedRetryMax, queued behind the jobs already there, unless the
//     connection has closed by then.
//   - After the connection closes the worker runs what is queued (the last
//     job settles the connection: lastLocked) and ends; retries not yet due
//     are dropped.
//   - While the torrent drains (closing), the worker nudges the writer once
//     its queue is empty, so a last payment is written before the
//     connection goes.
//
// The jobs, retries and busy flag are guarded by Torrent.mu. The worker is
// owned by the torrent (Torrent.wg), which waits for it on close.
type speedWorker struct {
	jobs  []func(ctx context.Context)
	later []delayedJob // retries, waiting for their time
	wake  chan struct{}
	busy  bool // running jobs
}

// delayedJob is a retry due at a time of the worker's timers.
type delayedJob struct {
	at  time.Time
	job func(ctx context.Context)
}

// maxSpeedJobs caps a connection's queued Speed work; a peer that floods
// us with Speed messages past it is dropped.
const maxSpeedJobs = 1 << 14

// speedRetryMax is the longest wait between retries of ledger work that
// failed for a passing reason (ledger unreachable, rate-limited).
const speedRetryMax = 30 * time.Second

func newSpeedWorker() speedWorker { return speedWorker{wake: make(chan struct{}, 1)} }

func (w *speedWorker) nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// enqueueLocked queues work for c's Speed worker.
func (c *conn) enqueueLocked(job func(ctx context.Context)) {
	w := &c.speed.work
	if len(w.jobs) >= maxSpeedJobs {
		c.closeLocked(c.protocolError("speed work queue full"))
		return
	}
	w.jobs = append(w.jobs, job)
	w.nudge()
}

// lastLocked queues the job that settles a closed connection, past the
// cap.
func (w *speedWorker) lastLocked(job func(ctx context.Context)) {
	w.jobs = append(w.jobs, job)
	w.nudge()
}

// retryLocked runs job on c's worker after the backoff of attempt, unless
// c has closed by then.
func (c *conn) retryLocked(attempt int, job func(ctx context.Context)) {
	w := &c.speed.work
	if c.closed {
		return
	}
	if len(w.later) >= maxSpeedJobs {
		c.closeLocked(c.protocolError("speed work queue full"))
		return
	}
	delay := min(time.Second<<min(attempt, 5), speedRetryMax)
	w.later = append(w.later, delayedJob{at: time.Now().Add(delay), job: job})
	w.nudge()
}

// speedIdleLocked says whether c has no Speed work queued or running (the
// writer's test that everything a closing torrent owes is written).
func (c *conn) speedIdleLocked() bool {
	return c.speed == nil || (len(c.speed.work.jobs) == 0 && !c.speed.work.busy)
}

// takeLocked moves the retries due at now behind the queued jobs (or drops
// them all once c has closed), takes the queue, and returns when the next
// retry is due (zero if none).
func (w *speedWorker) takeLocked(now time.Time, closed bool) (jobs []func(ctx context.Context), next time.Time) {
	kept := w.later[:0]
	for _, d := range w.later {
		switch {
		case closed:
		case !now.Before(d.at):
			w.jobs = append(w.jobs, d.job)
		default:
			kept = append(kept, d)
			if next.IsZero() || d.at.Before(next) {
				next = d.at
			}
		}
	}
	clear(w.later[len(kept):])
	w.later = kept
	jobs, w.jobs = w.jobs, nil
	w.busy = len(jobs) > 0
	return jobs, next
}

// runSpeedWorker is c's Speed worker (see speedWorker).
func (c *conn) runSpeedWorker() {
	t := c.t
	defer t.wg.Done()
	w := &c.speed.work
	for {
		t.mu.Lock()
		closed := c.closed
		jobs, next := w.takeLocked(time.Now(), closed)
		if t.sp != nil {
			t.sp.jobs += uint64(len(jobs))
		}
		if !w.busy && c.draining {
			c.nudge() // the writer waits for the last payment's job
		}
		t.mu.Unlock()
		if len(jobs) > 0 {
			for _, job := range jobs {
				job(t.ctx)
			}
			continue
		}
		if closed {
			return
		}
		w.wait(c.done, next)
	}
}

// wait blocks until new work is queued, done is closed, or the retry due
// at next (if any) is.
func (w *speedWorker) wait(done <-chan struct{}, next time.Time) {
	var due <-chan time.Time
	if !next.IsZero() {
		timer := time.NewTimer(time.Until(next))
		defer timer.Stop()
		due = timer.C
	}
	select {
	case <-w.wake:
	case <-done:
	case <-due:
	}
}
