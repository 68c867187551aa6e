//go:build !js

// (Not under js/wasm: these tests listen on loopback TCP, which the Node run
// of ./shared/... has not.)

package store

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// BenchmarkPutGet stores and retrieves 16 MiB on loopback (encryption, tree,
// proofs, a payment per chunk); -benchtime=1x gives one round.
func BenchmarkPutGet(b *testing.B) {
	r := newRig(b, 64<<20)
	plain := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	b.SetBytes(2 * int64(len(plain)))
	for b.Loop() {
		cl, err := Dial(context.Background(), r.addr, r.rkey, r.ledger, "btspeed-test")
		if err != nil {
			b.Fatal(err)
		}
		ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cl.Get(context.Background(), ct, io.Discard); err != nil {
			b.Fatal(err)
		}
		cl.End(ct)
		cl.Close()
	}
}

// BenchmarkChallenge answers and verifies one challenge of 8 segments of a
// 16 MiB object.
func BenchmarkChallenge(b *testing.B) {
	r := newRig(b, 64<<20)
	cl, err := Dial(context.Background(), r.addr, r.rkey, r.ledger, "btspeed-test")
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	plain := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, failure, err := cl.Challenge(ct, DefaultK); err != nil || failure != nil {
			b.Fatal(failure, err)
		}
	}
}
