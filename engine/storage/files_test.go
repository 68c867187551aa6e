//go:build !js

package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

func TestFilesRoundTrip(t *testing.T) {
	info := multiFile(1000, 0, 3<<20+7, 5, 100_000, 16384)
	s, err := OpenFiles(t.TempDir(), info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	roundTrip(t, s, info.TotalLength(), 2)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestOutOfRange(t *testing.T) {
	info := multiFile(100, 100)
	m, _ := NewMemory(info, 1<<20)
	f, err := OpenFiles(t.TempDir(), info)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Storage{m, f} {
		for _, c := range []struct {
			off int64
			n   int
		}{{-1, 1}, {200, 1}, {150, 51}, {1 << 62, 10}} {
			if _, err := s.ReadAt(make([]byte, c.n), c.off); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%T read %d at %d: %v", s, c.n, c.off, err)
			}
			if _, err := s.WriteAt(make([]byte, c.n), c.off); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%T write %d at %d: %v", s, c.n, c.off, err)
			}
		}
	}
}

// A directory that already holds a torrent's files reads back exactly
// those bytes: that is how existing content is seeded.
func TestFilesServeExistingContent(t *testing.T) {
	root := t.TempDir()
	content := filepath.Join(root, "album")
	want := map[string][]byte{"a.txt": []byte("hello"), "sub/b.bin": bytes.Repeat([]byte{7}, 40000), "sub/deeper/c": []byte("x")}
	for p, b := range want {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(content, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(content, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info := metainfo.Info{PieceLength: 1 << 14}
	if err := info.BuildFromFilePath(content); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFiles(root, &info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var off int64
	for _, fi := range info.Files {
		got := make([]byte, fi.Length)
		if _, err := s.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if p := filepath.Join(fi.Path...); !bytes.Equal(got, want[p]) {
			t.Fatalf("%s reads back differently", p)
		}
		off += fi.Length
	}
}

func TestUnsafeNamesRefused(t *testing.T) {
	cases := map[string]*metainfo.Info{
		"dotdot name":      {Name: "..", Length: 1},
		"slash name":       {Name: "a/b", Length: 1},
		"empty name":       {Name: "", Length: 1},
		"nul":              {Name: "a\x00b", Length: 1},
		"dotdot element":   {Name: "t", Files: []metainfo.FileInfo{{Length: 1, Path: []string{"..", "x"}}}},
		"backslash":        {Name: "t", Files: []metainfo.FileInfo{{Length: 1, Path: []string{"a\\..\\..\\x"}}}},
		"empty path":       {Name: "t", Files: []metainfo.FileInfo{{Length: 1, Path: nil}}},
		"duplicate":        {Name: "t", Files: []metainfo.FileInfo{{Length: 1, Path: []string{"a"}}, {Length: 1, Path: []string{"a"}}}},
		"absolute element": {Name: "t", Files: []metainfo.FileInfo{{Length: 1, Path: []string{"/etc"}}}},
	}
	for name, info := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := OpenFiles(dir, info); !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("got %v, want ErrUnsafePath", err)
			}
		})
	}
}

func TestPadFilesNeverTouchDisk(t *testing.T) {
	info := &metainfo.Info{Name: "t", PieceLength: 1 << 14, Files: []metainfo.FileInfo{
		{Length: 10, Path: []string{"a"}},
		{Length: 16374, Path: []string{".pad", "16374"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		{Length: 5, Path: []string{"b"}},
	}}
	dir := t.TempDir()
	s, err := OpenFiles(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	roundTripPad := make([]byte, info.TotalLength())
	for i := range roundTripPad {
		roundTripPad[i] = 1
	}
	if _, err := s.WriteAt(roundTripPad, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, info.TotalLength())
	if _, err := s.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if got[9] != 1 || got[10] != 0 || got[16383] != 0 || got[16384] != 1 {
		t.Fatal("pad region is not zeros, or files lost their bytes")
	}
	if _, err := os.Stat(filepath.Join(dir, "t", ".pad")); !os.IsNotExist(err) {
		t.Fatalf("a pad file reached the disk: %v", err)
	}
}

func TestManyFilesThroughFewHandles(t *testing.T) {
	lengths := make([]int64, 3*maxOpenFiles)
	for i := range lengths {
		lengths[i] = 100
	}
	info := multiFile(lengths...)
	s, err := OpenFiles(t.TempDir(), info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	roundTrip(t, s, info.TotalLength(), 3)
	if n := s.lru.Len(); n > maxOpenFiles {
		t.Fatalf("%d open handles", n)
	}
}

// FuzzOpenFiles decodes arbitrary info dictionaries and lays them out in a
// temporary directory: never a panic, never a file outside it.
func FuzzOpenFiles(f *testing.F) {
	f.Add([]byte("d5:filesld6:lengthi5e4:pathl1:aeed6:lengthi3e4:pathl2:..1:beee4:name1:t12:piece lengthi16ee"))
	f.Add([]byte("d6:lengthi10e4:name3:a/b12:piece lengthi16ee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var info metainfo.Info
		if bencode.Unmarshal(b, &info) != nil || info.TotalLength() > 1<<20 || len(info.Files) > 50 {
			return
		}
		parent := t.TempDir()
		dir := filepath.Join(parent, "in")
		s, err := OpenFiles(dir, &info)
		if err != nil {
			return
		}
		defer s.Close()
		if total := info.TotalLength(); total > 0 {
			s.WriteAt(make([]byte, total), 0)
		}
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.Name() != "in" {
				t.Fatalf("wrote %q outside the torrent directory", e.Name())
			}
		}
	})
}
