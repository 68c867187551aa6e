package faucet

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxEntries is how many network addresses a Limiter remembers when
// NewLimiter is given no positive maximum.
const DefaultMaxEntries = 100_000

// Limiter limits faucet grants per network address: at most burst grants to
// an address within any window, a sliding window that is exact: a grant
// counts against its address until window has passed since it, and not a
// moment longer.
//
// Addresses are grouped the way they are handed out: an IPv4 address (also
// written IPv4-mapped in IPv6, ::ffff:a.b.c.d) on its own, an IPv6 address
// by its /64 prefix, because one host, or one customer of an internet
// provider, usually owns a whole /64. Zones are ignored. The invalid
// netip.Addr{} (a server that could not tell where a request came from) is
// one group of its own, shared by all such requests.
//
// Memory is bounded: the Limiter remembers at most maxEntries groups, each
// with the times of at most burst grants. Groups whose grants have all
// expired are forgotten as time goes by; when the Limiter is full, the group
// whose latest grant is oldest is forgotten, even if its grants have not
// expired yet (an attacker with more than maxEntries addresses can so renew
// its budget; the proof of work still makes every grant cost something).
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	burst  int
	window int64 // nanoseconds
	max    int

	mu      sync.Mutex
	entries map[netip.Addr]*entry
	// lru is a circular list with a sentinel: lru.next is the group whose
	// latest grant is oldest, lru.prev the most recent one.
	lru entry
}

// entry is one address group's grants, oldest first, as Unix nanoseconds.
type entry struct {
	key        netip.Addr
	times      []int64
	prev, next *entry
}

// NewLimiter returns a Limiter allowing burst grants per address group
// within window and remembering at most maxEntries groups (maxEntries <= 0
// means DefaultMaxEntries). It panics if burst < 1 or window <= 0.
func NewLimiter(burst int, window time.Duration, maxEntries int) *Limiter {
	if burst < 1 || window <= 0 {
		panic(fmt.Sprintf("faucet: NewLimiter(%d, %v): want burst >= 1 and window > 0", burst, window))
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	l := &Limiter{burst: burst, window: int64(window), max: maxEntries, entries: make(map[netip.Addr]*entry)}
	l.lru.prev, l.lru.next = &l.lru, &l.lru
	return l
}

// groupOf returns the key addr's grants count against.
func groupOf(addr netip.Addr) netip.Addr {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64) // cannot fail for an IPv6 address and 64
		return p.Addr()
	}
	return addr
}

// Allow reports whether addr may have a grant at now, and if so records it.
// Times are compared as given: now need not be monotonic, and a grant
// recorded "in the future" counts until window after it.
func (l *Limiter) Allow(addr netip.Addr, now time.Time) bool {
	key := groupOf(addr)
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(t)
	e := l.entries[key]
	if e == nil {
		for len(l.entries) >= l.max {
			l.remove(l.lru.next)
		}
		e = &entry{key: key}
		l.entries[key] = e
	} else {
		// Drop the grants that have left the window.
		i := 0
		for i < len(e.times) && l.expired(e.times[i], t) {
			i++
		}
		if i > 0 {
			e.times = e.times[:copy(e.times, e.times[i:])]
		}
		if len(e.times) >= l.burst {
			return false
		}
		l.unlink(e)
	}
	e.times = append(e.times, t)
	l.pushBack(e)
	return true
}

// expired reports whether a grant at t no longer counts at now.
func (l *Limiter) expired(t, now int64) bool { return now-t >= l.window }

// expire forgets the groups whose latest grant has left the window, oldest
// first, stopping at the first that has not: amortized constant time per
// grant.
func (l *Limiter) expire(now int64) {
	for e := l.lru.next; e != &l.lru; e = l.lru.next {
		if !l.expired(e.times[len(e.times)-1], now) {
			return
		}
		l.remove(e)
	}
}

func (l *Limiter) remove(e *entry) {
	l.unlink(e)
	delete(l.entries, e.key)
}

func (l *Limiter) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (l *Limiter) pushBack(e *entry) {
	e.prev, e.next = l.lru.prev, &l.lru
	l.lru.prev.next = e
	l.lru.prev = e
}

// len returns the number of groups remembered.
func (l *Limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
