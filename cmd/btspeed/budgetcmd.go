package main

import (
	"fmt"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/sim"
)

// runBudget answers a publisher's question from the swarm model of
// shared/speed/sim (docs/swarm-study.md): what budget keeps a torrent
// available for N days at a given probability?
func runBudget(c *cli, args []string) error {
	fs := c.newFlags("budget", "btspeed budget [-size-mib N] [-demand N] [-days N] [-p P] [-share S] [-publisher-hours H]")
	size := fs.Int("size-mib", 4096, "the content's size in MiB")
	demand := fs.Float64("demand", 40, "expected number of downloaders over the torrent's life")
	days := fs.Int("days", 30, "how long the content must stay available, in days")
	prob := fs.Float64("p", 0.9, "the probability it must stay available with (0 to 1)")
	share := fs.Float64("share", 0.5, "fraction of the swarm's peers that run Speed (0 to 1)")
	swarms := fs.Int("swarms", 100, "swarms simulated per candidate budget (more is slower and more precise)")
	pubHours := fs.Float64("publisher-hours", sim.FittedPubMeanH, "how long the publisher's own seed stays, on average, in hours")
	seed := fs.Uint64("seed", 1, "seed of the simulation's random draws")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *size <= 0 || *demand <= 0 || *days <= 0 || *swarms <= 0 || *pubHours <= 0:
		return usageError{"-size-mib, -demand, -days, -swarms and -publisher-hours must be positive"}
	case *prob <= 0 || *prob > 1 || *share < 0 || *share > 1:
		return usageError{"-p must be in (0, 1] and -share in [0, 1]"}
	}
	p := sim.DefaultSwarmParams()
	p.Seed, p.Swarms, p.Days, p.SizeMiB, p.DemandMedian, p.DemandSigma, p.Share = *seed, *swarms, *days, *size, *demand, 0.01, *share
	p.PubMeanH = *pubHours
	got, pts, ok := sim.PublisherBudget(p, *prob, sim.DefaultRateLadder)
	fmt.Fprintf(c.out, "Model: %d swarms of %d MiB, %.0f expected downloaders, %.0f%% of peers on Speed; a sponsor pays every online Speed seed a rate an hour.\n",
		*swarms, *size, *demand, *share*100)
	fmt.Fprintf(c.out, "%14s  %s  %s\n", "rate (BTT/h)", "still available after "+fmt.Sprint(*days)+" days", "budget per swarm (BTT)")
	for _, pt := range pts {
		fmt.Fprintf(c.out, "%14s  %5.0f%%  %s\n", speed.FormatBTT(uint64(pt.Rate)), 100*pt.Alive, speed.FormatBTT(uint64(pt.Budget)))
	}
	if !ok {
		fmt.Fprintf(c.out, "No rate up to %s BTT an hour reaches %.0f%%: raise the share of Speed peers, or seed it yourself.\n",
			speed.FormatBTT(uint64(sim.DefaultRateLadder[len(sim.DefaultRateLadder)-1])), *prob*100)
		return errFalse
	}
	fmt.Fprintf(c.out, "Budget: %s BTT, paying online Speed seeds %s BTT an hour each, keeps it available for %d days with probability %.0f%% (in the model; docs/swarm-study.md states its assumptions).\n",
		speed.FormatBTT(uint64(got.Budget)), speed.FormatBTT(uint64(got.Rate)), *days, *prob*100)
	return nil
}
