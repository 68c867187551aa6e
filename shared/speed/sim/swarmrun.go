package sim

import (
	"math"
	"slices"
)

// SwarmResult is what RunSwarms measured over every swarm of one
// configuration.
type SwarmResult struct {
	Params SwarmParams

	// Avail[h] is the fraction of swarms whose content could be
	// reconstructed at the end of hour h.
	Avail []float64
	// Alive[h] is the fraction of swarms whose content was still stored
	// somewhere (online or not) at the end of hour h: 1 − Alive is what
	// became unavailable for good.
	Alive []float64
	// Peers[h] is the mean number of peers per swarm at the end of hour h.
	Peers []float64
	// SeedlessObs counts (swarm, hour) samples with leechers and no seed;
	// SeedlessRecon those of them whose leechers held every chunk between
	// them (Kaune et al.'s measure).
	SeedlessObs, SeedlessRecon int
	// SeedLosses counts the times a swarm's last seed left while other
	// peers stayed; SeedLossRecon those after which the others still held
	// every chunk between them.
	SeedLosses, SeedLossRecon int
	// Downloads are the download times, in hours, of every leecher that
	// completed, sorted.
	Downloads []float64
	// Arrivals counts the leechers that came.
	Arrivals int
	// PaidPerDay[d] is the BTT (base units) leechers paid seeds on day d,
	// summed over the swarms.
	PaidPerDay []int64
	// Minted is what the Speed leechers and sponsors were given; Held what
	// every user holds at the end (unspent budgets and earnings, the
	// sponsors' rest): equal when money is conserved.
	Minted, Held int64
	// SponsorPaid is what the sponsor paid in each swarm, sorted.
	SponsorPaid []int64
	// OverBudget counts users who spent more than their budget (none should).
	OverBudget int
}

// RunSwarms runs p.Swarms independent swarms for p.Days. The same
// parameters give the same result, bit for bit.
func RunSwarms(p SwarmParams) SwarmResult {
	p = p.withDefaults()
	hours := p.Days * 24
	stepsPerHour := max(1, int(math.Round(3600/p.Step.Seconds())))
	dtH := 1 / float64(stepsPerHour)
	r := SwarmResult{Params: p, Avail: make([]float64, hours), Alive: make([]float64, hours), Peers: make([]float64, hours), PaidPerDay: make([]int64, p.Days)}
	var st stepStats
	for i := range p.Swarms {
		s := newSwarm(&p, i)
		for h := range hours {
			for k := range stepsPerHour {
				s.step(float64(h)+float64(k+1)*dtH, dtH, &st)
			}
			r.observe(s, h)
		}
		r.Arrivals += s.nextID - 1
		r.SeedLosses += s.losses
		r.Minted += p.SponsorBudget
		r.Held += s.sponsor
		r.SponsorPaid = append(r.SponsorPaid, p.SponsorBudget-s.sponsor)
		r.SeedLossRecon += s.lossRecon
		for _, m := range slices.Concat(s.peers, s.departed) {
			r.Minted += m.budget
			r.Held += m.balance + m.earned
			if m.spent > m.budget {
				r.OverBudget++
			}
		}
	}
	n := float64(p.Swarms)
	for h := range hours {
		r.Avail[h] /= n
		r.Alive[h] /= n
		r.Peers[h] /= n
	}
	r.Downloads = st.downloads
	slices.Sort(r.SponsorPaid)
	slices.Sort(r.Downloads)
	return r
}

// observe records swarm s at the end of hour h.
func (r *SwarmResult) observe(s *mswarm, h int) {
	avail, seeds := s.available(false)
	if seeds > 0 || avail == s.full {
		r.Avail[h]++
	}
	if !s.dead {
		r.Alive[h]++
	}
	online := 0
	for _, m := range s.peers {
		if m.online {
			online++
		}
	}
	r.Peers[h] += float64(online)
	if seeds == 0 && online > 0 {
		r.SeedlessObs++
		if avail == s.full {
			r.SeedlessRecon++
		}
	}
	r.PaidPerDay[h/24] += s.paidToday
	s.paidToday = 0
}

// SeedlessReconstructible is the fraction of seedless samples whose
// leechers could still reconstruct the content (0 without samples).
func (r SwarmResult) SeedlessReconstructible() float64 {
	if r.SeedlessObs == 0 {
		return 0
	}
	return float64(r.SeedlessRecon) / float64(r.SeedlessObs)
}

// MedianDownloadH is the median download time in hours (NaN if nobody
// completed).
func (r SwarmResult) MedianDownloadH() float64 {
	if len(r.Downloads) == 0 {
		return math.NaN()
	}
	return r.Downloads[len(r.Downloads)/2]
}

// Completed is the fraction of arrivals that completed their download.
func (r SwarmResult) Completed() float64 {
	if r.Arrivals == 0 {
		return 0
	}
	return float64(len(r.Downloads)) / float64(r.Arrivals)
}

// MeanAvail is availability averaged over the run's hours.
func (r SwarmResult) MeanAvail() float64 {
	var sum float64
	for _, a := range r.Avail {
		sum += a
	}
	return sum / float64(len(r.Avail))
}

// TotalPaid is every payment of the run, in base units.
func (r SwarmResult) TotalPaid() int64 {
	var t int64
	for _, v := range r.PaidPerDay {
		t += v
	}
	return t
}
