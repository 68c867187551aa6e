//go:build !js

package storage

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
)

// Limits on the torrents Files accepts.
const (
	maxFiles     = 100_000
	maxPathDepth = 64
	maxOpenFiles = 64
)

// file is one file of the torrent as laid out on disk.
type file struct {
	path    string // absolute; "" for padding files
	off     int64  // in the torrent
	length  int64
	written bool // written since the last Flush; guarded by Files.mu
}

// Files keeps a torrent in files under a directory. Files are created on
// first write (sparse); existing files are used as they are, so a directory
// that already holds the content can be seeded. At most 64 files are open
// at once.
type Files struct {
	dir   string
	files []*file // by offset
	total int64

	mu     sync.Mutex
	open   map[*file]*list.Element // LRU of open handles
	lru    *list.List              // of *openFile, most recent first
	closed bool
}

type openFile struct {
	f     *file
	h     *os.File
	users int // ReadAt/WriteAt calls using h now
}

// OpenFiles lays info out under dir, checking every name first.
func OpenFiles(dir string, info *metainfo.Info) (*Files, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	name := info.BestName()
	if err := safeElement(name); err != nil {
		return nil, err
	}
	s := &Files{dir: root, open: make(map[*file]*list.Element), lru: list.New()}
	seen := make(map[string]bool)
	add := func(path string, length int64, pad bool) error {
		if length < 0 || s.total > 1<<50-length {
			return fmt.Errorf("storage: file length %d", length)
		}
		f := &file{off: s.total, length: length}
		if !pad {
			key := strings.ToLower(path)
			if seen[key] {
				return fmt.Errorf("%w: two files at %q", ErrUnsafePath, path)
			}
			seen[key] = true
			f.path = path
		}
		s.files = append(s.files, f)
		s.total += length
		return nil
	}
	if len(info.Files) == 0 {
		if err := add(filepath.Join(root, name), info.Length, false); err != nil {
			return nil, err
		}
		return s, nil
	}
	if len(info.Files) > maxFiles {
		return nil, fmt.Errorf("%w: %d files (limit %d)", ErrUnsafePath, len(info.Files), maxFiles)
	}
	for _, fi := range info.Files {
		elems := fi.BestPath()
		pad := strings.Contains(fi.Attr, "p")
		if !pad {
			if len(elems) == 0 || len(elems) > maxPathDepth {
				return nil, fmt.Errorf("%w: path of %d elements", ErrUnsafePath, len(elems))
			}
			for _, e := range elems {
				if err := safeElement(e); err != nil {
					return nil, err
				}
			}
		}
		if err := add(filepath.Join(append([]string{root, name}, elems...)...), fi.Length, pad); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// safeElement checks one path element of a torrent.
func safeElement(e string) error {
	if e == "" || e == "." || e == ".." || strings.ContainsAny(e, "/\\\x00") || filepath.IsAbs(e) || len(e) > 255 {
		return fmt.Errorf("%w: %q", ErrUnsafePath, e)
	}
	return nil
}

// Dir returns the directory the torrent lives in.
func (s *Files) Dir() string { return s.dir }

// span calls fn for each file piece of [off, off+n), in order.
func (s *Files) span(off int64, n int, fn func(f *file, fileOff int64, lo, hi int) error) error {
	if err := checkRange(off, n, s.total); err != nil {
		return err
	}
	i := sort.Search(len(s.files), func(i int) bool { return s.files[i].off+s.files[i].length > off })
	done := 0
	for ; done < n && i < len(s.files); i++ {
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
		if f.path == "" {
			clear(p[lo:hi])
			return nil
		}
		h, release, err := s.handle(f, false)
		if err != nil {
			return err
		}
		defer release()
		if h == nil { // not created yet
			clear(p[lo:hi])
			return nil
		}
		n, err := h.ReadAt(p[lo:hi], fo)
		if errors.Is(err, io.EOF) {
			clear(p[lo+n : hi]) // a sparse file shorter than its length
			err = nil
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt implements io.WriterAt; writes to padding files are dropped.
func (s *Files) WriteAt(p []byte, off int64) (int, error) {
	err := s.span(off, len(p), func(f *file, fo int64, lo, hi int) error {
		if f.path == "" {
			return nil
		}
		h, release, err := s.handle(f, true)
		if err != nil {
			return err
		}
		defer release()
		_, err = h.WriteAt(p[lo:hi], fo)
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// handle returns an open handle for f, creating the file when create is
// set (nil, without error, for a file that does not exist when it is not);
// release must be called when done.
func (s *Files) handle(f *file, create bool) (*os.File, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if create {
		f.written = true
	}
	if el, ok := s.open[f]; ok {
		s.lru.MoveToFront(el)
		of := el.Value.(*openFile)
		of.users++
		return of.h, s.releaser(of), nil
	}
	h, err := os.OpenFile(f.path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, func() {}, nil
		}
		if err = os.MkdirAll(filepath.Dir(f.path), 0o755); err == nil {
			h, err = os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o644)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("storage: %w", err)
	}
	of := &openFile{f: f, h: h, users: 1}
	s.open[f] = s.lru.PushFront(of)
	s.evictLocked()
	return h, s.releaser(of), nil
}

func (s *Files) releaser(of *openFile) func() {
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		of.users--
		if _, ok := s.open[of.f]; !ok && of.users == 0 {
			of.h.Close() // evicted while in use
		}
	}
}

// evictLocked closes the least recently used handles beyond maxOpenFiles.
func (s *Files) evictLocked() {
	for s.lru.Len() > maxOpenFiles {
		el := s.lru.Back()
		of := el.Value.(*openFile)
		s.lru.Remove(el)
		delete(s.open, of.f)
		if of.users == 0 {
			of.h.Close()
		}
	}
}

// Flush syncs the files written since the last Flush.
func (s *Files) Flush() error {
	s.mu.Lock()
	var paths []string
	for _, f := range s.files {
		if f.written {
			f.written = false
			paths = append(paths, f.path)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, p := range paths {
		h, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, h.Sync(), h.Close())
	}
	return errors.Join(errs...)
}

// Close closes every open file.
func (s *Files) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for of := range s.open {
		el := s.open[of]
		if h := el.Value.(*openFile); h.users == 0 {
			errs = append(errs, h.h.Close())
		}
	}
	s.open, s.lru = nil, nil
	return errors.Join(errs...)
}
