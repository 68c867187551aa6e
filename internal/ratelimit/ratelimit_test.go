package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestAllowN(t *testing.T) {
	l := New(2, 4, 0)
	a := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1000, 0)
	if !l.AllowN(a, now, 3) || l.AllowN(a, now, 2) || !l.Allow(a, now) || l.Allow(a, now) {
		t.Fatal("burst of 4 not enforced")
	}
	if l.AllowN(a, now.Add(time.Hour), 5) {
		t.Fatal("a cost above the burst was allowed")
	}
	if !l.AllowN(a, now.Add(time.Second), 2) {
		t.Fatal("not refilled at 2/s")
	}
	if !l.Allow(netip.MustParseAddr("192.0.2.2"), now) {
		t.Fatal("another client shares the bucket")
	}
	if l.Refused() != 3 {
		t.Fatalf("refused %d, want 3", l.Refused())
	}
}

func TestTableIsBounded(t *testing.T) {
	l := New(1, 2, 3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if !l.Allow(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), now) {
			t.Fatal("refused while there was room")
		}
	}
	if l.Allow(netip.MustParseAddr("192.0.2.200"), now) {
		t.Fatal("a 4th client was tracked in a table of 3 with none idle")
	}
	if !l.Allow(netip.MustParseAddr("192.0.2.200"), now.Add(2*time.Second)) || l.Len() != 1 {
		t.Fatalf("idle buckets not dropped (len %d)", l.Len())
	}
}

func TestZeroRateAllowsAll(t *testing.T) {
	l := New(0, 0, 0)
	for range 1000 {
		if !l.Allow(netip.MustParseAddr("192.0.2.1"), time.Unix(0, 0)) {
			t.Fatal("refused")
		}
	}
}
