// Command swarmstudy runs the swarm study of issue 23: does Speed keep
// swarms alive? It runs shared/speed/sim's swarm model without Speed and with
// Speed for a range of budgets and shares of Speed users, and writes SVG
// figures and a results table (results.md) to -out. The same -seed gives
// the same files, byte for byte. docs/swarm-study.md states the model's
// assumptions and discusses the figures.
//
//	go run ./cmd/swarmstudy -seed 1 -out docs/swarm-study
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of every random draw")
	out := flag.String("out", "docs/swarm-study", "directory the figures and results.md go to")
	swarms := flag.Int("swarms", 200, "swarms per configuration")
	days := flag.Int("days", 30, "days simulated")
	fit := flag.Bool("fit", false, "also refit the no-Speed publisher seeding time (slow) and write fit.md")
	flag.Parse()
	st := study{Seed: *seed, Swarms: *swarms, Days: *days, Fit: *fit}
	if err := st.run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "swarmstudy:", err)
		os.Exit(1)
	}
}
