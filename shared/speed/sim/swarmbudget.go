package sim

// BudgetPoint is one candidate sponsor rate of PublisherBudget, the
// fraction of swarms whose content was still stored at the end of the
// horizon, and the most the sponsor paid in any swarm at that rate.
type BudgetPoint struct {
	Rate   int64 // base units an hour to each online Speed seed
	Alive  float64
	Budget int64 // base units per swarm
}

// DefaultRateLadder is the sponsor rates PublisherBudget tries, in base
// units an hour per seed: 0 to 100 BTT.
var DefaultRateLadder = []int64{0, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000, 100_000_000}

// unlimited is the sponsor's budget while PublisherBudget measures what it
// spends.
const unlimited = int64(1) << 50

// PublisherBudget answers the publisher's question (issue 23 item 4): how
// much must I put up so that my content is still available after p.Days
// days with probability prob? p describes the torrent (SizeMiB,
// DemandMedian and DemandSigma, Share of Speed users among the peers). A
// sponsor pays every online Speed seed but the publisher a rate an hour
// (SponsorRate), with no limit; for each rate of ladder, p.Swarms swarms run.
// The answer is the first rate whose fraction of swarms still stored at the
// end reaches prob, and as budget the most the sponsor paid in any swarm at
// that rate (a budget that would not have run out in any of them).
// ok is false when no rate of the ladder reaches prob.
func PublisherBudget(p SwarmParams, prob float64, ladder []int64) (BudgetPoint, []BudgetPoint, bool) {
	p = p.withDefaults()
	var pts []BudgetPoint
	for _, rate := range ladder {
		p.SponsorRate, p.SponsorBudget = rate, 0
		if rate > 0 {
			p.SponsorBudget = unlimited
		}
		r := RunSwarms(p)
		pt := BudgetPoint{Rate: rate, Alive: r.Alive[len(r.Alive)-1]}
		pt.Budget = r.SponsorPaid[len(r.SponsorPaid)-1]
		pts = append(pts, pt)
		if pt.Alive >= prob {
			return pt, pts, true
		}
	}
	return BudgetPoint{}, pts, false
}
