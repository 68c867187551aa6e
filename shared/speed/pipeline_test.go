package speed_test

import (
	"slices"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
)

// Several pieces unpaid at once (section 8.3's exposure): payments in
// flight together, their rejections, and batched payments.

// TestExposureBoundsUnpaidPieces: a provider serves up to its exposure (2
// MiB by default: 8 pieces of 256 KiB) of unpaid pieces, counting the
// pieces a batch of requests admitted before they are sent, and no more
// (M22); a paid piece frees its slot.
func TestExposureBoundsUnpaidPieces(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	const limit = 8
	if n := speed.UnpaidPieces(speed.DefaultExposure, pieceLen); n != limit {
		t.Fatalf("unpaid pieces of 256 KiB: %d, want %d", n, limit)
	}
	// A batch of requests for pieces 0-9, filtered before any is sent.
	var admitted []uint32
	for piece := range uint32(limit + 2) {
		if p.prov.CanServe(piece, pieceLen, admitted) {
			admitted = append(admitted, piece)
		}
	}
	if !slices.Equal(admitted, []uint32{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("a batch admitted pieces %v, want 0-7", admitted)
	}
	for _, piece := range admitted {
		p.deliver(piece)
	}
	if p.prov.CanServe(limit, pieceLen, nil) || !p.prov.CanServe(limit-1, pieceLen, nil) {
		t.Fatal("with the exposure unpaid, one more piece was admitted or a sent one refused")
	}
	if p.prov.Owed() != limit*speed.Price(400_000, pieceLen) {
		t.Fatalf("owed %d, want %d pieces", p.prov.Owed(), limit)
	}
	if rej := p.pay(0); rej != nil {
		t.Fatalf("payment rejected: %+v", rej)
	}
	if !p.prov.CanServe(limit, pieceLen, nil) || p.prov.CanServe(limit+1, pieceLen, []uint32{limit}) {
		t.Fatal("a paid piece did not free exactly one slot")
	}
	// Pieces as large as the exposure: one unpaid piece at a time.
	if n := speed.UnpaidPieces(speed.DefaultExposure, speed.DefaultExposure); n != 1 {
		t.Fatalf("unpaid pieces of 2 MiB: %d, want 1", n)
	}
	if n := speed.UnpaidPieces(speed.DefaultExposure, 16<<10); n != speed.MaxUnpaidPieces {
		t.Fatalf("unpaid pieces of 16 KiB: %d, want the cap %d", n, speed.MaxUnpaidPieces)
	}
}

// verifyAll verifies pieces at the requester and returns their payments,
// in order, as they would be in flight together.
func (p *pair) verifyAll(pieces ...uint32) []speed.Payment {
	p.t.Helper()
	var pms []speed.Payment
	for _, piece := range pieces {
		p.deliver(piece)
	}
	for _, piece := range pieces {
		pm, err := p.req.Verified(p.ctx, p.now, piece)
		if err != nil || pm == nil {
			p.t.Fatalf("paying piece %d: %+v %v", piece, pm, err)
		}
		pms = append(pms, *pm)
	}
	return pms
}

// TestPipelinedPaymentsAfterLedgerOutage: three pieces unpaid at once
// (M22's exposure), their payments in flight together; the provider's
// ledger fails the first lookup of the channel. The next state, which
// carries the first's amount, pays for both pieces; the requester takes the
// first rejection as superseded (no resend, no count against the
// provider), and a stale resend of it is harmless too.
func TestPipelinedPaymentsAfterLedgerOutage(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	pms := p.verifyAll(0, 1, 2)
	p.ledger.SetUnavailable(true)
	rej, err := p.prov.Receive(p.ctx, p.now, pms[0])
	if err == nil || rej == nil || rej.Reason != speed.ReasonLedgerUnavailable {
		t.Fatalf("outage: %+v %v", rej, err)
	}
	p.ledger.SetUnavailable(false)
	for _, pm := range pms[1:] {
		if rej, err := p.prov.Receive(p.ctx, p.now, pm); rej != nil || err != nil {
			t.Fatalf("piece %d: %+v %v", pm.Piece, rej, err)
		}
	}
	if p.prov.Owed() != 0 || p.prov.Earned() != 3*speed.Price(400_000, pieceLen) || p.prov.Earned() != p.req.Spent() {
		t.Fatalf("owed %d, earned %d, spent %d: the later states did not pay for the first piece", p.prov.Owed(), p.prov.Earned(), p.req.Spent())
	}
	for range speed.DefaultMaxStrikes {
		// The rejection, and again a stale resend of the same state.
		again, err := p.req.Rejected(p.ctx, p.now, *rej)
		if err != nil || again != nil {
			t.Fatalf("a superseded payment's rejection: %+v %v", again, err)
		}
		rej, _ = p.prov.Receive(p.ctx, p.now, pms[0])
		if rej == nil || rej.Reason != speed.ReasonStaleSequence {
			t.Fatalf("stale resend: %+v", rej)
		}
	}
	p.buy(3) // not counted against the provider: still buying
	if r := p.prov.Tick(p.now.Add(time.Hour)); r.Choke || r.Ban {
		t.Fatalf("an honest requester counted late: %+v", r)
	}
}

// TestPipelinedRepayAfterChannelClosed: two payments in flight on a channel
// the provider closed; the repayment of the last on a new channel carries
// the first one's amount too, and pays for both pieces.
func TestPipelinedRepayAfterChannelClosed(t *testing.T) {
	p, id := newPairOnClosedChannel(t)
	pms := p.verifyAll(1, 2)
	var rejs []*speed.PaymentRejected
	for _, pm := range pms {
		rej, err := p.prov.Receive(p.ctx, p.now, pm)
		if err != nil || rej == nil || rej.Reason != speed.ReasonChannelClosed {
			t.Fatalf("payment on a closed channel: %+v %v", rej, err)
		}
		rejs = append(rejs, rej)
	}
	if again, err := p.req.Rejected(p.ctx, p.now, *rejs[0]); again != nil || err != nil {
		t.Fatalf("the earlier rejection: %+v %v", again, err)
	}
	p.repayOnNewChannel(rejs[1], id)
	if p.prov.Owed() != 0 || p.req.Spent() != p.prov.Earned() || p.prov.Earned() != 3*speed.Price(400_000, pieceLen) {
		t.Fatalf("owed %d, spent %d, earned %d", p.prov.Owed(), p.req.Spent(), p.prov.Earned())
	}
}

// TestBatchedPayment: verified pieces held by the requester are paid in one
// state naming them all, which the provider accepts for all of them; a
// provider that states no exposure gets a payment a piece.
func TestBatchedPayment(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	if n := p.req.BatchPieces(pieceLen); n != 1 { // 8 pieces unpaid: batches of 1
		t.Fatalf("batch of 256 KiB pieces: %d, want 1", n)
	}
	if n := p.req.BatchPieces(32 << 10); n != speed.MaxUnpaidPieces/8 {
		t.Fatalf("batch of 32 KiB pieces: %d, want %d", n, speed.MaxUnpaidPieces/8)
	}
	for piece := range uint32(3) {
		p.deliver(piece)
	}
	if !p.req.Hold(0) || !p.req.Hold(1) || p.req.Held() != 2 {
		t.Fatalf("held %d", p.req.Held())
	}
	pm, err := p.req.Verified(p.ctx, p.now, 2)
	if err != nil || pm == nil || pm.Piece != 2 || !slices.Equal(pm.More, []uint32{0, 1}) || p.req.Held() != 0 {
		t.Fatalf("batched payment %+v, %v, held %d", pm, err, p.req.Held())
	}
	b, err := speed.Encode(*pm)
	if err != nil {
		t.Fatal(err)
	}
	m, err := speed.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rej, err := p.prov.Receive(p.ctx, p.now, m.(speed.Payment)); rej != nil || err != nil {
		t.Fatalf("batched payment rejected: %+v %v", rej, err)
	}
	if want := 3 * speed.Price(400_000, pieceLen); p.prov.Owed() != 0 || p.prov.Earned() != want || p.req.Spent() != want {
		t.Fatalf("owed %d, earned %d, spent %d, want %d", p.prov.Owed(), p.prov.Earned(), p.req.Spent(), want)
	}
	// A bid response without an exposure: one piece a payment.
	br := p.prov.Grant(2, 400_000)
	br.Exposure = 0
	if err := p.req.Accept(br); err != nil {
		t.Fatal(err)
	}
	if n := p.req.BatchPieces(32 << 10); n != 1 {
		t.Fatalf("batch for a provider without an exposure: %d", n)
	}
}
