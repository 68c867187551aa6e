package bidder_test

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed/bidder"
)

const (
	mib = 1 << 20
	gib = 1 << 30
	u64 = math.MaxUint64
)

// t0 is the synthetic clock's origin; tests never sleep.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// bigRate is the M5 formula in arbitrary precision, written independently of
// bidder.Rate.
func bigRate(ppm uint32, balance, remaining uint64) uint64 {
	if remaining == 0 {
		return 0
	}
	p := new(big.Int).SetUint64(uint64(min(ppm, bidder.PPM)))
	remKiB := new(big.Int).SetUint64(remaining)
	remKiB.Add(remKiB, big.NewInt(1023))
	remKiB.Quo(remKiB, big.NewInt(1024))
	num := new(big.Int).Mul(p, new(big.Int).SetUint64(balance))
	num.Mul(num, big.NewInt(1024))
	den := new(big.Int).Mul(remKiB, big.NewInt(1_000_000))
	q := num.Quo(num, den)
	if q.Cmp(new(big.Int).SetUint64(bidder.MaxRate)) > 0 {
		return bidder.MaxRate
	}
	return q.Uint64()
}

// clamp is what Rate returns for an exact value x.
func clamp(x uint64) uint64 { return min(x, bidder.MaxRate) }

func TestRateExact(t *testing.T) {
	tests := []struct {
		name      string
		ppm       uint32
		balance   uint64
		remaining uint64
		want      uint64
	}{
		// 1e6 × 1e9 × 1024 / (1,048,576 × 1e6) = 976,562.5
		{"1000 BTT over 1 GiB", bidder.PPM, 1_000_000_000, gib, 976_562},
		{"half rate", 500_000, 1_000_000_000, gib, 488_281},
		{"rate above PPM is PPM", 2_000_000, 1_000_000_000, gib, 976_562},
		{"max uint32 rate is PPM", math.MaxUint32, 1_000_000_000, gib, 976_562},
		{"balance equals rate at 1 MiB", bidder.PPM, 123_456, mib, 123_456},
		{"1 byte is 1 KiB", bidder.PPM, 7, 1, 7 * 1024},
		{"1024 bytes is 1 KiB", bidder.PPM, 7, 1024, 7 * 1024},
		{"1025 bytes is 2 KiB", bidder.PPM, 7, 1025, 7 * 512},
		{"ppm 1 gives 1", 1, 1_000_000, mib, 1},
		{"ppm 1 floors to 0", 1, 999_999, mib, 0},
		// 5e6 × 1024 / 716,800 KiB = 7142.86
		{"5 BTT over 700 MiB", bidder.PPM, 5_000_000, 700 * mib, 7_142},
		// 333,333 × 123,456,789,012,345 × 1024 / (964,507 KiB × 1e6)
		{"odd values", 333_333, 123_456_789_012_345, 987_654_321, 43_690_585_113},
		// the whole BTT supply, 9.9e17 base units, over 10 GiB
		{"total supply over 10 GiB", bidder.PPM, 990_000_000_000_000_000, 10 * gib, 96_679_687_500_000},
		{"largest unclamped", bidder.PPM, 1<<53 - 1, 1, 1<<63 - 1024},
		{"first clamped", bidder.PPM, 1 << 53, 1, bidder.MaxRate},
		{"max balance, 1 byte", bidder.PPM, u64, 1, bidder.MaxRate},
		{"max balance, 1 MiB", 999_999, u64, mib, bidder.MaxRate},
		// (2^64-1) × 1024 / 2^54 KiB = 2^20 - 2^-44
		{"max balance, max remaining", bidder.PPM, u64, u64, 1<<20 - 1},
		{"1 unit over max remaining", bidder.PPM, 1, u64, 0},
		{"balance 2^63 over 1 KiB", bidder.PPM, 1 << 63, 1024, bidder.MaxRate},
		{"remaining 0", bidder.PPM, 1_000_000_000, 0, 0},
		{"remaining 0, max balance", bidder.PPM, u64, 0, 0},
		{"balance 0", bidder.PPM, 0, 1, 0},
		{"ppm 0", 0, u64, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := clamp(tc.want) // the table holds exact values
			if got := bidder.Rate(tc.ppm, tc.balance, tc.remaining); got != want {
				t.Errorf("Rate(%d, %d, %d) = %d, want %d", tc.ppm, tc.balance, tc.remaining, got, want)
			}
			if got := bigRate(tc.ppm, tc.balance, tc.remaining); got != want {
				t.Errorf("bigRate(%d, %d, %d) = %d, want %d (table or reference wrong)", tc.ppm, tc.balance, tc.remaining, got, want)
			}
		})
	}
}

// randU64 draws values of every magnitude, with extra weight on edges.
func randU64(r *rand.Rand) uint64 {
	switch r.IntN(6) {
	case 0:
		return r.Uint64()
	case 1:
		return r.Uint64() >> r.IntN(64)
	case 2:
		return r.Uint64N(5000)
	case 3:
		edges := []uint64{0, 1, 1023, 1024, 1025, mib - 1, mib, mib + 1, gib, 1<<53 - 1, 1 << 53, 1<<63 - 1, 1 << 63, u64 - 1, u64}
		return edges[r.IntN(len(edges))]
	case 4:
		return r.Uint64N(1 << 40)
	default:
		return uint64(1)<<r.IntN(64) + uint64(r.IntN(3)) - 1
	}
}

func randPPM(r *rand.Rand) uint32 {
	switch r.IntN(5) {
	case 0:
		return r.Uint32()
	case 1:
		return []uint32{0, 1, bidder.PPM - 1, bidder.PPM, bidder.PPM + 1, math.MaxUint32}[r.IntN(6)]
	default:
		return r.Uint32N(bidder.PPM + 1)
	}
}

func TestRateMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for range n {
		ppm, bal, rem := randPPM(r), randU64(r), randU64(r)
		if got, want := bidder.Rate(ppm, bal, rem), bigRate(ppm, bal, rem); got != want {
			t.Fatalf("Rate(%d, %d, %d) = %d, want %d", ppm, bal, rem, got, want)
		}
	}
}

func FuzzRate(f *testing.F) {
	f.Add(uint32(bidder.PPM), uint64(1_000_000_000), uint64(gib))
	f.Add(uint32(bidder.PPM), uint64(u64), uint64(1))
	f.Add(uint32(bidder.PPM), uint64(u64), uint64(u64))
	f.Add(uint32(math.MaxUint32), uint64(1<<53), uint64(0))
	f.Fuzz(func(t *testing.T, ppm uint32, bal, rem uint64) {
		if got, want := bidder.Rate(ppm, bal, rem), bigRate(ppm, bal, rem); got != want {
			t.Fatalf("Rate(%d, %d, %d) = %d, want %d", ppm, bal, rem, got, want)
		}
	})
}

func TestRateMonotonic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sorted2 := func(a, b uint64) (uint64, uint64) { return min(a, b), max(a, b) }
	for range 100_000 {
		ppm, bal, rem := randPPM(r), randU64(r), max(randU64(r), 1)

		b1, b2 := sorted2(randU64(r), randU64(r))
		if x, y := bidder.Rate(ppm, b1, rem), bidder.Rate(ppm, b2, rem); x > y {
			t.Fatalf("more balance lowered the bid: Rate(%d, %d, %d) = %d > Rate(.., %d, ..) = %d", ppm, b1, rem, x, b2, y)
		}
		r1, r2 := sorted2(max(randU64(r), 1), max(randU64(r), 1))
		if x, y := bidder.Rate(ppm, bal, r1), bidder.Rate(ppm, bal, r2); x < y {
			t.Fatalf("more remaining raised the bid: Rate(%d, %d, %d) = %d < Rate(.., .., %d) = %d", ppm, bal, r1, x, r2, y)
		}
		p1, p2 := randPPM(r), randPPM(r)
		if p1 > p2 {
			p1, p2 = p2, p1
		}
		if x, y := bidder.Rate(p1, bal, rem), bidder.Rate(p2, bal, rem); x > y {
			t.Fatalf("higher ppm lowered the bid: Rate(%d, %d, %d) = %d > Rate(%d, ..) = %d", p1, bal, rem, x, p2, y)
		}
	}
}

func TestSettings(t *testing.T) {
	if got, want := bidder.DefaultSettings(), (bidder.Settings{Enabled: true, SpendingRate: bidder.PPM}); got != want {
		t.Errorf("DefaultSettings() = %+v, want %+v", got, want)
	}
	b := bidder.New(bidder.Settings{Enabled: true, SpendingRate: 3_000_000})
	if got, want := b.Settings(), (bidder.Settings{Enabled: true, SpendingRate: bidder.PPM}); got != want {
		t.Errorf("New clamps: Settings() = %+v, want %+v", got, want)
	}
	b.SetSettings(bidder.Settings{SpendingRate: 250_000})
	if got, want := b.Settings(), (bidder.Settings{SpendingRate: 250_000}); got != want {
		t.Errorf("after SetSettings: Settings() = %+v, want %+v", got, want)
	}
	b.SetSettings(bidder.Settings{Enabled: true, SpendingRate: math.MaxUint32})
	if got, want := b.Settings(), (bidder.Settings{Enabled: true, SpendingRate: bidder.PPM}); got != want {
		t.Errorf("SetSettings clamps: Settings() = %+v, want %+v", got, want)
	}
}

func TestZeroBidder(t *testing.T) {
	var b bidder.Bidder // disabled, but usable
	peers := []bidder.Peer{{ID: "a", Speed: true, HasWanted: true}}
	if got := b.Update(bidder.Input{Now: t0, Balance: 1000, Remaining: mib, Peers: peers}); got != nil {
		t.Fatalf("disabled zero Bidder bid %v", got)
	}
	b.SetSettings(bidder.DefaultSettings())
	want := []bidder.Bid{{Peer: "a", Rate: 1000}}
	if got := b.Update(bidder.Input{Now: t0, Balance: 1000, Remaining: mib, Peers: peers}); !slices.Equal(got, want) {
		t.Fatalf("Update = %v, want %v", got, want)
	}
}

func TestLast(t *testing.T) {
	b := bidder.New(bidder.DefaultSettings())
	if r, ok := b.Last("a"); ok || r != 0 {
		t.Errorf("Last before any bid = %d, %v", r, ok)
	}
	peers := []bidder.Peer{{ID: "a", Speed: true, HasWanted: true}}
	b.Update(bidder.Input{Now: t0, Balance: 1000, Remaining: mib, Peers: peers})
	if r, ok := b.Last("a"); !ok || r != 1000 {
		t.Errorf("Last after bid = %d, %v, want 1000, true", r, ok)
	}
	b.Update(bidder.Input{Now: t0, Balance: 1000, Remaining: 0, Peers: peers})
	if r, ok := b.Last("a"); !ok || r != 0 {
		t.Errorf("Last after withdrawal = %d, %v, want 0, true", r, ok)
	}
	b.Forget("a")
	b.Forget("a") // forgetting twice, or a stranger, is harmless
	b.Forget("nobody")
	if r, ok := b.Last("a"); ok || r != 0 {
		t.Errorf("Last after Forget = %d, %v", r, ok)
	}
}

// Shorthands for the scenario table. With the default spending rate and
// rem = mib, the bid equals the balance.
func on(id string) bidder.Peer     { return bidder.Peer{ID: id, Speed: true, HasWanted: true} }
func noWant(id string) bidder.Peer { return bidder.Peer{ID: id, Speed: true} }
func noSpeed(id string) bidder.Peer {
	return bidder.Peer{ID: id, HasWanted: true}
}
func bid(id string, rate uint64) bidder.Bid { return bidder.Bid{Peer: id, Rate: rate} }
func bids(b ...bidder.Bid) []bidder.Bid     { return b }
func peers(p ...bidder.Peer) []bidder.Peer  { return p }

func set(s bidder.Settings) func(*bidder.Bidder) {
	return func(b *bidder.Bidder) { b.SetSettings(s) }
}

// changed is the user's change of a budget (Bidder.Changed).
func changed(b *bidder.Bidder) { b.Changed() }

func forget(ids ...string) func(*bidder.Bidder) {
	return func(b *bidder.Bidder) {
		for _, id := range ids {
			b.Forget(id)
		}
	}
}

type step struct {
	dt     time.Duration        // since t0
	before func(*bidder.Bidder) // user actions before Update, or nil
	bal    uint64               // Input.Balance
	rem    uint64               // Input.Remaining
	peers  []bidder.Peer        // Input.Peers
	want   []bidder.Bid         // nil: nothing sent
}

func TestUpdateScenarios(t *testing.T) {
	const s, m = time.Second, time.Minute
	def := bidder.DefaultSettings()
	off := bidder.Settings{SpendingRate: bidder.PPM}
	scenarios := []struct {
		name     string
		settings bidder.Settings
		steps    []step
	}{
		{"only Speed peers holding wanted pieces (M3)", def, []step{
			{0, nil, 1000, mib, peers(on("a"), noWant("b"), noSpeed("c"), bidder.Peer{ID: "d"}), bids(bid("a", 1000))},
			{2 * m, nil, 5000, mib, peers(on("a"), noWant("b"), noSpeed("c"), bidder.Peer{ID: "d"}), bids(bid("a", 5000))},
		}},
		{"first bid goes out at once", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{1 * s, nil, 1000, mib, peers(on("a"), on("e")), bids(bid("e", 1000))},
			{2 * s, nil, 5000, mib, peers(on("a"), on("e"), on("f")), bids(bid("f", 5000))},
			{3 * s, nil, 5000, mib, peers(on("a"), on("e"), on("f")), nil},
		}},
		{"nothing is resent unchanged", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{10 * m, nil, 1000, mib, peers(on("a")), nil},
			{20 * m, nil, 1000, mib, peers(on("a")), nil},
		}},
		{"a budget the user changed goes out at once, once", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{1 * s, changed, 1050, mib, peers(on("a")), bids(bid("a", 1050))},
			{2 * s, nil, 500, mib, peers(on("a")), nil},
			{3 * s, changed, 500, mib, peers(on("a")), bids(bid("a", 500))},
			{4 * s, changed, 500, mib, peers(on("a")), nil},
		}},
		{"rise of 10% or less is not sent", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{2 * m, nil, 1050, mib, peers(on("a")), nil},
			{3 * m, nil, 1100, mib, peers(on("a")), nil}, // exactly 10%
			{4 * m, nil, 1101, mib, peers(on("a")), bids(bid("a", 1101))},
			{6 * m, nil, 1211, mib, peers(on("a")), nil},                  // 110 × 10 ≤ 1101
			{7 * m, nil, 1212, mib, peers(on("a")), bids(bid("a", 1212))}, // 111 × 10 > 1101
		}},
		{"fall of 10% or less is not sent", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{2 * m, nil, 950, mib, peers(on("a")), nil},
			{3 * m, nil, 900, mib, peers(on("a")), nil}, // exactly 10%
			{4 * m, nil, 899, mib, peers(on("a")), bids(bid("a", 899))},
		}},
		{"10% of a small bid", def, []step{
			{0, nil, 10, mib, peers(on("a")), bids(bid("a", 10))},
			{2 * m, nil, 11, mib, peers(on("a")), nil},
			{3 * m, nil, 9, mib, peers(on("a")), nil},
			{4 * m, nil, 12, mib, peers(on("a")), bids(bid("a", 12))},
		}},
		{"one rebid per minute", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{1 * s, nil, 5000, mib, peers(on("a")), nil},
			{59 * s, nil, 5000, mib, peers(on("a")), nil},
			{m - time.Nanosecond, nil, 5000, mib, peers(on("a")), nil},
			{m, nil, 5000, mib, peers(on("a")), bids(bid("a", 5000))},
			{m + s, nil, 100, mib, peers(on("a")), nil},
			{2*m - s, nil, 100, mib, peers(on("a")), nil},
			{2 * m, nil, 100, mib, peers(on("a")), bids(bid("a", 100))},
		}},
		{"the minute is per peer", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{30 * s, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("b", 1000))},
			{m, nil, 2000, mib, peers(on("a"), on("b")), bids(bid("a", 2000))},
			{m + 30*s, nil, 2000, mib, peers(on("a"), on("b")), bids(bid("b", 2000))},
		}},
		{"the clock falling back delays rebids", def, []step{
			{m, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{0, nil, 5000, mib, peers(on("a")), nil},
			{2 * m, nil, 5000, mib, peers(on("a")), bids(bid("a", 5000))},
		}},
		{"settings changes go out at once", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("b"), noWant("c")), bids(bid("a", 1000), bid("b", 1000))},
			// a 5% change, within the minute: sent anyway
			{1 * s, set(bidder.Settings{Enabled: true, SpendingRate: 950_000}), 1000, mib, peers(on("a"), on("b"), noWant("c")), bids(bid("a", 950), bid("b", 950))},
			// back to the normal limits
			{2 * s, nil, 2000, mib, peers(on("a"), on("b"), noWant("c")), nil},
			// the same settings again are no change
			{3 * s, set(bidder.Settings{Enabled: true, SpendingRate: 950_000}), 2000, mib, peers(on("a"), on("b"), noWant("c")), nil},
			// a change and back before any Update is no change
			{4 * s, func(b *bidder.Bidder) {
				b.SetSettings(def)
				b.SetSettings(bidder.Settings{Enabled: true, SpendingRate: 950_000})
			}, 2000, mib, peers(on("a"), on("b"), noWant("c")), nil},
			// above PPM counts as PPM
			{5 * s, set(bidder.Settings{Enabled: true, SpendingRate: 5_000_000}), 2000, mib, peers(on("a"), on("b"), noWant("c")), bids(bid("a", 2000), bid("b", 2000))},
			{6 * s, set(def), 2000, mib, peers(on("a"), on("b"), noWant("c")), nil},
		}},
		{"a settings change skips peers whose bid did not change", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{30 * s, nil, 2000, mib, peers(on("a"), on("b")), bids(bid("b", 2000))},
			{31 * s, set(bidder.Settings{Enabled: true, SpendingRate: 999_999}), 2000, mib, peers(on("a"), on("b")), bids(bid("a", 1999), bid("b", 1999))},
			{32 * s, set(def), 1999, mib, peers(on("a"), on("b")), nil},
		}},
		{"a spending rate of 0 withdraws at once", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{1 * s, set(bidder.Settings{Enabled: true}), 1000, mib, peers(on("a")), bids(bid("a", 0))},
			{2 * s, nil, 1000, mib, peers(on("a"), on("b")), nil},
			{10 * m, nil, 1000, mib, peers(on("a"), on("b")), nil},
		}},
		{"disabling withdraws once", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("c")), bids(bid("a", 1000), bid("c", 1000))},
			{1 * s, nil, 1000, mib, peers(on("a"), noWant("c"), on("d")), bids(bid("c", 0), bid("d", 1000))},
			{2 * s, set(off), 1000, mib, peers(on("a"), noWant("c"), on("d"), on("e")), bids(bid("a", 0), bid("d", 0))},
			{3 * s, nil, 1000, mib, peers(on("a"), noWant("c"), on("d"), on("e")), nil},
			{10 * m, nil, 5000, mib, peers(on("a"), on("c"), on("d"), on("e")), nil},
			{11 * m, set(def), 5000, mib, peers(on("a"), on("c"), on("d"), on("e")), bids(bid("a", 5000), bid("c", 5000), bid("d", 5000), bid("e", 5000))},
		}},
		{"re-enabling rebids at once", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{1 * s, set(off), 1000, mib, peers(on("a")), bids(bid("a", 0))},
			{2 * s, set(def), 1000, mib, peers(on("a")), bids(bid("a", 1000))},
		}},
		{"disabled from the start bids nothing", off, []step{
			{0, nil, 1000, mib, peers(on("a")), nil},
			{10 * m, nil, 1000, mib, peers(on("a")), nil},
			{10*m + s, set(def), 1000, mib, peers(on("a")), bids(bid("a", 1000))},
		}},
		{"download complete withdraws once", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000), bid("b", 1000))},
			{10 * s, nil, 1000, 0, peers(on("a"), on("b"), on("c")), bids(bid("a", 0), bid("b", 0))},
			{20 * s, nil, 1000, 0, peers(on("a"), on("b"), on("c")), nil},
			{5 * m, nil, 9000, 0, peers(on("a"), on("b"), on("c")), nil},
			{5 * m, set(bidder.Settings{Enabled: true, SpendingRate: 500_000}), 9000, 0, peers(on("a"), on("b"), on("c")), nil},
		}},
		{"more to download after completion", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{10 * s, nil, 1000, 0, peers(on("a")), bids(bid("a", 0))},
			{40 * s, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("b", 1000))},
			{70*s - time.Nanosecond, nil, 1000, mib, peers(on("a"), on("b")), nil},
			{70 * s, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000))},
		}},
		{"a peer without wanted pieces gets one 0", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000), bid("b", 1000))},
			{5 * s, nil, 1000, mib, peers(noWant("a"), on("b")), bids(bid("a", 0))},
			{6 * s, nil, 1000, mib, peers(noWant("a"), on("b")), nil},
			{2 * m, nil, 1000, mib, peers(noWant("a"), on("b")), nil},
			{3 * m, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000))},
		}},
		{"a peer regaining wanted pieces waits out the minute", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{30 * s, nil, 1000, mib, peers(noWant("a")), bids(bid("a", 0))},
			{40 * s, nil, 1000, mib, peers(on("a")), nil},
			{90 * s, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
		}},
		{"a bid computed as 0 withdraws once", def, []step{
			{0, nil, 1000, mib, peers(on("a")), bids(bid("a", 1000))},
			{1 * s, nil, 0, mib, peers(on("a")), bids(bid("a", 0))},
			{2 * s, nil, 0, mib, peers(on("a")), nil},
			{3 * m, nil, 0, mib, peers(on("a")), nil},
			// 1023 units over 1 GiB floors to 0 as well
			{4 * m, nil, 1023, gib, peers(on("a"), on("b")), nil},
			{5 * m, nil, 1024, gib, peers(on("a"), on("b")), bids(bid("a", 1), bid("b", 1))},
		}},
		{"forget then reconnect bids at once", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000), bid("b", 1000))},
			{1 * s, forget("a"), 1050, mib, peers(on("a"), on("b")), bids(bid("a", 1050))},
			{2 * s, nil, 1000, mib, peers(noWant("a"), on("b")), bids(bid("a", 0))},
			{3 * s, forget("a"), 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000))},
			{4 * s, forget("a"), 1000, mib, peers(noWant("a"), on("b")), nil},
		}},
		{"an absent peer keeps its memory", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("b")), bids(bid("a", 1000), bid("b", 1000))},
			{5 * s, nil, 5000, mib, peers(on("a")), nil},
			{10 * s, set(off), 5000, mib, peers(on("a")), bids(bid("a", 0))},
			{15 * s, set(def), 5000, mib, peers(on("a")), bids(bid("a", 5000))},
			{20 * s, nil, 5000, mib, peers(on("a"), on("b")), nil},
			{m, nil, 5000, mib, peers(on("a"), on("b")), bids(bid("b", 5000))},
		}},
		{"sorted by peer ID", def, []step{
			{0, nil, 1000, mib, peers(on("z"), on("a"), on("m"), on("B"), on("aa")), bids(bid("B", 1000), bid("a", 1000), bid("aa", 1000), bid("m", 1000), bid("z", 1000))},
			{m, nil, 2000, mib, peers(on("m"), on("aa"), on("z"), on("B"), on("a")), bids(bid("B", 2000), bid("a", 2000), bid("aa", 2000), bid("m", 2000), bid("z", 2000))},
		}},
		{"a repeated ID counts once, first occurrence", def, []step{
			{0, nil, 1000, mib, peers(on("a"), on("a"), noWant("a")), bids(bid("a", 1000))},
			{1 * s, nil, 1000, mib, peers(noWant("a"), on("a")), bids(bid("a", 0))},
		}},
		{"no peers", def, []step{
			{0, nil, 1000, mib, nil, nil},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			b := bidder.New(sc.settings)
			for i, st := range sc.steps {
				if st.before != nil {
					st.before(b)
				}
				got := b.Update(bidder.Input{Now: t0.Add(st.dt), Balance: st.bal, Remaining: st.rem, Peers: st.peers})
				if !slices.Equal(got, st.want) {
					t.Fatalf("step %d (t0+%v, balance %d, remaining %d): Update = %v, want %v", i, st.dt, st.bal, st.rem, got, st.want)
				}
				for _, x := range got {
					if r, ok := b.Last(x.Peer); !ok || r != x.Rate {
						t.Fatalf("step %d: Last(%q) = %d, %v after sending %d", i, x.Peer, r, ok, x.Rate)
					}
				}
			}
		})
	}
}

func Example() {
	b := bidder.New(bidder.DefaultSettings())
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	peers := []bidder.Peer{
		{ID: "peer-b", Speed: true, HasWanted: true},
		{ID: "peer-a", Speed: true, HasWanted: true},
		{ID: "peer-c", Speed: false, HasWanted: true}, // no Speed: never bid to
	}
	// 1000 BTT to spend on 1 GiB: 976,562 base units per MiB.
	fmt.Println(b.Update(bidder.Input{Now: now, Balance: 1_000_000_000, Remaining: 1 << 30, Peers: peers}))
	// 20% less to spend, 30 s later: too soon to rebid.
	fmt.Println(b.Update(bidder.Input{Now: now.Add(30 * time.Second), Balance: 800_000_000, Remaining: 1 << 30, Peers: peers}))
	// A minute after the first bids: rebid.
	fmt.Println(b.Update(bidder.Input{Now: now.Add(time.Minute), Balance: 800_000_000, Remaining: 1 << 30, Peers: peers}))
	// The user turns Speed off: withdraw at once.
	b.SetSettings(bidder.Settings{Enabled: false, SpendingRate: bidder.PPM})
	fmt.Println(b.Update(bidder.Input{Now: now.Add(time.Minute + time.Second), Balance: 800_000_000, Remaining: 1 << 30, Peers: peers}))
	// Output:
	// [{peer-a 976562} {peer-b 976562}]
	// []
	// [{peer-a 781250} {peer-b 781250}]
	// [{peer-a 0} {peer-b 0}]
}
