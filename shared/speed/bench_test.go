package speed

import (
	"testing"
)

// BenchmarkPaymentEncodeSignVerify is the per-piece cost of a payment: the
// requester signs and encodes a state, the provider decodes it and checks the
// signature.
func BenchmarkPaymentEncodeSignVerify(b *testing.B) {
	payer := testKey(b, 9)
	addr := payer.Address()
	st := State{Channel: ChannelID{7}, Seq: 1, Paid: 100}
	for b.Loop() {
		st.Seq++
		st.Paid += 100
		sig, err := st.Sign(payer)
		if err != nil {
			b.Fatal(err)
		}
		enc, err := Encode(Payment{State: st, Piece: 3, Sig: sig})
		if err != nil {
			b.Fatal(err)
		}
		m, err := Decode(enc)
		if err != nil {
			b.Fatal(err)
		}
		p := m.(Payment)
		if err := p.State.Verify(addr, p.Sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPaymentCodec is encode and decode alone, without signatures.
func BenchmarkPaymentCodec(b *testing.B) {
	payer := testKey(b, 9)
	st := State{Channel: ChannelID{7}, Seq: 1, Paid: 100}
	sig, _ := st.Sign(payer)
	for b.Loop() {
		enc, err := Encode(Payment{State: st, Piece: 3, Sig: sig})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
