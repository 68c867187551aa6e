package storage

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
)

// Limits on the torrents OpenFiles accepts, and on what Files keeps open.
const (
	// MaxFiles is the most files (padding included) a torrent may have.
	MaxFiles = 100_000
	// MaxPathDepth is the most elements a file's path may have.
	MaxPathDepth = 64
	// MaxOpenFiles is the most file handles a Files keeps open at once
	// (least recently used ones are closed first).
	MaxOpenFiles = 64
	// maxElementLength is the longest path element (most file systems'
	// NAME_MAX).
	maxElementLength = 255
)

// file is one file of the torrent.
type file struct {
	rel    string // path under Files.dir; "" for padding files
	off    int64  // in the torrent
	length int64
	dirty  bool // written since the last Flush; guarded by Files.mu
}

// openFile is a cached handle of a file.
type openFile struct {
	f       *file
	h       *os.File
	rw      bool // opened for writing (through the root)
	users   int  // ReadAt/WriteAt/Flush calls using h now
	evicted bool // out of the cache: closed when users drops to 0
}

// Files keeps a torrent in files under a directory: dir/name for a
// single-file torrent, dir/name/path... for a multi-file one, names taken
// from the UTF-8 variants (name.utf-8, path.utf-8) when present.
//
// Files are created on first write (sparse, mode 0644, directories 0755);
// bytes of files or regions not written yet read as zeros. Existing files
// are used as they are, so a directory that already holds the content can
// be seeded. Reads follow symbolic links already in the directory (content
// linked in, as cross-seeding does, can be seeded); writes go through an
// os.Root and never leave it. At most MaxOpenFiles handles are open at
// once. Files is safe for concurrent use.
type Files struct {
	dir   string  // absolute
	files []*file // by offset, padding and empty files included
	total int64

	mu         sync.Mutex
	root       *os.Root // opened on first write
	cache      map[*file]*list.Element
	lru        *list.List // of *openFile, most recently used first
	emptyReady bool       // the empty files exist
	closed     bool
}

var _ Storage = (*Files)(nil)

// OpenFiles lays info out under dir, checking every name first (see
// ErrUnsafePath). Nothing is created until the first write.
func OpenFiles(dir string, info *metainfo.Info) (*Files, error) {
	total, err := totalLength(info)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: directory %q: %w", dir, err)
	}
	name := info.BestName()
	if err := safeElement(name); err != nil {
		return nil, fmt.Errorf("%w: torrent name: %v", ErrUnsafePath, err)
	}
	s := &Files{dir: root, total: total, cache: make(map[*file]*list.Element), lru: list.New()}
	if len(info.Files) == 0 {
		s.files = []*file{{rel: name, length: info.Length}}
		return s, nil
	}
	if len(info.Files) > MaxFiles {
		return nil, fmt.Errorf("%w: %d files (limit %d)", ErrUnsafePath, len(info.Files), MaxFiles)
	}
	s.files = make([]*file, 0, len(info.Files))
	keys := make([]string, 0, len(info.Files))
	var off int64
	for i := range info.Files {
		fi := &info.Files[i]
		f := &file{off: off, length: fi.Length}
		off += fi.Length
		s.files = append(s.files, f)
		if isPadding(fi) {
			continue
		}
		elems := fi.BestPath()
		if len(elems) == 0 || len(elems) > MaxPathDepth {
			return nil, fmt.Errorf("%w: file %d has a path of %d elements (1 to %d allowed)", ErrUnsafePath, i, len(elems), MaxPathDepth)
		}
		for _, e := range elems {
			if err := safeElement(e); err != nil {
				return nil, fmt.Errorf("%w: file %d: %v", ErrUnsafePath, i, err)
			}
		}
		f.rel = filepath.Join(append([]string{name}, elems...)...)
		// NUL cannot occur in an element, so it sorts a directory's
		// contents right after the directory's own key.
		keys = append(keys, strings.ToLower(strings.Join(elems, "\x00")))
	}
	if err := checkCollisions(keys); err != nil {
		return nil, err
	}
	return s, nil
}

// isPadding says whether fi is a BEP 47 padding file.
func isPadding(fi *metainfo.FileInfo) bool { return strings.Contains(fi.Attr, "p") }

// safeElement checks one name or path element of a torrent.
func safeElement(e string) error {
	switch {
	case e == "" || e == "." || e == "..":
		return fmt.Errorf("name %q", e)
	case len(e) > maxElementLength:
		return fmt.Errorf("name of %d bytes (limit %d)", len(e), maxElementLength)
	case strings.ContainsAny(e, "/\\\x00"):
		return fmt.Errorf("name %q contains a separator or NUL", e)
	case filepath.IsAbs(e) || !filepath.IsLocal(e):
		return fmt.Errorf("name %q is not a local path here", e)
	}
	return nil
}

// checkCollisions refuses two files on one path (compared ignoring case,
// as case-insensitive file systems do) and a file where another file
// needs a directory. keys are the paths' elements joined by NUL.
func checkCollisions(keys []string) error {
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		prev, k := keys[i-1], keys[i]
		if k == prev {
			return fmt.Errorf("%w: two files at %q", ErrUnsafePath, strings.ReplaceAll(k, "\x00", "/"))
		}
		if strings.HasPrefix(k, prev+"\x00") {
			return fmt.Errorf("%w: %q is both a file and a directory", ErrUnsafePath, strings.ReplaceAll(prev, "\x00", "/"))
		}
	}
	return nil
}

// Dir returns the directory the torrent lives in.
func (s *Files) Dir() string { return s.dir }

// span calls fn for each file piece of [off, off+n), in order: bytes
// [fileOff, fileOff+hi-lo) of f hold p[lo:hi].
func (s *Files) span(off int64, n int, fn func(f *file, fileOff int64, lo, hi int) error) error {
	if err := checkRange(off, n, s.total); err != nil {
		return err
	}
	i := sort.Search(len(s.files), func(i int) bool { return s.files[i].off+s.files[i].length > off })
	for done := 0; done < n && i < len(s.files); i++ {
		f := s.files[i]
		if f.length == 0 {
			continue
		}
		fo := off + int64(done) - f.off
		k := int(min(int64(n-done), f.length-fo))
		if err := fn(f, fo, done, done+k); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// ReadAt implements io.ReaderAt; bytes never written read as zeros.
func (s *Files) ReadAt(p []byte, off int64) (int, error) {
	err := s.span(off, len(p), func(f *file, fo int64, lo, hi int) error {
		if f.rel == "" {
			clear(p[lo:hi])
			return nil
		}
		of, err := s.acquire(f, forRead)
		if err != nil {
			return err
		}
		if of == nil { // not created yet
			clear(p[lo:hi])
			return nil
		}
		defer s.release(of)
		n, err := of.h.ReadAt(p[lo:hi], fo)
		if errors.Is(err, io.EOF) {
			clear(p[lo+n : hi]) // a file shorter than its length
			err = nil
		}
		if err != nil {
			return fmt.Errorf("storage: reading %s: %w", f.rel, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt implements io.WriterAt; writes to padding files are dropped.
func (s *Files) WriteAt(p []byte, off int64) (int, error) {
	err := s.span(off, len(p), func(f *file, fo int64, lo, hi int) error {
		if f.rel == "" {
			return nil
		}
		of, err := s.acquire(f, forWrite)
		if err != nil {
			return err
		}
		defer s.release(of)
		if _, err := of.h.WriteAt(p[lo:hi], fo); err != nil {
			return fmt.Errorf("storage: writing %s: %w", f.rel, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Ways to acquire a handle.
const (
	forRead  = iota // read-only, following links; nil if f is missing
	forWrite        // through the root, creating f; marks f dirty
	forSync         // through the root; nil if f is missing
)

// acquire returns an open handle of f, or nil without error when f does
// not exist and mode does not create it. The caller must release a
// non-nil handle.
func (s *Files) acquire(f *file, mode int) (*openFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	write := mode != forRead
	if el, ok := s.cache[f]; ok {
		of := el.Value.(*openFile)
		if of.rw || !write {
			s.lru.MoveToFront(el)
			of.users++
			if mode == forWrite {
				f.dirty = true
			}
			return of, nil
		}
		s.dropLocked(el) // read-only: reopened for writing below
	}
	var h *os.File
	var err error
	if write {
		h, err = s.openWritableLocked(f.rel, mode == forWrite)
	} else {
		h, err = os.Open(filepath.Join(s.dir, f.rel))
	}
	if errors.Is(err, os.ErrNotExist) && mode != forWrite {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: opening %s: %w", f.rel, err)
	}
	if mode == forWrite {
		f.dirty = true
	}
	of := &openFile{f: f, h: h, rw: write, users: 1}
	s.cache[f] = s.lru.PushFront(of)
	for s.lru.Len() > MaxOpenFiles {
		s.dropLocked(s.lru.Back())
	}
	return of, nil
}

// openWritableLocked opens rel for writing through the root, creating it
// (and its directories) when create is set.
func (s *Files) openWritableLocked(rel string, create bool) (*os.File, error) {
	if s.root == nil {
		if !create {
			return nil, os.ErrNotExist
		}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, err
		}
		root, err := os.OpenRoot(s.dir)
		if err != nil {
			return nil, err
		}
		s.root = root
	}
	if !create {
		return s.root.OpenFile(rel, os.O_RDWR, 0)
	}
	if d := filepath.Dir(rel); d != "." {
		if err := s.root.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return s.root.OpenFile(rel, os.O_RDWR|os.O_CREATE, 0o644)
}

// dropLocked takes a handle out of the cache, closing it unless in use.
func (s *Files) dropLocked(el *list.Element) {
	of := el.Value.(*openFile)
	s.lru.Remove(el)
	delete(s.cache, of.f)
	of.evicted = true
	if of.users == 0 {
		of.h.Close()
	}
}

// release ends a use of a handle from acquire.
func (s *Files) release(of *openFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	of.users--
	if of.evicted && of.users == 0 {
		of.h.Close()
	}
}

// Flush fsyncs the files written since the last Flush and, once anything
// has been written, creates the torrent's empty files (which no write
// creates) if they are missing.
func (s *Files) Flush() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var dirty []*file
	for _, f := range s.files {
		if f.dirty {
			f.dirty = false
			dirty = append(dirty, f)
		}
	}
	var errs []error
	if !s.emptyReady && s.root != nil {
		err := s.createEmptyLocked()
		s.emptyReady = err == nil
		errs = append(errs, err)
	}
	s.mu.Unlock()
	for _, f := range dirty {
		if err := s.sync(f); err != nil {
			errs = append(errs, err)
			s.mu.Lock()
			f.dirty = true // try again next time
			s.mu.Unlock()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: flush: %w", err)
	}
	return nil
}

// sync fsyncs one written file.
func (s *Files) sync(f *file) error {
	of, err := s.acquire(f, forSync)
	if err != nil {
		return err
	}
	if of == nil {
		return fmt.Errorf("%s was written but is gone", f.rel)
	}
	defer s.release(of)
	if err := of.h.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", f.rel, err)
	}
	return nil
}

// createEmptyLocked creates the torrent's missing zero-length files.
func (s *Files) createEmptyLocked() error {
	for _, f := range s.files {
		if f.length != 0 || f.rel == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, f.rel)); err == nil {
			continue
		}
		h, err := s.openWritableLocked(f.rel, true)
		if err != nil {
			return fmt.Errorf("creating %s: %w", f.rel, err)
		}
		if err := h.Close(); err != nil {
			return fmt.Errorf("creating %s: %w", f.rel, err)
		}
	}
	return nil
}

// Close closes every file; handles in use are closed as their users
// finish.
func (s *Files) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for el := s.lru.Front(); el != nil; el = el.Next() {
		of := el.Value.(*openFile)
		of.evicted = true
		if of.users == 0 {
			errs = append(errs, of.h.Close())
		}
	}
	s.cache, s.lru = nil, nil
	if s.root != nil {
		errs = append(errs, s.root.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}
