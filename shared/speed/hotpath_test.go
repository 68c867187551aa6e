package speed_test

import "testing"

// VerifiedFunded pays on the hot path only what needs no ledger: with no
// channel it pays nothing and records nothing (Verified then opens one);
// through a channel with room it pays exactly as Verified would, and the
// provider accepts it; when the channel runs out it steps aside again.
func TestVerifiedFundedPaysOnlyThroughAChannelWithRoom(t *testing.T) {
	p := newPair(t, 10_000_000)
	const rate = 400_000 // 100,000 per 256 KiB piece; deposits of 4 pieces
	p.grant(1, rate)
	p.deliver(0)
	if pm, ok := p.req.VerifiedFunded(p.now, 0); ok || pm != nil || p.req.Spent() != 0 || len(p.ledger.Channels()) != 0 {
		t.Fatalf("no channel yet: VerifiedFunded paid %+v (ok %v, spent %d, %d channels)", pm, ok, p.req.Spent(), len(p.ledger.Channels()))
	}
	if rej := p.pay(0); rej != nil { // Verified opens the channel
		t.Fatalf("piece 0 rejected: %+v", rej)
	}
	for piece := uint32(1); piece < 4; piece++ {
		p.deliver(piece)
		pm, ok := p.req.VerifiedFunded(p.now, piece)
		if !ok || pm == nil || pm.Piece != piece || pm.State.Paid != uint64(piece+1)*100_000 {
			t.Fatalf("piece %d through a channel with room: %+v, ok %v", piece, pm, ok)
		}
		if rej, err := p.prov.Receive(p.ctx, p.now, *pm); rej != nil || err != nil {
			t.Fatalf("piece %d: the provider rejected the hot-path payment: %+v %v", piece, rej, err)
		}
	}
	p.deliver(4) // the deposit (4 pieces) is spent: a new channel is needed
	if pm, ok := p.req.VerifiedFunded(p.now, 4); ok || pm != nil {
		t.Fatalf("channel spent: VerifiedFunded paid %+v (ok %v)", pm, ok)
	}
	if p.req.Due(4) != 100_000 {
		t.Fatalf("piece 4 still owes %d after VerifiedFunded stepped aside, want 100000", p.req.Due(4))
	}
	if rej := p.pay(4); rej != nil {
		t.Fatalf("piece 4 rejected: %+v", rej)
	}
	if p.req.Spent() != 500_000 || p.prov.Earned() != 500_000 || len(p.ledger.Channels()) != 2 {
		t.Fatalf("spent %d, earned %d, %d channels; want 500000 each through 2 channels", p.req.Spent(), p.prov.Earned(), len(p.ledger.Channels()))
	}
}
