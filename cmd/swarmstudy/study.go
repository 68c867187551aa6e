package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/btspeed/btspeed/shared/speed/sim"
)

// btt is one BTT in base units.
const btt = 1_000_000

// study is one run of the study.
type study struct {
	Seed          uint64
	Swarms, Days  int
	Fit           bool
	Shares        []float64 // default 0.25, 0.5, 1
	BudgetsBTT    []int64   // default 2, 10, 50
	MainShare     float64   // the share the budget figures use (default 0.5)
	MainBudgetBTT int64     // the budget the share figure uses (default 10)
}

// config is one configuration and its result.
type config struct {
	Name   string
	Share  float64
	Budget int64 // BTT
	R      sim.SwarmResult
}

func (st *study) defaults() {
	if st.Shares == nil {
		st.Shares = []float64{0.25, 0.5, 1}
	}
	if st.BudgetsBTT == nil {
		st.BudgetsBTT = []int64{2, 10, 50}
	}
	if st.MainShare == 0 {
		st.MainShare = 0.5
	}
	if st.MainBudgetBTT == 0 {
		st.MainBudgetBTT = 10
	}
}

// outputs are the files run writes, in order; fit.md only with Fit.
var outputs = []string{"availability-budget.svg", "availability-budget-gain.svg", "availability-share.svg",
	"availability-share-gain.svg", "download-time.svg", "btt-flows.svg", "results.md", "fit.md"}

// run runs every configuration and writes the files to out.
func (st study) run(out string) error {
	st.defaults()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("making the output directory: %w", err)
	}
	base := sim.DefaultSwarmParams()
	base.Seed, base.Swarms, base.Days = st.Seed, st.Swarms, st.Days
	cfgs := []*config{{Name: "no Speed", R: sim.RunSwarms(base)}}
	for _, sh := range st.Shares {
		for _, b := range st.BudgetsBTT {
			p := base
			p.Share, p.Budget = sh, b*btt
			cfgs = append(cfgs, &config{Name: fmt.Sprintf("%.0f%% Speed, %d BTT", sh*100, b), Share: sh, Budget: b, R: sim.RunSwarms(p)})
		}
	}
	files := map[string][]byte{
		"availability-budget.svg": st.availChart(cfgs, func(c *config) bool { return c.Share == st.MainShare },
			fmt.Sprintf("Available swarms, %.0f%% of users on Speed", st.MainShare*100)),
		"availability-share.svg": st.availChart(cfgs, func(c *config) bool { return c.Budget == st.MainBudgetBTT },
			fmt.Sprintf("Available swarms, Speed users' budget %d BTT", st.MainBudgetBTT)),
		"availability-budget-gain.svg": st.gainChart(cfgs, func(c *config) bool { return c.Share == st.MainShare },
			fmt.Sprintf("Availability gained over no Speed, %.0f%% of users on Speed", st.MainShare*100)),
		"availability-share-gain.svg": st.gainChart(cfgs, func(c *config) bool { return c.Budget == st.MainBudgetBTT },
			fmt.Sprintf("Availability gained over no Speed, budget %d BTT", st.MainBudgetBTT)),
		"download-time.svg": st.downloadChart(cfgs),
		"btt-flows.svg":     st.flowChart(cfgs),
		"results.md":        st.table(cfgs),
	}
	if st.Fit {
		files["fit.md"] = st.fit(base)
	}
	for _, name := range outputs {
		data, ok := files[name]
		if !ok {
			continue
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// dayAxis returns the x axis in days: 1 .. Days.
func (st study) dayAxis() []float64 {
	xs := make([]float64, st.Days)
	for d := range xs {
		xs[d] = float64(d + 1)
	}
	return xs
}

// dailyMeans averages hourly samples over each day.
func dailyMeans(hourly []float64) []float64 {
	var ys []float64
	for d := 0; d+24 <= len(hourly); d += 24 {
		var sum float64
		for _, v := range hourly[d : d+24] {
			sum += v
		}
		ys = append(ys, sum/24)
	}
	return ys
}

// availChart plots the daily mean fraction of available swarms of no Speed
// and of the configurations pick selects.
func (st study) availChart(cfgs []*config, pick func(*config) bool, title string) []byte {
	c := chart{Title: title, XLabel: "day", YLabel: "swarms available (daily mean fraction)", YMax: 1, X: st.dayAxis()}
	for _, cf := range cfgs {
		if cf.Share != 0 && !pick(cf) {
			continue
		}
		c.Series = append(c.Series, series{Name: cf.Name, Y: dailyMeans(cf.R.Avail)})
	}
	return c.svg()
}

// gainChart plots what the configurations pick selects add to no Speed's
// availability, in percentage points, daily means: the paired difference,
// every configuration seeing the same users.
func (st study) gainChart(cfgs []*config, pick func(*config) bool, title string) []byte {
	c := chart{Title: title, XLabel: "day", YLabel: "availability minus no Speed's (points)", X: st.dayAxis()}
	base := dailyMeans(cfgs[0].R.Avail)
	lim := 1.0
	for _, cf := range cfgs[1:] {
		if !pick(cf) {
			continue
		}
		ys := dailyMeans(cf.R.Avail)
		for i := range ys {
			ys[i] = 100 * (ys[i] - base[i])
			lim = max(lim, math.Abs(ys[i]))
		}
		c.Series = append(c.Series, series{Name: cf.Name, Y: ys})
	}
	lim = niceCeil(lim)
	c.YMin, c.YMax = -lim, lim
	return c.svg()
}

func (st study) downloadChart(cfgs []*config) []byte {
	c := chart{Title: "Median download time", XLabel: "Speed users' budget (BTT)", YLabel: "hours"}
	ticks := []string{"0 (no Speed)"}
	c.X = []float64{0}
	for i, b := range st.BudgetsBTT {
		ticks = append(ticks, fmt.Sprint(b))
		c.X = append(c.X, float64(i+1))
	}
	c.XTicks = ticks
	for _, sh := range st.Shares {
		ys := []float64{cfgs[0].R.MedianDownloadH()}
		for _, cf := range cfgs[1:] {
			if cf.Share == sh {
				ys = append(ys, cf.R.MedianDownloadH())
			}
		}
		c.Series = append(c.Series, series{Name: fmt.Sprintf("%.0f%% on Speed", sh*100), Y: ys})
	}
	// The medians differ by an hour or two: an axis from 0 would draw one
	// line. The axis spans whole 5 h steps around the data, and says so.
	lo, hi := math.Inf(1), 0.0
	for _, s := range c.Series {
		for _, v := range s.Y {
			if !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi > 0 {
		c.YMin, c.YMax = max(0, 5*math.Floor((lo-1)/5)), 5*math.Ceil((hi+1)/5)
		c.Title = fmt.Sprintf("Median download time (the axis starts at %s h)", trim(c.YMin))
	}
	return c.svg()
}

func (st study) flowChart(cfgs []*config) []byte {
	c := chart{Title: fmt.Sprintf("BTT paid to seeds per swarm per day, %.0f%% on Speed", st.MainShare*100),
		XLabel: "day", YLabel: "BTT per swarm per day"}
	for d := range st.Days {
		c.X = append(c.X, float64(d+1))
	}
	for _, cf := range cfgs[1:] {
		if cf.Share != st.MainShare {
			continue
		}
		var ys []float64
		for _, v := range cf.R.PaidPerDay {
			ys = append(ys, float64(v)/btt/float64(st.Swarms))
		}
		c.Series = append(c.Series, series{Name: cf.Name, Y: ys})
	}
	return c.svg()
}

// table is results.md: every configuration's figures.
func (st study) table(cfgs []*config) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Swarm study results (seed %d, %d swarms, %d days)\n\n", st.Seed, st.Swarms, st.Days)
	b.WriteString("Generated by `go run ./cmd/swarmstudy`; see docs/swarm-study.md for the model.\n\n")
	b.WriteString("Available: a seed is online or the online leechers hold every chunk (the hour's snapshot). Stored at the end: the content still exists somewhere, online or not.\n\n")
	b.WriteString("| configuration | available day 7 | day 14 | day 30 | mean over the run | stored at the end | seedless reconstructible | median download (h) | downloads completed | BTT paid per swarm | money conserved |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range cfgs {
		r := c.R
		at := func(day int) float64 { return r.Avail[min(day*24, len(r.Avail))-1] }
		alive := r.Alive[len(r.Alive)-1]
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f (%d samples) | %s | %.3f | %.2f | %v |\n",
			c.Name, at(7), at(14), at(30), r.MeanAvail(), alive, r.SeedlessReconstructible(), r.SeedlessObs,
			fmtHours(r.MedianDownloadH()), r.Completed(), float64(r.TotalPaid())/btt/float64(st.Swarms),
			r.Minted == r.Held && r.OverBudget == 0)
	}
	return b.Bytes()
}

func fmtHours(h float64) string {
	if math.IsNaN(h) {
		return "-"
	}
	return fmt.Sprintf("%.2f", h)
}

// fit is fit.md: the no-Speed fit of the publisher's seeding time and the
// median upload capacity.
func (st study) fit(base sim.SwarmParams) []byte {
	pts, best := sim.FitNoSpeed(base, []float64{1080, 1440, 2160}, []float64{32, 48, 64, 96, 128, 192})
	var b bytes.Buffer
	fmt.Fprintf(&b, "# No-Speed fit (seed %d, %d swarms, %d days)\n\n", st.Seed, st.Swarms, max(st.Days, 30))
	fmt.Fprintf(&b, "Targets (Kaune et al. 2010): %.0f%% of swarms unavailable for good at the end of day 30; %.0f%% of seedless swarm samples still reconstructible. ",
		sim.KauneUnavailableMonth*100, sim.KauneSeedlessReconstructible*100)
	fmt.Fprintf(&b, "Chosen: the publisher seeds %.0f hours on average, the median upload is %.0f KiB/s.\n\n", pts[best].PubMeanH, pts[best].UpMedianKiBs)
	b.WriteString("| publisher mean seeding time (h) | median upload (KiB/s) | unavailable at day 30 | seedless reconstructible | median download (h) | squared relative error |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, p := range pts {
		fmt.Fprintf(&b, "| %.0f | %.0f | %.3f | %.3f | %s | %.3f |\n", p.PubMeanH, p.UpMedianKiBs, p.UnavailableMonth, p.SeedlessRecon, fmtHours(p.MedianDownloadH), p.Err)
	}
	return b.Bytes()
}
