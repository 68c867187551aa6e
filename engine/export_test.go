package engine

import "slices"

// SpeedJobsRun is how many jobs the Speed workers of t's connections ran.
func (t *Torrent) SpeedJobsRun() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sp == nil {
		return 0
	}
	return t.sp.jobs
}

// SpeedPaymentsSent is how many payments t's connections sent.
func (t *Torrent) SpeedPaymentsSent() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sp == nil {
		return 0
	}
	return t.sp.payments
}

// SpeedMaxUnpaid is the most pieces a requester had unpaid with t at once.
func (t *Torrent) SpeedMaxUnpaid() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for c := range t.conns {
		if c.speed != nil {
			c.speed.prov.mu.Lock()
			n = max(n, c.speed.prov.sess.MaxUnpaid())
			c.speed.prov.mu.Unlock()
		}
	}
	return n
}

// FirstInLine is the pieces t requests before any other (what a ReadAt or
// a stream's start put first in line), in order.
func (t *Torrent) FirstInLine() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.prio)
}
