package sim

// Payment channels over long downloads: channels the provider closes at
// its close margin while the download goes on, deposits held in escrow
// without stranding a bidder, and rollover with no payment crossing a close.

import (
	"fmt"
	"testing"
)

// A download slower than a channel's lifetime: the provider closes each
// channel with its latest state when the close margin is reached, the
// requester moves to a new channel, and nothing the provider earned is lost
// to a timeout.
func TestLongDownloadOutlivesChannels(t *testing.T) {
	for _, delay := range []int{1, 5} {
		t.Run(fmt.Sprintf("delay=%d", delay), func(t *testing.T) { longDownload(t, delay) })
	}
}

func longDownload(t *testing.T, delay int) {
	sc := Scenario{
		Delay:              delay,
		Seed:               12,
		FinishPieceOnChoke: true,
		Capacity:           3 << 10, // 3 KiB/s shared by two: about 2.3 hours
		DepositPieces:      64,      // one channel would do, if it lived long enough
		Providers:          []ProviderSpec{{Name: "S1", Kind: HonestProvider, Reserve: 100_000}},
		Requesters: []RequesterSpec{
			{Name: "H1", Kind: HonestRequester, Balance: 50 * btt},
			{Name: "H2", Kind: HonestRequester, Balance: 30 * btt, SpendingRate: 600_000},
		},
	}
	s := run(t, sc, nil)
	noAnomalies(t, s)
	closings := events(s, EvChannelClosing, "S1", "")
	if len(closings) == 0 {
		t.Fatal("no channel reached its close margin during the run")
	}
	for _, e := range closings {
		t.Logf("closing: %s", e)
		if e.Amount == 0 {
			t.Errorf("closed a channel without a payment: %s", e)
		}
	}
	for _, r := range s.Requesters() {
		if r.Completed == 0 {
			t.Errorf("%s did not complete", r.Name)
		}
		if r.Spent != r.Expected || r.Balance != r.Minted-r.Spent {
			t.Errorf("%s: spent %d, expected %d, balance %d of %d", r.Name, r.Spent, r.Expected, r.Balance, r.Minted)
		}
	}
	p := findProvider(t, s, "S1")
	if p.Earned == 0 || p.Balance != p.Earned {
		t.Errorf("S1 earned %d, holds %d", p.Earned, p.Balance)
	}
	for _, ch := range s.Ledger().Channels() {
		if ch.Paid == 0 && ch.Seq == 0 {
			t.Logf("channel %s (deposit %d) timed out unused", ch.ID.String()[:8], ch.Deposit)
		}
	}
	for _, e := range events(s, EvPaymentRejected, "", "") {
		t.Logf("rejected: %s", e)
	}
}

// Opening a channel moves its deposit out of the ledger balance, but that
// money is still the requester's to spend on the torrent. Two bidders, two
// seeds with one paid slot each: X (100 BTT) outbids Y (90 BTT) and must keep
// doing so until it completes. Requesters bid on what they can spend (ledger
// balance plus the unspent deposits of usable channels), a channel takes at
// most a quarter of the balance, and a requester starts a piece from a
// charging provider only when it can pay for it (CanBuy), so with small,
// default or large deposits X never withdraws, never fails to pay and is
// never banned. (Earlier, 32-piece deposits capped only by the balance left X
// unable to pay S2 while S1's channel held its money, and S2 banned it.)
func TestEscrowDoesNotStrandBidders(t *testing.T) {
	market := func(depositPieces uint64) Scenario {
		return Scenario{
			Seed: 13, FinishPieceOnChoke: true, Capacity: 128 << 10, Slots: 1, Optimistic: -1,
			DepositPieces: depositPieces,
			Providers:     []ProviderSpec{{Name: "S1"}, {Name: "S2"}},
			Requesters: []RequesterSpec{
				{Name: "X", Kind: HonestRequester, Balance: 100 * btt},
				{Name: "Y", Kind: HonestRequester, Balance: 90 * btt},
			},
		}
	}
	for _, v := range []struct {
		name    string
		deposit uint64
	}{{"small deposits", 4}, {"default deposits", 0}, {"large deposits", 32}} {
		t.Run(v.name, func(t *testing.T) {
			s := run(t, market(v.deposit), nil)
			noAnomalies(t, s)
			x, y := findRequester(t, s, "X"), findRequester(t, s, "Y")
			if x.Completed == 0 {
				t.Errorf("X did not complete: %d of %d pieces", x.Pieces, s.Scenario().Pieces)
			}
			for _, b := range s.Bids("X") {
				if b.Rate == 0 && (x.Completed == 0 || b.Step < x.Completed) {
					t.Errorf("X withdrew its bid to %s at t=%d with %d of %d pieces: its ledger balance is %d, it spent %d of %d, the rest is in escrow",
						b.Provider, b.Step, piecesAt(s, "X", b.Step), s.Scenario().Pieces, b.Free, spentAt(s, "X", b.Step), x.Minted)
					break
				}
			}
			for _, e := range events(s, EvCannotPay, "", "X") {
				t.Errorf("X cannot pay at t=%d, having spent %d of its %d base units (the other %d are in its open channels): %s",
					e.Step, spentAt(s, "X", e.Step), x.Minted, x.Minted-spentAt(s, "X", e.Step), e.Detail)
			}
			for _, e := range events(s, EvProviderBan, "", "X") {
				t.Errorf("honest X banned by %s at t=%d", e.Provider, e.Step)
			}
			if x.PaidRoundsContested <= y.PaidRoundsContested {
				t.Errorf("X (100 BTT) won %d paid rounds while both downloaded, Y (90 BTT) %d", x.PaidRoundsContested, y.PaidRoundsContested)
			}
		})
	}
}

func piecesAt(s *Sim, requester string, step int) int {
	n := 0
	for _, e := range events(s, EvVerified, "", requester) {
		if e.Step <= step {
			n++
		}
	}
	return n
}

func spentAt(s *Sim, requester string, step int) uint64 {
	var sum uint64
	for _, e := range events(s, EvPayment, "", requester) {
		if e.Step <= step {
			sum += e.Amount
		}
	}
	return sum
}

// closeRace is a long download in small pieces with frequent payments, so a
// payment would be on its way whenever the provider closes a channel at its
// close margin, if the requester still paid on channels that near their
// deadline.
func closeRace(delay int) Scenario {
	return Scenario{
		Seed: 1, Delay: delay, FinishPieceOnChoke: true,
		Capacity: 5 << 10, Pieces: 800, PieceLen: 32 << 10, DepositPieces: 5000,
		Providers:  []ProviderSpec{{Name: "S1", Reserve: 100_000}},
		Requesters: []RequesterSpec{{Name: "H1", Kind: HonestRequester, Balance: 50 * btt}},
	}
}

// A download that outlives several channels: the requester leaves each
// channel a full ttl before its deadline, the provider closes it at its close
// margin, and no payment ever meets a closed channel. Every base unit ends up
// where it should.
func TestChannelsRollOverWithoutRejections(t *testing.T) {
	s := run(t, closeRace(4), nil)
	noAnomalies(t, s)
	checkRollover(t, s)
}

// The same with a slower link (8 s one way; an ordinary payment takes 16 s
// of the 30 s payment timeout): still no payment crosses a close, so the
// honest requester is never late.
func TestSlowLinkRolloverCostsNoStrike(t *testing.T) {
	sc := closeRace(8)
	sc.Pieces = 450
	s := run(t, sc, nil)
	noAnomalies(t, s)
	checkRollover(t, s)
	for _, e := range events(s, EvChokedLate, "", "H1") {
		t.Errorf("honest H1's payment late at t=%d", e.Step)
	}
}

func checkRollover(t *testing.T, s *Sim) {
	t.Helper()
	paid := 0
	for _, ch := range s.Ledger().Channels() {
		if ch.Paid > 0 {
			paid++
		}
	}
	if paid < 2 {
		t.Fatalf("%d channels carried payments: the download never outlived a channel, the scenario exercises nothing", paid)
	}
	for _, e := range events(s, EvPaymentRejected, "S1", "H1") {
		t.Errorf("payment rejected: %s", e)
	}
	r, p := findRequester(t, s, "H1"), findProvider(t, s, "S1")
	if r.Completed == 0 || r.Spent != r.Expected || r.Spent != p.Earned || p.Balance != p.Earned || r.Balance != r.Minted-r.Spent {
		t.Errorf("completed@%d spent %d expected %d earned %d; balances %d and %d of %d", r.Completed, r.Spent, r.Expected, p.Earned, p.Balance, r.Balance, r.Minted)
	}
	t.Logf("%d channels carried payments", paid)
}
