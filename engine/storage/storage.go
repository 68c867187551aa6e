// Package storage keeps a torrent's bytes for the engine: in memory, or in
// files laid out as BEP 3 says (a single file named by the info's name, or a
// directory of files). Offsets address the torrent's files concatenated in
// info order; BEP 47 padding files take offsets but never touch the disk.
//
// Files never escape their directory: a torrent whose names would (empty,
// ".", "..", separators, NUL, absolute paths, two files on one path) is
// refused with ErrUnsafePath before anything is created.
package storage

import (
	"errors"
	"fmt"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
)

// Errors returned by the storages.
var (
	ErrOutOfRange = errors.New("storage: offset outside the torrent")
	ErrTooLarge   = errors.New("storage: torrent larger than the memory cap")
	ErrUnsafePath = errors.New("storage: unsafe file name in torrent")
	ErrClosed     = errors.New("storage: closed")
)

// Storage holds one torrent's data (the engine's Storage interface).
type Storage interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Flush() error
	Close() error
}

// chunkSize is the unit Memory allocates in.
const chunkSize = 1 << 20

// Memory keeps a torrent in memory, allocating 1 MiB chunks on first write:
// an untouched torrent costs nothing, reads of unwritten bytes give zeros.
type Memory struct {
	mu     sync.RWMutex
	total  int64
	chunks [][]byte
	closed bool
}

// NewMemory returns an empty in-memory storage for info, refusing torrents
// larger than maxBytes.
func NewMemory(info *metainfo.Info, maxBytes int64) (*Memory, error) {
	total := info.TotalLength()
	if total < 0 || total > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, total, maxBytes)
	}
	return &Memory{total: total, chunks: make([][]byte, (total+chunkSize-1)/chunkSize)}, nil
}

func checkRange(off int64, n int, total int64) error {
	if off < 0 || off > total || int64(n) > total-off {
		return fmt.Errorf("%w: %d bytes at %d of %d", ErrOutOfRange, n, off, total)
	}
	return nil
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

// Flush does nothing: memory is as durable as it gets.
func (m *Memory) Flush() error { return nil }

// Close frees the data.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.chunks = true, nil
	return nil
}
