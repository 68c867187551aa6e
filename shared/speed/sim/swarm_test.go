package sim

import (
	"testing"
	"time"
)

// smallSwarms is a configuration small enough for a test: 40 swarms over
// 10 days in 5-minute steps.
func smallSwarms(seed uint64) SwarmParams {
	p := DefaultSwarmParams()
	p.Seed, p.Swarms, p.Days = seed, 40, 10
	p.Step = 5 * time.Minute
	return p
}

// More budget never lowers availability in expectation: over several
// seeds, mean availability is non-decreasing in the Speed users' budget,
// and every run conserves money and keeps each user within its budget.
func TestSwarmBudgetMonotone(t *testing.T) {
	budgets := []int64{0, 2_000_000, 10_000_000, 50_000_000}
	means := make([]float64, len(budgets))
	var paid []int64
	for seed := uint64(1); seed <= 4; seed++ {
		for i, b := range budgets {
			p := smallSwarms(seed)
			p.Share, p.Budget = 1, b
			r := RunSwarms(p)
			means[i] += r.MeanAvail() / 4
			if seed == 1 {
				paid = append(paid, r.TotalPaid())
			}
			if r.Minted != r.Held {
				t.Errorf("seed %d, budget %d: %d minted but %d held at the end", seed, b, r.Minted, r.Held)
			}
			if r.OverBudget != 0 {
				t.Errorf("seed %d, budget %d: %d users spent more than their budget", seed, b, r.OverBudget)
			}
			if want := int64(r.Arrivals) * b; r.Minted > want {
				t.Errorf("seed %d: %d minted for %d arrivals of budget %d", seed, r.Minted, r.Arrivals, b)
			}
		}
	}
	t.Logf("mean availability by budget %v: %v; paid (seed 1) %v", budgets, means, paid)
	for i := 1; i < len(means); i++ {
		if means[i] < means[i-1] {
			t.Errorf("budget %d gave mean availability %.4f, below %.4f with budget %d", budgets[i], means[i], means[i-1], budgets[i-1])
		}
	}
	if paid[0] != 0 || paid[1] == 0 {
		t.Errorf("paid %v: nothing should be paid without a budget, something with one", paid)
	}
}

// Earnings keep seeds: with a high reserve and budgets that can pay it, the
// swarms stay available longer than without Speed (the mechanism the study
// measures), and seeds' earnings equal leechers' spending.
func TestSwarmEarningsKeepSeeds(t *testing.T) {
	p := smallSwarms(7)
	base := RunSwarms(p)
	p.Share, p.Budget, p.Reserve, p.HalfRate = 1, 1_000_000_000, 1_000_000, 1_000_000
	paid := RunSwarms(p)
	t.Logf("mean availability %.3f without Speed, %.3f with; paid %d", base.MeanAvail(), paid.MeanAvail(), paid.TotalPaid())
	if paid.MeanAvail() <= base.MeanAvail() {
		t.Errorf("mean availability %.3f with well-paid seeds, %.3f without: want more", paid.MeanAvail(), base.MeanAvail())
	}
	if paid.Minted != paid.Held {
		t.Errorf("%d minted, %d held", paid.Minted, paid.Held)
	}
}

// The same parameters give the same result; another seed another one.
func TestSwarmDeterministic(t *testing.T) {
	p := smallSwarms(3)
	p.Share, p.Budget = 0.5, 10_000_000
	a, b := RunSwarms(p), RunSwarms(p)
	if a.MeanAvail() != b.MeanAvail() || a.TotalPaid() != b.TotalPaid() || len(a.Downloads) != len(b.Downloads) {
		t.Errorf("two runs differ: %v/%v, %d/%d", a.MeanAvail(), b.MeanAvail(), a.TotalPaid(), b.TotalPaid())
	}
	p.Seed = 4
	if c := RunSwarms(p); c.Arrivals == a.Arrivals && c.TotalPaid() == a.TotalPaid() {
		t.Errorf("seeds 3 and 4 gave the same run")
	}
}

// A sponsor's budget keeps seeds: with a large budget paid to online Speed
// seeds, more swarms still hold their content at the end than without one;
// the sponsor never pays more than its budget and money is conserved.
func TestSwarmSponsor(t *testing.T) {
	p := smallSwarms(5)
	p.Share, p.PubMeanH = 1, 48
	base := RunSwarms(p)
	p.SponsorBudget, p.SponsorRate = 10_000_000_000, 10_000_000
	sp := RunSwarms(p)
	last := len(sp.Alive) - 1
	t.Logf("stored at the end: %.3f without a sponsor, %.3f with; sponsor paid %d per swarm", base.Alive[last], sp.Alive[last], sp.TotalPaid()/int64(p.Swarms))
	if sp.Alive[last] <= base.Alive[last] {
		t.Errorf("stored at the end %.3f with a sponsor, %.3f without: want more", sp.Alive[last], base.Alive[last])
	}
	if sp.Minted != sp.Held || sp.OverBudget != 0 {
		t.Errorf("minted %d, held %d, %d over budget", sp.Minted, sp.Held, sp.OverBudget)
	}
	if paid := sp.TotalPaid(); paid > int64(p.Swarms)*p.SponsorBudget+sp.Minted {
		t.Errorf("paid %d, more than there was", paid)
	}
}

// PublisherBudget returns the first rate of the ladder that reaches the
// probability, stops there, and asks a budget that covers what the sponsor
// paid in that fraction of swarms.
func TestPublisherBudget(t *testing.T) {
	p := smallSwarms(2)
	p.Swarms, p.Days, p.Share, p.PubMeanH, p.SizeMiB = 20, 5, 1, 24, 256
	ladder := []int64{0, 1_000_000, 100_000_000}
	got, pts, ok := PublisherBudget(p, 0.4, ladder)
	t.Logf("%+v from %+v", got, pts)
	if !ok || pts[len(pts)-1] != got || got.Alive < 0.4 || got.Rate == 0 || got.Budget <= 0 {
		t.Fatalf("got %+v (ok %v) from %+v", got, ok, pts)
	}
	for _, pt := range pts[:len(pts)-1] {
		if pt.Alive >= 0.4 {
			t.Errorf("rate %d already reached %.2f, but %d was returned", pt.Rate, pt.Alive, got.Rate)
		}
	}
}
