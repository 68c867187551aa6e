// Package storage keeps a torrent's bytes for the engine: in memory
// (Memory), or in files laid out as BEP 3 says (Files: a single file named
// by the info's name, or a directory of that name holding the files).
//
// Both address the torrent as its v1 files concatenated in info order
// (offsets 0 to the total length); BEP 47 padding files take offsets but
// never touch the disk. A hybrid (v1+v2) torrent is laid out by its v1
// file list, padding included; a v2-only torrent is refused (ErrBadInfo).
//
// Files never escape their directory: a torrent whose names would (empty,
// ".", "..", separators, NUL, absolute paths, two files on one path, a file
// where another needs a directory) is refused with ErrUnsafePath before
// anything is created, and writes go through an os.Root, so even symbolic
// links already in the directory cannot lead them outside.
package storage

import (
	"errors"
	"fmt"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
)

// Errors returned by the storages; test for them with errors.Is.
var (
	// ErrOutOfRange: a read or write not wholly inside [0, total length).
	ErrOutOfRange = errors.New("storage: range outside the torrent")
	// ErrTooLarge: NewMemory was asked for a torrent above its cap.
	ErrTooLarge = errors.New("storage: torrent larger than the memory cap")
	// ErrUnsafePath: OpenFiles refused a torrent whose file names could
	// leave the directory, collide, or are too many or too deep.
	ErrUnsafePath = errors.New("storage: unsafe file names in torrent")
	// ErrBadInfo: the info cannot be laid out (nil, negative or
	// overflowing lengths, v2-only).
	ErrBadInfo = errors.New("storage: unusable torrent info")
	// ErrClosed: the storage was used after Close.
	ErrClosed = errors.New("storage: closed")
)

// Storage holds one torrent's data, addressed as the torrent's files
// concatenated in info order (BEP 3), offsets from 0 to the total length.
// Implementations are safe for concurrent use; reads of bytes never
// written give zeros.
type Storage interface {
	// ReadAt reads len(p) bytes at off: all of them, or an error.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes p at off: all of it, or an error.
	WriteAt(p []byte, off int64) (int, error)
	// Flush makes written data durable (fsync for files; nothing in
	// memory).
	Flush() error
	// Close releases the storage; later calls fail with ErrClosed.
	Close() error
}

// maxTotalLength is the largest torrent the storages lay out (1 PiB, as
// the engine).
const maxTotalLength = 1 << 50

// totalLength returns the length of info's v1 layout: the single file's
// length, or the sum of its files' (padding included).
func totalLength(info *metainfo.Info) (int64, error) {
	if info == nil {
		return 0, fmt.Errorf("%w: no info", ErrBadInfo)
	}
	if !info.HasV1() {
		return 0, fmt.Errorf("%w: BitTorrent v2-only torrents are not supported", ErrBadInfo)
	}
	if len(info.Files) == 0 {
		if info.Length < 0 || info.Length > maxTotalLength {
			return 0, fmt.Errorf("%w: length %d", ErrBadInfo, info.Length)
		}
		return info.Length, nil
	}
	var total int64
	for _, f := range info.Files {
		if f.Length < 0 || f.Length > maxTotalLength-total {
			return 0, fmt.Errorf("%w: file length %d", ErrBadInfo, f.Length)
		}
		total += f.Length
	}
	return total, nil
}

// checkRange says whether n bytes at off lie inside [0, total).
func checkRange(off int64, n int, total int64) error {
	if off < 0 || off > total || int64(n) > total-off {
		return fmt.Errorf("%w: %d bytes at %d of %d", ErrOutOfRange, n, off, total)
	}
	return nil
}

// chunkSize is the unit Memory allocates in.
const chunkSize = 1 << 20

// Memory keeps a torrent in memory, allocating 1 MiB chunks on first
// write: an untouched torrent costs a slice header per MiB, and reads of
// unwritten bytes give zeros.
type Memory struct {
	mu     sync.RWMutex
	total  int64
	chunks [][]byte // nil until written
	closed bool
}

var _ Storage = (*Memory)(nil)

// NewMemory returns an empty in-memory storage for info, refusing with
// ErrTooLarge a torrent longer than maxBytes.
func NewMemory(info *metainfo.Info, maxBytes int64) (*Memory, error) {
	total, err := totalLength(info)
	if err != nil {
		return nil, err
	}
	if total > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, total, maxBytes)
	}
	return &Memory{total: total, chunks: make([][]byte, (total+chunkSize-1)/chunkSize)}, nil
}

// ReadAt implements io.ReaderAt.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	if err := checkRange(off, len(p), m.total); err != nil {
		return 0, err
	}
	m.chunksOf(off, len(p), func(c, o int64, lo, hi int) {
		if ch := m.chunks[c]; ch != nil {
			copy(p[lo:hi], ch[o:])
		} else {
			clear(p[lo:hi])
		}
	})
	return len(p), nil
}

// WriteAt implements io.WriterAt.
func (m *Memory) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	if err := checkRange(off, len(p), m.total); err != nil {
		return 0, err
	}
	m.chunksOf(off, len(p), func(c, o int64, lo, hi int) {
		if m.chunks[c] == nil {
			m.chunks[c] = make([]byte, min(chunkSize, m.total-c*chunkSize))
		}
		copy(m.chunks[c][o:], p[lo:hi])
	})
	return len(p), nil
}

// chunksOf calls fn for each chunk piece of [off, off+n): chunk c from
// offset o holds p[lo:hi].
func (m *Memory) chunksOf(off int64, n int, fn func(c, o int64, lo, hi int)) {
	for done := 0; done < n; {
		c, o := (off+int64(done))/chunkSize, (off+int64(done))%chunkSize
		k := min(n-done, int(chunkSize-o))
		fn(c, o, done, done+k)
		done += k
	}
}

// Flush does nothing: memory is as durable as it gets. It fails only
// after Close.
func (m *Memory) Flush() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close frees the data.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.chunks = true, nil
	return nil
}
