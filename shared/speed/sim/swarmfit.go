package sim

// Targets of the no-Speed fit (docs/swarm-study.md).
const (
	// KauneUnavailableMonth is the fraction of torrents that became
	// unavailable within their first month (Kaune et al. 2010, abstract: 38%).
	KauneUnavailableMonth = 0.38
	// KauneSeedlessReconstructible is the fraction of seedless swarms whose
	// leechers could still reconstruct the content (Kaune et al. 2010, as
	// issue 23 cites it: 14%).
	KauneSeedlessReconstructible = 0.14
)

// The no-Speed parameters FitNoSpeed chose with seed 1 and 100 swarms over 30 days
// (docs/swarm-study/fit.md): the publisher's mean seeding time in hours and
// the median upload capacity in KiB/s.
const (
	FittedPubMeanH     = 1440
	FittedUpMedianKiBs = 128
)

// FitPoint is one candidate of FitNoSpeed and what it gave.
type FitPoint struct {
	PubMeanH, UpMedianKiBs float64
	UnavailableMonth       float64 // 1 − Alive at the end of day 30
	SeedlessRecon          float64 // SeedlessReconstructible
	MedianDownloadH        float64
	Err                    float64 // sum of the squared relative errors to the two targets
}

// FitNoSpeed runs the no-Speed model (p with Share 0) for every pair of
// candidates (publisher mean seeding time, median upload capacity) and
// returns them all with the index of the one closest to Kaune et al.'s two
// figures. p.Days is raised to 30 if shorter.
func FitNoSpeed(p SwarmParams, pubMeanH, upMedianKiBs []float64) ([]FitPoint, int) {
	p.Share, p.Days = 0, max(p.Days, 30)
	var pts []FitPoint
	best := 0
	for _, pm := range pubMeanH {
		for _, up := range upMedianKiBs {
			p.PubMeanH, p.UpMedianKiBs = pm, up
			r := RunSwarms(p)
			u := 1 - r.Alive[30*24-1]
			rc := r.SeedlessReconstructible()
			e1 := (u - KauneUnavailableMonth) / KauneUnavailableMonth
			e2 := (rc - KauneSeedlessReconstructible) / KauneSeedlessReconstructible
			pts = append(pts, FitPoint{PubMeanH: pm, UpMedianKiBs: up, UnavailableMonth: u, SeedlessRecon: rc,
				MedianDownloadH: r.MedianDownloadH(), Err: e1*e1 + e2*e2})
			if pts[len(pts)-1].Err < pts[best].Err {
				best = len(pts) - 1
			}
		}
	}
	return pts, best
}
