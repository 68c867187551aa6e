package bidder

import (
	"slices"
	"time"
)

const (
	// MarketHalfLife is how fast what was seen fades: an observation this
	// old weighs half as much as a fresh one.
	MarketHalfLife = time.Hour
	// MaxMarketProviders caps the providers a Market remembers; the one
	// seen longest ago makes room for a new one.
	MaxMarketProviders = 256
	// marketHalfLives: observations older than this many half-lives weigh
	// nothing and are dropped.
	marketHalfLives = 32
)

// Market estimates what Speed costs from what this client was charged: the
// rates of the bid responses it accepted, over every peer and torrent. It
// keeps the latest nonzero rate of each provider account (a provider
// answering many times is one voice) and estimates the market as their
// median, each weighted by 2^(−age / MarketHalfLife), so old prices fade and
// a few providers asking far more or far less than the rest move it little.
//
// Only accepted rates are fed in, and an accepted rate is at most the bid,
// itself at most MarketMultiple times the estimate: a lone provider that
// always charges the whole bid can raise the estimate by that factor per
// rebid at most, and never the bid above the user's max price.
//
// A Market is not safe for concurrent use; its owner serializes calls.
type Market struct {
	seen map[string]observation
}

type observation struct {
	rate uint64
	at   time.Time
}

// NewMarket returns a Market that has seen nothing.
func NewMarket() *Market { return &Market{seen: make(map[string]observation)} }

// Observe records that provider charged rate (base units per MiB) at now.
// A rate of 0 (a free slot) says nothing about prices and is ignored.
func (m *Market) Observe(provider string, rate uint64, now time.Time) {
	if rate == 0 {
		return
	}
	if m.seen == nil {
		m.seen = make(map[string]observation)
	}
	if _, ok := m.seen[provider]; !ok && len(m.seen) >= MaxMarketProviders {
		oldest := ""
		for p, o := range m.seen {
			if oldest == "" || o.at.Before(m.seen[oldest].at) || (o.at.Equal(m.seen[oldest].at) && p < oldest) {
				oldest = p
			}
		}
		delete(m.seen, oldest)
	}
	m.seen[provider] = observation{rate: min(rate, MaxRate), at: now}
}

// weight is an observation's weight at age: 2^32 halved every
// MarketHalfLife, linear in between; 0 past marketHalfLives half-lives.
func weight(age time.Duration) uint64 {
	age = max(age, 0)
	hl := int64(MarketHalfLife / time.Second)
	secs := int64(age / time.Second)
	k := secs / hl
	if k >= marketHalfLives {
		return 0
	}
	w := uint64(1<<32) >> k
	return w - w/2*uint64(secs%hl)/uint64(hl)
}

// Estimate returns the market rate at now, base units per MiB: the weighted
// median of the providers' latest rates (the lowest rate at which half the
// weight is reached), or 0 when nothing that still weighs was seen.
func (m *Market) Estimate(now time.Time) uint64 {
	type wr struct{ rate, w uint64 }
	var all []wr
	var total uint64
	for p, o := range m.seen {
		w := weight(now.Sub(o.at))
		if w == 0 {
			delete(m.seen, p)
			continue
		}
		all = append(all, wr{o.rate, w})
		total += w // at most 256 × 2^32: no overflow
	}
	if total == 0 {
		return 0
	}
	slices.SortFunc(all, func(a, b wr) int {
		switch {
		case a.rate < b.rate:
			return -1
		case a.rate > b.rate:
			return 1
		}
		return 0
	})
	var acc uint64
	for _, x := range all {
		acc += x.w
		if 2*acc >= total {
			return x.rate
		}
	}
	return all[len(all)-1].rate
}
