package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
)

const btt = speed.BaseUnitsPerBTT

// swarm is the mixed scenario most tests run: two honest Speed seeds (one
// with a reserve price), a bad-data Speed seed and a legacy seed; four honest
// Speed leechers with different budgets and spending rates, two non-payers
// and two legacy leechers.
func swarm(seed uint64) Scenario {
	return Scenario{
		Seed:               seed,
		FinishPieceOnChoke: true,
		Capacity:           128 << 10,
		Providers: []ProviderSpec{
			{Name: "S1", Kind: HonestProvider},
			{Name: "S2", Kind: HonestProvider, Reserve: 200_000},
			{Name: "BAD", Kind: BadDataProvider},
			{Name: "LEG", Kind: LegacySeed},
		},
		Requesters: []RequesterSpec{
			{Name: "H1", Kind: HonestRequester, Balance: 20 * btt},
			{Name: "H2", Kind: HonestRequester, Balance: 60 * btt, SpendingRate: 500_000},
			{Name: "H3", Kind: HonestRequester, Balance: 120 * btt},
			{Name: "H4", Kind: HonestRequester, Balance: 400 * btt, SpendingRate: 750_000},
			{Name: "N1", Kind: NonPayer, Balance: 1 * btt, FixedBid: 100 * btt},
			{Name: "N2", Kind: NonPayer, Balance: 0, FixedBid: 50 * btt},
			{Name: "L1", Kind: LegacyRequester},
			{Name: "L2", Kind: LegacyRequester},
		},
	}
}

// auction is a contested market: one honest seed with two regular slots and
// one optimistic slot, and six honest bidders whose bids differ by about 2x
// each.
func auction(seed uint64) Scenario {
	sc := Scenario{
		Seed:               seed,
		FinishPieceOnChoke: true,
		Slots:              2,
		Optimistic:         1,
		Providers:          []ProviderSpec{{Name: "S1", Kind: HonestProvider}},
	}
	for i := range 6 {
		sc.Requesters = append(sc.Requesters, RequesterSpec{
			Name: fmt.Sprintf("B%d", i+1), Kind: HonestRequester, Balance: uint64(10<<i) * btt,
		})
	}
	return sc
}

// run runs sc to the end, calling check after every step, then finishes it
// and logs a summary.
func run(t *testing.T, sc Scenario, check func(*Sim) error) *Sim {
	t.Helper()
	s, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	err = s.Run(func(s *Sim) error {
		if err := s.Bank().Check(context.Background()); err != nil {
			return err
		}
		if check != nil {
			return check(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := s.StepCount()
	if err := s.Finish(); err != nil {
		t.Errorf("Finish: %v", err)
	}
	if err := s.Reconcile(); err != nil {
		t.Errorf("the ledger disagrees with the simulation:\n%v", err)
	}
	logSummary(t, s, steps, time.Since(begin))
	return s
}

func logSummary(t *testing.T, s *Sim, steps int, took time.Duration) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%d steps (%s simulated) in %s; %d events\n", steps, time.Duration(steps)*time.Second, took.Round(time.Millisecond), len(s.Events()))
	for _, r := range s.Requesters() {
		fmt.Fprintf(&b, "  %-3s %-9s pieces=%2d done@%-5d recv=%8d spent=%10d bal=%10d rounds paid/free/opt=%d/%d/%d (contested paid %d) bid mean/max=%d/%d from=%v\n",
			r.Name, r.Kind, r.Pieces, r.Completed, r.Received, r.Spent, r.Balance, r.PaidRounds, r.FreeRounds, r.OptRounds,
			r.PaidRoundsContested, r.MeanBid, r.MaxBid, r.From)
	}
	for _, p := range s.Providers() {
		fmt.Fprintf(&b, "  %-3s %-8s earned=%10d bal=%10d sent=%9d rounds=%d maxExposure=%d unpaid=%v\n",
			p.Name, p.Kind, p.Earned, p.Balance, p.Sent, p.Rounds, p.MaxExposure, p.Unpaid)
	}
	for _, k := range []EventKind{EvPayment, EvPaymentOK, EvPaymentRejected, EvChannelClosing, EvChokedLate, EvProviderBan, EvRequesterBan, EvFailed, EvCannotPay, EvRefused, EvAnomaly} {
		fmt.Fprintf(&b, "  %s=%d", k, s.Count(k))
	}
	t.Log(b.String())
}

// noAnomalies fails the test on anything no run should see (codec errors,
// mispriced pieces, unexpected session errors).
func noAnomalies(t *testing.T, s *Sim) {
	t.Helper()
	n := 0
	for _, e := range s.Events() {
		if e.Kind == EvAnomaly {
			if n < 10 {
				t.Errorf("anomaly: %s", e)
			}
			n++
		}
	}
	if n > 10 {
		t.Errorf("... %d anomalies in all", n)
	}
}

func events(s *Sim, kind EventKind, provider, requester string) []Event {
	var out []Event
	for _, e := range s.Events() {
		if e.Kind == kind && (provider == "" || e.Provider == provider) && (requester == "" || e.Requester == requester) {
			out = append(out, e)
		}
	}
	return out
}

func findRequester(t *testing.T, s *Sim, name string) RequesterResult {
	t.Helper()
	for _, r := range s.Requesters() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no requester %q", name)
	return RequesterResult{}
}

func findProvider(t *testing.T, s *Sim, name string) ProviderResult {
	t.Helper()
	for _, p := range s.Providers() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no provider %q", name)
	return ProviderResult{}
}

// exposureBound is the most paid bandwidth a provider leaves unpaid with a
// requester (M22): UnpaidPieces pieces at the default exposure, one piece
// when pieces are that large.
func exposureBound(pieceLen uint64) uint64 {
	return uint64(speed.UnpaidPieces(speed.DefaultExposure, pieceLen)) * pieceLen
}

// Assertion 1: a provider never has more than its exposure (one piece, or
// 1 MiB of pieces when they are smaller) of paid bandwidth unpaid with any
// requester, at any step; non-payers cost each provider at most that.
func TestExposureBounded(t *testing.T) {
	sc := swarm(1)
	pieceLen := sc.withDefaults().PieceLen
	bound := exposureBound(pieceLen)
	worst := uint64(0)
	s := run(t, sc, func(s *Sim) error {
		for pair, e := range s.Exposure() {
			if e > bound {
				return fmt.Errorf("%s: %d bytes sent at a nonzero rate and unpaid, more than the exposure (%d)", pair, e, bound)
			}
			worst = max(worst, e)
		}
		return nil
	})
	noAnomalies(t, s)
	if worst == 0 {
		t.Fatal("no paid bytes were ever outstanding: the scenario exercises nothing")
	}
	for _, p := range s.Providers() {
		for r, b := range p.Unpaid {
			if b > bound {
				t.Errorf("%s lost %d bytes to %s, more than the exposure (%d)", p.Name, b, r, bound)
			}
		}
		if p.Kind == HonestProvider && p.Unpaid["N1"] == 0 && p.Unpaid["N2"] == 0 {
			t.Errorf("%s sold the non-payers nothing: the scenario exercises nothing", p.Name)
		}
	}
	t.Logf("largest unpaid exposure seen: %d bytes (piece %d)", worst, pieceLen)
}

// Assertion 2: requesters pay only for pieces they verified from that
// provider, and exactly what those pieces cost.
func TestPaymentsOnlyForVerifiedPieces(t *testing.T) {
	s := run(t, swarm(2), nil)
	noAnomalies(t, s)
	pays := events(s, EvPayment, "", "")
	if len(pays) == 0 {
		t.Fatal("nobody paid")
	}
	for _, e := range pays {
		if !s.VerifiedFrom(e.Requester, e.Provider, uint32(e.Piece)) {
			t.Errorf("%s paid %s for piece %d it did not verify from it", e.Requester, e.Provider, e.Piece)
		}
	}
	var spent, earned uint64
	for _, r := range s.Requesters() {
		spent += r.Spent
		switch r.Kind {
		case HonestRequester:
			if r.Spent != r.Expected {
				t.Errorf("%s spent %d; the pieces it verified and paid for cost %d", r.Name, r.Spent, r.Expected)
			}
			if r.Spent == 0 {
				t.Errorf("honest %s bought nothing", r.Name)
			}
		default:
			if r.Spent != 0 {
				t.Errorf("%s %s spent %d", r.Kind, r.Name, r.Spent)
			}
		}
	}
	for _, p := range s.Providers() {
		earned += p.Earned
	}
	if spent != earned {
		t.Errorf("requesters spent %d, providers earned %d", spent, earned)
	}
	for _, e := range events(s, EvPaymentRejected, "", "") {
		if strings.HasPrefix(e.Requester, "H") {
			t.Errorf("an honest payment was rejected: %s", e)
		}
	}
	// Both ends priced every piece alike (run records an anomaly
	// otherwise), including pieces whose blocks straddled a rate change.
	mixed := 0
	for _, e := range events(s, EvVerified, "", "") {
		if e.Detail == "mixed rates" {
			mixed++
		}
	}
	if mixed == 0 {
		t.Error("no piece was delivered across a rate change: the scenario does not exercise stream-ordered pricing")
	}
	t.Logf("%d payments, %d pieces priced at two rates", len(pays), mixed)
}

// Assertion 3: a non-payer is choked once its payment is PaymentTimeout
// late, and banned after MaxStrikes timeouts, by every Speed provider that
// sold it a piece (the bad-data provider excepted: the non-payer banned it
// first).
func TestNonPayersChokedThenBanned(t *testing.T) {
	s := run(t, swarm(3), nil)
	noAnomalies(t, s)
	timeout := int(speed.DefaultPaymentTimeout / time.Second)
	for _, n := range []string{"N1", "N2"} {
		served := 0
		for _, p := range s.Providers() {
			if p.Kind != HonestProvider {
				continue
			}
			var lastPaidBlock bool
			for _, e := range events(s, EvVerified, p.Name, n) {
				lastPaidBlock = lastPaidBlock || e.Amount > 0
			}
			if p.Unpaid[n] == 0 && !lastPaidBlock {
				continue // it never sold n anything
			}
			served++
			chokes := events(s, EvChokedLate, p.Name, n)
			bans := events(s, EvProviderBan, p.Name, n)
			if len(chokes) == 0 {
				t.Errorf("%s sold %s a piece and never choked it for not paying", p.Name, n)
				continue
			}
			if len(bans) == 0 {
				t.Errorf("%s never banned non-payer %s (choked at t=%d)", p.Name, n, chokes[0].Step)
				continue
			}
			c, b := chokes[0].Step, bans[0].Step
			t.Logf("%s: %s choked at t=%d, banned at t=%d", p.Name, n, c, b)
			if want := c + (speed.DefaultMaxStrikes-1)*timeout; b < want || b > want+2 {
				t.Errorf("%s banned %s at t=%d, want about t=%d (%d strikes, %d s apart)", p.Name, n, b, want, speed.DefaultMaxStrikes, timeout)
			}
			if p.Unpaid[n] > exposureBound(s.Scenario().PieceLen) {
				t.Errorf("%s lost %d bytes to %s", p.Name, p.Unpaid[n], n)
			}
		}
		if served == 0 {
			t.Errorf("no honest provider sold %s anything: the scenario exercises nothing", n)
		}
		if r := findRequester(t, s, n); r.Spent != 0 {
			t.Errorf("%s spent %d", n, r.Spent)
		}
	}
	// Honest requesters are never choked for lateness nor banned.
	for _, kind := range []EventKind{EvChokedLate, EvProviderBan} {
		for _, e := range events(s, kind, "", "") {
			if strings.HasPrefix(e.Requester, "H") {
				t.Errorf("honest requester: %s", e)
			}
		}
	}
}

// Assertion 4: every requester that got a piece from the bad-data provider
// bans it, and nobody ever pays it.
func TestBadDataProviderBanned(t *testing.T) {
	s := run(t, swarm(4), nil)
	noAnomalies(t, s)
	failed := events(s, EvFailed, "BAD", "")
	if len(failed) == 0 {
		t.Fatal("nobody got a piece from BAD: the scenario exercises nothing")
	}
	victims := map[string]int{}
	for _, e := range failed {
		victims[e.Requester]++
	}
	for r, n := range victims {
		if n != 1 {
			t.Errorf("%s got %d bad pieces from BAD; it should have banned it after the first", r, n)
		}
		if len(events(s, EvRequesterBan, "BAD", r)) == 0 {
			t.Errorf("%s got a bad piece from BAD and did not ban it", r)
		}
	}
	if pays := events(s, EvPayment, "BAD", ""); len(pays) != 0 {
		t.Errorf("BAD was paid: %v", pays)
	}
	bad := findProvider(t, s, "BAD")
	if bad.Earned != 0 || bad.Balance != 0 {
		t.Errorf("BAD earned %d, ledger balance %d", bad.Earned, bad.Balance)
	}
	t.Logf("banned BAD: %v", victims)
}

// Assertion 5: the ledger conserves money at every step (run checks it) and
// at the end: nothing is left in escrow, everything minted is in balances,
// each honest provider holds exactly what its sessions earned, and each
// requester exactly its mint minus its spending.
func TestMoneyConserved(t *testing.T) {
	s := run(t, swarm(5), nil)
	noAnomalies(t, s)
	if err := s.Ledger().Check(); err != nil {
		t.Fatal(err)
	}
	if e := s.Ledger().Escrow(); e != 0 {
		t.Errorf("escrow %d after every deadline", e)
	}
	var sum uint64
	for _, p := range s.Providers() {
		sum += p.Balance
		if p.Balance != p.Earned {
			t.Errorf("%s: ledger balance %d, sessions earned %d", p.Name, p.Balance, p.Earned)
		}
	}
	for _, r := range s.Requesters() {
		sum += r.Balance
		if r.Balance != r.Minted-r.Spent {
			t.Errorf("%s: balance %d, minted %d spent %d", r.Name, r.Balance, r.Minted, r.Spent)
		}
	}
	if sum != s.Minted() {
		t.Errorf("balances sum to %d, minted %d", sum, s.Minted())
	}
	for _, ch := range s.Ledger().Channels() {
		if !ch.Closed {
			t.Errorf("channel %s still open", ch.ID)
		}
	}
	t.Logf("minted %d, %d channels", s.Minted(), len(s.Ledger().Channels()))
}

// Assertion 6: in a contested auction, higher bidders get more paid unchoke
// rounds while everyone competes, and finish first.
func TestBiddersWhoPayMoreGetMore(t *testing.T) {
	s := run(t, auction(6), nil)
	noAnomalies(t, s)
	rs := s.Requesters()
	sort.Slice(rs, func(i, j int) bool { return rs[i].MeanBid > rs[j].MeanBid })
	var order []string
	for _, r := range rs {
		order = append(order, fmt.Sprintf("%s(bid %d, paid rounds %d, done@%d)", r.Name, r.MeanBid, r.PaidRoundsContested, r.Completed))
		if r.Completed == 0 {
			t.Errorf("%s did not complete", r.Name)
		}
	}
	t.Logf("by mean bid: %s", strings.Join(order, ", "))
	hi, lo := rs[0], rs[len(rs)-1]
	if hi.Name != "B6" || lo.Name != "B1" {
		t.Errorf("highest bidder %s, lowest %s; want B6 and B1 (bids follow balances)", hi.Name, lo.Name)
	}
	if hi.PaidRoundsContested <= lo.PaidRoundsContested {
		t.Errorf("highest bidder %s won %d paid rounds, lowest %s %d", hi.Name, hi.PaidRoundsContested, lo.Name, lo.PaidRoundsContested)
	}
	if hi.Completed >= lo.Completed {
		t.Errorf("highest bidder %s completed at t=%d, lowest %s at t=%d", hi.Name, hi.Completed, lo.Name, lo.Completed)
	}
	half := len(rs) / 2
	var top, bottom, topDone, bottomDone int
	for i, r := range rs {
		if i < half {
			top += r.PaidRoundsContested
			topDone += r.Completed
		} else {
			bottom += r.PaidRoundsContested
			bottomDone += r.Completed
		}
	}
	if top <= bottom {
		t.Errorf("top half by bid won %d paid rounds, bottom half %d", top, bottom)
	}
	if topDone >= bottomDone {
		t.Errorf("top half by bid completed at t=%d in sum, bottom half at %d", topDone, bottomDone)
	}
	// Run records an anomaly if a paid slot's rate was above the winner's
	// bid or below the reserve (noAnomalies above).
	if rs[0].Spent == 0 {
		t.Error("the top bidder paid nothing")
	}
}

// Assertion 7: legacy requesters are served free, by the legacy seed and by
// Speed providers' free slots, and never see a Speed message.
func TestLegacyPeersServedFree(t *testing.T) {
	s := run(t, swarm(7), nil)
	noAnomalies(t, s)
	if n := s.SpeedMessagesToLegacy(); n != 0 {
		t.Errorf("%d Speed messages sent to legacy peers", n)
	}
	fromSpeed := false
	for _, n := range []string{"L1", "L2"} {
		r := findRequester(t, s, n)
		if r.Pieces == 0 {
			t.Errorf("%s got nothing", n)
		}
		if r.Completed == 0 {
			t.Errorf("%s did not complete (%d pieces)", n, r.Pieces)
		}
		if r.Spent != 0 || r.Balance != 0 || r.SpeedMsgs != 0 {
			t.Errorf("%s: spent %d, balance %d, %d Speed messages", n, r.Spent, r.Balance, r.SpeedMsgs)
		}
		if r.From["LEG"] == 0 {
			t.Errorf("%s got nothing from the legacy seed", n)
		}
		if r.From["S1"]+r.From["S2"] > 0 {
			fromSpeed = true
		}
		if r.PaidRounds != 0 {
			t.Errorf("%s won %d paid rounds", n, r.PaidRounds)
		}
	}
	if !fromSpeed {
		t.Error("no legacy requester got anything from a Speed provider's free slots")
	}
	if pays := events(s, EvPayment, "LEG", ""); len(pays) != 0 {
		t.Errorf("the legacy seed was paid: %v", pays)
	}
	if leg := findProvider(t, s, "LEG"); leg.Earned != 0 || leg.Balance != 0 {
		t.Errorf("legacy seed earned %d, balance %d", leg.Earned, leg.Balance)
	}
}

// Assertion 8: the same scenario and seed give the same run.
func TestDeterministic(t *testing.T) {
	fp := func(seed uint64) string {
		s := run(t, swarm(seed), nil)
		return s.Fingerprint()
	}
	a, b := fp(8), fp(8)
	if a != b {
		t.Fatalf("two runs with seed 8 differ:\n%s\n---\n%s", a, b)
	}
	if c := fp(9); c == a {
		t.Error("seeds 8 and 9 gave identical runs: the seed is not used")
	}
	t.Logf("fingerprint:\n%s", a)
}

// A provider that chokes a requester in the middle of a paid piece (plain
// BitTorrent choking: the pending requests are dropped) must not strike the
// requester for the unfinished piece: it cannot pay for a piece it cannot
// verify. Here two bidders hold the two paid slots of a slow seed when a
// richer bidder joins and outbids one of them, which is choked mid-piece.
func TestChokeMidPieceDoesNotStrikeHonestRequesters(t *testing.T) {
	sc := Scenario{
		Seed:     10,
		Capacity: 48 << 10, // 3 blocks a second: a piece takes a while
		Slots:    2,
		// No optimistic slot, and FinishPieceOnChoke off: plain choking.
		Optimistic: -1,
		Providers:  []ProviderSpec{{Name: "S1", Kind: HonestProvider}},
		Requesters: []RequesterSpec{
			{Name: "A", Kind: HonestRequester, Balance: 40 * btt},
			{Name: "B", Kind: HonestRequester, Balance: 20 * btt},
			{Name: "C", Kind: HonestRequester, Balance: 10 * btt},
			{Name: "RICH", Kind: HonestRequester, Balance: 400 * btt, JoinAt: 45},
		},
	}
	s := run(t, sc, nil)
	noAnomalies(t, s)
	for _, kind := range []EventKind{EvChokedLate, EvProviderBan} {
		for _, e := range events(s, kind, "", "") {
			t.Errorf("honest requester %s %s by %s at t=%d", e.Requester, kind, e.Provider, e.Step)
		}
	}
	for _, r := range s.Requesters() {
		if r.Completed == 0 {
			t.Errorf("honest requester %s did not complete: %d of %d pieces", r.Name, r.Pieces, s.Scenario().Pieces)
		}
	}
	// With FinishPieceOnChoke the same market is fine (the control).
	sc.FinishPieceOnChoke = true
	s = run(t, sc, nil)
	noAnomalies(t, s)
	if n := s.Count(EvChokedLate) + s.Count(EvProviderBan); n != 0 {
		t.Errorf("control run: %d late chokes and bans", n)
	}
}

// The auto-bidder's bid must always be sendable: a requester with a large
// balance bids, near the end of its download, more than speed.MaxRate.
func TestRichRequesterCanAlwaysBid(t *testing.T) {
	sc := auction(11)
	sc.Requesters = sc.Requesters[:3]
	sc.Requesters[2].Balance = 10_000_000 * btt // 10M BTT: some ten dollars
	s := run(t, sc, nil)
	noAnomalies(t, s)
}
