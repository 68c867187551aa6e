package sim

// The simulation on a Bank other than its default in-memory ledger: the
// TwoPeers scenario cmd/ledger re-runs against a real ledger process.

import (
	"context"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
)

// TwoPeers is the scenario cmd/ledger re-runs against a real ledger process.
// Here it runs on a Bank other than the default (a memledger under another
// id, the clock starting at the real time), which is how a real ledger is
// plugged in: the honest requester pays for every piece on channels the
// provider closes with exactly the states it accepted; the non-payer costs
// the provider one piece and moves no money.
func TestTwoPeers(t *testing.T) {
	for _, kind := range []RequesterKind{HonestRequester, NonPayer} {
		t.Run(kind.String(), func(t *testing.T) {
			const id = "other-ledger"
			sc := TwoPeers(21, kind)
			sc.Start = time.Now().Truncate(time.Second)
			sc.Bank = func(now func() time.Time) (Bank, error) {
				return memBank{id: id, l: memledger.New(id, now)}, nil
			}
			sc.MaxSteps = 600
			s, err := New(sc)
			if err != nil {
				t.Fatal(err)
			}
			if s.Ledger() != nil || s.Bank().ID() != id {
				t.Fatalf("Ledger() %v, bank id %q: the scenario's bank is not used", s.Ledger(), s.Bank().ID())
			}
			begin := time.Now()
			for !s.Done() || (kind == NonPayer && s.Count(EvProviderBan) == 0 && s.StepCount() < sc.MaxSteps) {
				s.Step()
				if err := s.Bank().Check(context.Background()); err != nil {
					t.Fatalf("step %d: %v", s.StepCount(), err)
				}
			}
			steps := s.StepCount()
			if err := s.Finish(); err != nil {
				t.Errorf("Finish: %v", err)
			}
			logSummary(t, s, steps, time.Since(begin))
			noAnomalies(t, s)
			if err := s.Reconcile(); err != nil {
				t.Errorf("the ledger disagrees with the simulation:\n%v", err)
			}
			checkTwoPeers(t, s, kind)
		})
	}
}

// checkTwoPeers checks a finished TwoPeers run on the simulator's side.
func checkTwoPeers(t *testing.T, s *Sim, kind RequesterKind) {
	t.Helper()
	r, p := findRequester(t, s, "R"), findProvider(t, s, "S")
	pieceLen := s.Scenario().PieceLen
	switch kind {
	case HonestRequester:
		if r.Completed == 0 || r.Spent == 0 || r.Spent != r.Expected || r.Spent != p.Earned {
			t.Errorf("completed@%d spent %d expected %d earned %d", r.Completed, r.Spent, r.Expected, p.Earned)
		}
		if want := uint64(s.Scenario().Pieces) * speed.Price(200_000, pieceLen); r.Spent != want {
			t.Errorf("spent %d; every piece at the reserve price costs %d", r.Spent, want)
		}
		chs := s.Channels()
		if len(chs) == 0 {
			t.Fatal("no channel opened")
		}
		for _, ch := range chs {
			if ch.Signed != ch.Accepted || ch.Accepted.Seq == 0 {
				t.Errorf("channel %s: signed %+v, accepted %+v", ch.ID, ch.Signed, ch.Accepted)
			}
		}
		if n := s.Count(EvPaymentRejected) + s.Count(EvChokedLate) + s.Count(EvProviderBan); n != 0 {
			t.Errorf("%d rejections, late payments or bans of an honest requester", n)
		}
	case NonPayer:
		if s.Count(EvProviderBan) != 1 || r.Spent != 0 || p.Earned != 0 || len(s.Channels()) != 0 {
			t.Errorf("bans %d, spent %d, earned %d, %d channels", s.Count(EvProviderBan), r.Spent, p.Earned, len(s.Channels()))
		}
		if bound := exposureBound(pieceLen); uint64(r.Pieces)*pieceLen != bound || p.Unpaid["R"] != bound {
			t.Errorf("the non-payer got %d pieces, %d bytes unpaid; want the exposure (%d bytes)", r.Pieces, p.Unpaid["R"], bound)
		}
		if r.Balance != r.Minted || p.Balance != 0 {
			t.Errorf("balances: R %d of %d, S %d", r.Balance, r.Minted, p.Balance)
		}
	}
}
