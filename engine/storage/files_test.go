package storage

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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

// Writing the whole torrent puts each file's bytes at dir/name/path (or
// dir/name for a single file), preferring the UTF-8 names.
func TestFilesLayoutOnDisk(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	multi := &metainfo.Info{Name: "raw", NameUtf8: "album é", PieceLength: 1 << 14, Files: []metainfo.FileInfo{
		{Length: 3, Path: []string{"a.txt"}},
		{Length: 70_000, Path: []string{"x"}, PathUtf8: []string{"sub", "b c.bin"}},
		{Length: 0, Path: []string{"empty"}},
		{Length: 1, Path: []string{"sub", "deeper", "d"}},
	}}
	single := &metainfo.Info{Name: "movie.mkv", PieceLength: 1 << 14, Length: 50_000}
	for _, info := range []*metainfo.Info{multi, single} {
		dir := t.TempDir()
		s, err := OpenFiles(dir, info)
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(r, info.TotalLength())
		if _, err := s.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{}
		if len(info.Files) == 0 {
			want[info.Name] = data
		} else {
			var off int64
			for _, fi := range info.Files {
				want[filepath.Join(append([]string{info.BestName()}, fi.BestPath()...)...)] = data[off : off+fi.Length]
				off += fi.Length
			}
		}
		got := map[string][]byte{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				got[rel], _ = os.ReadFile(p)
			}
			return err
		})
		if len(got) != len(want) {
			t.Fatalf("files on disk: %d, want %d (%v)", len(got), len(want), keys(got))
		}
		for p, b := range want {
			if g, ok := got[p]; !ok || !bytes.Equal(g, b) {
				t.Fatalf("%s: %d bytes on disk (present %v), want %d", p, len(g), ok, len(b))
			}
		}
	}
}

func keys(m map[string][]byte) (out []string) {
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A directory that already holds a torrent's files reads back exactly
// those bytes, even read-only ones: that is how existing content is seeded.
func TestFilesServeExistingContent(t *testing.T) {
	root := t.TempDir()
	content := filepath.Join(root, "album")
	r := rand.New(rand.NewPCG(4, 4))
	want := map[string][]byte{"a.txt": []byte("hello"), "sub/b.bin": randomBytes(r, 40000), "sub/deeper/c": []byte("x"), "z": randomBytes(r, 20000)}
	for p, b := range want {
		full := filepath.Join(content, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o444); err != nil {
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
		if p := strings.Join(fi.Path, "/"); !bytes.Equal(got, want[p]) {
			t.Fatalf("%s reads back differently", p)
		}
		off += fi.Length
	}
	// Every piece read from storage matches its hash.
	for i := range info.NumPieces() {
		p := info.Piece(i)
		buf := make([]byte, p.Length())
		if _, err := s.ReadAt(buf, p.Offset()); err != nil {
			t.Fatal(err)
		}
		if metainfo.HashBytes(buf) != p.V1Hash().Unwrap() {
			t.Fatalf("piece %d does not match its hash", i)
		}
	}
}

// A file read before it is written (opened read-only) is reopened for the
// write, and the write lands.
func TestReadThenWrite(t *testing.T) {
	dir := t.TempDir()
	info := &metainfo.Info{Name: "f", PieceLength: 1 << 14, Length: 10}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFiles(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make([]byte, 10)
	if _, err := s.ReadAt(got, 0); err != nil || string(got) != "0123456789" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := s.WriteAt([]byte("ab"), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAt(got, 0); err != nil || string(got) != "0123ab6789" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "0123ab6789" {
		t.Fatalf("on disk: %q", b)
	}
}

// A file shorter on disk than in the torrent (a sparse download cut short)
// reads zeros past its end; an absent one reads all zeros and is not
// created by reading.
func TestShortAndAbsentFilesReadZeros(t *testing.T) {
	dir := t.TempDir()
	info := multiFile(10, 10)
	if err := os.MkdirAll(filepath.Join(dir, "t", "d0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t", "d0", "f0"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFiles(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := bytes.Repeat([]byte{0xff}, 20)
	if _, err := s.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("abc"), make([]byte, 17)...); !bytes.Equal(got, want) {
		t.Fatalf("read %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "t", "d1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading created something: %v", err)
	}
}

func TestUnsafeNamesRefused(t *testing.T) {
	file := func(path ...string) metainfo.FileInfo { return metainfo.FileInfo{Length: 1, Path: path} }
	tooMany := make([]metainfo.FileInfo, MaxFiles+1)
	for i := range tooMany {
		tooMany[i] = metainfo.FileInfo{Length: 1, Path: []string{"f"}}
	}
	deep := make([]string, MaxPathDepth+1)
	for i := range deep {
		deep[i] = "d"
	}
	cases := map[string]*metainfo.Info{
		"dotdot name":        {Name: "..", Length: 1},
		"dot name":           {Name: ".", Length: 1},
		"slash name":         {Name: "a/b", Length: 1},
		"absolute name":      {Name: "/etc", Length: 1},
		"empty name":         {Name: "", Length: 1},
		"nul":                {Name: "a\x00b", Length: 1},
		"long name":          {Name: strings.Repeat("a", 256), Length: 1},
		"hostile utf-8 name": {Name: "fine", NameUtf8: "..", Length: 1},
		"dotdot element":     {Name: "t", Files: []metainfo.FileInfo{file("..", "x")}},
		"dot element":        {Name: "t", Files: []metainfo.FileInfo{file(".", "x")}},
		"backslash":          {Name: "t", Files: []metainfo.FileInfo{file("a\\..\\..\\x")}},
		"slash in element":   {Name: "t", Files: []metainfo.FileInfo{file("a/../../x")}},
		"empty element":      {Name: "t", Files: []metainfo.FileInfo{file("a", "", "b")}},
		"empty path":         {Name: "t", Files: []metainfo.FileInfo{file()}},
		"absolute element":   {Name: "t", Files: []metainfo.FileInfo{file("/etc")}},
		"hostile utf-8 path": {Name: "t", Files: []metainfo.FileInfo{{Length: 1, Path: []string{"ok"}, PathUtf8: []string{"..", "x"}}}},
		"duplicate":          {Name: "t", Files: []metainfo.FileInfo{file("a"), file("b"), file("a")}},
		"duplicate by case":  {Name: "t", Files: []metainfo.FileInfo{file("d", "README"), file("d", "readme")}},
		"file and directory": {Name: "t", Files: []metainfo.FileInfo{file("a"), file("a b"), file("a", "b")}},
		"too deep":           {Name: "t", Files: []metainfo.FileInfo{file(deep...)}},
		"too many files":     {Name: "t", Files: tooMany},
	}
	for name, info := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := OpenFiles(dir, info); !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("got %v, want ErrUnsafePath", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("refusing created %v", entries)
			}
		})
	}
}

// Unusual but harmless names are accepted and land where they should.
func TestUnusualNamesAccepted(t *testing.T) {
	names := []string{"...", ".hidden", "a b", "ünïcødé 名前", "-", "a:b", "#?%*"}
	if runtime.GOOS == "windows" {
		names = names[:5]
	}
	for _, n := range names {
		dir := t.TempDir()
		info := &metainfo.Info{Name: n, PieceLength: 1 << 14, Files: []metainfo.FileInfo{{Length: 2, Path: []string{n, n}}}}
		s, err := OpenFiles(dir, info)
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		if _, err := s.WriteAt([]byte("hi"), 0); err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		s.Close()
		if b, err := os.ReadFile(filepath.Join(dir, n, n, n)); err != nil || string(b) != "hi" {
			t.Fatalf("%q: %q, %v", n, b, err)
		}
	}
}

// A symbolic link already in the directory pointing outside it can be read
// through (seeding linked-in content) but never written through.
func TestSymlinkOutsideNotWritten(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	parent := t.TempDir()
	dir, outside := filepath.Join(parent, "dl"), filepath.Join(parent, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "f"), []byte("linked"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "t")); err != nil {
		t.Fatal(err)
	}
	info := &metainfo.Info{Name: "t", PieceLength: 1 << 14, Files: []metainfo.FileInfo{
		{Length: 6, Path: []string{"f"}},
		{Length: 3, Path: []string{"new"}},
	}}
	s, err := OpenFiles(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make([]byte, 6)
	if _, err := s.ReadAt(got, 0); err != nil || string(got) != "linked" {
		t.Fatalf("read through the link: %q, %v", got, err)
	}
	if _, err := s.WriteAt([]byte("XXXXXX"), 0); err == nil {
		t.Fatal("wrote through a link leading outside the directory")
	}
	if _, err := s.WriteAt([]byte("new"), 6); err == nil {
		t.Fatal("created a file through a link leading outside the directory")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "f")); string(b) != "linked" {
		t.Fatalf("outside file changed to %q", b)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file appeared outside: %v", err)
	}
}

// Padding files (BEP 47) read as zeros, swallow writes, and never reach
// the disk; a hybrid torrent is laid out by its v1 file list, padding
// included.
func TestPadFiles(t *testing.T) {
	info := &metainfo.Info{Name: "t", PieceLength: 1 << 14, MetaVersion: 2, Files: []metainfo.FileInfo{
		{Length: 10, Path: []string{"a"}},
		{Length: 16374, Path: []string{".pad", "16374"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		{Length: 5, Path: []string{"b"}},
		{Length: 3, Path: []string{"..", "hostile pad names are never used"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
	}, FileTree: metainfo.FileTree{Dir: map[string]metainfo.FileTree{
		"a": {File: metainfo.FileTreeFile{Length: 10}},
		"b": {File: metainfo.FileTreeFile{Length: 5}},
	}}}
	total := int64(10 + 16374 + 5 + 3)
	dir := t.TempDir()
	f, err := OpenFiles(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := NewMemory(info, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(make([]byte, total), 0); err != nil {
		t.Fatalf("memory is not laid out by the v1 files: %v", err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{1}, int(total)), 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, total)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{1}, int(total))
	clear(want[10:16384])
	clear(want[16389:])
	if !bytes.Equal(got, want) {
		t.Fatal("pad regions are not zeros, or files lost their bytes")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "t")); len(entries) != 2 {
		t.Fatalf("on disk: %v, want only a and b", entries)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("outside the torrent directory: %v", entries)
	}
}

// More files than MaxOpenFiles go through a bounded set of handles.
func TestManyFilesThroughFewHandles(t *testing.T) {
	lengths := make([]int64, 3*MaxOpenFiles)
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
	s.mu.Lock()
	n, m := s.lru.Len(), len(s.cache)
	s.mu.Unlock()
	if n > MaxOpenFiles || m != n {
		t.Fatalf("%d handles in the LRU, %d cached (cap %d)", n, m, MaxOpenFiles)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Flush syncs what was written (and only that), and creates empty files.
func TestFlush(t *testing.T) {
	dir := t.TempDir()
	info := multiFile(10, 0, 10)
	s, err := OpenFiles(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("flushing an untouched torrent created its directory: %v", err)
	}
	if _, err := s.WriteAt([]byte("x"), 15); err != nil {
		t.Fatal(err)
	}
	if !s.files[2].dirty || s.files[0].dirty {
		t.Fatal("dirty flags do not follow the write")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.files[2].dirty {
		t.Fatal("still dirty after Flush")
	}
	if fi, err := os.Stat(filepath.Join(dir, "t", "d1", "f1")); err != nil || fi.Size() != 0 {
		t.Fatalf("empty file not created by Flush: %v", err)
	}
}

// FuzzOpenFilesInfo decodes arbitrary info dictionaries and lays them out
// in a temporary directory: never a panic, never a path or a file outside
// it.
func FuzzOpenFilesInfo(f *testing.F) {
	for _, s := range []string{
		"d5:filesld6:lengthi5e4:pathl1:aeed6:lengthi3e4:pathl2:..1:beee4:name1:t12:piece lengthi16ee",
		"d5:filesld6:lengthi5e4:pathl1:a1:beed6:lengthi3e4:pathl1:aeee4:name1:t12:piece lengthi16ee",
		"d5:filesld6:lengthi5e4:pathl1:aeed4:attr1:p6:lengthi3e4:pathl2:..eed6:lengthi2e4:pathl1:Aeee4:name1:t12:piece lengthi16ee",
		"d5:filesld6:lengthi5e4:pathl1:ae10:path.utf-8l2:..eee4:name1:t12:piece lengthi16ee",
		"d6:lengthi10e4:name3:a/b12:piece lengthi16ee",
		"d6:lengthi10e4:name1:f10:name.utf-82:..12:piece lengthi16ee",
		"d6:lengthi10e4:name5:movie12:piece lengthi16ee",
		"d12:meta versioni2e9:file treed1:ad0:d6:lengthi5eeee4:name1:t12:piece lengthi16ee",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var info metainfo.Info
		if bencode.Unmarshal(b, &info) != nil || len(info.Files) > 50 {
			return
		}
		parent := t.TempDir()
		dir := filepath.Join(parent, "x", "y", "in")
		s, err := OpenFiles(dir, &info)
		if err != nil {
			if !errors.Is(err, ErrUnsafePath) && !errors.Is(err, ErrBadInfo) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		defer s.Close()
		for _, f := range s.files {
			if f.rel != "" && (!filepath.IsLocal(f.rel) || strings.Count(f.rel, string(filepath.Separator)) > MaxPathDepth) {
				t.Fatalf("path %q is not inside the directory", f.rel)
			}
		}
		if s.total > 1<<16 {
			return
		}
		buf := bytes.Repeat([]byte{7}, int(s.total))
		if _, err := s.WriteAt(buf, 0); err != nil {
			return // e.g. a name the file system refuses
		}
		if _, err := s.ReadAt(buf, 0); err != nil {
			t.Fatalf("reading back: %v", err)
		}
		filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != parent && p != filepath.Join(parent, "x") && p != filepath.Join(parent, "x", "y") &&
				p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				t.Fatalf("%s is outside the torrent directory", p)
			}
			return err
		})
	})
}
