package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed/sim"
)

// The agreement the calibration asks of the model: each median download
// time within calibTolerance of the engine's, payments within
// calibPayTolerance. The benchmark reports whether they hold; it asserts
// nothing about times.
const (
	calibTolerance    = 0.35
	calibPayTolerance = 0.25
	calibPayers       = 3 // Speed on: fewer payers than the seed's 4 paid slots, so the price is the reserve
)

// calibSizes are the swarms calibrated: peers in all, the seed included.
var calibSizes = []int{10, 20, 30}

// BenchmarkSwarmCalibration runs the same small swarms on real engines (the
// BenchmarkSpeedPaysOff setup: a seed limited to 1 MiB/s with a 0.01 BTT/MiB
// reserve, leechers on loopback that reach only the seed, a real ledger
// process) and in the swarm model of shared/speed/sim, for 10, 20 and 30
// peers, Speed off (no payer) and on (calibPayers payers), and logs the two
// side by side: median and range of the payers' and the others' download
// times, and what the payers spent and the seed earned.
// docs/swarm-study.md carries the table (./build.sh bench swarm).
func BenchmarkSwarmCalibration(b *testing.B) {
	var rows []string
	worst, worstPay := 0.0, 0.0
	for range b.N {
		for _, n := range calibSizes {
			for _, payers := range []int{0, calibPayers} {
				r, w, wp := calibrate(b, n, payers)
				rows = append(rows, r...)
				worst, worstPay = max(worst, w), max(worstPay, wp)
			}
		}
	}
	verdict := "within"
	if worst > calibTolerance || worstPay > calibPayTolerance {
		verdict = "OUTSIDE"
	}
	b.Logf("\n| peers | Speed | measure | real engines | model | model vs real |\n| --- | --- | --- | --- | --- | --- |\n%s\n"+
		"worst time deviation %.0f%% (tolerance %.0f%%), worst payment deviation %.0f%% (tolerance %.0f%%): %s tolerance",
		strings.Join(rows, "\n"), 100*worst, 100*calibTolerance, 100*worstPay, 100*calibPayTolerance, verdict)
	b.ReportMetric(100*worst, "worst-dev-%")
	b.ReportMetric(100*worstPay, "worst-pay-dev-%")
	b.ReportMetric(0, "ns/op")
}

// calibrate runs one swarm of n peers (the seed and n-1 leechers, payers of
// them paying) on real engines and in the model, and returns its table rows
// and its worst time and payment deviations.
func calibrate(b *testing.B, n, payers int) (rows []string, worst, worstPay float64) {
	others := n - 1 - payers
	real := runPayOffSwarm(b, payers, others)
	model := sim.RunFlashCrowd(sim.FlashCrowd{SeedUp: payOffRate, Size: payOffSize, Chunks: payOffSize / (64 << 10),
		Payers: payers, Others: others, Budget: 100_000_000, Reserve: payOffReserve,
		Step: 50 * time.Millisecond, LeecherDownBs: 100 << 20})
	speed := "off"
	if payers > 0 {
		speed = fmt.Sprintf("on, %d payers", payers)
	}
	for _, g := range []struct {
		who         string
		real, model []time.Duration
	}{{"payers'", real.Payers, model.Payers}, {"others'", real.Others, model.Others}} {
		if len(g.real) == 0 {
			continue
		}
		rm, mm := g.real[len(g.real)/2], g.model[len(g.model)/2]
		dev := float64(mm-rm) / float64(rm)
		worst = max(worst, abs(dev))
		rows = append(rows, fmt.Sprintf("| %d | %s | %s download: median (min-max) | %s | %s | %+.0f%% |",
			n, speed, g.who, spread(g.real), spread(g.model), 100*dev))
	}
	if payers > 0 {
		dev := (float64(model.Spent) - float64(real.Spent)) / float64(real.Spent)
		worstPay = abs(dev)
		rows = append(rows, fmt.Sprintf("| %d | %s | spent by payers / earned by seed (base units) | %d / %d (ledger paid %d) | %d / %d | %+.0f%% |",
			n, speed, real.Spent, real.Earned, real.Paid, model.Spent, model.Earned, 100*dev))
	}
	return rows, worst, worstPay
}

// spread formats sorted durations as "median (min-max)" in seconds.
func spread(d []time.Duration) string {
	return fmt.Sprintf("%.1f s (%.1f-%.1f)", d[len(d)/2].Seconds(), d[0].Seconds(), d[len(d)-1].Seconds())
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
