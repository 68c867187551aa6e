package sim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
)

// ---- end of run ----

// Finish ends the run: what is still queued is delivered (no new rounds or
// uploads), every provider closes every channel that holds a payment, and the
// clock moves past every channel's deadline so the rest time out.
func (s *Sim) Finish() error {
	if s.finished {
		return nil
	}
	s.finished = true
	for range 16 {
		pending := false
		for _, c := range s.conns {
			if !c.closed && (len(c.toReq) > 0 || len(c.toProv) > 0) {
				pending = true
			}
		}
		if !pending {
			break
		}
		s.step++
		s.now = s.now.Add(time.Second)
		for _, c := range s.conns {
			s.deliverToReq(c)
		}
		for _, c := range s.conns {
			s.deliverToProv(c)
		}
	}
	var first error
	for _, p := range s.provs {
		for _, ps := range p.sessions {
			if err := ps.CloseAll(s.ctx); err != nil && first == nil {
				first = err
			}
		}
	}
	var last time.Time
	for _, ch := range s.bankChannels() {
		if !ch.Closed && ch.Deadline.After(last) {
			last = ch.Deadline
		}
	}
	if last.After(s.now) {
		s.now = last.Add(time.Second)
	}
	if accts := s.Accounts(); len(accts) > 0 {
		s.balance(accts[0]) // any memledger call expires due channels
	}
	return first
}

// Reconcile audits the ledger against the simulator's own account, after
// Finish: the books balance; the ledger holds exactly the channels the
// requesters opened, each closed with exactly the state its provider last
// accepted (or timed out, seq 0 and paid 0, when it accepted none); each
// provider's balance is the sum paid over its channels, which is what its
// sessions earned; each requester's balance is what it was funded minus the
// sum paid over its channels, which is what its sessions spent. Every
// account starts the run empty. It returns every discrepancy found.
func (s *Sim) Reconcile() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := s.bank.Check(s.ctx); err != nil {
		bad("books: %v", err)
	}
	chs, err := s.bank.Channels(s.ctx, s.Accounts())
	if err != nil {
		return fmt.Errorf("listing channels: %w", err)
	}
	onLedger := make(map[speed.ChannelID]speed.Channel, len(chs))
	for _, ch := range chs {
		onLedger[ch.ID] = ch
		if s.chanByID[ch.ID] == nil {
			bad("channel %s (payer %s, payee %s, deposit %d) is on the ledger but no requester opened it", ch.ID, ch.Payer, ch.Payee, ch.Deposit)
		}
	}
	paidTo := map[string]uint64{}
	paidBy := map[string]uint64{}
	for _, rec := range s.chans {
		ch, ok := onLedger[rec.ID]
		switch {
		case !ok:
			bad("channel %s from %s to %s is not on the ledger", rec.ID, rec.Requester, rec.Provider)
			continue
		case !ch.Closed:
			bad("channel %s from %s to %s is still open (deposit %d, deadline %s)", rec.ID, rec.Requester, rec.Provider, ch.Deposit, ch.Deadline.UTC().Format(time.RFC3339))
		case ch.Seq != rec.Accepted.Seq || ch.Paid != rec.Accepted.Paid:
			bad("channel %s from %s to %s closed with seq %d paid %d; the provider last accepted seq %d paid %d (the requester signed seq %d paid %d)",
				rec.ID, rec.Requester, rec.Provider, ch.Seq, ch.Paid, rec.Accepted.Seq, rec.Accepted.Paid, rec.Signed.Seq, rec.Signed.Paid)
		}
		if ch.Deposit != rec.Deposit {
			bad("channel %s: deposit %d on the ledger, %d when opened", rec.ID, ch.Deposit, rec.Deposit)
		}
		paidTo[rec.Provider] += ch.Paid
		paidBy[rec.Requester] += ch.Paid
	}
	for _, p := range s.Providers() {
		if p.Balance != paidTo[p.Name] || p.Earned != paidTo[p.Name] {
			bad("provider %s: balance %d, paid on its channels %d, its sessions earned %d", p.Name, p.Balance, paidTo[p.Name], p.Earned)
		}
	}
	for _, r := range s.Requesters() {
		if r.Balance != r.Minted-paidBy[r.Name] || r.Spent != paidBy[r.Name] {
			bad("requester %s: balance %d, funded %d, paid on its channels %d, its sessions spent %d", r.Name, r.Balance, r.Minted, paidBy[r.Name], r.Spent)
		}
	}
	return errors.Join(errs...)
}

// bankChannels returns the ledger's channels of the simulation's accounts.
func (s *Sim) bankChannels() []speed.Channel {
	chs, err := s.bank.Channels(s.ctx, s.Accounts())
	if err != nil {
		s.anomaly(nil, "Channels: %v", err)
	}
	return chs
}

// ---- results ----

// RequesterResult summarizes one requester.
type RequesterResult struct {
	Name       string
	Kind       RequesterKind
	Account    string
	Pieces     int    // pieces verified
	Completed  int    // step it got the last piece; 0 if it did not
	Received   uint64 // bytes received, failed pieces included
	From       map[string]uint64
	Spent      uint64 // sum of its sessions' Spent
	Expected   uint64 // what the pieces it paid for cost at the providers
	Balance    uint64 // ledger balance now
	Minted     uint64
	SpeedMsgs  int // Speed messages delivered to it
	PaidRounds int // rounds unchoked in a paid slot, over all providers
	FreeRounds int // throughput slots
	OptRounds  int // optimistic slots
	// PaidRoundsContested counts paid rounds before the first honest
	// requester completed.
	PaidRoundsContested int
	MeanBid, MaxBid     uint64
	CannotPay           bool
}

// ProviderResult summarizes one provider.
type ProviderResult struct {
	Name    string
	Kind    ProviderKind
	Account string
	Earned  uint64 // sum of its sessions' Earned
	Balance uint64
	Sent    uint64 // bytes uploaded
	Rounds  uint64
	// MaxExposure is the largest exposure seen with any requester.
	MaxExposure uint64
	// Unpaid is, per requester, the bytes sent at a nonzero rate never paid.
	Unpaid map[string]uint64
}

// Requesters returns a summary of every requester.
func (s *Sim) Requesters() []RequesterResult {
	var out []RequesterResult
	for _, r := range s.reqs {
		rr := RequesterResult{
			Name: r.spec.Name, Kind: r.spec.Kind, Account: r.acct.String(), Pieces: r.haveCount,
			Completed: r.completed, Received: r.received, From: map[string]uint64{},
			Expected: r.expectedSpend, Balance: s.balance(r.acct), SpeedMsgs: r.speedMsgs,
			PaidRounds: r.paidRounds, FreeRounds: r.freeRounds, OptRounds: r.optRounds,
			PaidRoundsContested: r.paidRoundsContested, MaxBid: r.maxBid, CannotPay: r.cannotPay,
		}
		if r.spec.Kind != LegacyRequester {
			rr.Minted = r.spec.Balance
		}
		if r.bidCount > 0 {
			rr.MeanBid = r.bidSum / r.bidCount
		}
		for i, b := range r.recvFrom {
			if b > 0 {
				rr.From[s.provs[i].spec.Name] = b
			}
		}
		for _, rs := range r.sessions {
			rr.Spent += rs.Spent()
		}
		out = append(out, rr)
	}
	return out
}

// Providers returns a summary of every provider.
func (s *Sim) Providers() []ProviderResult {
	var out []ProviderResult
	for _, p := range s.provs {
		pr := ProviderResult{Name: p.spec.Name, Kind: p.spec.Kind, Account: p.acct.String(), Balance: s.balance(p.acct),
			Sent: p.sent, Rounds: p.round, Unpaid: map[string]uint64{}}
		for _, ps := range p.sessions {
			pr.Earned += ps.Earned()
		}
		for _, c := range p.conns {
			pr.MaxExposure = max(pr.MaxExposure, c.maxExposure)
			var b uint64
			for _, u := range c.owed {
				if u.charge.Due() > 0 {
					b += u.bytes
				}
			}
			if b > 0 {
				pr.Unpaid[c.r.spec.Name] = b
			}
		}
		out = append(out, pr)
	}
	return out
}

// Minted returns the total minted.
func (s *Sim) Minted() uint64 { return s.minted }

// VerifiedFrom reports whether requester verified piece from provider.
func (s *Sim) VerifiedFrom(requester, provider string, piece uint32) bool {
	ri, pi := -1, -1
	for _, r := range s.reqs {
		if r.spec.Name == requester {
			ri = r.idx
		}
	}
	for _, p := range s.provs {
		if p.spec.Name == provider {
			pi = p.idx
		}
	}
	return s.verifiedFrom[[2]int{ri, pi}][piece]
}

// SpeedMessagesToLegacy returns how many Speed messages were queued toward a
// legacy peer (the simulator never should).
func (s *Sim) SpeedMessagesToLegacy() int { return s.speedToLeg }

// Count returns the number of events of kind.
func (s *Sim) Count(kind EventKind) int {
	n := 0
	for _, e := range s.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Fingerprint is a compact, deterministic digest of the run: final balances,
// per-peer results and every event, for comparing two runs.
func (s *Sim) Fingerprint() string {
	var b strings.Builder
	var escrow uint64
	for _, ch := range s.bankChannels() {
		if !ch.Closed {
			escrow += ch.Deposit
		}
	}
	fmt.Fprintf(&b, "steps=%d now=%d escrow=%d\n", s.step, s.now.Unix(), escrow)
	for _, r := range s.Requesters() {
		keys := make([]string, 0, len(r.From))
		for k := range r.From {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "R %s %s pieces=%d done=%d recv=%d spent=%d bal=%d rounds=%d/%d/%d bid=%d/%d", r.Name, r.Account,
			r.Pieces, r.Completed, r.Received, r.Spent, r.Balance, r.PaidRounds, r.FreeRounds, r.OptRounds, r.MeanBid, r.MaxBid)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, r.From[k])
		}
		b.WriteByte('\n')
	}
	for _, p := range s.Providers() {
		fmt.Fprintf(&b, "P %s %s earned=%d bal=%d sent=%d rounds=%d\n", p.Name, p.Account, p.Earned, p.Balance, p.Sent, p.Rounds)
	}
	h := sha256.New()
	for _, e := range s.events {
		fmt.Fprintln(h, e.String())
	}
	fmt.Fprintf(&b, "events=%d digest=%x\n", len(s.events), h.Sum(nil))
	return b.String()
}
