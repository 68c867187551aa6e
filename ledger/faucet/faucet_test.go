package faucet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
)

func account(b byte) wallet.Address {
	var a wallet.Address
	a[0] = wallet.AddressPrefix
	for i := 1; i < len(a); i++ {
		a[i] = b + byte(i)
	}
	return a
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Difficulty != 20 || p.Period != 24*time.Hour || p.Amount != 100_000_000 {
		t.Fatalf("%+v", p)
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultParams()
	for _, c := range []struct {
		name   string
		change func(*Params)
		valid  bool
	}{
		{"default", func(*Params) {}, true},
		{"difficulty 1", func(p *Params) { p.Difficulty = 1 }, true},
		{"difficulty 40", func(p *Params) { p.Difficulty = 40 }, true},
		{"difficulty 0", func(p *Params) { p.Difficulty = 0 }, false},
		{"difficulty 41", func(p *Params) { p.Difficulty = 41 }, false},
		{"difficulty 255", func(p *Params) { p.Difficulty = 255 }, false},
		{"period 1s", func(p *Params) { p.Period = time.Second }, true},
		{"period 0", func(p *Params) { p.Period = 0 }, false},
		{"period negative", func(p *Params) { p.Period = -time.Hour }, false},
		{"period fractional", func(p *Params) { p.Period = 1500 * time.Millisecond }, false},
		{"amount 0", func(p *Params) { p.Amount = 0 }, false},
		{"zero value", func(p *Params) { *p = Params{} }, false},
	} {
		p := ok
		c.change(&p)
		if err := p.Validate(); (err == nil) != c.valid {
			t.Errorf("%s: Validate(%+v) = %v", c.name, p, err)
		}
	}
}

func TestPeriodOf(t *testing.T) {
	p := DefaultParams()
	for _, c := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(86399, 999_999_999), 0},
		{time.Unix(86400, 0), 1},
		{time.Unix(1_800_000_000, 0), 1_800_000_000 / 86400},
		{time.Unix(-1, 0), 0},
		{time.Date(2026, 1, 2, 23, 59, 59, 0, time.FixedZone("x", 5*3600)), uint64(time.Date(2026, 1, 2, 18, 59, 59, 0, time.UTC).Unix() / 86400)},
	} {
		if got := p.PeriodOf(c.t); got != c.want {
			t.Errorf("PeriodOf(%v) = %d, want %d", c.t, got, c.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	a := Challenge("devnet", 7)
	if a != Challenge("devnet", 7) {
		t.Fatal("not deterministic")
	}
	seen := map[[32]byte]string{}
	for _, c := range []struct {
		id     string
		period uint64
	}{
		{"devnet", 7}, {"devnet", 8}, {"devnet", 0}, {"devnet", 1 << 56},
		{"mainnet", 7}, {"", 7}, {"devnet\x00", 7}, {"devne", 7},
	} {
		h := Challenge(c.id, c.period)
		key := fmt.Sprintf("%q/%d", c.id, c.period)
		if prev, dup := seen[h]; dup {
			t.Fatalf("%s and %s share a challenge", key, prev)
		}
		seen[h] = key
	}
}

func TestLeadingZeroBits(t *testing.T) {
	h := func(set map[int]byte) (x [32]byte) {
		for i, b := range set {
			x[i] = b
		}
		return x
	}
	for _, c := range []struct {
		h    [32]byte
		want int
	}{
		{h(nil), 256},
		{h(map[int]byte{0: 0x80}), 0},
		{h(map[int]byte{0: 0xff}), 0},
		{h(map[int]byte{0: 0x40}), 1},
		{h(map[int]byte{0: 0x01}), 7},
		{h(map[int]byte{1: 0x80}), 8},
		{h(map[int]byte{2: 0x10, 3: 0xff}), 19},
		{h(map[int]byte{7: 0x01}), 63},
		{h(map[int]byte{8: 0x80}), 64},
		{h(map[int]byte{8: 0x01, 31: 1}), 71},
		{h(map[int]byte{31: 0x01}), 255},
		{h(map[int]byte{31: 0x80}), 248},
	} {
		if got := LeadingZeroBits(c.h); got != c.want {
			t.Errorf("LeadingZeroBits(%x) = %d, want %d", c.h, got, c.want)
		}
	}
}

func TestWork(t *testing.T) {
	ch, acct := Challenge("devnet", 1), account(1)
	w := Work(ch, acct, 42)
	if w != Work(ch, acct, 42) {
		t.Fatal("not deterministic")
	}
	if w == Work(ch, acct, 43) || w == Work(ch, account(2), 42) || w == Work(Challenge("devnet", 2), acct, 42) {
		t.Fatal("Work ignores part of its input")
	}
}

func TestSolveVerify(t *testing.T) {
	const id = "devnet"
	p := DefaultParams()
	p.Difficulty = 10
	now := time.Unix(1_800_000_000, 0)
	period := p.PeriodOf(now)
	acct := account(1)
	ctx := context.Background()
	nonce, err := Solve(ctx, Challenge(id, period), acct, p.Difficulty, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if z := LeadingZeroBits(Work(Challenge(id, period), acct, nonce)); z < 10 {
		t.Fatalf("Solve returned nonce %d with %d zero bits", nonce, z)
	}
	// Solve returns the first solution at or after start.
	if again, err := Solve(ctx, Challenge(id, period), acct, p.Difficulty, nonce, nil); err != nil || again != nonce {
		t.Fatalf("Solve from the solution: %d %v", again, err)
	}
	for n := uint64(0); n < nonce; n++ {
		if LeadingZeroBits(Work(Challenge(id, period), acct, n)) >= 10 {
			t.Fatalf("Solve skipped nonce %d", n)
		}
	}
	if err := p.Verify(id, acct, period, nonce, now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Until the end of its period it still counts, not after.
	last := time.Unix(int64(period+1)*86400-1, 0)
	if err := p.Verify(id, acct, period, nonce, last); err != nil {
		t.Fatalf("Verify at the end of the period: %v", err)
	}
	// At the lower difficulty at least as well.
	easy := p
	easy.Difficulty = 8
	if err := easy.Verify(id, acct, period, nonce, now); err != nil {
		t.Fatalf("Verify at lower difficulty: %v", err)
	}

	// A nonce with too little work: the first one with fewer than 10 bits.
	weak := uint64(0)
	for LeadingZeroBits(Work(Challenge(id, period), acct, weak)) >= 10 {
		weak++
	}
	for _, c := range []struct {
		name    string
		p       Params
		id      string
		acct    wallet.Address
		period  uint64
		nonce   uint64
		now     time.Time
		wantErr error
	}{
		{"other account", p, id, account(2), period, nonce, now, ErrInsufficientWork},
		{"other ledger", p, "mainnet", acct, period, nonce, now, ErrInsufficientWork},
		{"weak work", p, id, acct, period, weak, now, ErrInsufficientWork},
		{"previous period", p, id, acct, period, nonce, time.Unix(int64(period+1)*86400, 0), ErrWrongPeriod},
		{"period before previous", p, id, acct, period, nonce, time.Unix(int64(period+2)*86400, 0), ErrWrongPeriod},
		{"period in the future", p, id, acct, period, nonce, time.Unix(int64(period)*86400-1, 0), ErrWrongPeriod},
		{"far future", p, id, acct, period + 1000, nonce, now, ErrWrongPeriod},
		{"period 0 at the epoch", p, id, acct, 1<<64 - 1, nonce, time.Unix(0, 0), ErrWrongPeriod},
	} {
		err := c.p.Verify(c.id, c.acct, c.period, c.nonce, c.now)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.wantErr)
		}
	}
	if err := (Params{}).Verify(id, acct, period, nonce, now); err == nil {
		t.Error("Verify with invalid params accepted")
	}
}

// The period boundary: a solution for period k counts during period k only
// (not in period k+1: one grant per account per period), and a solution in
// period 0 works at the epoch.
func TestVerifyBoundary(t *testing.T) {
	p := Params{Difficulty: 8, Period: time.Hour, Amount: 1}
	acct := account(9)
	for _, period := range []uint64{0, 5} {
		nonce, err := Solve(context.Background(), Challenge("x", period), acct, 8, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Unix(int64(period)*3600, 0)
		for _, c := range []struct {
			at time.Time
			ok bool
		}{
			{start.Add(-time.Second), false},
			{start, true},
			{start.Add(time.Hour - time.Nanosecond), true},
			{start.Add(time.Hour), false},
		} {
			err := p.Verify("x", acct, period, nonce, c.at)
			if period == 0 && c.at.Before(start) {
				c.ok = true // before the epoch is period 0
			}
			if (err == nil) != c.ok {
				t.Errorf("period %d at %v: %v", period, c.at.Sub(start), err)
			}
		}
	}
}

func TestSolveCancel(t *testing.T) {
	ch, acct := Challenge("devnet", 1), account(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Solve(ctx, ch, acct, 40, 0, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var calls, last uint64
	begin := time.Now()
	_, err := Solve(ctx, ch, acct, 40, 0, func(tries uint64) {
		calls++
		if tries != calls*ProgressInterval || tries <= last {
			t.Errorf("progress(%d) after %d calls", tries, calls)
		}
		last = tries
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Solve took %v to notice a 100ms deadline", d)
	}
	if calls == 0 {
		t.Error("progress never called")
	}
	t.Logf("%d progress calls, %d tries in %v", calls, last, time.Since(begin))
}

func TestSolveExhausted(t *testing.T) {
	// From 2^64-3 there are three nonces; at difficulty 40 none works.
	_, err := Solve(context.Background(), Challenge("devnet", 1), account(1), 40, 1<<64-3, nil)
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("Solve near 2^64: %v", err)
	}
	// Difficulty 0: the start nonce is a solution.
	if n, err := Solve(context.Background(), Challenge("devnet", 1), account(1), 0, 1<<64-1, nil); err != nil || n != 1<<64-1 {
		t.Fatalf("difficulty 0: %d %v", n, err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLimiterBurstAndWindow(t *testing.T) {
	l := NewLimiter(3, time.Hour, 100)
	t0 := time.Unix(1_800_000_000, 0)
	a, b := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	for i := range 3 {
		if !l.Allow(a, t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("grant %d refused", i)
		}
	}
	if l.Allow(a, t0.Add(10*time.Minute)) {
		t.Fatal("fourth grant allowed")
	}
	if !l.Allow(b, t0.Add(10*time.Minute)) {
		t.Fatal("another address refused")
	}
	// Sliding window: the first grant expires exactly an hour after it,
	// the second a minute later.
	if l.Allow(a, t0.Add(time.Hour-time.Nanosecond)) {
		t.Fatal("allowed before the first grant expired")
	}
	if !l.Allow(a, t0.Add(time.Hour)) {
		t.Fatal("refused after the first grant expired")
	}
	if l.Allow(a, t0.Add(time.Hour+30*time.Second)) {
		t.Fatal("allowed before the second grant expired")
	}
	if !l.Allow(a, t0.Add(time.Hour+time.Minute)) {
		t.Fatal("refused after the second grant expired")
	}
	// Long after, the whole budget is back.
	later := t0.Add(5 * time.Hour)
	for i := range 3 {
		if !l.Allow(a, later) {
			t.Fatalf("grant %d after the window refused", i)
		}
	}
	if l.Allow(a, later) {
		t.Fatal("burst exceeded after the window")
	}
	// The expired group b was forgotten.
	if n := l.len(); n != 1 {
		t.Fatalf("%d groups remembered, want 1", n)
	}
}

func TestLimiterGroups(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:2::1%eth0", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"2001:db8:1:2::1", "2001:db9:1:2::1", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "::ffff:192.0.2.2", false},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.2", false}, // not grouped as one /64
		{"192.0.2.1", "::c000:201", false},              // IPv4-compatible is IPv6
	} {
		l := NewLimiter(1, time.Hour, 100)
		if !l.Allow(mustAddr(c.a), t0) {
			t.Fatalf("%s refused", c.a)
		}
		if got := !l.Allow(mustAddr(c.b), t0); got != c.same {
			t.Errorf("%s then %s: shared budget %v, want %v", c.a, c.b, got, c.same)
		}
	}
	// The invalid address is one group.
	l := NewLimiter(1, time.Hour, 100)
	if !l.Allow(netip.Addr{}, t0) || l.Allow(netip.Addr{}, t0) {
		t.Error("invalid addresses do not share one budget")
	}
}

func TestLimiterEviction(t *testing.T) {
	l := NewLimiter(2, time.Hour, 100)
	t0 := time.Unix(1_800_000_000, 0)
	first := mustAddr("10.0.0.0")
	if !l.Allow(first, t0) || !l.Allow(first, t0) || l.Allow(first, t0) {
		t.Fatal("burst")
	}
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		if !l.Allow(a, t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("new address %s refused", a)
		}
		if n := l.len(); n > 100 {
			t.Fatalf("%d groups remembered, max 100", n)
		}
	}
	if len(l.entries) != 100 {
		t.Fatalf("%d entries", len(l.entries))
	}
	n := 0
	for e := l.lru.next; e != &l.lru; e = e.next {
		n++
	}
	if n != 100 {
		t.Fatalf("%d entries in the list", n)
	}
	// The oldest group was evicted (and so got its budget back); the most
	// recent are still there.
	if !l.Allow(first, t0.Add(11*time.Second)) {
		t.Fatal("evicted group still limited")
	}
	recent := netip.AddrFrom4([4]byte{10, 1, 9999 >> 8, 9999 & 0xff})
	if !l.Allow(recent, t0.Add(11*time.Second)) || l.Allow(recent, t0.Add(11*time.Second)) {
		t.Fatal("recent group lost its grants")
	}
	// A refused grant records nothing and creates nothing.
	full := NewLimiter(1, time.Hour, 1)
	full.Allow(first, t0)
	if full.Allow(first, t0) || full.len() != 1 {
		t.Fatal("refusal changed the limiter")
	}
}

func TestLimiterDefaults(t *testing.T) {
	if l := NewLimiter(1, time.Second, 0); l.max != DefaultMaxEntries {
		t.Fatalf("max %d", l.max)
	}
	for _, c := range []struct {
		burst  int
		window time.Duration
	}{{0, time.Hour}, {1, 0}, {-1, time.Hour}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLimiter(%d, %v) did not panic", c.burst, c.window)
				}
			}()
			NewLimiter(c.burst, c.window, 10)
		}()
	}
}

func TestLimiterConcurrent(t *testing.T) {
	const workers, per = 8, 500
	l := NewLimiter(5, time.Hour, 50)
	t0 := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[netip.Addr]int{}
	shared := mustAddr("2001:db8::1")
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				a := netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)})
				if i%2 == 0 {
					a = shared
				}
				if l.Allow(a, t0) {
					mu.Lock()
					allowed[a]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if n := l.len(); n > 50 {
		t.Fatalf("%d groups remembered, max 50", n)
	}
	// The shared group may be evicted and come back, but never allows more
	// than its burst between evictions; at least its first burst went
	// through.
	if allowed[shared] < 5 {
		t.Fatalf("shared group had %d grants", allowed[shared])
	}
}

func BenchmarkWork(b *testing.B) {
	ch, acct := Challenge("devnet", 1), account(1)
	var sink [32]byte
	nonce := uint64(0)
	for b.Loop() {
		sink = Work(ch, acct, nonce)
		nonce++
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	if b.N > 0 {
		perHash := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric((perHash * (1 << 20)).Seconds(), "s/difficulty20")
	}
}

func BenchmarkSolve(b *testing.B) {
	// Difficulty 12: 4096 tries on average per solution.
	ch, acct := Challenge("devnet", 1), account(1)
	start := uint64(0)
	for b.Loop() {
		n, err := Solve(context.Background(), ch, acct, 12, start, nil)
		if err != nil {
			b.Fatal(err)
		}
		start = n + 1
	}
	b.ReportMetric(float64(start)/b.Elapsed().Seconds(), "hashes/s")
}

func BenchmarkLimiter(b *testing.B) {
	l := NewLimiter(5, time.Hour, DefaultMaxEntries)
	t0 := time.Unix(1_800_000_000, 0)
	i := 0
	for b.Loop() {
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), t0.Add(time.Duration(i)))
		i++
	}
}
