package engine

import (
	"bufio"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The upload limit (Config.UploadRate) is one gate for the whole client:
// every connection of every torrent draws a block's length from it before
// writing the block, so the client's upload stays at the rate whatever the
// number of peers.
//
// Rules:
//   - One token bucket of UploadRate bytes a second holds one maximal
//     request (MaxRequestLength) or a tenth of a second of the rate,
//     whichever is more: a single block always fits and bursts stay short.
//   - Paid first (M9-M11: whoever pays is served first): while a peer we
//     charge (a Paid slot, rate > 0) has been served within the last
//     paidActive, the others (free, throughput and optimistic slots, legacy
//     peers) together get at most freeShare of the rate, from a second
//     bucket they must pass before the common one. With no paid peer
//     served, they have all of it.
//   - Which peers are unchoked at all is still the choker's decision: a
//     choked peer draws nothing.
//
// Cost: one or two token-bucket reservations per block (a mutex each) and,
// when over the rate, one timer.
type uploadGate struct {
	all, free *rate.Limiter
	paidUntil atomic.Int64 // unix nanoseconds: a paid peer was served until then
}

const (
	freeShare  = 0.2
	paidActive = time.Second
)

// newUploadGate returns the client's gate, or nil for no limit.
func newUploadGate(bytesPerSecond int64) *uploadGate {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := max(MaxRequestLength, int(bytesPerSecond/10))
	return &uploadGate{
		all:  rate.NewLimiter(rate.Limit(bytesPerSecond), burst),
		free: rate.NewLimiter(rate.Limit(float64(bytesPerSecond)*freeShare), burst),
	}
}

// waitUpload waits until the client's upload limit lets n more bytes go to
// this peer, which we charge when paid. It flushes w first when it has to
// wait, so blocks already written are not held back behind the wait. It
// returns false when the connection closed meanwhile (or the flush failed;
// the caller's next write reports it).
func (c *conn) waitUpload(w *bufio.Writer, n int, paid bool) bool {
	g := c.t.c.upload
	if g == nil {
		return true
	}
	now := c.t.cfg.Now()
	if paid {
		g.paidUntil.Store(now.Add(paidActive).UnixNano())
	} else if now.UnixNano() < g.paidUntil.Load() && !c.waitBucket(w, g.free, n) {
		return false
	}
	return c.waitBucket(w, g.all, n)
}

// waitBucket takes n tokens from lim, waiting for them if need be.
func (c *conn) waitBucket(w *bufio.Writer, lim *rate.Limiter, n int) bool {
	now := c.t.cfg.Now()
	res := lim.ReserveN(now, n)
	d := res.DelayFrom(now)
	if d <= 0 {
		return true
	}
	if w.Flush() != nil {
		res.CancelAt(now)
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-c.done:
		res.Cancel()
		return false
	}
}
