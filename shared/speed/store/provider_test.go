//go:build !js

// (Not under js/wasm: these tests listen on loopback TCP, which the Node run
// of ./shared/... has not.)

package store

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

type rig struct {
	ledger   *memledger.Ledger
	provider *Provider
	addr     string
	pkey     *wallet.PrivateKey
	rkey     *wallet.PrivateKey
	dir      string
}

// newRig runs a provider on loopback with a memledger; the requester holds
// 100 BTT.
func newRig(t testing.TB, quota uint64) *rig {
	t.Helper()
	r := &rig{ledger: memledger.New("btspeed-test", time.Now), pkey: testKey(t, 11), rkey: testKey(t, 12), dir: t.TempDir()}
	r.ledger.Mint(r.rkey.Address(), 100_000_000)
	var err error
	r.provider, err = NewProvider(ProviderConfig{Key: r.pkey, Ledger: r.ledger, LedgerID: "btspeed-test", Dir: r.dir, Quota: quota, MinPrice: 1000, Rate: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.provider.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r
}

func (r *rig) dial(t *testing.T) *Client {
	t.Helper()
	cl, err := Dial(context.Background(), r.addr, r.rkey, r.ledger, "btspeed-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

var testOffer = Offer{Period: 3600, Periods: 3, Price: 50_000, Rate: 10_000}

// Put, a passing challenge, a paid period, and a retrieval that gives the
// same bytes and pays each chunk at the rate; the provider's disk never
// holds the plaintext.
func TestPutChallengeGet(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	plain := bytes.Repeat([]byte("plaintext marker "), 40_000) // 680,000 bytes: 3 chunks
	ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Payee != r.pkey.Address() || ct.Start == 0 {
		t.Fatalf("contract %+v", ct)
	}
	_, failure, err := cl.Challenge(ct, DefaultK)
	if err != nil || failure != nil {
		t.Fatalf("challenge: %v %v", failure, err)
	}
	if err := cl.PayPeriod(context.Background(), ct, 0); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	paid, err := cl.Get(context.Background(), ct, &got)
	if err != nil || !bytes.Equal(got.Bytes(), plain) {
		t.Fatalf("get: %v, %d bytes", err, got.Len())
	}
	// 3 chunks: 2 of 256 KiB and the rest, at 10,000 per MiB.
	want := uint64(2*2500 + (ct.Terms.Length-2*ChunkSize)*10_000/(1<<20))
	if paid != want {
		t.Fatalf("retrieval paid %d, want %d", paid, want)
	}
	bal, _ := r.ledger.Balance(context.Background(), r.pkey.Address())
	if bal != testOffer.Price+want {
		t.Fatalf("the provider holds %d, want %d", bal, testOffer.Price+want)
	}
	filepath.Walk(r.dir, func(path string, fi os.FileInfo, err error) error {
		if b, _ := os.ReadFile(path); !fi.IsDir() && bytes.Contains(b, []byte("marker")) {
			t.Errorf("%s holds plaintext", path)
		}
		return nil
	})
	if err := cl.PayPeriod(context.Background(), ct, 0); err == nil {
		t.Fatal("period 0 paid twice")
	}
}

// A provider that lost half of each object's segments (the even ones) fails
// every challenge that picks one of them, and only those: a challenge picks
// DefaultK segments at random, so one misses the lost half with probability
// 2^-8, and the test checks each answer against the picks its nonce made.
func TestChallengeFailsWithHalfTheData(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	plain := bytes.Repeat([]byte{7}, 500_000)
	ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
	if err != nil {
		t.Fatal(err)
	}
	deleteHalf(t, r.dir, ct.Obj)
	for try := 0; ; try++ {
		n, failure, err := cl.Challenge(ct, DefaultK)
		if err != nil {
			t.Fatal(err)
		}
		lost := false
		for _, i := range ChallengeIndices(n, DefaultK, Segments(ct.Terms.Length)) {
			lost = lost || i%2 == 0
		}
		switch {
		case lost && failure == nil:
			t.Fatalf("a challenge picking a lost segment passed (nonce %x)", n)
		case !lost && failure != nil:
			t.Fatalf("a challenge picking only held segments failed: %v", failure)
		case lost:
			return
		case try == 10:
			t.Fatal("ten challenges in a row picked no lost segment")
		}
	}
}

// deleteHalf zeroes every other segment of an object on the provider's disk.
func deleteHalf(t *testing.T, dir string, obj ObjectID) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*", obj.String()+".dat"))
	if len(paths) != 1 {
		t.Fatalf("object files %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 2 * SegmentSize {
		clear(b[i:min(i+SegmentSize, len(b))])
	}
	if err := os.WriteFile(paths[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A chunk altered on the provider's disk is detected and not paid; the
// quota refuses an object that does not fit; a price below the provider's
// is refused.
func TestTamperedChunkQuotaAndPrice(t *testing.T) {
	r := newRig(t, 1<<20)
	cl := r.dial(t)
	plain := bytes.Repeat([]byte{1}, 600_000)
	ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.dir, r.rkey.Address().Hex(), ct.Obj.String()+".dat")
	b, _ := os.ReadFile(path)
	b[ChunkSize+10] ^= 1 // chunk 1
	os.WriteFile(path, b, 0o600)
	paid, err := cl.Get(context.Background(), ct, new(bytes.Buffer))
	if !errors.Is(err, ErrTampered) || paid != 2500 {
		t.Fatalf("a tampered chunk 1: %v, paid %d (want chunk 0's 2500 only)", err, paid)
	}
	cl2 := r.dial(t)
	var refused *RefusedError
	if _, err := cl2.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer); !errors.As(err, &refused) || refused.Why != ReasonQuota {
		t.Fatalf("over quota: %v", err)
	}
	low := testOffer
	low.Price = 1
	if _, err := cl2.Put(bytes.NewReader(plain[:300_000]), 300_000, low); !errors.As(err, &refused) || refused.Why != ReasonRate {
		t.Fatalf("a low price: %v", err)
	}
}

// The provider's exposure (section 12.5): a requester that does not pay gets
// one chunk, and the next is refused as unpaid, on this connection or a new
// one.
func TestProviderRisksOneChunk(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	plain := bytes.Repeat([]byte{9}, 3*PlainChunkSize)
	ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.c.Send(Get{Obj: ct.Obj, Index: 0}); err != nil {
		t.Fatal(err)
	}
	chunk, path, err := cl.readChunk(ct, 0)
	if err != nil || VerifyChunk(ct.Terms.Root, ct.Terms.Length, 0, chunk, path) != nil {
		t.Fatalf("chunk 0: %v", err)
	}
	cl2 := r.dial(t)
	for i, idx := range []uint64{1, 0, 2} {
		cl := cl
		if i == 2 {
			cl = cl2
		}
		if err := cl.c.Send(Get{Obj: ct.Obj, Index: idx}); err != nil {
			t.Fatal(err)
		}
		var refused *RefusedError
		if _, err := cl.expect(ct.Obj, time.Minute); !errors.As(err, &refused) || refused.Why != ReasonUnpaid {
			t.Fatalf("chunk %d with chunk 0 unpaid: %v", idx, err)
		}
	}
	if b, _ := r.ledger.Balance(context.Background(), r.pkey.Address()); b != 0 {
		t.Fatalf("the provider holds %d", b)
	}
}

// A provider restarted on the same directory still answers challenges and
// serves retrieval (its tree is rebuilt from disk).
func TestProviderRestart(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	plain := bytes.Repeat([]byte("restart"), 100_000)
	ct, err := cl.Put(bytes.NewReader(plain), uint64(len(plain)), testOffer)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewProvider(r.provider.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p2.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	r.addr = ln.Addr().String()
	cl2 := r.dial(t)
	if _, failure, err := cl2.Challenge(ct, MaxK); err != nil || failure != nil {
		t.Fatalf("challenge after a restart: %v %v", failure, err)
	}
	var got bytes.Buffer
	if _, err := cl2.Get(context.Background(), ct, &got); err != nil || !bytes.Equal(got.Bytes(), plain) {
		t.Fatalf("get after a restart: %v", err)
	}
}

// The provider may delete an object whose payment is more than one period
// late (section 12.4), and frees its quota; one paid on time stays.
func TestSweepDeletesLateObjects(t *testing.T) {
	r := newRig(t, 10<<20)
	cl := r.dial(t)
	ct, err := cl.Put(bytes.NewReader(bytes.Repeat([]byte{4}, 100_000)), 100_000, testOffer)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.PayPeriod(context.Background(), ct, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(int64(ct.Start), 0)
	path := filepath.Join(r.dir, r.rkey.Address().Hex(), ct.Obj.String()+".dat")
	// Period 1 ends at 2 h; its payment is more than a period late at 3 h.
	if n, err := r.provider.Sweep(start.Add(3*time.Hour - time.Second)); n != 0 || err != nil {
		t.Fatalf("swept %d (%v) before period 1 was late", n, err)
	}
	if n, err := r.provider.Sweep(start.Add(3 * time.Hour)); n != 1 || err != nil {
		t.Fatalf("swept %d (%v) once period 1 was late", n, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) || r.provider.used != 0 {
		t.Fatalf("the data is still there (%v) or counted (%d bytes)", err, r.provider.used)
	}
	if _, failure, err := cl.Challenge(ct, 1); err != nil || failure == nil {
		t.Fatalf("a challenge of a deleted object: %v %v", failure, err)
	}
}
