//go:build js

package idbstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall/js"
	"time"
)

// How a Storage moves data (docs/browser-performance.md has the figures
// behind it). One IndexedDB transaction per 16 KiB block, awaited, held a
// download to one database round trip per block and a seed to one per
// block served, so:
//   - Writes are queued in memory (as Uint8Arrays, one copy out of Go) and
//     stored in the background by one writer goroutine, maxBatch chunks to
//     a transaction: it waits for a full batch, or up to linger for one,
//     or for a Flush or Close. Taking what was queued at once gave a
//     bridged download one transaction per 8 chunks (most of them 1 to 3),
//     and each costs the page's main thread. WriteAt waits only while
//     maxQueued bytes are queued. ReadAt sees queued data; Flush waits
//     until everything queued is stored; Close stores it before it lets
//     the torrent go.
//   - Reads wait once per transaction (for it to complete), not once per
//     chunk, and Prefetch reads the blocks a seed is about to send in one
//     transaction into a cache (at most maxCached chunks, the oldest
//     dropped first): serving a batch of blocks costs one round trip.
const (
	maxQueued = 4 << 20
	maxBatch  = 64
	maxCached = 64
	linger    = 200 * time.Millisecond
)

// uint8Array is the Uint8Array constructor, looked up once: each lookup
// makes one more JavaScript object for Go to hold and finalize.
var uint8Array = js.Global().Get("Uint8Array")

// ErrClosed is returned by a write to a Storage after Close (reads still
// work).
var ErrClosed = errors.New("idbstore: storage closed")

// Storage is one torrent's data.
type Storage struct {
	d      *DB
	ns     string
	nsJS   js.Value // ns as a JavaScript string
	length int64
	lk     *lock
	rmw    sync.Mutex // serialises read-modify-write of partial chunks
	done   chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond         // signalled when the queue, the writer or err changes
	queue    map[int64]js.Value // chunks to store: chunk -> Uint8Array
	queued   int                // bytes in queue
	writing  map[int64]js.Value // the batch being stored, readable meanwhile
	cache    map[int64]js.Value // chunks read ahead
	cached   []int64            // cache's chunks, oldest first
	err      error              // the first failed write: later writes and Flush return it
	closed   bool
	flushes  int         // Flush calls waiting: the writer stores what is queued at once
	timer    *time.Timer // wakes the writer linger after it began to wait for a batch
	lingered bool        // the timer fired: store what is queued
}

func newStorage(d *DB, ns string, length int64, lk *lock) *Storage {
	s := &Storage{d: d, ns: ns, nsJS: js.ValueOf(ns), length: length, lk: lk, done: make(chan struct{}),
		queue: map[int64]js.Value{}, cache: map[int64]js.Value{}}
	s.cond = sync.NewCond(&s.mu)
	go s.writer()
	return s
}

// key is chunk's key, [namespace, chunk] (the namespace made a JavaScript
// string once: each conversion of a Go string decodes it anew).
func (s *Storage) key(chunk int64) js.Value { return js.ValueOf([]any{s.nsJS, float64(chunk)}) }

// ReadAt reads len(p) bytes at off; what was never written reads as zeros.
func (s *Storage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.length {
		return 0, fmt.Errorf("idbstore: read at %d outside %d bytes", off, s.length)
	}
	n := len(p)
	if rest := s.length - off; int64(n) > rest {
		n = int(rest)
	}
	if n == 0 {
		return 0, nil
	}
	first, last := off/ChunkSize, (off+int64(n)-1)/ChunkSize
	chunks := make([]js.Value, last-first+1)
	var missing []int64
	s.mu.Lock()
	for c := first; c <= last; c++ {
		if v, ok := s.heldLocked(c); ok {
			chunks[c-first] = v
		} else {
			missing = append(missing, c)
		}
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		if err := s.fetch(missing, first, chunks); err != nil {
			return 0, err
		}
	}
	for i, v := range chunks {
		c := first + int64(i)
		start := c * ChunkSize
		lo, hi := max(off, start), min(off+int64(n), start+ChunkSize)
		dst := p[lo-off : hi-off]
		copied := 0
		if !v.IsUndefined() && !v.IsNull() {
			if from := int(lo - start); from == 0 {
				copied = js.CopyBytesToGo(dst, v) // a block: no view needed
			} else if from < v.Get("byteLength").Int() {
				copied = js.CopyBytesToGo(dst, v.Call("subarray", from))
			}
		}
		clear(dst[copied:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// heldLocked returns chunk c if it is queued, being stored or cached.
func (s *Storage) heldLocked(c int64) (js.Value, bool) {
	if v, ok := s.queue[c]; ok {
		return v, true
	}
	if v, ok := s.writing[c]; ok {
		return v, true
	}
	v, ok := s.cache[c]
	return v, ok
}

// fetch reads the chunks missing from IndexedDB into chunks (indexed from
// first).
func (s *Storage) fetch(missing []int64, first int64, chunks []js.Value) error {
	got, err := s.get(missing)
	if err != nil {
		return err
	}
	for i, c := range missing {
		chunks[c-first] = got[i]
	}
	return nil
}

// get reads chunks from IndexedDB in one transaction, waiting once: for
// the transaction to complete, after which every request holds its result
// (undefined for a chunk never stored).
func (s *Storage) get(chunks []int64) ([]js.Value, error) {
	tx := s.d.db.Call("transaction", chunksStore, "readonly")
	st := tx.Call("objectStore", chunksStore)
	reqs := make([]js.Value, len(chunks))
	for i, c := range chunks {
		reqs[i] = st.Call("get", s.key(c))
	}
	if err := awaitTx(context.Background(), tx); err != nil {
		return nil, fmt.Errorf("idbstore: reading chunks %d to %d: %w", chunks[0], chunks[len(chunks)-1], err)
	}
	got := make([]js.Value, len(chunks))
	for i, req := range reqs {
		got[i] = req.Get("result")
	}
	return got, nil
}

// Prefetch reads the chunks of the ranges (offs[i], lens[i]) that are not
// queued or cached into the cache, in one transaction, so that the reads
// that follow find them there (engine.Prefetcher). It is advisory: a
// failure is left for ReadAt to report.
func (s *Storage) Prefetch(offs []int64, lens []int) {
	var want []int64
	s.mu.Lock()
	for i, off := range offs {
		if off < 0 || lens[i] <= 0 || off+int64(lens[i]) > s.length {
			continue
		}
		for c := off / ChunkSize; c <= (off+int64(lens[i])-1)/ChunkSize && len(want) < maxCached; c++ {
			if _, ok := s.heldLocked(c); !ok && !slices.Contains(want, c) {
				want = append(want, c)
			}
		}
	}
	s.mu.Unlock()
	if len(want) == 0 {
		return
	}
	got, err := s.get(want)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range want {
		// What was written meanwhile is newer than what was read.
		if _, ok := s.heldLocked(c); ok || got[i].IsUndefined() || got[i].IsNull() {
			continue
		}
		s.cache[c] = got[i]
		s.cached = append(s.cached, c)
	}
	for len(s.cached) > maxCached {
		delete(s.cache, s.cached[0])
		s.cached = s.cached[1:]
	}
}

// WriteAt queues p to be written at off: whole chunks as they are, partial
// ones merged with what is there. It waits while the queue is full.
func (s *Storage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.length {
		return 0, fmt.Errorf("idbstore: write of %d bytes at %d outside %d bytes", len(p), off, s.length)
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		c := pos / ChunkSize
		start := c * ChunkSize
		end := min(start+ChunkSize, s.length)
		n := int(min(int64(len(p)-done), end-pos))
		if pos == start && pos+int64(n) == end {
			if err := s.enqueue(c, p[done:done+n]); err != nil {
				return done, err
			}
			done += n
			continue
		}
		s.rmw.Lock()
		buf := make([]byte, end-start)
		_, err := s.ReadAt(buf, start)
		if err == nil {
			copy(buf[pos-start:], p[done:done+n])
			err = s.enqueue(c, buf)
		}
		s.rmw.Unlock()
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// enqueue queues chunk c's new content b (copied), waiting for room.
func (s *Storage) enqueue(c int64, b []byte) error {
	u := uint8Array.New(len(b))
	js.CopyBytesToJS(u, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.err == nil && !s.closed && s.queued >= maxQueued {
		s.cond.Wait()
	}
	switch {
	case s.closed:
		return ErrClosed
	case s.err != nil:
		return s.err
	}
	if old, ok := s.queue[c]; ok {
		s.queued -= old.Get("byteLength").Int()
	}
	if _, ok := s.cache[c]; ok {
		delete(s.cache, c) // stale; its entry in cached goes when it ages out
	}
	s.queue[c] = u
	s.queued += len(b)
	s.cond.Broadcast()
	return nil
}

// writer stores the queue, a batch at a time, until the storage closes
// with nothing queued.
func (s *Storage) writer() {
	defer close(s.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.waitForBatchLocked()
		if len(s.queue) == 0 {
			return
		}
		batch := make(map[int64]js.Value, min(len(s.queue), maxBatch))
		for c, v := range s.queue {
			if len(batch) == maxBatch {
				break
			}
			batch[c] = v
			delete(s.queue, c)
		}
		s.writing = batch
		s.mu.Unlock()
		err := s.store(batch)
		s.mu.Lock()
		s.writing = nil
		for _, v := range batch {
			s.queued -= v.Get("byteLength").Int()
		}
		if err != nil && s.err == nil {
			// What cannot be stored is dropped: the torrent fails on its
			// next write (or Flush) with err.
			s.err = err
			s.queue, s.queued = map[int64]js.Value{}, 0
		}
		s.cond.Broadcast()
	}
}

// waitForBatchLocked waits until maxBatch chunks are queued, or some are
// and linger has passed since it began to wait for them, or a Flush waits,
// or the storage closed.
func (s *Storage) waitForBatchLocked() {
	for !s.closed && (len(s.queue) == 0 || len(s.queue) < maxBatch && s.flushes == 0 && !s.lingered) {
		if len(s.queue) > 0 && s.timer == nil {
			var t *time.Timer
			t = time.AfterFunc(linger, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.timer == t { // not stopped meanwhile, for a batch that filled
					s.lingered = true
					s.cond.Broadcast()
				}
			})
			s.timer = t
		}
		s.cond.Wait()
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.lingered = false
}

// store writes batch in one transaction and waits for it to commit.
func (s *Storage) store(batch map[int64]js.Value) error {
	tx := s.d.db.Call("transaction", chunksStore, "readwrite")
	st := tx.Call("objectStore", chunksStore)
	// One key array for the batch: put reads its key when it is called.
	key := s.key(0)
	lo, hi := int64(-1), int64(-1)
	for c, v := range batch {
		key.SetIndex(1, float64(c))
		st.Call("put", v, key)
		if lo < 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	if err := awaitTx(context.Background(), tx); err != nil {
		if name := errName(err); name == "QuotaExceededError" {
			return fmt.Errorf("idbstore: the browser's storage is full (writing chunks %d to %d): %w", lo, hi, err)
		}
		return fmt.Errorf("idbstore: writing chunks %d to %d: %w", lo, hi, err)
	}
	return nil
}

// Flush waits until everything written is stored, and returns the error
// of a write that failed.
func (s *Storage) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	defer func() { s.flushes-- }()
	s.cond.Broadcast()
	for s.err == nil && (len(s.queue) > 0 || s.writing != nil) {
		s.cond.Wait()
	}
	return s.err
}

// Close stores what is queued and releases the torrent for other tabs;
// its data stays. A second Close does nothing.
func (s *Storage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	<-s.done
	s.lk.unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache, s.cached = map[int64]js.Value{}, nil
	return s.err
}
