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
)

// BenchmarkSwarmCalibration runs the same small swarms on real engines (the
// BenchmarkSpeedPaysOff setup: a seed limited to 1 MiB/s with a 0.01 BTT/MiB
// reserve, leechers on loopback that reach only the seed, a real ledger
// process) and in the swarm model of shared/speed/sim, Speed off (no payer)
// and on (3 payers), and logs the two side by side: median download times of
// payers and others, and what the payers spent and the seed earned.
// docs/swarm-study.md carries the table (./build.sh bench swarm).
func BenchmarkSwarmCalibration(b *testing.B) {
	cases := []struct{ payers, others int }{{0, 9}, {3, 6}}
	var rows []string
	worst, worstPay := 0.0, 0.0
	for range b.N {
		for _, c := range cases {
			real := runPayOffSwarm(b, c.payers, c.others)
			model := sim.RunFlashCrowd(sim.FlashCrowd{SeedUp: payOffRate, Size: payOffSize, Chunks: payOffSize / (64 << 10),
				Payers: c.payers, Others: c.others, Budget: 100_000_000, Reserve: payOffReserve,
				Step: 50 * time.Millisecond, LeecherDownBs: 100 << 20})
			for _, g := range []struct {
				who         string
				real, model []time.Duration
			}{{"payers", real.Payers, model.Payers}, {"others", real.Others, model.Others}} {
				if len(g.real) == 0 {
					continue
				}
				rm, mm := g.real[len(g.real)/2], g.model[len(g.model)/2]
				dev := float64(mm-rm) / float64(rm)
				worst = max(worst, abs(dev))
				rows = append(rows, fmt.Sprintf("| %d payers, %d others | %s median | %.2f s | %.2f s | %+.0f%% |",
					c.payers, c.others, g.who, rm.Seconds(), mm.Seconds(), 100*dev))
			}
			if c.payers > 0 {
				worstPay = max(worstPay, abs((float64(model.Spent)-float64(real.Spent))/float64(real.Spent)))
				rows = append(rows, fmt.Sprintf("| %d payers, %d others | spent by payers / earned by seed (base units) | %d / %d (ledger paid %d) | %d / %d | %+.0f%% |",
					c.payers, c.others, real.Spent, real.Earned, real.Paid, model.Spent, model.Earned,
					100*(float64(model.Spent)-float64(real.Spent))/float64(real.Spent)))
			}
		}
	}
	verdict := "within"
	if worst > calibTolerance || worstPay > calibPayTolerance {
		verdict = "OUTSIDE"
	}
	b.Logf("\n| swarm | measure | real engines | model | model vs real |\n| --- | --- | --- | --- | --- |\n%s\nworst time deviation %.0f%% (tolerance %.0f%%), worst payment deviation %.0f%% (tolerance %.0f%%): %s tolerance",
		strings.Join(rows, "\n"), 100*worst, 100*calibTolerance, 100*worstPay, 100*calibPayTolerance, verdict)
	b.ReportMetric(100*worst, "worst-dev-%")
	b.ReportMetric(0, "ns/op")
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
