package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// multiFile builds a multi-file info with the given file lengths, spread
// over three directories.
func multiFile(lengths ...int64) *metainfo.Info {
	info := &metainfo.Info{Name: "t", PieceLength: 1 << 14}
	for i, n := range lengths {
		info.Files = append(info.Files, metainfo.FileInfo{Length: n, Path: []string{"d" + strconv.Itoa(i%3), "f" + strconv.Itoa(i)}})
	}
	return info
}

// randomBytes returns n bytes from r.
func randomBytes(r *rand.Rand, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// roundTrip writes random ranges (many crossing file boundaries) into s
// and a reference slice, and checks every read against the reference.
func roundTrip(t *testing.T, s Storage, total int64, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	ref := make([]byte, total)
	for range 300 {
		off := r.Int64N(total)
		b := randomBytes(r, r.Int64N(min(total-off, 70_000))+1)
		if n, err := s.WriteAt(b, off); err != nil || n != len(b) {
			t.Fatalf("write %d at %d: %d, %v", len(b), off, n, err)
		}
		copy(ref[off:], b)
		roff := r.Int64N(total)
		got := make([]byte, r.Int64N(min(total-roff, 70_000))+1)
		if n, err := s.ReadAt(got, roff); err != nil || n != len(got) {
			t.Fatalf("read %d at %d: %d, %v", len(got), roff, n, err)
		}
		if !bytes.Equal(got, ref[roff:roff+int64(len(got))]) {
			t.Fatalf("read %d at %d differs from what was written", len(got), roff)
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
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryCapAndLaziness(t *testing.T) {
	info := multiFile(1000, 2000)
	if _, err := NewMemory(info, 2999); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("cap not enforced: %v", err)
	}
	big := &metainfo.Info{Name: "big", PieceLength: 1 << 20, Length: 8 << 30}
	m, err := NewMemory(big, 8<<30)
	if err != nil {
		t.Fatal(err)
	}
	got := []byte{1, 2, 3}
	if _, err := m.ReadAt(got, 5<<30); err != nil || !bytes.Equal(got, []byte{0, 0, 0}) {
		t.Fatalf("unwritten bytes read as %v (%v)", got, err)
	}
	if _, err := m.WriteAt([]byte{9}, 4<<30); err != nil {
		t.Fatal(err)
	}
	allocated := 0
	for _, c := range m.chunks {
		if c != nil {
			allocated++
		}
	}
	if allocated != 1 {
		t.Fatalf("%d chunks allocated after one 1-byte write", allocated)
	}
}

func TestBadInfo(t *testing.T) {
	cases := map[string]*metainfo.Info{
		"nil":             nil,
		"negative length": {Name: "a", Length: -1},
		"negative file":   {Name: "a", Files: []metainfo.FileInfo{{Length: 5, Path: []string{"x"}}, {Length: -3, Path: []string{"y"}}}},
		"overflow":        {Name: "a", Files: []metainfo.FileInfo{{Length: 1 << 62, Path: []string{"x"}}, {Length: 1 << 62, Path: []string{"y"}}}},
		"v2 only": {Name: "a", MetaVersion: 2, PieceLength: 1 << 14, FileTree: metainfo.FileTree{Dir: map[string]metainfo.FileTree{
			"x": {File: metainfo.FileTreeFile{Length: 5}},
		}}},
	}
	for name, info := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := NewMemory(info, 1<<62); !errors.Is(err, ErrBadInfo) {
				t.Errorf("NewMemory: %v, want ErrBadInfo", err)
			}
			if _, err := OpenFiles(t.TempDir(), info); !errors.Is(err, ErrBadInfo) {
				t.Errorf("OpenFiles: %v, want ErrBadInfo", err)
			}
		})
	}
}

// both returns a Memory and a Files storage for info.
func both(t *testing.T, info *metainfo.Info) []Storage {
	t.Helper()
	m, err := NewMemory(info, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFiles(t.TempDir(), info)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); f.Close() })
	return []Storage{m, f}
}

func TestOutOfRange(t *testing.T) {
	info := multiFile(100, 100)
	for _, s := range both(t, info) {
		for _, c := range []struct {
			off int64
			n   int
		}{{-1, 1}, {-1, 0}, {200, 1}, {201, 0}, {150, 51}, {1 << 62, 10}, {199, 1 << 20}} {
			if _, err := s.ReadAt(make([]byte, c.n), c.off); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%T read %d at %d: %v", s, c.n, c.off, err)
			}
			if _, err := s.WriteAt(make([]byte, c.n), c.off); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%T write %d at %d: %v", s, c.n, c.off, err)
			}
		}
		// The edges themselves are fine.
		if _, err := s.WriteAt([]byte{1}, 199); err != nil {
			t.Errorf("%T last byte: %v", s, err)
		}
		if _, err := s.ReadAt(nil, 200); err != nil {
			t.Errorf("%T empty read at the end: %v", s, err)
		}
	}
}

func TestUseAfterClose(t *testing.T) {
	for _, s := range both(t, multiFile(10, 10)) {
		if _, err := s.WriteAt([]byte{1}, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("%T close: %v", s, err)
		}
		if _, err := s.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
			t.Errorf("%T read after close: %v", s, err)
		}
		if _, err := s.WriteAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
			t.Errorf("%T write after close: %v", s, err)
		}
		if err := s.Flush(); !errors.Is(err, ErrClosed) {
			t.Errorf("%T flush after close: %v", s, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%T second close: %v", s, err)
		}
	}
}

// Goroutines writing and reading back distinct ranges at once (run with
// -race): more files than MaxOpenFiles, so handles are evicted while
// others use them.
func TestConcurrentUse(t *testing.T) {
	lengths := make([]int64, 2*MaxOpenFiles+3)
	for i := range lengths {
		lengths[i] = 1000 + int64(i)
	}
	info := multiFile(lengths...)
	total := info.TotalLength()
	for _, s := range both(t, info) {
		const workers = 8
		ref := randomBytes(rand.New(rand.NewPCG(7, 7)), total)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				lo, hi := total*int64(w)/workers, total*int64(w+1)/workers
				for off := lo; off < hi; off += 777 {
					end := min(off+777, hi)
					if _, err := s.WriteAt(ref[off:end], off); err != nil {
						errs <- err
						return
					}
					got := make([]byte, end-off)
					if _, err := s.ReadAt(got, off); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, ref[off:end]) {
						errs <- errors.New("read back differs")
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%T: %v", s, err)
		}
		all := make([]byte, total)
		if _, err := s.ReadAt(all, 0); err != nil || !bytes.Equal(all, ref) {
			t.Fatalf("%T: whole read differs (%v)", s, err)
		}
		if err := s.Flush(); err != nil {
			t.Fatalf("%T: %v", s, err)
		}
	}
}
