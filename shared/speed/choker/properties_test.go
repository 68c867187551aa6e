package choker_test

// Round against an independent model, on random rounds: the same result as
// the model, and the promises of the package doc checked directly.

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/btspeed/btspeed/shared/speed/choker"
)

// model is an independent, deliberately naive statement of the algorithm:
// quadratic account dedupe and full sorts.
type model struct {
	cfg   choker.Config
	peers []choker.Peer
	keys  []uint64
}

func (m model) slots() (int, int) {
	s := m.cfg.Slots
	if s <= 0 {
		s = 4
	}
	return s, max(m.cfg.Optimistic, 0)
}

func (m model) bid(i int) uint64 {
	if m.peers[i].Speed {
		return m.peers[i].Bid
	}
	return 0
}

func (m model) eligible(i int) bool {
	return m.peers[i].Speed && m.peers[i].Bid >= max(m.cfg.Reserve, 1)
}

func (m model) byKey(a, b int) int {
	return cmp.Or(cmp.Compare(m.keys[b], m.keys[a]), cmp.Compare(a, b))
}

func (m model) byBid(a, b int) int {
	return cmp.Or(cmp.Compare(m.bid(b), m.bid(a)), cmp.Compare(m.peers[b].Bytes, m.peers[a].Bytes), m.byKey(a, b))
}

func (m model) byBytes(a, b int) int {
	return cmp.Or(cmp.Compare(m.peers[b].Bytes, m.peers[a].Bytes), m.byKey(a, b))
}

func (m model) byChoked(a, b int) int {
	return cmp.Or(cmp.Compare(m.peers[b].ChokedRounds, m.peers[a].ChokedRounds), cmp.Compare(m.bid(b), m.bid(a)), m.byKey(a, b))
}

// candidates returns the interested peers that are their account's best.
func (m model) candidates() []int {
	var c []int
	for i, p := range m.peers {
		if !p.Interested {
			continue
		}
		best := true
		for j, q := range m.peers {
			if p.Account != "" && j != i && q.Interested && q.Account == p.Account && m.byBid(j, i) < 0 {
				best = false
			}
		}
		if best {
			c = append(c, i)
		}
	}
	return c
}

func (m model) round() choker.Result {
	slots, optimistic := m.slots()
	cands := m.candidates()
	var eligible, others []int
	for _, i := range cands {
		if m.eligible(i) {
			eligible = append(eligible, i)
		} else {
			others = append(others, i)
		}
	}
	slices.SortFunc(eligible, m.byBid)
	won := eligible[:min(slots, len(eligible))]
	price := m.cfg.Reserve
	if len(eligible) > slots {
		price = m.peers[eligible[slots]].Bid
	}
	slices.SortFunc(others, m.byBytes)
	thr := others[:min(slots-len(won), len(others))]
	var rest []int
	for _, i := range cands {
		if !slices.Contains(won, i) && !slices.Contains(thr, i) {
			rest = append(rest, i)
		}
	}
	slices.SortFunc(rest, m.byChoked)
	opt := rest[:min(optimistic, len(rest))]

	res := choker.Result{Price: price, Unchoked: []choker.Decision{}}
	for _, i := range won {
		res.Unchoked = append(res.Unchoked, paid(m.peers[i].ID, price))
	}
	for _, i := range thr {
		res.Unchoked = append(res.Unchoked, free(m.peers[i].ID))
	}
	for _, i := range opt {
		res.Unchoked = append(res.Unchoked, lucky(m.peers[i].ID))
	}
	return res
}

// genRound makes a random round: sizes 0..50, few distinct values so ties
// are common, shared accounts, a legacy mix, some uninterested peers.
func genRound(r *rand.Rand) (choker.Config, []choker.Peer) {
	cfg := choker.Config{Slots: r.IntN(11) - 2, Optimistic: r.IntN(4) - 1}
	if r.IntN(3) > 0 {
		cfg.Reserve = r.Uint64N(15)
	}
	n := r.IntN(51)
	accounts := 1 + r.IntN(n+1)
	peers := make([]choker.Peer, n)
	for i := range peers {
		p := choker.Peer{
			ID:           "p" + strconv.Itoa(i),
			Speed:        r.IntN(10) < 6,
			Bytes:        r.Uint64N(6),
			ChokedRounds: r.IntN(5),
			Interested:   r.IntN(10) < 8,
		}
		if r.IntN(8) == 0 {
			p.Bytes = r.Uint64()
		}
		switch r.IntN(10) {
		case 0:
			p.Bid = 0
		case 1:
			p.Bid = r.Uint64N(1<<40) + 1
		default:
			p.Bid = r.Uint64N(20)
		}
		if p.Speed || r.IntN(20) == 0 { // a few legacy peers claim an account too
			p.Account = "acct" + strconv.Itoa(r.IntN(accounts))
		}
		peers[i] = p
	}
	return cfg, peers
}

// TestRoundProperties checks Round against the model and against the
// properties the package promises, over thousands of random rounds.
func TestRoundProperties(t *testing.T) {
	gen := rand.New(rand.NewPCG(2026, 5))
	rounds := 5000
	if testing.Short() {
		rounds = 500
	}
	var paidSeen, lostSeen, thrSeen, optSeen int
	for range rounds {
		cfg, peers := genRound(gen)
		s1, s2 := gen.Uint64(), gen.Uint64()
		keys := drawKeys(rand.New(rand.NewPCG(s1, s2)), len(peers))
		m := model{cfg: cfg, peers: peers, keys: keys}
		before := slices.Clone(peers)
		res := choker.Round(cfg, peers, rand.New(rand.NewPCG(s1, s2)))
		if !slices.Equal(peers, before) {
			t.Fatal("Round modified its input")
		}
		ctx := fmt.Sprintf("cfg %+v seed (%d, %d) peers %+v", cfg, s1, s2, peers)

		if want := m.round(); !slices.Equal(res.Unchoked, want.Unchoked) || res.Price != want.Price {
			t.Fatalf("%s\nRound = %v price %d\nmodel = %v price %d", ctx, res.Unchoked, res.Price, want.Unchoked, want.Price)
		}
		checkProperties(t, ctx, m, res)

		for _, d := range res.Unchoked {
			switch d.Kind {
			case choker.Paid:
				paidSeen++
			case choker.Throughput:
				thrSeen++
			case choker.OptimisticSlot:
				optSeen++
			}
		}
		if len(m.candidates()) > 0 && res.Price != cfg.Reserve {
			lostSeen++
		}

		// Monotonicity: raising one peer's bid, with the same keys, never
		// chokes it if it was unchoked; a Paid winner keeps its price.
		for i := range peers {
			if gen.IntN(3) != 0 {
				continue
			}
			raised := slices.Clone(peers)
			if gen.IntN(2) == 0 {
				raised[i].Bid += 1 + gen.Uint64N(5)
			} else {
				raised[i].Bid = max(raised[i].Bid, 1<<41+gen.Uint64N(10))
			}
			res2 := choker.Round(cfg, raised, rand.New(rand.NewPCG(s1, s2)))
			d1, was := decisionOf(res, peers[i].ID)
			d2, is := decisionOf(res2, peers[i].ID)
			if was && !is {
				t.Fatalf("%s\nraising %s's bid %d to %d choked it: %v -> %v", ctx, peers[i].ID, peers[i].Bid, raised[i].Bid, res.Unchoked, res2.Unchoked)
			}
			if d1.Kind == choker.Paid && (d2.Kind != choker.Paid || res2.Price != res.Price) {
				t.Fatalf("%s\nraising winner %s's bid changed its slot or price: %v price %d -> %v price %d", ctx, peers[i].ID, res.Unchoked, res.Price, res2.Unchoked, res2.Price)
			}
			if !peers[i].Speed && !slices.Equal(res.Unchoked, res2.Unchoked) {
				t.Fatalf("%s\nraising legacy %s's bid changed the round", ctx, peers[i].ID)
			}
		}
	}
	// The generator must exercise every branch, or the checks prove little.
	if paidSeen < rounds || lostSeen < rounds/10 || thrSeen < rounds/2 || optSeen < rounds/2 {
		t.Errorf("weak generator: %d paid, %d rounds with a losing bid, %d throughput, %d optimistic", paidSeen, lostSeen, thrSeen, optSeen)
	}
}

func decisionOf(res choker.Result, id string) (choker.Decision, bool) {
	for _, d := range res.Unchoked {
		if d.ID == id {
			return d, true
		}
	}
	return choker.Decision{}, false
}

// checkProperties states the promises of the package doc directly.
func checkProperties(t *testing.T, ctx string, m model, res choker.Result) {
	t.Helper()
	c := &propCheck{t: t, ctx: ctx, m: m, res: res}
	cands := m.candidates()
	unchoked := c.decisions(cands)
	c.price(cands, unchoked)
	c.throughputSlots(cands, unchoked)
	c.optimisticSlots(cands, unchoked)
}

// propCheck is one checkProperties call: the round's model and result,
// and the context a failure reports.
type propCheck struct {
	t   *testing.T
	ctx string
	m   model
	res choker.Result
}

// fail stops the test with the round's context and result.
func (c *propCheck) fail(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s\nresult %v price %d\n"+format, append([]any{c.ctx, c.res.Unchoked, c.res.Price}, args...)...)
}

// decisions checks each decision on its own (a known, interested peer,
// unchoked once, once per account, in kind order, paying the price within
// its bid and the reserve or nothing for a free slot) and the number of
// each kind; it returns the kind of slot each unchoked peer got, by index.
func (c *propCheck) decisions(cands []int) map[int]choker.Kind {
	c.t.Helper()
	m, res, fail := c.m, c.res, c.fail
	slots, optimistic := m.slots()
	byID := make(map[string]int)
	for i, p := range m.peers {
		byID[p.ID] = i
	}
	ids, accounts := make(map[string]bool), make(map[string]bool)
	unchoked := make(map[int]choker.Kind)
	var regular, opt int
	lastKind := choker.Paid
	for _, d := range res.Unchoked {
		i, ok := byID[d.ID]
		if !ok {
			fail("unknown id %q", d.ID)
		}
		p := m.peers[i]
		if ids[d.ID] {
			fail("%s unchoked twice", d.ID)
		}
		ids[d.ID] = true
		if p.Account != "" {
			if accounts[p.Account] {
				fail("account %s unchoked twice", p.Account)
			}
			accounts[p.Account] = true
		}
		if !p.Interested {
			fail("uninterested %s unchoked", d.ID)
		}
		if d.Kind < lastKind {
			fail("decisions out of kind order")
		}
		lastKind = d.Kind
		unchoked[i] = d.Kind
		switch d.Kind {
		case choker.Paid:
			regular++
			if d.Rate != res.Price {
				fail("%s pays %d, not the price", d.ID, d.Rate)
			}
			if !p.Speed || d.Rate > p.Bid || p.Bid < m.cfg.Reserve || d.Rate < m.cfg.Reserve || p.Bid == 0 {
				fail("%s (speed %v bid %d) pays %d, reserve %d", d.ID, p.Speed, p.Bid, d.Rate, m.cfg.Reserve)
			}
		case choker.Throughput, choker.OptimisticSlot:
			if d.Kind == choker.Throughput {
				regular++
			} else {
				opt++
			}
			if d.Rate != 0 {
				fail("free slot %s charged %d", d.ID, d.Rate)
			}
		default:
			fail("bad kind %v", d.Kind)
		}
	}
	if regular > slots || opt > optimistic {
		fail("%d regular, %d optimistic decisions for %d, %d slots", regular, opt, slots, optimistic)
	}
	if want := min(slots, len(cands)); regular != want {
		fail("%d regular decisions, want %d", regular, want)
	}
	if want := min(optimistic, len(cands)-regular); opt != want {
		fail("%d optimistic decisions, want %d", opt, want)
	}
	return unchoked
}

// price checks the price: the highest losing eligible bid, or the reserve.
func (c *propCheck) price(cands []int, unchoked map[int]choker.Kind) {
	c.t.Helper()
	m := c.m
	var losing []uint64
	var minWin uint64 = ^uint64(0)
	for _, i := range cands {
		if !m.eligible(i) {
			continue
		}
		if unchoked[i] == choker.Paid {
			minWin = min(minWin, m.peers[i].Bid)
		} else {
			losing = append(losing, m.peers[i].Bid)
		}
	}
	wantPrice := m.cfg.Reserve
	if len(losing) > 0 {
		wantPrice = slices.Max(losing)
		if wantPrice > minWin {
			c.fail("losing bid %d above winning bid %d", wantPrice, minWin)
		}
	}
	if c.res.Price != wantPrice {
		c.fail("price %d, want %d (losing bids %v)", c.res.Price, wantPrice, losing)
	}
}

// throughputSlots checks that every Throughput peer has at least the bytes
// of every candidate that could have had its slot and got no regular slot.
func (c *propCheck) throughputSlots(cands []int, unchoked map[int]choker.Kind) {
	c.t.Helper()
	m := c.m
	for i, k := range unchoked {
		if k != choker.Throughput {
			continue
		}
		if m.eligible(i) {
			c.fail("eligible bidder %s got a throughput slot", m.peers[i].ID)
		}
		for _, j := range cands {
			if k2, ok := unchoked[j]; (!ok || k2 == choker.OptimisticSlot) && !m.eligible(j) && m.peers[j].Bytes > m.peers[i].Bytes {
				c.fail("%s (%d bytes) got a throughput slot over %s (%d bytes)", m.peers[i].ID, m.peers[i].Bytes, m.peers[j].ID, m.peers[j].Bytes)
			}
		}
	}
}

// optimisticSlots checks that an optimistic slot went to the longest
// choked among the candidates without a regular slot, and to the highest
// bid among those tied.
func (c *propCheck) optimisticSlots(cands []int, unchoked map[int]choker.Kind) {
	c.t.Helper()
	m := c.m
	for i, k := range unchoked {
		if k != choker.OptimisticSlot {
			continue
		}
		for _, j := range cands {
			if _, ok := unchoked[j]; ok {
				continue
			}
			pi, pj := m.peers[i], m.peers[j]
			if pj.ChokedRounds > pi.ChokedRounds || pj.ChokedRounds == pi.ChokedRounds && m.bid(j) > m.bid(i) {
				c.fail("optimistic %s (choked %d, bid %d) over %s (choked %d, bid %d)", pi.ID, pi.ChokedRounds, m.bid(i), pj.ID, pj.ChokedRounds, m.bid(j))
			}
		}
	}
}
