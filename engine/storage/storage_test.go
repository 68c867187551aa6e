package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// multiFile builds a multi-file info with the given file lengths.
func multiFile(lengths ...int64) *metainfo.Info {
	info := &metainfo.Info{Name: "t", PieceLength: 1 << 14}
	for i, n := range lengths {
		info.Files = append(info.Files, metainfo.FileInfo{Length: n, Path: []string{"d" + strconv.Itoa(i%3), "f" + strconv.Itoa(i)}})
	}
	return info
}

// roundTrip writes random ranges into s and a reference slice and checks
// every read against the reference.
func roundTrip(t *testing.T, s Storage, total int64, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	ref := make([]byte, total)
	for range 300 {
		off := r.Int64N(total)
		n := r.Int64N(min(total-off, 70_000)) + 1
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if _, err := s.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(ref[off:], b)
		roff := r.Int64N(total)
		rn := r.Int64N(min(total-roff, 70_000)) + 1
		got := make([]byte, rn)
		if _, err := s.ReadAt(got, roff); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ref[roff:roff+rn]) {
			t.Fatalf("read %d at %d differs", rn, roff)
		}
	}
	all := make([]byte, total)
	if _, err := s.ReadAt(all, 0); err != nil || !bytes.Equal(all, ref) {
		t.Fatalf("whole read differs (%v)", err)
	}
}

func TestMemoryRoundTrip(t *testing.T) {
	info := multiFile(1000, 0, 3<<20+7, 5, 100_000)
	m, err := NewMemory(info, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, m, info.TotalLength(), 1)
	if _, err := NewMemory(info, 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("cap not enforced: %v", err)
	}
}
