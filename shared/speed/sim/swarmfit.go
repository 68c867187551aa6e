package sim

import "math"

// Targets of the no-Speed fit (docs/swarm-study.md).
const (
	// KauneUnavailableMonth is the fraction of torrents unavailable within
	// their first month (Kaune et al. 2010, abstract: 38%).
	KauneUnavailableMonth = 0.38
	// KauneSeedlessReconstructible is the fraction of seedless swarms whose
	// leechers could still reconstruct the content (Kaune et al. 2010, as
	// issue 23 cites it: 14%).
	KauneSeedlessReconstructible = 0.14
)

// FittedPubMeanH is the publisher's mean seeding time (hours) that FitNoSpeed
// chose with the defaults (seed 1, 200 swarms): see docs/swarm-study.md.
const FittedPubMeanH = 1440

// FitPoint is one candidate of FitNoSpeed and what it gave.
type FitPoint struct {
	PubMeanH         float64
	UnavailableMonth float64 // fraction of swarms dead at the end of day 30
	SeedlessRecon    float64 // SeedlessReconstructible
	Err              float64 // |UnavailableMonth - KauneUnavailableMonth|
}

// FitNoSpeed runs the no-Speed model (p with Share 0) for each candidate
// publisher seeding time and returns them all with the index of the one
// whose first-month unavailability is closest to Kaune et al.'s. p.Days must
// be at least 30.
func FitNoSpeed(p SwarmParams, candidatesH []float64) ([]FitPoint, int) {
	p.Share, p.Days = 0, max(p.Days, 30)
	var pts []FitPoint
	best := 0
	for i, c := range candidatesH {
		p.PubMeanH = c
		r := RunSwarms(p)
		u := 1 - r.Avail[30*24-1]
		pt := FitPoint{PubMeanH: c, UnavailableMonth: u, SeedlessRecon: r.SeedlessReconstructible(),
			Err: math.Abs(u - KauneUnavailableMonth)}
		pts = append(pts, pt)
		if pt.Err < pts[best].Err {
			best = i
		}
	}
	return pts, best
}
