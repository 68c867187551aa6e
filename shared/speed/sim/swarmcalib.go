package sim

import (
	"math"
	"slices"
	"time"
)

// FlashCrowd is one swarm of the model set up like the engine's calibration
// swarm (engine BenchmarkSwarmCalibration): one seed whose upload is the
// bottleneck, leechers that all arrive at once and reach only the seed
// (they upload nothing), some paying with Speed, nobody leaving.
type FlashCrowd struct {
	SeedUp        float64       // the seed's upload, bytes a second
	Size          int64         // the content, bytes
	Chunks        int           // its pieces, at most 64
	Payers        int           // Speed leechers, each with Budget
	Others        int           // legacy leechers
	Budget        int64         // base units
	Reserve       int64         // the seed's reserve price, base units per MiB
	Step          time.Duration // model time step
	LeecherDownBs float64       // leechers' download capacity, bytes a second
}

// FlashCrowdResult is what a FlashCrowd gave: download times (sorted) and
// money.
type FlashCrowdResult struct {
	Payers, Others []time.Duration
	Spent          int64 // by the payers
	Earned         int64 // by the seed
}

// RunFlashCrowd runs f until every leecher completes (or a simulated hour
// passes).
func RunFlashCrowd(f FlashCrowd) FlashCrowdResult {
	p := DefaultSwarmParams()
	p.Chunks, p.Step, p.Reserve, p.Budget = f.Chunks, f.Step, f.Reserve, f.Budget
	p.PatienceH, p.SeedMeanH, p.PubMeanH, p.OffH = math.Inf(1), math.Inf(1), math.Inf(1), -1
	s := &mswarm{p: &p, chunkLen: f.Size / int64(f.Chunks), full: uint64(1)<<f.Chunks - 1}
	if f.Chunks == 64 {
		s.full = ^uint64(0)
	}
	seed := &mpeer{id: 0, up: f.SeedUp, speed: true, seed: true, done: true, have: s.full, want: s.full,
		publisher: true, tolerance: math.Inf(1), online: true}
	s.peers = append(s.peers, seed)
	for i := range f.Payers + f.Others {
		m := &mpeer{id: i + 1, down: f.LeecherDownBs, want: s.full, tolerance: math.Inf(1), speed: i < f.Payers, online: true}
		if m.speed {
			m.balance, m.budget = f.Budget, f.Budget
		}
		s.peers = append(s.peers, m)
	}
	s.nextID = len(s.peers)
	leechers := slices.Clone(s.peers[1:])
	dt := f.Step.Seconds()
	for k := 1; k <= int(3600/dt); k++ {
		now := float64(k) * dt / 3600
		avail, _ := s.available(false)
		s.transfer(avail, dt)
		counts := s.chunkCounts()
		for _, m := range s.peers {
			if m.done {
				continue
			}
			s.takeChunks(m, avail, &counts)
			if m.have == s.full {
				m.done, m.seed, m.arrived = true, true, now
			}
		}
		if !slices.ContainsFunc(leechers, func(m *mpeer) bool { return !m.done }) {
			break
		}
	}
	var r FlashCrowdResult
	for _, m := range leechers {
		took := time.Duration(m.arrived * float64(time.Hour))
		if m.speed {
			r.Payers = append(r.Payers, took)
			r.Spent += m.spent
		} else {
			r.Others = append(r.Others, took)
		}
	}
	slices.Sort(r.Payers)
	slices.Sort(r.Others)
	r.Earned = seed.earned
	return r
}
