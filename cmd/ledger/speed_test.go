//go:build !js

package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/sim"
	"github.com/btspeed/btspeed/shared/wallet"
)

// realBank is sim.Bank over a real ledger process: the Speed sessions talk
// to it through the HTTP client, Fund is a signed transfer from a funded
// genesis account, Check is the ledger's own supply invariant and Channels
// lists every account's channels. The simulator is single-threaded, so the
// transfer nonce needs no lock.
type realBank struct {
	*client.Client
	id       string
	treasury *wallet.PrivateKey
	nonce    uint64
	funded   uint64
}

var _ sim.Bank = (*realBank)(nil)

func (b *realBank) ID() string { return b.id }

func (b *realBank) Fund(ctx context.Context, a wallet.Address, amount uint64) error {
	b.nonce++
	req, err := api.Transfer{Ledger: b.id, From: b.treasury.Address(), To: a, Amount: amount, Nonce: b.nonce}.Sign(b.treasury)
	if err != nil {
		return err
	}
	if _, err := b.Transfer(ctx, req); err != nil {
		return err
	}
	b.funded += amount
	return nil
}

func (b *realBank) Check(ctx context.Context) error {
	inv, err := b.Invariant(ctx)
	if err != nil {
		return err
	}
	if !inv.OK {
		return fmt.Errorf("ledger invariant: balances %d + escrow %d != supply %d", inv.Balances, inv.Escrow, inv.Supply)
	}
	return nil
}

func (b *realBank) Channels(ctx context.Context, accounts []wallet.Address) ([]speed.Channel, error) {
	seen := map[speed.ChannelID]bool{}
	var out []speed.Channel
	for _, a := range accounts {
		chs, err := b.ChannelsOf(ctx, a, 500)
		if err != nil {
			return nil, err
		}
		if len(chs) == 500 {
			return nil, fmt.Errorf("%s has 500 channels or more: the listing may be cut", a)
		}
		for _, ch := range chs {
			if !seen[ch.ID] {
				seen[ch.ID] = true
				out = append(out, ch.Speed())
			}
		}
	}
	return out, nil
}

// The two-peer scenario of shared/speed/sim (sim.TwoPeers) re-run against a
// real ledger process: money moves exactly as the channel states say. The
// requester's sessions open channels on the ledger, the provider's sessions
// look them up and close them with the payer's latest state countersigned.
// Afterwards the ledger must hold, for every channel the requester opened,
// exactly the state the provider last accepted; the provider exactly what
// its sessions earned (= what the requester's sessions spent); the
// requester what it was funded minus that, every deposit back. The
// simulated clock starts at the real time and the run lasts under two
// simulated minutes, so channel deadlines (now + 2 h) are valid on the
// ledger's clock and nothing depends on its expiry.
func TestSpeedTwoPeersOnRealLedger(t *testing.T) {
	for _, kind := range []sim.RequesterKind{sim.HonestRequester, sim.NonPayer} {
		t.Run(kind.String(), func(t *testing.T) {
			runTwoPeers(t, kind)
		})
	}
}

func runTwoPeers(t *testing.T, kind sim.RequesterKind) {
	p := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := client.New(p.URL, nil)
	bank, treasuryBefore := newRealBank(t, ctx, c)
	s := simulateTwoPeers(t, ctx, bank, kind)

	rs, ps := s.Requesters(), s.Providers()
	if len(rs) != 1 || len(ps) != 1 {
		t.Fatalf("%d requesters, %d providers", len(rs), len(ps))
	}
	r, pr := rs[0], ps[0]
	recs := s.Channels()

	// The simulator's audit, through the Bank: every channel on the ledger
	// is one the requester opened, closed with the accepted state, and the
	// balances follow.
	if err := s.Reconcile(); err != nil {
		t.Errorf("the real ledger disagrees with the simulation:\n%v", err)
	}

	// The same, asked of the ledger directly.
	reqAcct, err := wallet.ParseAddress(r.Account)
	if err != nil {
		t.Fatal(err)
	}
	provAcct, err := wallet.ParseAddress(pr.Account)
	if err != nil {
		t.Fatal(err)
	}
	onLedger, closedPaid := channelsClosedAsAccepted(t, ctx, c, reqAcct, provAcct, recs)
	balancesFollowTheChannels(t, ctx, bank, treasuryBefore, reqAcct, provAcct, closedPaid, r, pr)
	checkHistory(ctx, t, c, reqAcct, provAcct, onLedger, bank.funded)

	switch kind {
	case sim.HonestRequester:
		if r.Completed == 0 || r.Spent == 0 || len(recs) == 0 {
			t.Errorf("the honest requester completed@%d, spent %d on %d channels: the test moves no money", r.Completed, r.Spent, len(recs))
		}
		refunded := false
		for _, ch := range onLedger {
			refunded = refunded || ch.Paid < ch.Deposit
		}
		if !refunded {
			t.Error("every channel paid out its whole deposit: no refund was exercised")
		}
	case sim.NonPayer:
		// The provider loses its exposure (M22, docs/speed-protocol.md
		// section 8.3): one piece, or as many as fit in its 2 MiB.
		pl := s.Scenario().PieceLen
		k := speed.UnpaidPieces(speed.DefaultExposure, pl)
		if s.Count(sim.EvProviderBan) != 1 || r.Spent != 0 || len(recs) != 0 || r.Pieces != k || pr.Unpaid[r.Name] != uint64(k)*pl {
			t.Errorf("non-payer: %d bans, spent %d, %d channels, %d pieces, unpaid %v; want %d pieces of %d bytes lost", s.Count(sim.EvProviderBan), r.Spent, len(recs), r.Pieces, pr.Unpaid, k, pl)
		}
	}
}

// newRealBank is a realBank over the ledger behind c, funding from the
// first development genesis key; it also returns that key's balance now.
func newRealBank(t *testing.T, ctx context.Context, c *client.Client) (*realBank, uint64) {
	t.Helper()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := genesis.DevKeys()
	if err != nil {
		t.Fatal(err)
	}
	bank := &realBank{Client: c, id: info.Ledger, treasury: keys[0]}
	treasuryBefore, err := c.Balance(ctx, bank.treasury.Address())
	if err != nil {
		t.Fatal(err)
	}
	return bank, treasuryBefore
}

// simulateTwoPeers runs sim.TwoPeers with a requester of this kind against
// bank, checking the ledger's invariant after every step, until done (a
// non-payer also until it is banned, within 10 simulated minutes); no
// anomaly may be reported. It logs what happened.
func simulateTwoPeers(t *testing.T, ctx context.Context, bank *realBank, kind sim.RequesterKind) *sim.Sim {
	t.Helper()
	sc := sim.TwoPeers(1, kind)
	sc.Start = time.Now()
	sc.MaxSteps = 600 // 10 simulated minutes at most
	sc.Bank = func(func() time.Time) (sim.Bank, error) { return bank, nil }
	begin := time.Now()
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	for !s.Done() || (kind == sim.NonPayer && s.Count(sim.EvProviderBan) == 0 && s.StepCount() < sc.MaxSteps) {
		s.Step()
		if err := bank.Check(ctx); err != nil {
			t.Fatalf("step %d: %v", s.StepCount(), err)
		}
	}
	steps := s.StepCount()
	if err := s.Finish(); err != nil {
		t.Errorf("Finish: %v", err)
	}
	took := time.Since(begin)
	for _, e := range s.Events() {
		if e.Kind == sim.EvAnomaly {
			t.Errorf("anomaly: %s", e)
		}
	}
	if rs, ps := s.Requesters(), s.Providers(); len(rs) == 1 && len(ps) == 1 {
		r, pr := rs[0], ps[0]
		var paidSum uint64
		for _, ch := range s.Channels() {
			paidSum += ch.Accepted.Paid
		}
		t.Logf("%s requester: %d steps (%s simulated) in %s; pieces %d/%d, spent %d, earned %d, %d channels paying %d; unpaid %v",
			kind, steps, time.Duration(steps)*time.Second, took.Round(time.Millisecond), r.Pieces, s.Scenario().Pieces, r.Spent, pr.Earned, len(s.Channels()), paidSum, pr.Unpaid)
	}
	return s
}

// channelsClosedAsAccepted checks the requester's channels on the ledger
// behind c against recs, what its sessions signed and the provider's
// accepted: the same channels, from req to prov, each closed by the state
// the provider last accepted. It returns the channels on the ledger and
// what they paid in all.
func channelsClosedAsAccepted(t *testing.T, ctx context.Context, c *client.Client, req, prov wallet.Address, recs []sim.ChannelRecord) ([]api.Channel, uint64) {
	t.Helper()
	onLedger, err := c.ChannelsOf(ctx, req, 500)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[speed.ChannelID]sim.ChannelRecord{}
	for _, rec := range recs {
		byID[rec.ID] = rec
		if rec.Signed != rec.Accepted {
			t.Errorf("channel %s: the requester signed seq %d paid %d, the provider accepted seq %d paid %d",
				rec.ID, rec.Signed.Seq, rec.Signed.Paid, rec.Accepted.Seq, rec.Accepted.Paid)
		}
	}
	if len(onLedger) != len(recs) {
		t.Errorf("the ledger lists %d channels of the requester, it opened %d", len(onLedger), len(recs))
	}
	var closedPaid uint64
	for _, ch := range onLedger {
		t.Logf("channel %s: deposit %d, closed %v (%s) seq %d paid %d", ch.ID.String()[:12], ch.Deposit, ch.Closed, ch.CloseKind, ch.Seq, ch.Paid)
		rec, ok := byID[ch.ID]
		switch {
		case !ok:
			t.Errorf("channel %s on the ledger was not opened by the requester's sessions", ch.ID)
			continue
		case ch.Payer != req || ch.Payee != prov:
			t.Errorf("channel %s pays %s from %s", ch.ID, ch.Payee, ch.Payer)
		case !ch.Closed || ch.CloseKind != "state":
			t.Errorf("channel %s: closed %v (%q); want closed by its state", ch.ID, ch.Closed, ch.CloseKind)
		case uint64(ch.Seq) != rec.Accepted.Seq || uint64(ch.Paid) != rec.Accepted.Paid:
			t.Errorf("channel %s closed with seq %d paid %d; the provider last accepted seq %d paid %d",
				ch.ID, ch.Seq, ch.Paid, rec.Accepted.Seq, rec.Accepted.Paid)
		}
		closedPaid += uint64(ch.Paid)
	}
	return onLedger, closedPaid
}

// balancesFollowTheChannels checks the balances on bank's ledger: the
// provider (prov) holds what the closed channels paid, which its sessions
// earned and the requester's spent; the requester (req) what it was funded
// minus that; the treasury what it had minus the funding; nothing stays in
// escrow.
func balancesFollowTheChannels(t *testing.T, ctx context.Context, bank *realBank, treasuryBefore uint64, req, prov wallet.Address, closedPaid uint64, r sim.RequesterResult, pr sim.ProviderResult) {
	t.Helper()
	c := bank.Client
	provBal, err := c.Balance(ctx, prov)
	if err != nil {
		t.Fatal(err)
	}
	reqBal, err := c.Balance(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if provBal != closedPaid || closedPaid != pr.Earned || pr.Earned != r.Spent {
		t.Errorf("provider balance %d, paid over closed channels %d, provider sessions earned %d, requester sessions spent %d",
			provBal, closedPaid, pr.Earned, r.Spent)
	}
	if reqBal != bank.funded-r.Spent {
		t.Errorf("requester balance %d; funded %d, spent %d: %d should be back", reqBal, bank.funded, r.Spent, bank.funded-r.Spent)
	}
	if tb, err := c.Balance(ctx, bank.treasury.Address()); err != nil || tb != treasuryBefore-bank.funded {
		t.Errorf("treasury balance %d (%v), was %d, funded %d", tb, err, treasuryBefore, bank.funded)
	}
	inv, err := c.Invariant(ctx)
	if err != nil || !inv.OK || inv.Escrow != 0 {
		t.Errorf("invariant %+v (%v); want ok and nothing in escrow", inv, err)
	}
}

// checkHistory checks the accounts' ledger histories line by line: the
// requester was funded once, put each channel's deposit in and got deposit
// minus paid back; the provider was credited each channel's paid, and
// nothing else moved.
func checkHistory(ctx context.Context, t *testing.T, c *client.Client, req, prov wallet.Address, chs []api.Channel, funded uint64) {
	t.Helper()
	byID := map[string]api.Channel{}
	for _, ch := range chs {
		byID[ch.ID.String()] = ch
	}
	hist := func(a wallet.Address) []api.Entry {
		es, err := c.History(ctx, a, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 500 {
			t.Fatalf("%s: history of 500 entries or more", a)
		}
		return es
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var in, out uint64
	deposits, refunds := map[string]int{}, map[string]int{}
	for _, e := range hist(req) {
		in += uint64(e.Credit)
		out += uint64(e.Debit)
		ch, ok := byID[e.Ref]
		switch {
		case e.Kind == "transfer":
			if e.Credit != api.U64(funded) || e.Debit != 0 {
				bad("requester transfer entry %+v; funded %d", e, funded)
			}
		case !ok:
			bad("requester entry %+v names no channel of its own", e)
		case e.Kind == "channel-deposit" && e.Debit == ch.Deposit && e.Credit == 0:
			deposits[e.Ref]++
		case e.Kind == "channel-refund" && e.Credit == ch.Deposit-ch.Paid && e.Debit == 0:
			refunds[e.Ref]++
		default:
			bad("requester entry %+v does not match channel %s (deposit %d, paid %d)", e, ch.ID, ch.Deposit, ch.Paid)
		}
	}
	for id := range byID {
		if deposits[id] != 1 || refunds[id] != 1 {
			bad("channel %s: %d deposits and %d refunds in the requester's history", id, deposits[id], refunds[id])
		}
	}
	var paid uint64
	for _, ch := range chs {
		paid += uint64(ch.Paid)
	}
	if in-out != funded-paid {
		bad("requester history nets %d, want funded %d minus paid %d", in-out, funded, paid)
	}
	payouts := map[string]int{}
	for _, e := range hist(prov) {
		ch, ok := byID[e.Ref]
		if !ok || e.Kind != "channel-payout" || e.Credit != ch.Paid || e.Debit != 0 {
			bad("provider entry %+v does not match a channel's payout", e)
			continue
		}
		payouts[e.Ref]++
	}
	for id := range byID {
		if payouts[id] != 1 {
			bad("channel %s: %d payouts in the provider's history", id, payouts[id])
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("ledger history:\n%s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
}
