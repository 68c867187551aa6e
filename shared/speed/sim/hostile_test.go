package sim

import (
	"testing"

	"github.com/btspeed/btspeed/shared/speed/bidder"
)

// An overcharging seed, which prices every unchoke above the requester's
// bid (or charges requesters that bid nothing), gains nothing: every
// requester refuses its bid responses, requests nothing from it, opens no
// channel to it and downloads everything from the honest seed, paying
// exactly what that seed earns.
func TestOverchargerGainsNothing(t *testing.T) {
	sc := Scenario{
		Seed:               7,
		FinishPieceOnChoke: true,
		Capacity:           256 << 10,
		Providers: []ProviderSpec{
			{Name: "S", Kind: HonestProvider, Reserve: 100_000},
			{Name: "H", Kind: Overcharger, Reserve: 100_000},
		},
		Requesters: []RequesterSpec{
			{Name: "R1", Kind: HonestRequester, Balance: 100 * btt},
			{Name: "R2", Kind: HonestRequester, Balance: 20 * btt, SpendingRate: 500_000},
			// With nothing to spend it bids nothing: H charges it anyway.
			{Name: "Z", Kind: HonestRequester, Balance: 0},
		},
	}
	s := run(t, sc, nil)
	noAnomalies(t, s)
	h := findProvider(t, s, "H")
	if h.Earned != 0 || h.Balance != 0 || h.Sent != 0 {
		t.Errorf("the overcharger earned %d (balance %d) and sent %d bytes", h.Earned, h.Balance, h.Sent)
	}
	for _, ch := range s.Channels() {
		if ch.Provider == "H" {
			t.Errorf("%s opened a channel to the overcharger: %+v", ch.Requester, ch)
		}
	}
	var spent uint64
	for _, name := range []string{"R1", "R2", "Z"} {
		r := findRequester(t, s, name)
		if r.Completed == 0 || r.From["H"] != 0 {
			t.Errorf("%s: completed at %d, %d bytes from the overcharger", name, r.Completed, r.From["H"])
		}
		if len(events(s, EvRefused, "H", name)) == 0 {
			t.Errorf("%s never refused the overcharger: the test proves nothing", name)
		}
		spent += r.Spent
	}
	if sp := findProvider(t, s, "S"); sp.Earned != spent || spent == 0 {
		t.Errorf("the honest seed earned %d, the requesters spent %d", sp.Earned, spent)
	}
	if n := len(events(s, EvRefused, "S", "")); n != 0 {
		t.Errorf("%d bid responses of the honest seed refused", n)
	}
}

// A requester that knows the market (a price seen before, then the prices it
// accepts) never bids a seed whose reserve is 1,000 times that market into a
// paid slot, and buys from the seed at the market price; the bare M5
// formula of a rich requester would pay the greedy seed.
func TestThousandTimesMarketReserveSellsNothing(t *testing.T) {
	const market = 50_000
	for _, withMarket := range []bool{true, false} {
		sc := Scenario{
			Seed:               3,
			FinishPieceOnChoke: true,
			Pieces:             16,
			Capacity:           64 << 10,
			Providers: []ProviderSpec{
				{Name: "S", Kind: HonestProvider, Reserve: market},
				{Name: "G", Kind: HonestProvider, Reserve: 1_000 * market},
			},
			// No max price (the sim's default): only the market protects.
			Requesters: []RequesterSpec{{Name: "R", Kind: HonestRequester, Balance: 1_000 * btt, Market: withMarket, MarketPrior: market}},
		}
		s := run(t, sc, nil)
		noAnomalies(t, s)
		g := findProvider(t, s, "G")
		if withMarket && g.Earned != 0 {
			t.Errorf("with a market estimate the greedy seed earned %d", g.Earned)
		}
		if !withMarket && g.Earned == 0 {
			t.Errorf("without one it earned nothing: the test proves nothing")
		}
		for _, b := range s.Bids("R") {
			if withMarket && b.Rate > bidder.MarketMultiple*market {
				t.Errorf("bid %d to %s at step %d, above the cap %d", b.Rate, b.Provider, b.Step, bidder.MarketMultiple*market)
			}
		}
		if r := findRequester(t, s, "R"); r.Completed == 0 {
			t.Errorf("R did not complete (market %v)", withMarket)
		}
	}
}
