package bidder_test

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed/bidder"
)

// TestUpdateRandomSequences drives a Bidder through random histories and
// checks every Update against the rules, kept here as an independent model:
// what was sent to whom, when, and under which settings.
func TestUpdateRandomSequences(t *testing.T) {
	seeds, steps := 40, 5000
	if testing.Short() {
		seeds = 5
	}
	var total stats
	for seed := range uint64(seeds) {
		total.add(runRandom(t, seed, steps))
		if t.Failed() {
			return
		}
	}
	t.Logf("%+v", total)
	// The run must have exercised every rule, or it proves nothing.
	for name, n := range map[string]int{
		"first bids":                     total.first,
		"rebids":                         total.rebid,
		"withdrawals":                    total.withdraw,
		"user changes inside the minute": total.userFast,
		"held back by the minute":        total.heldTime,
		"held back by the 10% threshold": total.heldSmall,
		"first bids after Forget":        total.afterForget,
	} {
		if n == 0 {
			t.Errorf("random sequences never produced %s", name)
		}
	}
}

type stats struct {
	first, rebid, withdraw, userFast, heldTime, heldSmall, afterForget int
}

func (s *stats) add(o stats) {
	s.first += o.first
	s.rebid += o.rebid
	s.withdraw += o.withdraw
	s.userFast += o.userFast
	s.heldTime += o.heldTime
	s.heldSmall += o.heldSmall
	s.afterForget += o.afterForget
}

// moreThanTenth reports |next - last| × 10 > last, in big integers.
func moreThanTenth(last, next uint64) bool {
	d := new(big.Int).Sub(new(big.Int).SetUint64(next), new(big.Int).SetUint64(last))
	d.Abs(d).Mul(d, big.NewInt(10))
	return d.Cmp(new(big.Int).SetUint64(last)) > 0
}

// runRandom drives a Bidder through steps random steps from seed, checking
// every Update against the model, and counts which rules it exercised.
func runRandom(t *testing.T, seed uint64, steps int) stats {
	t.Helper()
	x := newRandomRun(t, seed)
	for i := range steps {
		for range 1 + x.r.IntN(3) {
			x.perturb()
		}
		x.update(i)
	}
	return x.st
}

// sentBid is a bid the model knows was sent, and when.
type sentBid struct {
	rate uint64
	at   time.Time
}

// randomPeer is a peer of the random world: what the bidder is told of it,
// and whether it is connected (only connected peers are passed to Update).
type randomPeer struct {
	bidder.Peer
	connected bool
}

// randomRun is one random history: the bidder under test, the world it
// bids in (peers, balance, remaining download, settings, clock) and the
// independent model of what it sent to whom.
type randomRun struct {
	t    *testing.T
	seed uint64
	r    *rand.Rand
	b    *bidder.Bidder

	ids       []string
	ps        map[string]*randomPeer
	hist      map[string]sentBid // the last bid sent, since New or Forget
	forgotten map[string]bool    // Forgotten and not bid to since
	settings  bidder.Settings    // as the user set them
	applied   bidder.Settings    // normalised, as of the last Update
	now       time.Time
	bal, rem  uint64
	st        stats
}

func newRandomRun(t *testing.T, seed uint64) *randomRun {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	x := &randomRun{
		t: t, seed: seed, r: r,
		ids:       []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"},
		ps:        make(map[string]*randomPeer),
		hist:      make(map[string]sentBid),
		forgotten: make(map[string]bool),
		now:       t0,
	}
	for _, id := range x.ids {
		x.ps[id] = &randomPeer{Peer: bidder.Peer{ID: id, Speed: r.IntN(5) > 0, HasWanted: r.IntN(3) > 0}, connected: r.IntN(4) > 0}
	}
	x.settings = bidder.DefaultSettings()
	if r.IntN(4) == 0 {
		x.settings = bidder.Settings{Enabled: r.IntN(2) == 0, SpendingRate: randPPM(r)}
	}
	x.b = bidder.New(x.settings)
	x.applied = normSettings(x.settings)
	x.bal = uint64(1_000_000 + r.IntN(1_000_000_000))
	x.rem = uint64(mib + r.IntN(4*gib))
	return x
}

// normSettings is what the bidder makes of settings: the spending rate
// capped at PPM.
func normSettings(s bidder.Settings) bidder.Settings {
	s.SpendingRate = min(s.SpendingRate, bidder.PPM)
	return s
}

// perturb changes one random thing in the world between Updates.
func (x *randomRun) perturb() {
	r := x.r
	switch r.IntN(8) {
	case 0, 1:
		x.passTime()
	case 2:
		x.moveBalance()
	case 3:
		x.moveRemaining()
	case 4: // a peer gains or loses wanted pieces
		p := x.ps[x.ids[r.IntN(len(x.ids))]]
		p.HasWanted = !p.HasWanted
	case 5: // a peer disconnects (usually forgotten) or connects
		p := x.ps[x.ids[r.IntN(len(x.ids))]]
		p.connected = !p.connected
		if !p.connected && r.IntN(4) > 0 {
			x.forget(p.ID)
		}
	case 6: // a stray Forget of a connected peer
		if r.IntN(3) == 0 {
			x.forget(x.ids[r.IntN(len(x.ids))])
		}
	case 7: // the user changes settings (or sets the same ones)
		switch r.IntN(4) {
		case 0:
			x.settings.Enabled = !x.settings.Enabled
		case 1:
			x.settings.SpendingRate = randPPM(r)
		case 2:
			x.settings.SpendingRate = uint32(min(uint64(x.settings.SpendingRate)+uint64(r.IntN(100_000)), math.MaxUint32))
		}
		x.b.SetSettings(x.settings)
	}
}

// passTime moves the clock by nothing, the minimum rebid interval, a few
// minutes or up to 90 s.
func (x *randomRun) passTime() {
	switch x.r.IntN(6) {
	case 0:
	case 1:
		x.now = x.now.Add(bidder.MinInterval)
	case 2:
		x.now = x.now.Add(time.Duration(x.r.IntN(10)) * time.Minute)
	default:
		x.now = x.now.Add(time.Duration(x.r.IntN(90)) * time.Second)
	}
}

// moveBalance empties the balance, sets it anywhere, or moves it a few
// percent either way (both sides of the 10% threshold).
func (x *randomRun) moveBalance() {
	r := x.r
	switch r.IntN(8) {
	case 0:
		x.bal = 0
	case 1:
		x.bal = randU64(r)
	case 2:
		x.bal = uint64(1_000_000 + r.IntN(1_000_000_000))
	default:
		d := x.bal / 100 * uint64(r.IntN(16))
		if r.IntN(2) == 0 {
			x.bal -= d
		} else if x.bal+d >= x.bal {
			x.bal += d
		}
	}
}

// moveRemaining completes the download, restarts or grows it, or
// progresses it a few percent.
func (x *randomRun) moveRemaining() {
	r := x.r
	switch r.IntN(10) {
	case 0:
		x.rem = 0
	case 1:
		x.rem = uint64(mib + r.IntN(4*gib))
	case 2:
		x.rem = randU64(r)
	default:
		x.rem -= min(x.rem, x.rem/100*uint64(r.IntN(16)))
	}
}

// forget tells the bidder to forget peer id, and the model too.
func (x *randomRun) forget(id string) {
	x.b.Forget(id)
	delete(x.hist, id)
	x.forgotten[id] = true
}

// randomStep is what the model expects of Update number i.
type randomStep struct {
	i      int
	cur    bidder.Settings // the settings in force
	user   bool            // they changed since the last Update
	target uint64          // the bid every eligible peer should have
}

// fail stops the test with step s's context.
func (x *randomRun) fail(s randomStep, format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("seed %d step %d (now t0+%v, %+v, balance %d, remaining %d, user change %v, target %d): %s",
		x.seed, s.i, x.now.Sub(t0), s.cur, x.bal, x.rem, s.user, s.target, fmt.Sprintf(format, args...))
}

// update runs Update number i on the connected peers (shuffled) and
// checks its answer, peer by peer, against the model.
func (x *randomRun) update(i int) {
	var in []bidder.Peer
	for _, id := range x.ids {
		if x.ps[id].connected {
			in = append(in, x.ps[id].Peer)
		}
	}
	x.r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })

	got := x.b.Update(bidder.Input{Now: x.now, Balance: x.bal, Remaining: x.rem, Peers: in})

	s := randomStep{i: i, cur: normSettings(x.settings)}
	s.user = s.cur != x.applied
	x.applied = s.cur
	if x.b.Settings() != s.cur {
		x.t.Fatalf("seed %d step %d: Settings() = %+v, want %+v", x.seed, i, x.b.Settings(), s.cur)
	}
	if s.cur.Enabled && x.rem > 0 {
		s.target = min(bigRate(s.cur.SpendingRate, x.bal, x.rem), bidder.DefaultMaxRate)
	}
	if !slices.IsSortedFunc(got, func(a, b bidder.Bid) int { return strings.Compare(a.Peer, b.Peer) }) {
		x.fail(s, "bids not sorted: %v", got)
	}
	gotBy := make(map[string]uint64)
	for _, b := range got {
		if _, dup := gotBy[b.Peer]; dup {
			x.fail(s, "two bids to %q: %v", b.Peer, got)
		}
		gotBy[b.Peer] = b.Rate
	}
	for _, id := range x.ids {
		p := x.ps[id]
		eligible := p.connected && s.cur.Enabled && x.rem > 0 && p.Speed && p.HasWanted
		want := uint64(0)
		if eligible {
			want = s.target
		}
		if rate, sentNow := gotBy[id]; sentNow {
			x.checkSent(s, p, eligible, want, rate)
		} else if p.connected {
			x.checkHeld(s, id, want)
		}
		r, ok := x.b.Last(id)
		if h, hok := x.hist[id]; ok != hok || r != h.rate {
			x.fail(s, "Last(%q) = %d, %v; model has %+v, %v", id, r, ok, h, hok)
		}
	}
}

// checkSent checks a bid of rate Update sent to p, where the model wants
// want, then records it in the model and counts what kind of bid it was.
func (x *randomRun) checkSent(s randomStep, p *randomPeer, eligible bool, want, rate uint64) {
	x.t.Helper()
	id, cur, now := p.ID, s.cur, x.now
	prev, had := x.hist[id]
	switch {
	case !p.connected:
		x.fail(s, "bid %d to disconnected %q", rate, id)
	case rate != 0 && !eligible:
		x.fail(s, "bid %d to ineligible %q", rate, id)
	case rate != 0 && rate != min(bidder.Rate(cur.SpendingRate, x.bal, x.rem), bidder.DefaultMaxRate):
		x.fail(s, "bid %d to %q, Rate gives %d", rate, id, bidder.Rate(cur.SpendingRate, x.bal, x.rem))
	case rate != want:
		x.fail(s, "bid %d to %q, want %d", rate, id, want)
	case rate == 0 && (!had || prev.rate == 0):
		x.fail(s, "0 to %q that had no standing bid (had %v, prev %d)", id, had, prev.rate)
	case had && rate == prev.rate:
		x.fail(s, "repeated bid %d to %q", rate, id)
	case had && now.Sub(prev.at) < bidder.MinInterval && rate != 0 && !s.user:
		x.fail(s, "bid %d to %q %v after the previous %d", rate, id, now.Sub(prev.at), prev.rate)
	case had && rate != 0 && prev.rate != 0 && !s.user && !moreThanTenth(prev.rate, rate):
		x.fail(s, "bid %d to %q within 10%% of the previous %d", rate, id, prev.rate)
	}
	switch {
	case !had:
		x.st.first++
		if x.forgotten[id] {
			x.st.afterForget++
		}
	case rate == 0:
		x.st.withdraw++
	default:
		x.st.rebid++
		if s.user && now.Sub(prev.at) < bidder.MinInterval {
			x.st.userFast++
		}
	}
	x.hist[id] = sentBid{rate: rate, at: now}
	delete(x.forgotten, id)
}

// checkHeld checks that, when Update sent nothing to connected peer id
// where the model wants want, a rule held the bid back, and counts which.
func (x *randomRun) checkHeld(s randomStep, id string, want uint64) {
	x.t.Helper()
	prev, had := x.hist[id]
	switch {
	case want == 0:
		if had && prev.rate != 0 {
			x.fail(s, "standing bid %d to %q not withdrawn", prev.rate, id)
		}
	case !had:
		x.fail(s, "no first bid %d to %q", want, id)
	case prev.rate == want:
	case s.user:
		x.fail(s, "settings change: bid %d to %q not sent (previous %d)", want, id, prev.rate)
	case x.now.Sub(prev.at) < bidder.MinInterval:
		x.st.heldTime++
	case prev.rate != 0 && !moreThanTenth(prev.rate, want):
		x.st.heldSmall++
	default:
		x.fail(s, "bid %d to %q not sent (previous %d, %v ago)", want, id, prev.rate, x.now.Sub(prev.at))
	}
}
