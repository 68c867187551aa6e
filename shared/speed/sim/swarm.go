package sim

import (
	"cmp"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"time"
)

// The swarm model: many torrents' swarms over days, coarse enough to run a
// month of a few hundred swarms in seconds. docs/swarm-study.md states every
// assumption and where each number comes from; this file implements it.
//
//   - Leechers arrive as a Poisson process whose rate decays exponentially,
//     λ(t) = N/τ · e^(−t/τ) (Guo et al. 2005), N the swarm's expected number of
//     downloaders, drawn per swarm from a log-normal distribution. A share of
//     them want only one run of chunks (some files of the torrent).
//   - Every peer alternates online and offline sessions (exponential lengths);
//     only online peers transfer and count for availability.
//   - The content is Chunks chunks; a leecher takes the rarest chunk it lacks
//     among those some online peer holds. Capacity is a fluid (Qiu and
//     Srikant 2004): each step every online seed's upload, and every online
//     leecher's upload weighted by the fraction of the content it holds, is
//     split equally among the leechers that can use it, each capped by its
//     download capacity.
//   - Speed: seeds that run Speed sell 4 of their 5 upload slots (the engine's
//     UploadSlots and OptimisticSlots; the winners share 80% of the seed's
//     upload and pay for all of it, the free slots keep 20%, as the engine's
//     upload gate does) in a uniform-price auction among the
//     Speed leechers whose bid (M5, spending rate 1: what is left of the budget
//     over what is left to download) reaches the reserve; winners pay the
//     highest losing bid, or the reserve when none lost (M10), in integer base
//     units, never more than they hold. A sponsor may also pay online Speed
//     seeds a rate an hour (SponsorBudget, SponsorRate).
//   - A leecher that completes leaves at once with probability HitAndRun, else
//     stays and seeds; a seed leaves at a hazard that falls with what it
//     earns: h(e) = h0 · (Floor + (1 − Floor) · C/(C + e)), e its earnings
//     rate (base units an hour, averaged over the last day), C (HalfRate) the
//     rate at which the hazard's variable part halves. Without Speed e = 0 and
//     seeds stay an exponential time of mean 1/h0. A leecher that receives
//     nothing for Patience online hours leaves.
//   - A swarm is available at an instant when a seed is online or the online
//     peers hold every chunk between them; it is dead for good when no peer,
//     online or not, still holds the whole content between them (nobody
//     returns after leaving).

// MiB is the unit prices are stated per.
const MiB = 1 << 20

// SwarmParams is one configuration of the swarm model. Zero fields take the
// defaults of DefaultSwarmParams.
type SwarmParams struct {
	Seed   uint64        // every random draw derives from it
	Swarms int           // independent swarms (torrents)
	Days   int           // simulated duration
	Step   time.Duration // model time step
	Chunks int           // pieces of the content, at most 64

	SizeMiB      int     // content size
	DemandMedian float64 // median over swarms of N, the expected number of downloaders
	DemandSigma  float64 // log-normal σ of N
	TauHours     float64 // arrival-rate decay time τ
	SeedMeanH    float64 // mean seeding time without earnings, 1/h0, in hours
	PubMeanH     float64 // the same for the publisher, the swarm's first seed
	Floor        float64 // the hazard's floor as a fraction of h0, however much a seed earns
	HalfRate     int64   // C: earnings rate (base units an hour) that halves the hazard's variable part
	PatienceH    float64 // hours a leecher waits without receiving anything before it leaves
	PartialShare float64 // fraction of leechers that want only part of the content (some files)
	OnH, OffH    float64 // mean online and offline session lengths, hours (OffH < 0: always online)
	HitAndRun    float64 // fraction of leechers that leave as soon as they complete

	UpMedianKiBs float64 // median upload capacity, KiB/s (log-normal)
	UpSigma      float64 // its log-normal σ
	DownRatio    float64 // download capacity over upload capacity

	Share   float64 // fraction of users (leechers and the publisher) that run Speed
	Budget  int64   // base units each Speed leecher may spend on this content
	Reserve int64   // Speed seeds' reserve price, base units per MiB

	// A sponsor (the publisher, M30) holds SponsorBudget base units per
	// swarm and pays every online Speed seed that holds the whole content,
	// other than the publisher itself, SponsorRate base units an hour until
	// the budget runs out.
	SponsorBudget, SponsorRate int64
}

// DefaultSwarmParams returns the study's baseline: no Speed, with the no-Speed
// parameters fitted to the published measurements (docs/swarm-study.md).
func DefaultSwarmParams() SwarmParams {
	return SwarmParams{
		Seed: 1, Swarms: 200, Days: 30, Step: time.Minute, Chunks: 64,
		SizeMiB: 4096, DemandMedian: 40, DemandSigma: 1.2,
		TauHours: 72, SeedMeanH: 8, PubMeanH: FittedPubMeanH, Floor: 0.05, HalfRate: 1_000_000, PatienceH: 24, PartialShare: 0.3, OnH: 8, OffH: 8, HitAndRun: 0.8,
		UpMedianKiBs: FittedUpMedianKiBs, UpSigma: 0.8, DownRatio: 4,
		Reserve: 10_000,
	}
}

// withDefaults fills zero fields from DefaultSwarmParams.
func (p SwarmParams) withDefaults() SwarmParams {
	d := DefaultSwarmParams()
	if p.Chunks <= 0 || p.Chunks > 64 {
		p.Chunks = d.Chunks
	}
	p.Swarms, p.Days, p.Step = cmp.Or(p.Swarms, d.Swarms), cmp.Or(p.Days, d.Days), cmp.Or(p.Step, d.Step)
	p.SizeMiB, p.HalfRate, p.Reserve = cmp.Or(p.SizeMiB, d.SizeMiB), cmp.Or(p.HalfRate, d.HalfRate), cmp.Or(p.Reserve, d.Reserve)
	for _, f := range []struct{ v, d *float64 }{
		{&p.DemandMedian, &d.DemandMedian}, {&p.DemandSigma, &d.DemandSigma}, {&p.TauHours, &d.TauHours},
		{&p.SeedMeanH, &d.SeedMeanH}, {&p.PubMeanH, &d.PubMeanH}, {&p.OnH, &d.OnH}, {&p.OffH, &d.OffH},
		{&p.HitAndRun, &d.HitAndRun}, {&p.Floor, &d.Floor}, {&p.PatienceH, &d.PatienceH},
		{&p.UpMedianKiBs, &d.UpMedianKiBs}, {&p.UpSigma, &d.UpSigma}, {&p.DownRatio, &d.DownRatio},
	} {
		*f.v = cmp.Or(*f.v, *f.d)
	}
	return p
}

// mpeer is one user in one swarm of the model.
type mpeer struct {
	id        int
	have      uint64  // chunks held
	want      uint64  // chunks it wants: all of them, or one run of them (some files)
	up, down  float64 // capacities, bytes a second
	speed     bool
	balance   int64   // base units; Speed leechers start with the budget
	budget    int64   // what it was given
	spent     int64   // paid to seeds
	earned    int64   // received from leechers
	recent    float64 // earnings, decayed with a one-day time constant
	arrived   float64 // hours
	stalled   float64 // hours without receiving anything
	partial   int64   // bytes toward the next chunk
	tolerance float64 // Exp(1) draw: the seed leaves when its integrated hazard reaches it
	hazard    float64 // integrated hazard so far
	done      bool    // has what it wants; it stays, uploading, until it leaves like a seed
	seed      bool    // done and holds everything
	publisher bool
	hitAndRun bool  // leaves as soon as it has what it wants
	got       int64 // bytes received this step
	online    bool
	flip      float64    // hours until it goes offline or comes back
	rng       *rand.Rand // its sessions: its own stream, the same in every configuration
}

// session advances m's on/off sessions by dtH hours.
func (m *mpeer) session(p *SwarmParams, dtH float64) {
	if p.OffH < 0 {
		return
	}
	for m.flip -= dtH; m.flip <= 0; {
		m.online = !m.online
		mean := p.OnH
		if !m.online {
			mean = p.OffH
		}
		m.flip += mean * m.rng.ExpFloat64()
	}
}

// mswarm is one torrent's swarm.
type mswarm struct {
	p         *SwarmParams
	index     uint64
	rng       *rand.Rand // arrivals and each arrival's attributes: the same for every budget and share
	n         float64    // expected downloaders
	peers     []*mpeer
	nextID    int
	chunkLen  int64
	full      uint64
	dead      bool
	departed  []*mpeer // who left, for the money check
	sponsor   int64    // what is left of the sponsor's budget
	losses    int      // times the last seed left while others stayed
	lossRecon int      // of those, times the others held every chunk between them
	paidToday int64
}

func newSwarm(p *SwarmParams, index int) *mswarm {
	s := &mswarm{p: p, index: uint64(index), rng: rand.New(rand.NewPCG(p.Seed, 0x5eed0000+uint64(index)))}
	s.n = p.DemandMedian * math.Exp(p.DemandSigma*s.rng.NormFloat64())
	s.chunkLen = int64(p.SizeMiB) * MiB / int64(p.Chunks)
	s.full = uint64(1)<<p.Chunks - 1
	if p.Chunks == 64 {
		s.full = ^uint64(0)
	}
	pub := s.newPeer(0)
	pub.seed, pub.done, pub.have = true, true, s.full
	pub.balance, pub.budget, pub.publisher = 0, 0, true
	s.sponsor = p.SponsorBudget
	s.peers = append(s.peers, pub)
	return s
}

// newPeer draws a user's attributes from the arrival stream, in a fixed
// order, so that the same seed gives the same users whatever the share and
// budget (common random numbers across configurations).
func (s *mswarm) newPeer(now float64) *mpeer {
	p := s.p
	up := p.UpMedianKiBs * 1024 * math.Exp(p.UpSigma*s.rng.NormFloat64())
	up = min(max(up, 64<<10), 16<<20)
	speedDraw, partDraw, runDraw := s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	runLen, runAt := 1+s.rng.IntN(max(1, p.Chunks/2)), s.rng.IntN(p.Chunks)
	m := &mpeer{id: s.nextID, up: up, down: up * p.DownRatio, arrived: now, tolerance: s.rng.ExpFloat64(),
		speed: speedDraw < p.Share, want: s.full, online: true,
		rng: rand.New(rand.NewPCG(p.Seed^s.index<<20, uint64(s.nextID)))}
	m.flip = p.OnH * m.rng.ExpFloat64()
	m.hitAndRun = runDraw < p.HitAndRun
	if partDraw < p.PartialShare {
		m.want = 0
		for i := range runLen {
			m.want |= 1 << ((runAt + i) % p.Chunks)
		}
	}
	s.nextID++
	if m.speed {
		m.balance, m.budget = p.Budget, p.Budget
	}
	return m
}

// poisson draws a Poisson variate of mean mu (Knuth's method for small
// means, a rounded normal above 30).
func poisson(r *rand.Rand, mu float64) int {
	if mu <= 0 {
		return 0
	}
	if mu > 30 {
		return max(0, int(math.Round(mu+math.Sqrt(mu)*r.NormFloat64())))
	}
	l, k, prod := math.Exp(-mu), 0, r.Float64()
	for prod > l {
		k++
		prod *= r.Float64()
	}
	return k
}

// available is what the online peers can supply: everything while a seed
// is online, else the union of what the leechers hold. With all, offline
// peers count too: what the swarm still stores.
func (s *mswarm) available(all bool) (uint64, int) {
	var u uint64
	seeds := 0
	for _, m := range s.peers {
		if !m.online && !all {
			continue
		}
		if m.seed {
			seeds++
		}
		u |= m.have
	}
	return u, seeds
}

// step advances the swarm by one time step ending at now (hours) and adds
// the download times of the leechers that completed to st.
func (s *mswarm) step(now, dtH float64, st *stepStats) {
	p := s.p
	rate := s.n / p.TauHours * math.Exp(-now/p.TauHours)
	for range poisson(s.rng, rate*dtH) {
		s.peers = append(s.peers, s.newPeer(now))
	}
	if len(s.peers) == 0 {
		s.dead = true
		return
	}
	for _, m := range s.peers {
		m.session(p, dtH)
	}
	avail, seeds := s.available(false)
	s.transfer(avail, dtH*3600)
	counts := s.chunkCounts()
	for _, m := range s.peers {
		if m.done || !m.online {
			continue
		}
		s.takeChunks(m, avail, &counts)
		if m.got > 0 {
			m.stalled = 0
		} else {
			m.stalled += dtH
		}
		if m.have&m.want == m.want {
			m.done, m.seed = true, m.have == s.full
			if m.hitAndRun {
				m.tolerance = 0 // it leaves at the departure check below
			}
			st.downloads = append(st.downloads, now-m.arrived)
		}
	}
	s.sponsorPay(dtH)
	s.depart(dtH)
	hadSeed := seeds > 0
	avail, seeds = s.available(false)
	if hadSeed && seeds == 0 && len(s.peers) > 0 && !s.dead {
		s.losses++
		if avail == s.full {
			s.lossRecon++
		}
	}
	if stored, seeds := s.available(true); seeds == 0 && stored != s.full {
		s.dead = true
	}
}

func (s *mswarm) chunkCounts() [64]int {
	var c [64]int
	for _, m := range s.peers {
		if !m.online {
			continue
		}
		for h := m.have; h != 0; h &= h - 1 {
			c[bits.TrailingZeros64(h)]++
		}
	}
	return c
}

// takeChunks turns the bytes m received into chunks, rarest first among
// those available (ties to the lowest index after a rotation by m's id, so
// that leechers spread over equally rare chunks).
func (s *mswarm) takeChunks(m *mpeer, avail uint64, counts *[64]int) {
	m.partial += m.got
	for m.partial >= s.chunkLen {
		want := avail & m.want &^ m.have
		if want == 0 {
			m.partial = 0
			return
		}
		best, bestN := -1, math.MaxInt
		for i := range s.p.Chunks {
			c := (i + m.id) % s.p.Chunks
			if want&(1<<c) != 0 && counts[c] < bestN {
				best, bestN = c, counts[c]
			}
		}
		m.have |= 1 << best
		counts[best]++
		m.partial -= s.chunkLen
	}
}

// depart removes the seeds whose integrated hazard reached their tolerance
// and the leechers that waited too long.
func (s *mswarm) depart(dtH float64) {
	p := s.p
	decay := math.Exp(-dtH / 24)
	kept := s.peers[:0]
	for _, m := range s.peers {
		m.recent *= decay
		leave := false
		if m.done {
			e := m.recent / 24 // base units an hour over the last day
			c, h0 := float64(p.HalfRate), 1/p.SeedMeanH
			if m.publisher {
				h0 = 1 / p.PubMeanH
			}
			m.hazard += h0 * (p.Floor + (1-p.Floor)*c/(c+e)) * dtH
			leave = m.hazard >= m.tolerance
		} else {
			leave = m.stalled >= p.PatienceH
		}
		if leave {
			s.departed = append(s.departed, m)
		} else {
			kept = append(kept, m)
		}
	}
	clear(s.peers[len(kept):])
	s.peers = kept
}

// stepStats collects what one step of every swarm produced.
type stepStats struct {
	downloads []float64
}

// leechers returns those that still want something available.
func (s *mswarm) leechers(avail uint64) []*mpeer {
	var ls []*mpeer
	for _, m := range s.peers {
		m.got = 0
		if m.online && !m.done && avail&m.want&^m.have != 0 {
			ls = append(ls, m)
		}
	}
	return ls
}

// need is what m still has to download, in bytes.
func (s *mswarm) need(m *mpeer) int64 {
	left := int64(bits.OnesCount64(m.want&^m.have))*s.chunkLen - m.partial - m.got
	return max(left, 0)
}

// room is how much more m can take this step.
func (s *mswarm) room(m *mpeer, dt float64) int64 {
	return min(int64(m.down*dt)-m.got, s.need(m))
}

// transfer moves one step's bytes. Speed seeds serve as the engine does
// (engine/upload.go, shared/speed/choker): the auction's winners hold paid
// regular slots and, while they are served, the seed's free slots
// (throughput and optimistic, which go only to peers without a paid slot)
// get at most paidFreeShare of its upload; the winners pay for every byte
// they take from it and get none of its free bytes. Legacy seeds' upload and
// the leechers' uploads are split equally among all the leechers that can
// use them.
func (s *mswarm) transfer(avail uint64, dt float64) {
	ls := s.leechers(avail)
	if len(ls) == 0 {
		return
	}
	var speedSeeds []*mpeer
	var free, speedUp float64
	for _, m := range s.peers {
		switch {
		case !m.online:
		case m.seed && m.speed && m.up > 0:
			speedSeeds = append(speedSeeds, m)
			speedUp += m.up * dt
		case m.seed:
			free += m.up * dt
		}
	}
	winners, price := s.winners(ls, speedSeeds)
	paid := speedUp
	if len(winners) < len(ls) {
		paid = speedUp * (1 - paidFreeShare)
	}
	left := speedUp - s.sell(winners, speedSeeds, price, paid, dt)
	if len(winners) > 0 && len(winners) < len(ls) {
		others := slices.DeleteFunc(slices.Clone(ls), func(m *mpeer) bool { return slices.Contains(winners, m) })
		s.share(others, left, dt)
	} else {
		free += left
	}
	s.share(ls, free, dt)
	var peerUp float64
	for _, m := range s.peers {
		if m.online && !m.seed && m.have != 0 {
			// A leecher is useful to the others in proportion to what it holds.
			peerUp += m.up * dt * float64(bits.OnesCount64(m.have)) / float64(s.p.Chunks)
		}
	}
	s.share(ls, peerUp, dt)
}

// paidFreeShare is the share of a seed's upload its free slots keep while
// paid peers are served: the engine's freeShare (engine/upload.go).
const paidFreeShare = 0.2

// share splits bytes equally among ls, each capped by its room.
func (s *mswarm) share(ls []*mpeer, bytes float64, dt float64) {
	if bytes <= 0 || len(ls) == 0 {
		return
	}
	each := int64(bytes / float64(len(ls)))
	for _, m := range ls {
		m.got += max(0, min(each, s.room(m, dt)))
	}
}

// winners runs the Speed seeds' auction (M9, M10): the paid slots (4 per
// seed) go to the highest eligible bids, at a uniform price, the highest
// losing bid or the reserve when none lost.
func (s *mswarm) winners(ls, seeds []*mpeer) ([]*mpeer, int64) {
	if len(seeds) == 0 {
		return nil, 0
	}
	type bid struct {
		m   *mpeer
		bid int64 // base units per MiB
	}
	var bids []bid
	for _, m := range ls {
		left := s.need(m)
		if !m.speed || m.balance <= 0 || left <= 0 {
			continue
		}
		b := int64(float64(m.balance) * MiB / float64(left))
		if b >= s.p.Reserve {
			bids = append(bids, bid{m, b})
		}
	}
	slices.SortStableFunc(bids, func(a, b bid) int {
		switch {
		case a.bid > b.bid:
			return -1
		case a.bid < b.bid:
			return 1
		}
		return a.m.id - b.m.id
	})
	slots := 4 * len(seeds)
	price := s.p.Reserve
	if len(bids) > slots {
		price = max(price, bids[slots].bid)
		bids = bids[:slots]
	}
	ws := make([]*mpeer, len(bids))
	for i, b := range bids {
		ws[i] = b.m
	}
	return ws, price
}

// sell splits the seeds' paid capacity equally among the winners at price,
// each capped by its room and what it can afford (the cost rounded up to a
// whole base unit), pays the seeds, and
// returns the bytes sold.
func (s *mswarm) sell(winners, seeds []*mpeer, price int64, paid float64, dt float64) float64 {
	if len(winners) == 0 {
		return 0
	}
	each := paid / float64(len(winners))
	var sold float64
	var income int64
	for _, w := range winners {
		bytes := min(int64(each), s.room(w, dt))
		if afford := w.balance * MiB / price; bytes > afford {
			bytes = afford
		}
		cost := (bytes*price + MiB - 1) / MiB // rounded up: no byte is free
		if bytes <= 0 {
			continue
		}
		w.balance -= cost
		w.spent += cost
		w.got += bytes
		income += cost
		sold += float64(bytes)
	}
	s.payOut(seeds, income)
	return sold
}

// payOut splits income among the Speed seeds in proportion to their upload
// (their slots served equally), in whole base units: the remainder goes to
// the first seeds, so nothing is created or lost.
func (s *mswarm) payOut(seeds []*mpeer, income int64) {
	if income == 0 {
		return
	}
	s.paidToday += income
	var total float64
	for _, m := range seeds {
		total += m.up
	}
	left := income
	for _, m := range seeds {
		v := int64(float64(income) * m.up / total)
		v = min(v, left)
		m.earned += v
		m.recent += float64(v)
		left -= v
	}
	for i := 0; left > 0; i = (i + 1) % len(seeds) {
		seeds[i].earned++
		seeds[i].recent++
		left--
	}
}

// sponsorPay pays the sponsor's rate for dtH hours to every online Speed
// seed but the publisher, in whole base units, while the budget lasts.
func (s *mswarm) sponsorPay(dtH float64) {
	if s.sponsor <= 0 || s.p.SponsorRate <= 0 {
		return
	}
	v := int64(float64(s.p.SponsorRate) * dtH)
	for _, m := range s.peers {
		if s.sponsor <= 0 {
			return
		}
		if !m.online || !m.seed || !m.speed || m.publisher {
			continue
		}
		pay := min(v, s.sponsor)
		s.sponsor -= pay
		m.earned += pay
		m.recent += float64(pay)
		s.paidToday += pay
	}
}
