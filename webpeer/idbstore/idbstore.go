//go:build js

// Package idbstore keeps torrent data in the browser's IndexedDB, for
// torrents too large for memory (M33: storage capped by the user).
//
// Data is kept in chunks of ChunkSize bytes (the BitTorrent block size,
// so the engine's block writes are whole chunks), keyed by [namespace,
// chunk index]. Each page (session) writes under its own namespace and
// holds a Web Lock named after it for as long as it lives; Open deletes
// the data of sessions whose lock is gone (a closed or crashed tab), so
// nothing is left behind, and a Storage's Close deletes its own data: the
// browser peer does not resume torrents across page loads.
package idbstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall/js"
)

// ChunkSize is the unit of storage: 16 KiB, the BitTorrent block.
const ChunkSize = 16 << 10

const (
	dbName        = "btspeed-storage"
	chunksStore   = "chunks"
	sessionsStore = "sessions"
	lockPrefix    = "btspeed-storage-session-"
)

// DB is the page's IndexedDB database and session.
type DB struct {
	db      js.Value
	session string
	mu      sync.Mutex
	next    int
}

// Open opens the database, starts this page's session and deletes the
// data of sessions no page holds any more.
func Open(ctx context.Context) (*DB, error) {
	idb := js.Global().Get("indexedDB")
	if idb.IsUndefined() {
		return nil, errors.New("idbstore: this browser has no IndexedDB")
	}
	req := idb.Call("open", dbName, 1)
	upgrade := js.FuncOf(func(this js.Value, args []js.Value) any {
		db := req.Get("result")
		names := db.Get("objectStoreNames")
		if !names.Call("contains", chunksStore).Bool() {
			db.Call("createObjectStore", chunksStore)
		}
		if !names.Call("contains", sessionsStore).Bool() {
			db.Call("createObjectStore", sessionsStore)
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	db, err := await(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("idbstore: opening IndexedDB: %w", err)
	}
	var id [8]byte
	rand.Read(id[:])
	d := &DB{db: db, session: hex.EncodeToString(id[:])}
	// Hold this session's lock until the page goes away.
	locks := js.Global().Get("navigator").Get("locks")
	if locks.IsUndefined() {
		return nil, errors.New("idbstore: this browser has no Web Locks")
	}
	hold := js.FuncOf(func(this js.Value, args []js.Value) any {
		return js.Global().Get("Promise").New(js.FuncOf(func(this js.Value, args []js.Value) any { return nil }))
	})
	locks.Call("request", lockPrefix+d.session, hold) // never released: lives as long as the page
	tx := d.db.Call("transaction", sessionsStore, "readwrite")
	if _, err := await(ctx, tx.Call("objectStore", sessionsStore).Call("put", true, d.session)); err != nil {
		return nil, fmt.Errorf("idbstore: recording the session: %w", err)
	}
	if err := d.sweep(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// sweep deletes the chunks of sessions whose page is gone.
func (d *DB) sweep(ctx context.Context) error {
	held := map[string]bool{}
	q, err := awaitPromise(ctx, js.Global().Get("navigator").Get("locks").Call("query"))
	if err != nil {
		return fmt.Errorf("idbstore: listing sessions: %w", err)
	}
	h := q.Get("held")
	for i := 0; i < h.Length(); i++ {
		held[h.Index(i).Get("name").String()] = true
	}
	tx := d.db.Call("transaction", sessionsStore, "readonly")
	keys, err := await(ctx, tx.Call("objectStore", sessionsStore).Call("getAllKeys"))
	if err != nil {
		return fmt.Errorf("idbstore: listing sessions: %w", err)
	}
	for i := 0; i < keys.Length(); i++ {
		s := keys.Index(i).String()
		if held[lockPrefix+s] {
			continue
		}
		tx := d.db.Call("transaction", js.ValueOf([]any{chunksStore, sessionsStore}), "readwrite")
		tx.Call("objectStore", chunksStore).Call("delete", bound(s+":", s+";"))
		if _, err := await(ctx, tx.Call("objectStore", sessionsStore).Call("delete", s)); err != nil {
			return fmt.Errorf("idbstore: deleting an old session's data: %w", err)
		}
	}
	return nil
}

// Session is this page's namespace prefix.
func (d *DB) Session() string { return d.session }

// bound is the key range of namespaces from lo up to (not including) hi.
func bound(lo, hi string) js.Value {
	return js.Global().Get("IDBKeyRange").Call("bound", js.ValueOf([]any{lo}), js.ValueOf([]any{hi}), false, true)
}

// Storage is one torrent's data.
type Storage struct {
	d      *DB
	ns     string
	length int64
	mu     sync.Mutex // serialises read-modify-write of partial chunks
}

// New returns the storage of a torrent of length bytes, in a namespace of
// its own (name labels it, e.g. the info hash).
func (d *DB) New(name string, length int64) *Storage {
	d.mu.Lock()
	d.next++
	ns := fmt.Sprintf("%s:%d:%s", d.session, d.next, name)
	d.mu.Unlock()
	return &Storage{d: d, ns: ns, length: length}
}

func (s *Storage) key(chunk int64) js.Value { return js.ValueOf([]any{s.ns, float64(chunk)}) }

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
	tx := s.d.db.Call("transaction", chunksStore, "readonly")
	st := tx.Call("objectStore", chunksStore)
	reqs := make([]js.Value, 0, last-first+1)
	for c := first; c <= last; c++ {
		reqs = append(reqs, st.Call("get", s.key(c)))
	}
	ctx := context.Background()
	for i, req := range reqs {
		c := first + int64(i)
		v, err := await(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("idbstore: reading chunk %d: %w", c, err)
		}
		start := c * ChunkSize
		lo, hi := max(off, start), min(off+int64(n), start+ChunkSize)
		dst := p[lo-off : hi-off]
		if v.IsUndefined() || v.IsNull() {
			clear(dst)
			continue
		}
		chunk := make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(chunk, v)
		from := lo - start
		copied := 0
		if from < int64(len(chunk)) {
			copied = copy(dst, chunk[from:])
		}
		clear(dst[copied:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off: whole chunks are stored as they are, partial
// ones merged with what is there.
func (s *Storage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.length {
		return 0, fmt.Errorf("idbstore: write of %d bytes at %d outside %d bytes", len(p), off, s.length)
	}
	ctx := context.Background()
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		c := pos / ChunkSize
		start := c * ChunkSize
		end := min(start+ChunkSize, s.length)
		n := int(min(int64(len(p)-done), end-pos))
		var chunk []byte
		if pos == start && pos+int64(n) == end {
			chunk = p[done : done+n]
		} else {
			s.mu.Lock()
			buf := make([]byte, end-start)
			if _, err := s.ReadAt(buf, start); err != nil {
				s.mu.Unlock()
				return done, err
			}
			copy(buf[pos-start:], p[done:done+n])
			err := s.put(ctx, c, buf)
			s.mu.Unlock()
			if err != nil {
				return done, err
			}
			done += n
			continue
		}
		if err := s.put(ctx, c, chunk); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (s *Storage) put(ctx context.Context, c int64, b []byte) error {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	tx := s.d.db.Call("transaction", chunksStore, "readwrite")
	if _, err := await(ctx, tx.Call("objectStore", chunksStore).Call("put", u, s.key(c))); err != nil {
		if name := errName(err); name == "QuotaExceededError" {
			return fmt.Errorf("idbstore: the browser's storage is full (writing chunk %d): %w", c, err)
		}
		return fmt.Errorf("idbstore: writing chunk %d: %w", c, err)
	}
	return nil
}

// Flush does nothing: every write is its own committed transaction.
func (s *Storage) Flush() error { return nil }

// Close deletes the torrent's data (the browser peer does not resume).
func (s *Storage) Close() error {
	tx := s.d.db.Call("transaction", chunksStore, "readwrite")
	lo := js.ValueOf([]any{s.ns, 0})
	hi := js.ValueOf([]any{s.ns, float64(1 << 53)})
	r := js.Global().Get("IDBKeyRange").Call("bound", lo, hi)
	if _, err := await(context.Background(), tx.Call("objectStore", chunksStore).Call("delete", r)); err != nil {
		return fmt.Errorf("idbstore: deleting the data: %w", err)
	}
	return nil
}

// jsErr is a DOMException or other error from IndexedDB.
type jsErr struct{ name, msg string }

func (e *jsErr) Error() string { return e.name + ": " + e.msg }

func errName(err error) string {
	var e *jsErr
	if errors.As(err, &e) {
		return e.name
	}
	return ""
}

func toErr(v js.Value) error {
	if v.IsNull() || v.IsUndefined() {
		return &jsErr{"Error", "unknown IndexedDB error"}
	}
	name, msg := "Error", ""
	if n := v.Get("name"); n.Type() == js.TypeString {
		name = n.String()
	}
	if m := v.Get("message"); m.Type() == js.TypeString {
		msg = m.String()
	}
	return &jsErr{name, msg}
}

// await waits for an IDBRequest.
func await(ctx context.Context, req js.Value) (js.Value, error) {
	return settle(ctx, func(ok, bad js.Func) {
		req.Set("onsuccess", ok)
		req.Set("onerror", bad)
	}, func(js.Value) js.Value { return req.Get("result") }, func(args []js.Value) error {
		if len(args) > 0 {
			args[0].Call("preventDefault") // handled here, not by the transaction
		}
		return toErr(req.Get("error"))
	})
}

// awaitPromise waits for a Promise.
func awaitPromise(ctx context.Context, p js.Value) (js.Value, error) {
	return settle(ctx, func(ok, bad js.Func) { p.Call("then", ok, bad) },
		func(v js.Value) js.Value { return v },
		func(args []js.Value) error { return toErr(args[0]) })
}

// settle waits for one of two callbacks that register attaches: ok's
// first argument becomes the value through result, bad's arguments an
// error through fail. On ctx's end it returns at once; the callbacks
// stay (and send into a buffered channel nobody reads).
func settle(ctx context.Context, register func(ok, bad js.Func), result func(js.Value) js.Value, fail func([]js.Value) error) (js.Value, error) {
	type res struct {
		v   js.Value
		err error
	}
	ch := make(chan res, 1)
	ok := js.FuncOf(func(this js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- res{v: result(v)}
		return nil
	})
	bad := js.FuncOf(func(this js.Value, args []js.Value) any {
		ch <- res{err: fail(args)}
		return nil
	})
	register(ok, bad)
	select {
	case r := <-ch:
		ok.Release()
		bad.Release()
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}
