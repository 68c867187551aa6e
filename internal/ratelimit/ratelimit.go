// Package ratelimit holds token buckets per client, in a bounded table.
//
// Rules: each client key (see clientip.Key) has a bucket that fills at Rate
// tokens a second up to Burst; an operation costing n tokens is allowed when
// the bucket holds n. The table holds at most Max clients: when it is full,
// buckets idle long enough to be full again are dropped, and if none is, a
// new client is refused (the table, not the clients already in it, is what
// an attacker with many addresses exhausts).
//
// Cost: Allow is O(1) under one mutex, except when the table is full, when
// one sweep is O(Max) and is amortized by making room for many clients.
// Memory is bounded by Max buckets.
package ratelimit

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMax is the default number of clients tracked.
const DefaultMax = 100_000

// Limiter rate-limits clients by key. It is safe for concurrent use.
type Limiter struct {
	rate    rate.Limit
	burst   int
	max     int
	refused atomic.Uint64

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// New returns a Limiter of perSecond tokens a second per client, bursts of
// burst, tracking at most max clients (DefaultMax when max <= 0). A
// perSecond <= 0 allows everything.
func New(perSecond float64, burst, max int) *Limiter {
	if max <= 0 {
		max = DefaultMax
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{rate: rate.Limit(perSecond), burst: burst, max: max, buckets: make(map[netip.Addr]*bucket)}
}

// Allow spends one token of key's bucket at now.
func (l *Limiter) Allow(key netip.Addr, now time.Time) bool { return l.AllowN(key, now, 1) }

// AllowN spends n tokens of key's bucket at now, or none and false when the
// bucket holds fewer (an n above the burst is never allowed).
func (l *Limiter) AllowN(key netip.Addr, now time.Time, n int) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max && !l.sweep(now) {
			l.refused.Add(1)
			return false
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	if !b.lim.AllowN(now, n) {
		l.refused.Add(1)
		return false
	}
	return true
}

// sweep drops the buckets that have refilled to full and reports whether
// there is room for one more.
func (l *Limiter) sweep(now time.Time) bool {
	full := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < l.max
}

// Burst is the most tokens one operation may cost (AllowN refuses more
// whatever the bucket holds).
func (l *Limiter) Burst() int { return l.burst }

// Refused is how many operations were refused so far.
func (l *Limiter) Refused() uint64 { return l.refused.Load() }

// Len is the number of clients tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
