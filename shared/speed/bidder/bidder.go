// Package bidder is the requester's auto-bidder for BitTorrent Speed: it
// decides, for one torrent, what rate to bid to each connected peer and when
// to (re)send that bid. It is pure bookkeeping: it sends nothing itself, reads
// no clock and knows no sockets; the caller feeds it the current state and
// sends the bids it returns.
//
// # Units
//
// Money is integer base units (1 BTT = 1,000,000 base units). A bid is a rate
// in base units per MiB (1,048,576 bytes) of piece data. The spending rate is
// an integer in parts per million: PPM (1,000,000) means 1.0, the default.
// Nothing here uses floating point.
//
// # The bid (M5)
//
// The bid spreads what may still be spent over what is still to download:
//
//	bid = spending_rate × remaining_balance / remaining_download
//
// computed exactly, with 128-bit intermediates, as
//
//	remaining_KiB = ceil(remaining_bytes / 1024)
//	rate_per_MiB  = floor(ppm × balance × 1024 / (remaining_KiB × 1,000,000))
//
// clamped to MaxRate. Nothing left to download, no balance or a zero spending
// rate give 0. See Rate.
//
// # Protecting the user: caps and the market (beyond M5)
//
// The formula is only an upper bound: as the download shrinks it grows
// without limit (the whole balance on the last KiB), so the bid sent is
//
//	bid = min(Rate(...), max price, MarketMultiple × market)
//
// The max price is the user's (Settings.MaxRate), DefaultMaxRate unless set:
// it protects even a client that has seen no market yet. The market is the
// caller's estimate of what Speed costs (a Market, fed with the rates of the
// bid responses the client accepted, over all peers and torrents, decayed
// over time); 0 means none seen, and only the max price applies. What the
// formula may spread (Input.Balance) is the caller's: the torrent's budget
// left (DefaultBudget of the balance unless the user set one) capped by what
// the wallet holds.
//
// # Who gets a bid (M3)
//
// Only peers that advertised Speed in their handshake and hold at least one
// piece the requester still wants, and only while the user has Speed enabled
// and something remains to download.
//
// # When a bid is sent (M6)
//
// The first bid to a peer goes out at once. After that a peer is rebid only
// when the new bid differs from the last one sent to it by more than 10%
// (|new − last| × 10 > last; from a last bid of 0 any change counts), and at
// most once per MinInterval (one minute since the last bid sent to it). A
// change the user makes (SetSettings, or Changed for a budget) goes out at
// once to every eligible peer whose bid changed, ignoring both limits.
//
// A bid of 0 withdraws. A peer whose last bid was nonzero gets one 0, at once,
// when the user disables Speed, the download completes, the peer no longer
// holds a wanted piece, or the computed bid drops to 0. A 0 is never repeated
// and never sent to a peer that has not been bid to.
package bidder

import (
	"math/bits"
	"slices"
	"strings"
	"time"
)

const (
	// MaxRate is the largest bid Rate returns, in base units per MiB: the
	// largest rate a Speed message may carry (speed.MaxRate, 2^40, about 1.1
	// million BTT per MiB).
	MaxRate = 1 << 40

	// PPM is a spending rate of 1.0 in parts per million; it is also the
	// largest spending rate.
	PPM = 1_000_000

	// MinInterval is the least time between two bids to one peer, except
	// for withdrawals and bids caused by a change of Settings.
	MinInterval = time.Minute

	// DefaultMaxPrice is the most a requester bids unless the user sets
	// another price: 1,000 BTT per GiB, in base units per GiB.
	DefaultMaxPrice = 1_000 * 1_000_000
	// DefaultMaxRate is DefaultMaxPrice as a rate: 976,562 base units per
	// MiB (about 0.98 BTT per MiB).
	DefaultMaxRate = DefaultMaxPrice / 1024

	// MarketMultiple: no bid goes above this many times the market
	// estimate, once there is one.
	MarketMultiple = 4

	// DefaultBudgetDivisor: a torrent without a budget of its own may spend
	// 1/100 of the balance (DefaultBudget).
	DefaultBudgetDivisor = 100
)

// RateForPrice converts a price in base units per GiB to a rate in base
// units per MiB (rounded down, at most MaxRate).
func RateForPrice(perGiB uint64) uint64 { return min(perGiB/1024, MaxRate) }

// PriceForRate converts a rate in base units per MiB to a price in base
// units per GiB.
func PriceForRate(perMiB uint64) uint64 { return min(perMiB, MaxRate) * 1024 }

// DefaultBudget is the budget of a torrent whose user set none: 1% of
// balance, what the client may spend (its ledger balance plus what its
// open channels still hold) when the torrent first needs a budget. A
// hundred downloads at the most before the wallet is empty, where the M5
// formula alone would stake the whole balance on one torrent.
func DefaultBudget(balance uint64) uint64 { return balance / DefaultBudgetDivisor }

// Settings are the user's controls for one torrent.
type Settings struct {
	// Enabled turns Speed bidding on; turning it off withdraws every bid.
	Enabled bool
	// SpendingRate scales the bid, in parts per million of the M5 rate:
	// 0..PPM. Values above PPM are treated as PPM.
	SpendingRate uint32
	// MaxRate is the most ever bid, base units per MiB; 0 means
	// DefaultMaxRate.
	MaxRate uint64
}

// maxRate is the cap s puts on bids.
func (s Settings) maxRate() uint64 {
	if s.MaxRate == 0 {
		return DefaultMaxRate
	}
	return min(s.MaxRate, MaxRate)
}

// Cap is the most s bids when the market estimate is market (0: none seen):
// min(max price, MarketMultiple × market).
func (s Settings) Cap(market uint64) uint64 {
	c := s.maxRate()
	if market > 0 {
		c = min(c, min(market, MaxRate)*MarketMultiple)
	}
	return c
}

// DefaultSettings returns Speed enabled with a spending rate of 1.0 and the
// default max price.
func DefaultSettings() Settings {
	return Settings{Enabled: true, SpendingRate: PPM}
}

// normalized returns s with SpendingRate clamped to PPM.
func (s Settings) normalized() Settings {
	s.SpendingRate = min(s.SpendingRate, PPM)
	return s
}

// Rate computes the bid, in base units per MiB, for a spending rate in parts
// per million (values above PPM count as PPM), the balance that may still be
// spent and the bytes still to download:
//
//	floor(ppm × balance × 1024 / (ceil(remainingBytes / 1024) × 1,000,000))
//
// exactly, clamped to MaxRate. remainingBytes == 0 gives 0.
//
// Rate never falls when balance or spendingRatePPM grows, and never rises
// when remainingBytes grows from 1 or more.
func Rate(spendingRatePPM uint32, balance, remainingBytes uint64) uint64 {
	if remainingBytes == 0 || balance == 0 || spendingRatePPM == 0 {
		return 0
	}
	ppm := uint64(min(spendingRatePPM, PPM))
	kib := remainingBytes / 1024
	if remainingBytes%1024 != 0 {
		kib++ // cannot overflow: remainingBytes/1024 < 2^54
	}
	// ppm × balance < 2^20 × 2^64 = 2^84; × 1024 < 2^94: hi < 2^30.
	hi, lo := bits.Mul64(ppm, balance)
	hi, lo = hi<<10|lo>>54, lo<<10
	// floor(floor(n / kib) / PPM) == floor(n / (kib × PPM)), and kib × PPM
	// may not fit 64 bits, so divide twice.
	hi, lo = div128(hi, lo, kib)
	hi, lo = div128(hi, lo, PPM)
	if hi != 0 || lo > MaxRate {
		return MaxRate
	}
	return lo
}

// div128 returns floor((hi·2^64 + lo) / d) as a 128-bit (hi, lo) pair; d > 0.
func div128(hi, lo, d uint64) (qhi, qlo uint64) {
	qhi, r := hi/d, hi%d
	qlo, _ = bits.Div64(r, lo, d) // r < d, so Div64 cannot panic
	return qhi, qlo
}

// Peer is one connected peer as the bidder needs to see it.
type Peer struct {
	ID        string // the caller's key for the connection
	Speed     bool   // advertised Speed in its handshake
	HasWanted bool   // holds at least one piece we still want
}

// Input is the state one Update decides on.
type Input struct {
	// Now is the current time. It should not go backwards (time.Now's
	// monotonic reading is ideal): a clock that jumps back delays rebids.
	Now time.Time
	// Balance is what may still be spent, in base units: min(ledger
	// balance, budget left), computed by the caller.
	Balance uint64
	// Remaining is the number of bytes left to download; 0 means done.
	Remaining uint64
	// Market is the market rate estimate, base units per MiB
	// (Market.Estimate); 0 means none seen.
	Market uint64
	// Peers are the currently connected peers. If an ID occurs more than
	// once, its first occurrence counts.
	Peers []Peer
}

// Bid is one bid to send.
type Bid struct {
	Peer string // Peer.ID
	Rate uint64 // base units per MiB; 0 withdraws the bid
}

// peerState is what was last sent to a peer.
type peerState struct {
	rate uint64
	at   time.Time
}

// Bidder remembers, per peer, the last bid sent and when, and decides which
// bids to send. Create one per torrent with New.
//
// A Bidder is not safe for concurrent use: its owner serializes all calls
// (typically from the torrent's event loop).
type Bidder struct {
	settings Settings // current, normalized
	applied  Settings // in force at the last Update
	changed  bool     // the user changed what Settings do not hold (Changed)
	peers    map[string]peerState
}

// New returns a Bidder with settings s (SpendingRate above PPM is clamped)
// that has bid to nobody.
func New(s Settings) *Bidder {
	s = s.normalized()
	return &Bidder{settings: s, applied: s, peers: make(map[string]peerState)}
}

// Settings returns the current settings, with SpendingRate clamped to PPM.
func (b *Bidder) Settings() Settings { return b.settings }

// SetSettings records a change made by the user. The next Update sends every
// bid whose value the change altered at once, ignoring the 10% threshold and
// MinInterval. Settings that end up equal to those in force at the last
// Update (after clamping) are no change.
func (b *Bidder) SetSettings(s Settings) { b.settings = s.normalized() }

// Changed records a change the user made to what the caller feeds Update
// rather than to Settings (a budget, which sets Input.Balance): like
// SetSettings, the next Update sends every bid the change altered at once.
func (b *Bidder) Changed() { b.changed = true }

// Update returns the bids to send now, sorted by peer ID (nil if none), and
// records them as sent at in.Now. The caller must send every bid returned.
//
// Each peer in in.Peers is given the bid min(Rate(SpendingRate, in.Balance,
// in.Remaining), Settings.Cap(in.Market)) if Speed is enabled, in.Remaining > 0 and the peer has
// Speed and HasWanted, and a bid of 0 otherwise; that bid is sent when the
// rules in the package documentation allow. Peers not in in.Peers are not
// bid to, but their last bid is remembered until Forget.
func (b *Bidder) Update(in Input) []Bid {
	if b.peers == nil {
		b.peers = make(map[string]peerState)
	}
	user := b.settings != b.applied || b.changed
	b.applied, b.changed = b.settings, false

	var target uint64
	if b.settings.Enabled && in.Remaining > 0 {
		target = min(Rate(b.settings.SpendingRate, in.Balance, in.Remaining), b.settings.Cap(in.Market))
	}

	var out []Bid
	seen := make(map[string]bool, len(in.Peers))
	for _, p := range in.Peers {
		if seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		want := uint64(0)
		if p.Speed && p.HasWanted {
			want = target
		}
		last, ok := b.peers[p.ID]
		if !due(last, ok, want, in.Now, user) {
			continue
		}
		b.peers[p.ID] = peerState{rate: want, at: in.Now}
		out = append(out, Bid{Peer: p.ID, Rate: want})
	}
	slices.SortFunc(out, func(x, y Bid) int { return strings.Compare(x.Peer, y.Peer) })
	return out
}

// due reports whether bid want should be sent to a peer whose last bid is
// last (ok false: never bid to since New or Forget).
func due(last peerState, ok bool, want uint64, now time.Time, user bool) bool {
	switch {
	case !ok:
		return want != 0 // first bid at once; nothing to withdraw
	case want == last.rate:
		return false // never repeat a bid, in particular never a 0
	case want == 0, user:
		return true // withdrawal, or the user's change: at once
	case now.Sub(last.at) < MinInterval:
		return false
	default:
		return significant(last.rate, want)
	}
}

// significant reports whether next differs from last by more than 10% of
// last: |next − last| × 10 > last (any change, from a last of 0).
func significant(last, next uint64) bool {
	d := next - last
	if next < last {
		d = last - next
	}
	hi, lo := bits.Mul64(d, 10)
	return hi != 0 || lo > last
}

// Forget drops what the Bidder remembers about peer, which disconnected. A
// later connection with the same ID is a new peer: its first bid goes out at
// once.
func (b *Bidder) Forget(peer string) { delete(b.peers, peer) }

// Last returns the last bid sent to peer; ok is false if none has been sent
// since New or the last Forget. A rate of 0 means the bid was withdrawn.
func (b *Bidder) Last(peer string) (rate uint64, ok bool) {
	s, ok := b.peers[peer]
	return s.rate, ok
}
