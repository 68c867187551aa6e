package bidder_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/speed/choker"
)

const btt = 1_000_000

// The estimate is the weighted median of each provider's latest rate, and
// what was seen fades with age: a newer price outweighs older ones, and
// after 32 half-lives nothing is left.
func TestMarketEstimateDecays(t *testing.T) {
	m := bidder.NewMarket()
	if got := m.Estimate(t0); got != 0 {
		t.Fatalf("empty market: %d", got)
	}
	m.Observe("free", 0, t0) // a free slot says nothing about prices
	if got := m.Estimate(t0); got != 0 {
		t.Fatalf("after a free slot: %d", got)
	}
	m.Observe("a", 100, t0)
	m.Observe("b", 120, t0)
	m.Observe("c", 5_000_000, t0) // one provider far above the rest
	if got := m.Estimate(t0); got != 120 {
		t.Fatalf("median of 100, 120, 5,000,000: %d", got)
	}
	// Two hours later a new price, 1,000, outweighs the three old ones
	// (1 against 3 × 1/4) together with c: the median moves up.
	later := t0.Add(2 * bidder.MarketHalfLife)
	m.Observe("d", 1_000, later)
	if got := m.Estimate(later); got != 1_000 {
		t.Fatalf("after a fresh price: %d", got)
	}
	// A provider's latest price replaces its earlier one.
	m.Observe("d", 90, later)
	if got := m.Estimate(later); got != 90 {
		t.Fatalf("d's latest price 90 weighs 1 against 3/4: %d", got)
	}
	// Equal weights: the lower of two prices. Any age makes the older
	// price weigh less than the fresh one, which then is the median.
	for _, age := range []time.Duration{0, time.Second, bidder.MarketHalfLife / 2, bidder.MarketHalfLife, 10 * bidder.MarketHalfLife} {
		m2 := bidder.NewMarket()
		m2.Observe("a", 100, t0)
		m2.Observe("b", 300, t0.Add(age))
		want := uint64(300)
		if age == 0 {
			want = 100
		}
		if got := m2.Estimate(t0.Add(age)); got != want {
			t.Fatalf("a 100 seen %v before b 300: estimate %d, want %d", age, got, want)
		}
	}
	if got := m.Estimate(later.Add(32 * bidder.MarketHalfLife)); got != 0 {
		t.Fatalf("32 half-lives on: %d, want nothing left", got)
	}
}

// The number of providers remembered is capped; the one seen longest ago
// goes first.
func TestMarketIsBounded(t *testing.T) {
	m := bidder.NewMarket()
	for i := range bidder.MaxMarketProviders {
		m.Observe(fmt.Sprintf("p%d", i), 1_000_000, t0.Add(time.Duration(i)*time.Second))
	}
	// One more provider, cheaper, evicts p0; many more evict all the old.
	for i := range bidder.MaxMarketProviders {
		m.Observe(fmt.Sprintf("q%d", i), 10, t0.Add(time.Hour))
	}
	if got := m.Estimate(t0.Add(time.Hour)); got != 10 {
		t.Fatalf("estimate %d: the old providers were not evicted", got)
	}
}

// Bids never exceed MarketMultiple × the market, nor the max price (the
// default when the user set none), whatever the M5 formula says.
func TestBidCaps(t *testing.T) {
	peers := []bidder.Peer{{ID: "a", Speed: true, HasWanted: true}}
	bidOnce := func(set bidder.Settings, balance, remaining, market uint64) uint64 {
		b := bidder.New(set)
		got := b.Update(bidder.Input{Now: t0, Balance: balance, Remaining: remaining, Market: market, Peers: peers})
		if len(got) != 1 {
			t.Fatalf("bids %v", got)
		}
		return got[0].Rate
	}
	def := bidder.DefaultSettings()
	// The formula alone: 100 BTT over 16 KiB is 6,400 BTT per MiB.
	if got := bidder.Rate(bidder.PPM, 100*btt, 16<<10); got != 6_400*btt {
		t.Fatalf("Rate = %d", got)
	}
	if got := bidOnce(def, 100*btt, 16<<10, 0); got != bidder.DefaultMaxRate {
		t.Fatalf("no market: bid %d, want the default max %d", got, bidder.DefaultMaxRate)
	}
	if got := bidOnce(def, 100*btt, 16<<10, 1_000); got != 4_000 {
		t.Fatalf("market 1,000: bid %d, want %d", got, bidder.MarketMultiple*1_000)
	}
	// Below the caps the formula rules.
	if got := bidOnce(def, btt, gib, 1_000); got != 976 {
		t.Fatalf("1 BTT over 1 GiB: bid %d, want 976", got)
	}
	// The user's max price, in BTT per GiB.
	set := bidder.Settings{Enabled: true, SpendingRate: bidder.PPM, MaxRate: bidder.RateForPrice(10 * btt)}
	if got := bidOnce(set, 100*btt, 16<<10, 0); got != 9_765 {
		t.Fatalf("max 10 BTT/GiB: bid %d, want 9,765", got)
	}
	if got := bidOnce(set, 100*btt, 16<<10, 1_000); got != 4_000 {
		t.Fatalf("max 10 BTT/GiB, market 1,000: bid %d", got)
	}
	if got, want := bidder.PriceForRate(bidder.DefaultMaxRate), uint64(999_999_488); got != want {
		t.Fatalf("PriceForRate(DefaultMaxRate) = %d, want %d", got, want)
	}
}

// A provider whose reserve is 1,000 times the market gets no bid above the
// cap, so its auction never sells it a paid slot; a provider at the market
// price does.
func TestThousandTimesMarketReserveGetsNoPaidSlot(t *testing.T) {
	const marketRate = 50_000 // 0.05 BTT per MiB
	m := bidder.NewMarket()
	m.Observe("honest", marketRate, t0)
	b := bidder.New(bidder.DefaultSettings())
	peers := []bidder.Peer{{ID: "greedy", Speed: true, HasWanted: true}, {ID: "honest", Speed: true, HasWanted: true}}
	// A rich requester near the end of its download: the formula alone
	// would bid the whole balance over 16 KiB.
	now := t0
	for step := range 10 {
		now = now.Add(time.Duration(step) * 2 * bidder.MinInterval)
		for _, bid := range b.Update(bidder.Input{Now: now, Balance: 1_000 * btt, Remaining: 16 << 10, Market: m.Estimate(now), Peers: peers}) {
			if bid.Rate > bidder.MarketMultiple*marketRate {
				t.Fatalf("bid %d to %s above the cap %d", bid.Rate, bid.Peer, bidder.MarketMultiple*marketRate)
			}
		}
		last, _ := b.Last("greedy")
		rng := rand.New(rand.NewPCG(uint64(step), 1))
		res := choker.Round(choker.Config{Slots: 4, Reserve: 1_000 * marketRate},
			[]choker.Peer{{ID: "me", Account: "me", Speed: true, Bid: last, Interested: true}}, rng)
		for _, d := range res.Unchoked {
			if d.Kind == choker.Paid {
				t.Fatalf("step %d: the greedy provider sold a paid slot at %d", step, d.Rate)
			}
		}
		res = choker.Round(choker.Config{Slots: 4, Reserve: marketRate},
			[]choker.Peer{{ID: "me", Account: "me", Speed: true, Bid: last, Interested: true}}, rng)
		if len(res.Unchoked) != 1 || res.Unchoked[0].Kind != choker.Paid || res.Unchoked[0].Rate != marketRate {
			t.Fatalf("step %d: the market-price provider: %+v", step, res.Unchoked)
		}
		m.Observe("honest", marketRate, now)
	}
}

// The default budget is 1% of the balance: with 100 BTT, 1 BTT. Spread by
// the formula over the last 16 KiB of a resumed download it bids 64 BTT per
// MiB, which the default max price cuts to under 1 BTT per MiB: the piece
// costs at most 0.015 BTT, and a reserve of 6,000 BTT per MiB sells no paid
// slot at all.
func TestDefaultBudget(t *testing.T) {
	if got := bidder.DefaultBudget(100 * btt); got != btt {
		t.Fatalf("DefaultBudget(100 BTT) = %d", got)
	}
	if got := bidder.DefaultBudget(99); got != 0 {
		t.Fatalf("DefaultBudget(99) = %d", got)
	}
	b := bidder.New(bidder.DefaultSettings())
	bids := b.Update(bidder.Input{Now: t0, Balance: bidder.DefaultBudget(100 * btt), Remaining: 16 << 10,
		Peers: []bidder.Peer{{ID: "s", Speed: true, HasWanted: true}}})
	if len(bids) != 1 || bids[0].Rate != bidder.DefaultMaxRate {
		t.Fatalf("bids %v", bids)
	}
	if bids[0].Rate >= 6_000*btt {
		t.Fatal("the bid reaches a 6,000 BTT/MiB reserve")
	}
	if cost := bids[0].Rate * 16 / 1024; cost > btt/50 {
		t.Fatalf("16 KiB at the bid costs %d", cost)
	}
}
