package choker_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/btspeed/btspeed/shared/speed/choker"
)

// Short constructors keep the tables readable.
func legacy(id string, bytes uint64) choker.Peer {
	return choker.Peer{ID: id, Bytes: bytes, Interested: true}
}

func bidder(id string, bid, bytes uint64) choker.Peer {
	return choker.Peer{ID: id, Account: "acct-" + id, Speed: true, Bid: bid, Bytes: bytes, Interested: true}
}

func choked(p choker.Peer, rounds int) choker.Peer {
	p.ChokedRounds = rounds
	return p
}

func account(p choker.Peer, acct string) choker.Peer {
	p.Account = acct
	return p
}

func uninterested(p choker.Peer) choker.Peer {
	p.Interested = false
	return p
}

func paid(id string, rate uint64) choker.Decision {
	return choker.Decision{ID: id, Kind: choker.Paid, Rate: rate}
}

func free(id string) choker.Decision {
	return choker.Decision{ID: id, Kind: choker.Throughput}
}

func lucky(id string) choker.Decision {
	return choker.Decision{ID: id, Kind: choker.OptimisticSlot}
}

func TestRound(t *testing.T) {
	tests := []struct {
		name  string
		cfg   choker.Config
		peers []choker.Peer
		want  []choker.Decision
		price uint64
	}{
		{
			name: "no peers",
			cfg:  choker.Config{Slots: 2, Optimistic: 1, Reserve: 3},
			want: []choker.Decision{}, price: 3,
		},
		{
			name: "no bidders: throughput then optimistic",
			cfg:  choker.Config{Slots: 2, Optimistic: 1},
			peers: []choker.Peer{
				legacy("a", 10), legacy("b", 30), legacy("c", 20), uninterested(legacy("d", 100)),
			},
			want: []choker.Decision{free("b"), free("c"), lucky("a")},
		},
		{
			name: "fewer bidders than slots: all pay the reserve, legacy fills by bytes",
			cfg:  choker.Config{Slots: 3, Optimistic: 1, Reserve: 5},
			peers: []choker.Peer{
				legacy("l1", 50), bidder("s2", 7, 0), legacy("l2", 80), bidder("s1", 10, 0),
			},
			want:  []choker.Decision{paid("s1", 5), paid("s2", 5), free("l2"), lucky("l1")},
			price: 5,
		},
		{
			name: "more bidders than slots: highest losing bid sets the price",
			cfg:  choker.Config{Slots: 2, Optimistic: 1, Reserve: 1},
			peers: []choker.Peer{
				bidder("b20", 20, 0), bidder("b40", 40, 0), legacy("big", 1<<30),
				bidder("b50", 50, 0), bidder("b30", 30, 0),
			},
			want:  []choker.Decision{paid("b50", 30), paid("b40", 30), lucky("b30")},
			price: 30,
		},
		{
			name: "losing bidder that is choked longer gets the optimistic slot",
			cfg:  choker.Config{Slots: 2, Optimistic: 1, Reserve: 1},
			peers: []choker.Peer{
				choked(bidder("b20", 20, 0), 3), bidder("b40", 40, 0), choked(legacy("big", 1<<30), 1),
				bidder("b50", 50, 0), bidder("b30", 30, 0),
			},
			want:  []choker.Decision{paid("b50", 30), paid("b40", 30), lucky("b20")},
			price: 30,
		},
		{
			name:  "reserve price when nobody lost",
			cfg:   choker.Config{Slots: 4, Reserve: 7},
			peers: []choker.Peer{bidder("low", 8, 0), bidder("high", 100, 0)},
			want:  []choker.Decision{paid("high", 7), paid("low", 7)},
			price: 7,
		},
		{
			name:  "no reserve and no competition: the slot is won at rate 0",
			cfg:   choker.Config{Slots: 2},
			peers: []choker.Peer{bidder("only", 9, 0), legacy("l", 1)},
			want:  []choker.Decision{paid("only", 0), free("l")},
			price: 0,
		},
		{
			name: "bids below reserve get no paid slot but compete on throughput",
			cfg:  choker.Config{Slots: 2, Reserve: 10},
			peers: []choker.Peer{
				bidder("under", 9, 5), bidder("over", 12, 0), legacy("l", 3), bidder("none", 0, 4),
			},
			want:  []choker.Decision{paid("over", 10), free("under")},
			price: 10,
		},
		{
			name: "below-reserve bids do not set the price",
			cfg:  choker.Config{Slots: 1, Reserve: 10},
			peers: []choker.Peer{
				bidder("a", 15, 0), bidder("b", 9, 0),
			},
			want:  []choker.Decision{paid("a", 10)},
			price: 10,
		},
		{
			name: "one slot per account: only the account's best bid competes",
			cfg:  choker.Config{Slots: 2, Optimistic: 1, Reserve: 1},
			peers: []choker.Peer{
				choked(account(bidder("x1", 10, 0), "X"), 9),
				account(bidder("x2", 30, 0), "X"),
				account(bidder("y", 20, 0), "Y"),
				account(bidder("z", 5, 0), "Z"),
			},
			// x1's 10 neither sets the price nor takes the optimistic slot.
			want:  []choker.Decision{paid("x2", 5), paid("y", 5), lucky("z")},
			price: 5,
		},
		{
			name: "account dedupe ties go to more bytes",
			cfg:  choker.Config{Slots: 1, Optimistic: 1},
			peers: []choker.Peer{
				account(bidder("x1", 10, 1), "X"),
				account(bidder("x2", 10, 2), "X"),
			},
			want:  []choker.Decision{paid("x2", 0)},
			price: 0,
		},
		{
			name: "an uninterested account member does not block an interested one",
			cfg:  choker.Config{Slots: 1},
			peers: []choker.Peer{
				uninterested(account(bidder("x1", 50, 0), "X")),
				account(bidder("x2", 10, 0), "X"),
			},
			want: []choker.Decision{paid("x2", 0)},
		},
		{
			name: "uninterested peers are never unchoked and never set the price",
			cfg:  choker.Config{Slots: 1, Optimistic: 1, Reserve: 2},
			peers: []choker.Peer{
				uninterested(choked(bidder("rich", 100, 1<<40), 99)),
				uninterested(legacy("fast", 1<<40)),
				bidder("b", 5, 0),
			},
			want:  []choker.Decision{paid("b", 2)},
			price: 2,
		},
		{
			name: "optimistic: longest choked first, bid only breaks ties",
			cfg:  choker.Config{Slots: 1, Optimistic: 1, Reserve: 10},
			peers: []choker.Peer{
				bidder("w", 100, 0),
				choked(legacy("x", 0), 5),
				choked(bidder("y", 3, 0), 5), // below reserve, still breaks the tie
				choked(bidder("z", 50, 0), 4),
			},
			want:  []choker.Decision{paid("w", 50), lucky("y")},
			price: 50,
		},
		{
			name: "two optimistic slots in order",
			cfg:  choker.Config{Slots: 1, Optimistic: 2},
			peers: []choker.Peer{
				legacy("fast", 100),
				choked(legacy("a", 0), 2),
				choked(legacy("b", 0), 7),
				choked(legacy("c", 0), 1),
			},
			want: []choker.Decision{free("fast"), lucky("b"), lucky("a")},
		},
		{
			name: "legacy bids are ignored",
			cfg:  choker.Config{Slots: 1, Optimistic: 1},
			peers: []choker.Peer{
				{ID: "liar", Bid: 1000, Bytes: 1, Interested: true, ChokedRounds: 3},
				choked(bidder("s", 1, 0), 3),
			},
			// liar's 1000 neither wins the auction nor outranks s's 1.
			want: []choker.Decision{paid("s", 0), lucky("liar")},
		},
		{
			name: "equal bids: more bytes wins, the loser's bid is the price",
			cfg:  choker.Config{Slots: 1},
			peers: []choker.Peer{
				bidder("s1", 10, 5), bidder("s2", 10, 9),
			},
			want:  []choker.Decision{paid("s2", 10)},
			price: 10,
		},
		{
			name:  "zero config: 4 regular slots, no optimistic",
			peers: []choker.Peer{legacy("a", 1), legacy("b", 2), legacy("c", 3), legacy("d", 4), legacy("e", 5)},
			want:  []choker.Decision{free("e"), free("d"), free("c"), free("b")},
		},
		{
			name:  "negative config: 4 regular slots, no optimistic",
			cfg:   choker.Config{Slots: -3, Optimistic: -1},
			peers: []choker.Peer{legacy("a", 1), legacy("b", 2), legacy("c", 3), legacy("d", 4), legacy("e", 5)},
			want:  []choker.Decision{free("e"), free("d"), free("c"), free("b")},
		},
		{
			name:  "huge config is capped by the peers",
			cfg:   choker.Config{Slots: int(^uint(0) >> 1), Optimistic: int(^uint(0) >> 1)},
			peers: []choker.Peer{legacy("a", 1), bidder("b", 3, 0)},
			want:  []choker.Decision{paid("b", 0), free("a")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := choker.Round(tt.cfg, tt.peers, rand.New(rand.NewPCG(1, 2)))
			if !slices.Equal(got.Unchoked, tt.want) || got.Price != tt.price {
				t.Errorf("Round = %v price %d\nwant    %v price %d", got.Unchoked, got.Price, tt.want, tt.price)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	if got := choker.DefaultConfig(); got != (choker.Config{Slots: 4, Optimistic: 1}) {
		t.Errorf("DefaultConfig() = %+v", got)
	}
	peers := []choker.Peer{legacy("a", 1), legacy("b", 2), legacy("c", 3), legacy("d", 4), legacy("e", 5), legacy("f", 6)}
	got := choker.Round(choker.DefaultConfig(), peers, nil)
	// Without an rng, a and b tie on the optimistic slot and the earlier wins.
	want := []choker.Decision{free("f"), free("e"), free("d"), free("c"), lucky("a")}
	if !slices.Equal(got.Unchoked, want) {
		t.Errorf("Round = %v, want %v", got.Unchoked, want)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[choker.Kind]string{choker.Paid: "paid", choker.Throughput: "throughput", choker.OptimisticSlot: "optimistic", 0: "Kind(0)", -2: "Kind(-2)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestTieBreakKeys checks that Round draws exactly one key per input peer
// and that the higher key wins a full tie.
func TestTieBreakKeys(t *testing.T) {
	peers := make([]choker.Peer, 9)
	for i := range peers {
		peers[i] = legacy(strconv.Itoa(i), 7)
	}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 0))
		got := choker.Round(choker.Config{Slots: 1}, peers, rng)

		ref := rand.New(rand.NewPCG(seed, 0))
		keys := drawKeys(ref, len(peers))
		if next, want := rng.Uint64(), ref.Uint64(); next != want {
			t.Fatalf("seed %d: Round did not draw exactly %d keys", seed, len(peers))
		}
		best := 0
		for i := range keys {
			if keys[i] > keys[best] {
				best = i
			}
		}
		if want := []choker.Decision{free(strconv.Itoa(best))}; !slices.Equal(got.Unchoked, want) {
			t.Fatalf("seed %d: Round = %v, want %v (highest key)", seed, got.Unchoked, want)
		}
	}
	// Without an rng every key is 0 and the earlier peer wins.
	if got := choker.Round(choker.Config{Slots: 2}, peers, nil); !slices.Equal(got.Unchoked, []choker.Decision{free("0"), free("1")}) {
		t.Errorf("nil rng: Round = %v", got.Unchoked)
	}
	// A constant source ties every key too; the result is still total.
	if got := choker.Round(choker.Config{Slots: 2}, peers, rand.New(constSource(5))); !slices.Equal(got.Unchoked, []choker.Decision{free("0"), free("1")}) {
		t.Errorf("constant rng: Round = %v", got.Unchoked)
	}
}

type constSource uint64

func (c constSource) Uint64() uint64 { return uint64(c) }

func drawKeys(rng *rand.Rand, n int) []uint64 {
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	return keys
}

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
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nresult %v price %d\n"+format, append([]any{ctx, res.Unchoked, res.Price}, args...)...)
	}
	slots, optimistic := m.slots()
	byID := make(map[string]int)
	for i, p := range m.peers {
		byID[p.ID] = i
	}
	cands := m.candidates()
	isCand := make(map[int]bool)
	for _, i := range cands {
		isCand[i] = true
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

	// Price: the highest losing eligible bid, or the reserve.
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
			fail("losing bid %d above winning bid %d", wantPrice, minWin)
		}
	}
	if res.Price != wantPrice {
		fail("price %d, want %d (losing bids %v)", res.Price, wantPrice, losing)
	}

	// Throughput: every Throughput peer has at least the bytes of every
	// candidate that could have had its slot and got no regular slot.
	for i, k := range unchoked {
		if k != choker.Throughput {
			continue
		}
		if m.eligible(i) {
			fail("eligible bidder %s got a throughput slot", m.peers[i].ID)
		}
		for _, j := range cands {
			if k2, ok := unchoked[j]; (!ok || k2 == choker.OptimisticSlot) && !m.eligible(j) && m.peers[j].Bytes > m.peers[i].Bytes {
				fail("%s (%d bytes) got a throughput slot over %s (%d bytes)", m.peers[i].ID, m.peers[i].Bytes, m.peers[j].ID, m.peers[j].Bytes)
			}
		}
	}

	// Optimistic: longest choked among the candidates without a regular
	// slot, and the highest bid among those tied.
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
				fail("optimistic %s (choked %d, bid %d) over %s (choked %d, bid %d)", pi.ID, pi.ChokedRounds, m.bid(i), pj.ID, pj.ChokedRounds, m.bid(j))
			}
		}
	}
}

// TestRotation plays many rounds with the caller's bookkeeping and checks
// that the optimistic slot rotates through every peer the regular slots
// leave out.
func TestRotation(t *testing.T) {
	t.Run("fixed winners", func(t *testing.T) {
		// Two high bidders hold both regular slots; the ten others
		// (legacy and below-reserve bidders) share one optimistic slot.
		peers := []choker.Peer{bidder("w1", 100, 0), bidder("w2", 90, 0)}
		for i := range 10 {
			if i%2 == 0 {
				peers = append(peers, legacy("l"+strconv.Itoa(i), uint64(i)))
			} else {
				peers = append(peers, bidder("s"+strconv.Itoa(i), uint64(i), 0))
			}
		}
		cfg := choker.Config{Slots: 2, Optimistic: 1, Reserve: 50}
		rng := rand.New(rand.NewPCG(7, 7))
		last := make(map[string]int)
		for round := range 200 {
			res := choker.Round(cfg, peers, rng)
			want := []choker.Decision{paid("w1", 50), paid("w2", 50)}
			if len(res.Unchoked) != 3 || !slices.Equal(res.Unchoked[:2], want) || res.Unchoked[2].Kind != choker.OptimisticSlot {
				t.Fatalf("round %d: %v", round, res.Unchoked)
			}
			id := res.Unchoked[2].ID
			prev, ok := last[id]
			if ok && round-prev != 10 {
				t.Fatalf("round %d: %s optimistic again after %d rounds, want 10", round, id, round-prev)
			}
			if !ok && round >= 10 {
				t.Fatalf("round %d: %s optimistic for the first time", round, id)
			}
			last[id] = round
			bookkeep(peers, res)
		}
		if len(last) != 10 {
			t.Fatalf("%d peers had the optimistic slot, want 10", len(last))
		}
	})
	t.Run("churn", func(t *testing.T) {
		// Bids and bytes change every round. With one optimistic slot no
		// interested peer stays choked for as many rounds as there are
		// candidates.
		gen := rand.New(rand.NewPCG(3, 4))
		rng := rand.New(rand.NewPCG(5, 6))
		for _, slots := range []int{1, 2, 4} {
			peers := make([]choker.Peer, 15)
			for i := range peers {
				peers[i] = choker.Peer{ID: strconv.Itoa(i), Interested: true, ChokedRounds: gen.IntN(3)}
				if i%3 != 0 {
					peers[i].Speed, peers[i].Account = true, "acct"+strconv.Itoa(i)
				}
			}
			cfg := choker.Config{Slots: slots, Optimistic: 1, Reserve: 10}
			for round := range 3000 {
				for i := range peers {
					peers[i].Bid = gen.Uint64N(20)
					peers[i].Bytes = gen.Uint64N(1000)
				}
				res := choker.Round(cfg, peers, rng)
				if len(res.Unchoked) != slots+1 {
					t.Fatalf("slots %d round %d: %d unchoked", slots, round, len(res.Unchoked))
				}
				bookkeep(peers, res)
				limit := len(peers) - 1 // every other peer goes first at most once
				if round < 20 {
					limit += 2 // the initial ChokedRounds
				}
				for _, p := range peers {
					if p.ChokedRounds > limit {
						t.Fatalf("slots %d round %d: %s choked %d rounds", slots, round, p.ID, p.ChokedRounds)
					}
				}
			}
		}
	})
}

// bookkeep is the caller's side of the rotation: reset ChokedRounds on
// unchoke, count it up otherwise.
func bookkeep(peers []choker.Peer, res choker.Result) {
	for i := range peers {
		if _, ok := decisionOf(res, peers[i].ID); ok {
			peers[i].ChokedRounds = 0
		} else {
			peers[i].ChokedRounds++
		}
	}
}

// BenchmarkRound10000 is one round over 10,000 peers: half Speed bidders
// with random bids (some sharing accounts), the rest legacy, a tenth
// uninterested.
func BenchmarkRound10000(b *testing.B) {
	gen := rand.New(rand.NewPCG(1, 1))
	peers := make([]choker.Peer, 10_000)
	for i := range peers {
		p := choker.Peer{
			ID:           "peer-" + strconv.Itoa(i),
			Bytes:        gen.Uint64N(1 << 24),
			ChokedRounds: gen.IntN(30),
			Interested:   gen.IntN(10) != 0,
		}
		if i%2 == 0 {
			p.Speed = true
			p.Bid = gen.Uint64N(1_000_000)
			p.Account = "T" + strconv.Itoa(gen.IntN(4500)) + "xxxxxxxxxxxxxxxxxxxxxxxxxxx"
		}
		peers[i] = p
	}
	cfg := choker.Config{Slots: 4, Optimistic: 1, Reserve: 1000}
	rng := rand.New(rand.NewPCG(2, 2))
	b.ReportAllocs()
	for b.Loop() {
		choker.Round(cfg, peers, rng)
	}
}
