package sim

import (
	"math"
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

// More budget never lowers availability in expectation: over eight seeds,
// the mean paired difference in availability (averaged over the run)
// between a budget and the next smaller one is not below zero by more than
// twice its standard error; and every run conserves money, keeps each user
// within its budget and pays nothing without budgets.
func TestSwarmBudgetMonotone(t *testing.T) {
	budgets := []int64{0, 2_000_000, 10_000_000, 50_000_000}
	const seeds = 8
	avail := make([][seeds]float64, len(budgets))
	for seed := range seeds {
		for i, b := range budgets {
			p := smallSwarms(uint64(seed + 1))
			p.SizeMiB, p.Share, p.Budget = 1024, 1, b
			r := RunSwarms(p)
			avail[i][seed] = r.MeanAvail()
			if r.Minted != r.Held || r.OverBudget != 0 {
				t.Errorf("seed %d, budget %d: %d minted, %d held at the end, %d users over budget", seed+1, b, r.Minted, r.Held, r.OverBudget)
			}
			if (b == 0) != (r.TotalPaid() == 0) {
				t.Errorf("seed %d, budget %d: paid %d", seed+1, b, r.TotalPaid())
			}
		}
	}
	for i := 1; i < len(budgets); i++ {
		var d [seeds]float64
		var mean, sd float64
		for s := range seeds {
			d[s] = avail[i][s] - avail[i-1][s]
			mean += d[s] / seeds
		}
		for s := range seeds {
			sd += (d[s] - mean) * (d[s] - mean) / (seeds - 1)
		}
		se := math.Sqrt(sd / seeds)
		t.Logf("budget %d over %d: mean availability change %+.4f (standard error %.4f)", budgets[i], budgets[i-1], mean, se)
		if mean < -2*se {
			t.Errorf("budget %d lowered mean availability by %.4f against budget %d (standard error %.4f)", budgets[i], -mean, budgets[i-1], se)
		}
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

// In the engine's calibration swarm the payers hold paid slots, so they pay
// for every byte the seed sends them (the engine's free slots go to the
// others): the model's payers spend at least the content's price at the
// reserve, the seed earns exactly that, and the payers finish before the
// others, whose share is the seed's free 20%.
func TestFlashCrowdPayersPayForEveryByte(t *testing.T) {
	const size, reserve, payers = 3 << 20, 10_000, 3
	r := RunFlashCrowd(FlashCrowd{SeedUp: 1 << 20, Size: size, Chunks: 48, Payers: payers, Others: 6,
		Budget: 100_000_000, Reserve: reserve, Step: 50 * time.Millisecond, LeecherDownBs: 100 << 20})
	if want := int64(payers * size / MiB * reserve); r.Spent < want || r.Spent > want*101/100 {
		t.Errorf("the payers spent %d, want the price of every byte they took, %d (within 1%% for rounding up)", r.Spent, want)
	}
	if r.Earned != r.Spent {
		t.Errorf("the seed earned %d, the payers spent %d", r.Earned, r.Spent)
	}
	if last, median := r.Payers[len(r.Payers)-1], r.Others[len(r.Others)/2]; last >= median {
		t.Errorf("the last payer finished after %v, the median other after %v", last, median)
	}
}
