package choker_test

import (
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
