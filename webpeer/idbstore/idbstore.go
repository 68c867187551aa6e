//go:build js

// Package idbstore keeps torrent data in the browser's IndexedDB (M33:
// storage capped by the user), where it survives a reload and a browser
// restart.
//
// Data is kept in chunks of ChunkSize bytes (the BitTorrent block size,
// so the engine's block writes are whole chunks), keyed by [namespace,
// chunk index], the namespace being the torrent's info hash. A page that
// opens a torrent's storage holds a Web Lock named after it until it
// closes it, so two tabs never write the same torrent: the second one is
// refused with ErrInUse. Close keeps the data (the torrent resumes on the
// next start); Drop deletes it; Sweep deletes what no torrent kept needs.
package idbstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"
)

// ChunkSize is the unit of storage: 16 KiB, the BitTorrent block.
const ChunkSize = 16 << 10

const (
	dbName      = "btspeed-storage"
	dbVersion   = 2
	chunksStore = "chunks"
	namesStore  = "torrents" // every namespace with data: name -> true
	lockPrefix  = "btspeed-torrent-"
)

// ErrInUse says another tab of this browser has the torrent open.
var ErrInUse = errors.New("this torrent is open in another tab of this browser; close it there (or close that tab) and resume it here")

// DB is the page's IndexedDB database.
type DB struct {
	db js.Value
}

// Open opens the database. Version 1 kept each page's data under a
// session of its own, deleted when the page went away: that is cleared.
func Open(ctx context.Context) (*DB, error) {
	idb := js.Global().Get("indexedDB")
	if idb.IsUndefined() {
		return nil, errors.New("idbstore: this browser has no IndexedDB")
	}
	if js.Global().Get("navigator").Get("locks").IsUndefined() {
		return nil, errors.New("idbstore: this browser has no Web Locks")
	}
	req := idb.Call("open", dbName, dbVersion)
	upgrade := js.FuncOf(func(this js.Value, args []js.Value) any {
		db := req.Get("result")
		names := db.Get("objectStoreNames")
		for _, old := range []string{chunksStore, "sessions"} {
			if names.Call("contains", old).Bool() {
				db.Call("deleteObjectStore", old)
			}
		}
		db.Call("createObjectStore", chunksStore)
		if !names.Call("contains", namesStore).Bool() {
			db.Call("createObjectStore", namesStore)
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	db, err := await(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("idbstore: opening IndexedDB: %w", err)
	}
	return &DB{db: db}, nil
}

// lock is a Web Lock this page holds until release.
type lock struct {
	release js.Value // resolves the Promise the lock's callback returned
	once    sync.Once
}

func (l *lock) unlock() {
	l.once.Do(func() { l.release.Invoke() })
}

// lockWait is how long Open waits for a torrent's lock: a page reloading
// releases it as the old document goes.
const lockWait = 2 * time.Second

// tryLock takes the lock of namespace ns, waiting up to wait for a page
// that holds it to let go (0: only if no page holds it).
func tryLock(ctx context.Context, ns string, wait time.Duration) (*lock, error) {
	got := make(chan *lock, 1) // nil: held elsewhere
	failed := make(chan error, 1)
	cb := js.FuncOf(func(this js.Value, args []js.Value) any {
		if len(args) == 0 || args[0].IsNull() {
			got <- nil
			return nil
		}
		l := &lock{}
		exec := js.FuncOf(func(this js.Value, a []js.Value) any { l.release = a[0]; return nil })
		p := js.Global().Get("Promise").New(exec) // pending until unlock
		exec.Release()
		got <- l
		return p
	})
	bad := js.FuncOf(func(this js.Value, args []js.Value) any {
		failed <- toErr(args[0])
		return nil
	})
	defer func() { cb.Release(); bad.Release() }()
	opts := map[string]any{"ifAvailable": true}
	if wait > 0 {
		opts = map[string]any{"signal": js.Global().Get("AbortSignal").Call("timeout", wait.Milliseconds())}
	}
	js.Global().Get("navigator").Get("locks").Call("request", lockPrefix+ns, js.ValueOf(opts), cb).Call("catch", bad)
	select {
	case l := <-got:
		if l == nil {
			return nil, ErrInUse
		}
		return l, nil
	case err := <-failed:
		if n := errName(err); n == "TimeoutError" || n == "AbortError" {
			return nil, ErrInUse
		}
		return nil, fmt.Errorf("idbstore: locking %s: %w", ns, err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Open returns the storage of torrent name (its info hash) of length
// bytes, with what an earlier page stored for it; ErrInUse when another
// tab has it open.
func (d *DB) Open(ctx context.Context, name string, length int64) (*Storage, error) {
	lk, err := tryLock(ctx, name, lockWait)
	if err != nil {
		return nil, err
	}
	tx := d.db.Call("transaction", namesStore, "readwrite")
	if _, err := await(ctx, tx.Call("objectStore", namesStore).Call("put", true, name)); err != nil {
		lk.unlock()
		return nil, fmt.Errorf("idbstore: recording torrent %s: %w", name, err)
	}
	return newStorage(d, name, length, lk), nil
}

// Drop deletes the data of torrent name; ErrInUse when another tab has it
// open (this page's own Storage of it must be closed first).
func (d *DB) Drop(ctx context.Context, name string) error {
	return d.dropWaiting(ctx, name, lockWait)
}

// dropWaiting deletes the data of torrent name once its lock is free,
// waiting up to wait for it.
func (d *DB) dropWaiting(ctx context.Context, name string, wait time.Duration) error {
	lk, err := tryLock(ctx, name, wait)
	if err != nil {
		return err
	}
	defer lk.unlock()
	return d.drop(ctx, name)
}

func (d *DB) drop(ctx context.Context, name string) error {
	tx := d.db.Call("transaction", js.ValueOf([]any{chunksStore, namesStore}), "readwrite")
	lo := js.ValueOf([]any{name, 0})
	hi := js.ValueOf([]any{name, float64(1 << 53)})
	tx.Call("objectStore", chunksStore).Call("delete", js.Global().Get("IDBKeyRange").Call("bound", lo, hi))
	if _, err := await(ctx, tx.Call("objectStore", namesStore).Call("delete", name)); err != nil {
		return fmt.Errorf("idbstore: deleting the data of %s: %w", name, err)
	}
	return nil
}

// Sweep deletes the data of every namespace not in keep that no page has
// open (a torrent removed, added by a page that went away before it was
// recorded, or a page's own that was not to be kept).
func (d *DB) Sweep(ctx context.Context, keep func(name string) bool) error {
	tx := d.db.Call("transaction", namesStore, "readonly")
	keys, err := await(ctx, tx.Call("objectStore", namesStore).Call("getAllKeys"))
	if err != nil {
		return fmt.Errorf("idbstore: listing the torrents stored: %w", err)
	}
	for i := 0; i < keys.Length(); i++ {
		name := keys.Index(i).String()
		if keep(name) {
			continue
		}
		if err := d.dropWaiting(ctx, name, 0); err != nil && !errors.Is(err, ErrInUse) {
			return err
		}
	}
	return nil
}

// Used is the bytes stored for torrent name, by whole chunks.
func (d *DB) Used(ctx context.Context, name string) (int64, error) {
	tx := d.db.Call("transaction", chunksStore, "readonly")
	lo := js.ValueOf([]any{name, 0})
	hi := js.ValueOf([]any{name, float64(1 << 53)})
	n, err := await(ctx, tx.Call("objectStore", chunksStore).Call("count", js.Global().Get("IDBKeyRange").Call("bound", lo, hi)))
	if err != nil {
		return 0, fmt.Errorf("idbstore: counting the data of %s: %w", name, err)
	}
	return int64(n.Int()) * ChunkSize, nil
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

// awaitTx waits for a transaction to commit; a failed request aborts it
// with that request's error.
func awaitTx(ctx context.Context, tx js.Value) error {
	_, err := settle(ctx, func(ok, bad js.Func) {
		tx.Set("oncomplete", ok)
		tx.Set("onabort", bad)
	}, func(js.Value) js.Value { return js.Undefined() }, func([]js.Value) error { return toErr(tx.Get("error")) })
	return err
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
