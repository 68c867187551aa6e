//go:build !js

// (Not under js/wasm: these tests listen on loopback TCP, which the Node run
// of ./shared/... has not.)

package store

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The exposure bound of section 12.5, with the clock passed in: the
// provider deletes half the data right after period 1's challenges passed;
// it is paid period 1 (at most one period for data not held), period 2's
// challenge fails, the failure is recorded, and nothing more is paid.
func TestScheduleStopsPaymentAtTheFirstFailure(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	offer := testOffer
	offer.Periods = 5
	ct, err := cl.Put(bytes.NewReader(bytes.Repeat([]byte{3}, 300_000)), 300_000, offer)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{Contract: ct}
	at := func(periods float64) time.Time {
		return time.Unix(int64(ct.Start), 0).Add(time.Duration(periods * float64(time.Hour)))
	}
	income := func() uint64 {
		b, _ := r.ledger.Balance(context.Background(), r.pkey.Address())
		return b
	}
	step := func(now time.Time, wantPaid uint64) {
		t.Helper()
		if err := rec.Check(context.Background(), now, cl); err != nil {
			t.Fatal(err)
		}
		if income() != wantPaid*offer.Price || rec.PaidTotal != wantPaid*offer.Price {
			t.Fatalf("at %s: the provider has %d, the record says %d; want %d periods", now, income(), rec.PaidTotal, wantPaid)
		}
	}
	if rec.Due(at(0)) {
		t.Fatal("due before any challenge time")
	}
	step(at(0.99), 0) // period 0's challenges, nothing paid yet
	if rec.LastProof == 0 || rec.Failure != nil {
		t.Fatalf("period 0: %+v", rec)
	}
	step(at(1.99), 1) // period 0 paid, period 1's challenges passed
	deleteHalf(t, r.dir, ct.Obj)
	step(at(3), 2) // period 1 paid; period 2's first challenge fails
	if rec.Failure == nil || rec.Failure.Period != 2 || len(rec.Failure.Nonce) != 64 {
		t.Fatalf("failure %+v", rec.Failure)
	}
	step(at(5), 2)
	if rec.Due(at(6)) {
		t.Fatal("due after a failure")
	}
}

// A provider that does not answer at all is a missing proof: recorded, and
// the period is not paid.
func TestScheduleMissingProof(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	ct, err := cl.Put(bytes.NewReader([]byte("small")), 5, testOffer)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	rec := &Record{Contract: ct}
	if err := rec.Check(context.Background(), time.Unix(int64(ct.Start)+3600, 0), cl); err != nil {
		t.Fatal(err)
	}
	if rec.Failure == nil || rec.Failure.Period != 0 || !strings.HasPrefix(rec.Failure.Reason, "no answer") || rec.PaidTotal != 0 {
		t.Fatalf("record %+v, failure %+v", rec, rec.Failure)
	}
}
