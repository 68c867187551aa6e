// Package choker is the provider side's auction choker of BitTorrent Speed:
// once per choking round it decides which connected peers to unchoke, which
// of them pay, and the one price they all pay. It implements the provider's
// matchmaking, section 5.2 of docs/speed-protocol.md, mechanics M8-M13:
//
//   - M8: the caller runs Round every 10-15 s. A provider has Config.Slots
//     regular unchoke slots plus Config.Optimistic optimistic slots.
//   - M9: regular slots go first to eligible bids, then to throughput (bytes
//     received while downloading, bytes sent while seeding). A bid is
//     eligible when it is at or above the provider's reserve price.
//   - M10: regular slots are sold in a multi-unit uniform-price auction (the
//     unit-demand case of VCG): every winner pays the highest losing eligible
//     bid, or the reserve price when no eligible bid lost. A requester gets at
//     most one slot per provider: peers sharing a ledger account are one
//     bidder.
//   - M11: for each Paid decision the caller sends the bid response carrying
//     Decision.Rate (speed.ProviderSession.Grant) before the unchoke. Free
//     slots are granted at rate 0.
//   - M12: optimistic slots are round-robin, by how long a peer has been
//     choked; bids only break ties between peers choked equally long.
//   - M13: legacy peers (no Speed support) compete for regular slots by
//     throughput alone and for the optimistic slots as bid 0; they are never
//     charged.
//
// # Algorithm
//
// Round draws one tie-break key per input peer, in input order, before it
// ranks anything; then:
//
//  1. Candidates are the interested peers. Peers with the same non-empty
//     Account are one bidder: only the best of them by (Bid, Bytes, key)
//     stays a candidate. A legacy peer's bid counts as 0.
//  2. Eligible bidders are Speed candidates with Bid >= max(Reserve, 1).
//  3. The top Slots eligible bidders by (Bid, Bytes, key) win Paid slots.
//     Price is the highest Bid among eligible bidders that did not win, or
//     Reserve when every eligible bidder won. Every winner's Rate is Price.
//  4. Regular slots left over go, as Throughput slots, to the candidates
//     that are not eligible bidders (legacy peers, Speed peers bidding
//     nothing or below the reserve), best by (Bytes, key).
//  5. The Optimistic slots go to the candidates still choked (losing
//     bidders included), best by (ChokedRounds, bid, key). The bid here is
//     any Speed bid, below the reserve too.
//
// Every ranking is descending; the final tie-break, after the key, is the
// lower input position. The result is a deterministic function of the
// config, the peers and the rng's state.
//
// # Properties
//
//   - Every Paid winner pays the same Rate, Result.Price, which is never more
//     than its own bid and never less than the reserve.
//   - The price a winner pays does not depend on its own bid: it is set by
//     the bids that lost, as in a Vickrey auction.
//   - Raising its bid, all else equal, never gets a peer choked that was
//     unchoked (it can displace others).
//   - Legacy peers, Throughput and OptimisticSlot decisions have Rate 0.
//   - At most one decision per non-empty Account; only interested peers are
//     unchoked; at most Slots regular and Optimistic optimistic decisions,
//     and no slot is left empty while a candidate is choked.
//   - Tie-break keys are drawn before any ranking, one per input peer, so
//     changing one peer's bid never reshuffles the ties of others.
//
// # Caller's bookkeeping
//
// ChokedRounds makes the optimistic slot rotate: the caller resets it to 0
// when a peer is unchoked (by any kind of slot) and adds 1 every round the
// peer stays choked. Peers that must stay choked whatever they bid (a late
// payment, M20; a ban) should be left out or passed as not interested.
//
// # Cost
//
// Round keeps no state between calls. It reads the peers twice: once to
// group accounts (an open-addressing table, one hash per peer with an
// account) and once to feed three small heaps that keep only the best few of
// each ranking; it never sorts all peers. It allocates O(n) bytes in a
// constant number of allocations. One round over 10,000 peers takes about
// 0.3 ms on one core of a current server (BenchmarkRound10000).
package choker

import (
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Default slot counts: DefaultConfig uses both.
const (
	DefaultSlots      = 4 // regular slots
	DefaultOptimistic = 1 // optimistic slots
)

// Peer is one connection as the choker sees it in one round.
type Peer struct {
	// ID identifies the connection; it is copied into Decision.ID. Give each
	// peer a distinct ID: Round does not compare them.
	ID string
	// Account is a Speed peer's ledger account; "" for legacy peers. At most
	// one slot goes to each non-empty Account.
	Account string
	// Speed says the peer advertised Speed support in its handshake.
	Speed bool
	// Bid is the rate the peer bid, base units per MiB; 0 means no bid. It is
	// ignored (counted as 0) when Speed is false.
	Bid uint64
	// Bytes is what was exchanged with the peer in the last round: received
	// from it while downloading, sent to it while seeding.
	Bytes uint64
	// ChokedRounds is how many rounds the peer has been continuously choked,
	// since its last unchoke or since it connected.
	ChokedRounds int
	// Interested says the peer is interested; only interested peers are
	// ever unchoked.
	Interested bool
}

// Config is a provider's choker settings. The zero value has DefaultSlots
// regular slots, no optimistic slot and no reserve price; DefaultConfig has
// the usual optimistic slot too.
type Config struct {
	// Slots is the number of regular slots; 0 or less means DefaultSlots.
	Slots int
	// Optimistic is the number of optimistic slots, taken literally: 0 (or
	// less) means none.
	Optimistic int
	// Reserve is the lowest rate, base units per MiB, the provider sells a
	// regular slot for. Bids below it (and bids of 0) are not eligible. It is
	// the price when no eligible bid loses, so with Reserve 0 and no
	// competition the winners pay 0.
	Reserve uint64
}

// DefaultConfig returns DefaultSlots regular slots, DefaultOptimistic
// optimistic slots and no reserve price.
func DefaultConfig() Config {
	return Config{Slots: DefaultSlots, Optimistic: DefaultOptimistic}
}

// slots returns the effective regular and optimistic slot counts.
func (c Config) slots() (regular, optimistic int) {
	regular, optimistic = c.Slots, max(c.Optimistic, 0)
	if regular <= 0 {
		regular = DefaultSlots
	}
	return regular, optimistic
}

// Kind is the kind of slot a peer is unchoked in.
type Kind int

// The kinds of slot.
const (
	// Paid is a regular slot won in the auction; the peer pays Result.Price.
	Paid Kind = iota + 1
	// Throughput is a regular slot given free by throughput: to legacy peers
	// and Speed peers without an eligible bid.
	Throughput
	// OptimisticSlot is an optimistic slot; it is free.
	OptimisticSlot
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Paid:
		return "paid"
	case Throughput:
		return "throughput"
	case OptimisticSlot:
		return "optimistic"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Decision unchokes one peer.
type Decision struct {
	ID   string // the peer's Peer.ID
	Kind Kind
	// Rate is what the peer pays this round, base units per MiB:
	// Result.Price for Paid, 0 otherwise.
	Rate uint64
}

// Result is the outcome of a round. Peers without a decision stay choked.
type Result struct {
	// Unchoked lists the Paid winners (by bid, highest first), then the
	// Throughput slots (by bytes, most first), then the optimistic slots (by
	// choked rounds, longest first).
	Unchoked []Decision
	// Price is the round's clearing price, base units per MiB: the highest
	// losing eligible bid, or Config.Reserve when no eligible bid lost. It is
	// what every Paid decision's Rate says, and means nothing without one.
	Price uint64
}

// Peer states during a round.
const (
	out   uint8 = iota // not a candidate: not interested, or not its account's best
	open               // a candidate still choked
	taken              // unchoked this round
)

// round holds the working state of one Round call.
type round struct {
	peers []Peer
	keys  []uint64 // tie-break key per peer
	state []uint8  // out, open or taken, per peer
	floor uint64   // lowest eligible bid: max(Reserve, 1)
}

// Round runs one choking round over peers. rng breaks the ties the rankings
// leave: Round draws exactly one rng.Uint64() per input peer, in input
// order, before ranking anything, so the result is a deterministic function
// of (cfg, peers, rng state) and changing one peer's bid never changes the
// keys of the others. A nil rng gives every peer key 0: ties then go to the
// earlier peer in input. Round does not modify peers.
func Round(cfg Config, peers []Peer, rng *rand.Rand) Result {
	slots, optimistic := cfg.slots()
	n := len(peers)
	r := &round{
		peers: peers,
		keys:  make([]uint64, n),
		state: make([]uint8, n),
		floor: max(cfg.Reserve, 1),
	}
	if rng != nil {
		for i := range r.keys {
			r.keys[i] = rng.Uint64()
		}
	}
	r.candidates()

	// One pass over the candidates keeps the best few of three rankings:
	// the top slots+1 eligible bidders (the winners and the highest losing
	// bid), the top slots others by bytes, and the top optimistic+slots of
	// all by choked rounds (regular slots take at most slots of those).
	k := min(slots, n)
	auction := newHeap(k+1, r.byBid)
	others := newHeap(k, r.byBytes)
	waiting := newHeap(min(optimistic, n)+k, r.byChoked)
	for i := range peers {
		if r.state[i] != open {
			continue
		}
		if r.eligible(i) {
			auction.push(i)
		} else {
			others.push(i)
		}
		waiting.push(i)
	}

	ranked := auction.sorted()
	won := ranked[:min(slots, len(ranked))]
	price := cfg.Reserve
	if len(ranked) > slots {
		price = peers[ranked[slots]].Bid
	}
	free := others.sorted()
	free = free[:min(slots-len(won), len(free))]
	r.take(won)
	r.take(free)
	var lucky []int
	for _, i := range waiting.sorted() {
		if len(lucky) == optimistic {
			break
		}
		if r.state[i] == open {
			lucky = append(lucky, i)
		}
	}

	res := Result{Price: price, Unchoked: make([]Decision, 0, len(won)+len(free)+len(lucky))}
	for _, i := range won {
		res.Unchoked = append(res.Unchoked, Decision{ID: peers[i].ID, Kind: Paid, Rate: price})
	}
	for _, i := range free {
		res.Unchoked = append(res.Unchoked, Decision{ID: peers[i].ID, Kind: Throughput})
	}
	for _, i := range lucky {
		res.Unchoked = append(res.Unchoked, Decision{ID: peers[i].ID, Kind: OptimisticSlot})
	}
	return res
}

// candidates marks the interested peers open, keeping only the best peer of
// each non-empty account by byBid.
func (r *round) candidates() {
	accounts := 0
	for i := range r.peers {
		if p := &r.peers[i]; p.Interested {
			r.state[i] = open
			if p.Account != "" {
				accounts++
			}
		}
	}
	if accounts < 2 {
		return
	}
	// An open-addressing table of each account's best peer so far: one hash
	// per peer, no per-entry allocation.
	size := 1
	for size < 2*accounts {
		size <<= 1
	}
	table := make([]int, size)
	seed := maphash.MakeSeed()
	for i := range r.peers {
		p := &r.peers[i]
		if r.state[i] != open || p.Account == "" {
			continue
		}
		s := maphash.String(seed, p.Account) & uint64(size-1)
		for {
			j := table[s] - 1 // slots hold peer index + 1; 0 is empty
			if j < 0 {
				table[s] = i + 1
				break
			}
			if r.peers[j].Account == p.Account {
				if r.byBid(i, j) {
					r.state[j] = out
					table[s] = i + 1
				} else {
					r.state[i] = out
				}
				break
			}
			s = (s + 1) & uint64(size-1)
		}
	}
}

// take marks the peers unchoked.
func (r *round) take(idx []int) {
	for _, i := range idx {
		r.state[i] = taken
	}
}

// bid returns peer i's bid, 0 for a legacy peer.
func (r *round) bid(i int) uint64 {
	if r.peers[i].Speed {
		return r.peers[i].Bid
	}
	return 0
}

func (r *round) eligible(i int) bool { return r.peers[i].Speed && r.peers[i].Bid >= r.floor }

// byBid reports whether peer a ranks before peer b in the auction (and in
// the choice of an account's best peer): higher bid, then more bytes, then
// higher key, then earlier in input.
func (r *round) byBid(a, b int) bool {
	if x, y := r.bid(a), r.bid(b); x != y {
		return x > y
	}
	if x, y := r.peers[a].Bytes, r.peers[b].Bytes; x != y {
		return x > y
	}
	return r.byKey(a, b)
}

// byBytes ranks throughput slots: more bytes, then higher key, then earlier
// in input.
func (r *round) byBytes(a, b int) bool {
	if x, y := r.peers[a].Bytes, r.peers[b].Bytes; x != y {
		return x > y
	}
	return r.byKey(a, b)
}

// byChoked ranks optimistic slots: choked longer, then higher bid, then
// higher key, then earlier in input.
func (r *round) byChoked(a, b int) bool {
	if x, y := r.peers[a].ChokedRounds, r.peers[b].ChokedRounds; x != y {
		return x > y
	}
	if x, y := r.bid(a), r.bid(b); x != y {
		return x > y
	}
	return r.byKey(a, b)
}

func (r *round) byKey(a, b int) bool {
	if r.keys[a] != r.keys[b] {
		return r.keys[a] > r.keys[b]
	}
	return a < b
}

// heap keeps the k best peers pushed, by before, in a heap whose root is
// the worst of them: pushing n peers costs O(n log k).
type heap struct {
	idx    []int
	k      int
	before func(a, b int) bool
}

func newHeap(k int, before func(a, b int) bool) *heap {
	return &heap{idx: make([]int, 0, max(k, 0)), k: k, before: before}
}

// push offers peer i.
func (h *heap) push(i int) {
	switch {
	case len(h.idx) < h.k:
		h.idx = append(h.idx, i)
		h.up(len(h.idx) - 1)
	case len(h.idx) > 0 && h.before(i, h.idx[0]):
		h.idx[0] = i
		h.down(0)
	}
}

// sorted returns the peers kept, best first.
func (h *heap) sorted() []int {
	slices.SortFunc(h.idx, func(a, b int) int {
		switch {
		case a == b:
			return 0
		case h.before(a, b):
			return -1
		}
		return 1
	})
	return h.idx
}

// up restores the heap order after idx[i] changed: a parent never ranks
// before its children.
func (h *heap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.before(h.idx[p], h.idx[i]) {
			return
		}
		h.idx[p], h.idx[i] = h.idx[i], h.idx[p]
		i = p
	}
}

// down restores the heap order after idx[i] changed.
func (h *heap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h.idx) {
			return
		}
		if c+1 < len(h.idx) && h.before(h.idx[c], h.idx[c+1]) {
			c++ // the worse child
		}
		if !h.before(h.idx[i], h.idx[c]) {
			return
		}
		h.idx[i], h.idx[c] = h.idx[c], h.idx[i]
		i = c
	}
}
