package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// ChallengesPerPeriod is how many challenges btspeed draws in each period,
// at uniformly random times (section 12.4: at least one).
const ChallengesPerPeriod = 2

// Record is a requester's whole knowledge of one stored object: the
// contract, the challenge plan, what was paid and the first failure.
type Record struct {
	Contract   Contract
	Name       string // the file's base name, for people
	PlainLen   uint64
	Plan       []Planned // challenges drawn so far
	PaidPeriod []uint64  // periods paid
	PaidTotal  uint64    // base units paid for periods
	Retrieved  uint64    // base units paid for retrieval
	LastProof  int64     // unix seconds of the last passed challenge (0: none)
	Failure    *Failure  // the first failed or missing proof: nothing is paid after it
	Ended      bool
}

// Planned is one challenge of the plan.
type Planned struct {
	Period uint64
	At     int64 // unix seconds
	Done   bool
}

// Failure is the evidence of a failed or missing proof.
type Failure struct {
	Time   int64  // unix seconds
	Period uint64 // the period not paid
	Nonce  string // the challenge's nonce in hex
	Reason string // what was wrong with the answer, or why none came
}

// Prover is what Check needs of a provider connection; Client is one.
type Prover interface {
	Challenge(ct Contract, k uint32) (n Hash, failure error, err error)
	PayPeriod(ctx context.Context, ct Contract, p uint64) error
}

// plan draws period p's challenge times if they are not drawn yet: uniform
// in the period, early enough for the answer to arrive within it.
func (r *Record) plan(p uint64) {
	for _, c := range r.Plan {
		if c.Period == p {
			return
		}
	}
	start := int64(r.Contract.Start) + int64(p)*int64(r.Contract.Terms.Period)
	span := int64(r.Contract.Terms.Period) - int64(ProofTimeout/time.Second)
	for range ChallengesPerPeriod {
		r.Plan = append(r.Plan, Planned{Period: p, At: start + rand.Int64N(span)})
	}
	slices.SortFunc(r.Plan, func(a, b Planned) int { return int(a.At - b.At) })
}

// Due says whether Check has anything to do at now.
func (r *Record) Due(now time.Time) bool {
	if r.Failure != nil || r.Ended {
		return false
	}
	p, ok := r.nextUnpaid()
	if !ok || now.Unix() < int64(r.Contract.Start)+int64(p)*int64(r.Contract.Terms.Period) {
		return false
	}
	r.plan(p)
	for _, c := range r.Plan {
		if !c.Done && c.At <= now.Unix() {
			return true
		}
	}
	return !now.Before(r.Contract.PeriodEnd(p))
}

func (r *Record) nextUnpaid() (uint64, bool) {
	for p := range uint64(r.Contract.Terms.Periods) {
		if !slices.Contains(r.PaidPeriod, p) {
			return p, true
		}
	}
	return 0, false
}

// Check runs the challenges due at now and pays every period that has
// ended with all its challenges passed, in arrears (section 12.4). A failed
// or missing proof is recorded and stops payment for good. An error is a
// payment that could not be made (the period stays unpaid and is tried
// again).
func (r *Record) Check(ctx context.Context, now time.Time, pr Prover) error {
	for r.Failure == nil && !r.Ended {
		p, ok := r.nextUnpaid()
		if !ok || now.Unix() < int64(r.Contract.Start)+int64(p)*int64(r.Contract.Terms.Period) {
			return nil
		}
		r.plan(p)
		for i := range r.Plan {
			c := &r.Plan[i]
			if c.Period != p || c.Done || c.At > now.Unix() {
				continue
			}
			n, failure, err := pr.Challenge(r.Contract, DefaultK)
			c.Done = true
			if err != nil {
				failure = fmt.Errorf("no answer: %w", err)
			}
			if failure != nil {
				r.Failure = &Failure{Time: now.Unix(), Period: p, Nonce: hex.EncodeToString(n[:]), Reason: failure.Error()}
				return nil
			}
			r.LastProof = now.Unix()
		}
		if now.Before(r.Contract.PeriodEnd(p)) {
			return nil
		}
		if err := pr.PayPeriod(ctx, r.Contract, p); err != nil {
			return fmt.Errorf("paying period %d: %w", p, err)
		}
		r.PaidPeriod = append(r.PaidPeriod, p)
		r.PaidTotal += r.Contract.Terms.Price
	}
	return nil
}
