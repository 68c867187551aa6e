//go:build js

package engine

import (
	"context"
	"fmt"
	"sync"
	"syscall/js"
)

// In the browser, pieces are checked by the browser's own SHA-1
// (crypto.subtle.digest) rather than Go's: compiled to wasm, Go's took
// about 13% of a downloading page's busy time, the browser's with the
// copies and callbacks about 6% (docs/browser-performance.md), and it
// answers through a promise, off Go's goroutines. A piece's blocks are copied
// into a buffer on the JavaScript side as they are written, at their
// offsets (so blocks that arrive out of order need no read back), and once
// all are written the verifier waits for the digest on a channel fed by
// the promise's callbacks: the event loop never blocks.
//
// Those buffers are capped per torrent (maxNativeHashBytes); a piece that
// would exceed the cap, and every piece where crypto.subtle is missing
// (a page that is not a secure context), is hashed by Go's SHA-1 as its
// blocks arrive, as natively.

// maxNativeHashBytes caps a torrent's piece buffers held for the browser's
// SHA-1; nativePoolSize is how many spare ones it keeps for the next
// pieces.
const (
	maxNativeHashBytes = 32 << 20
	nativePoolSize     = 16
)

// nativeHash is a piece's buffer for the browser's SHA-1; its zero value
// leaves the piece to Go's.
type nativeHash struct {
	buf *nativeBuf // from the pool
	u   js.Value   // its first n bytes: the piece
	n   int64      // 0: not in use
	t   *Torrent   // whose nativeHashBytes count the buffer
}

// nativeBuf is a Uint8Array of the torrent's piece length with a view of
// each block, made the first time a block is copied there and kept with
// the buffer: a view made per block was one more JavaScript object for Go
// to hold and finalize (and one more call) for each 16 KiB received.
type nativeBuf struct {
	a     js.Value
	views []js.Value // block i's view, or undefined until made
}

// view is the view of the block at begin.
func (b *nativeBuf) view(begin int64) js.Value {
	i := begin / BlockSize
	if b.views[i].IsUndefined() {
		b.views[i] = b.a.Call("subarray", begin, min(begin+BlockSize, int64(b.a.Length())))
	}
	return b.views[i]
}

// nativePool keeps a torrent's spare piece buffers: allocating one per
// piece cost about as much as the hashing it saved.
type nativePool struct {
	mu   sync.Mutex
	free []*nativeBuf
}

// subtle is the page's SubtleCrypto, or undefined outside a secure context.
var subtle = func() js.Value {
	c := js.Global().Get("crypto")
	if c.Truthy() && c.Get("subtle").Truthy() {
		return c.Get("subtle")
	}
	return js.Undefined()
}()

// uint8Array is the Uint8Array constructor, looked up once (each lookup
// is one more JavaScript object for Go to hold and finalize).
var uint8Array = js.Global().Get("Uint8Array")

// sha1Name is the digest's algorithm as a JavaScript string, made once.
var sha1Name = js.ValueOf("SHA-1")

// newNativeHash returns a buffer for a piece of n bytes, or the zero
// nativeHash when the browser's SHA-1 is not available or the torrent's
// buffers are at their cap.
func (t *Torrent) newNativeHash(n int64) nativeHash {
	size := t.lay.pieceLength
	if subtle.IsUndefined() || n <= 0 || n > size {
		return nativeHash{}
	}
	if t.nativeHashBytes.Add(size) > maxNativeHashBytes {
		t.nativeHashBytes.Add(-size)
		return nativeHash{}
	}
	pool := &t.natPool
	pool.mu.Lock()
	var buf *nativeBuf
	if k := len(pool.free); k > 0 {
		buf, pool.free = pool.free[k-1], pool.free[:k-1]
	}
	pool.mu.Unlock()
	if buf == nil {
		buf = &nativeBuf{a: uint8Array.New(size), views: make([]js.Value, (size+BlockSize-1)/BlockSize)}
	}
	u := buf.a // a whole piece: no view needed
	if n < size {
		u = buf.a.Call("subarray", 0, n)
	}
	return nativeHash{buf: buf, u: u, n: n, t: t}
}

func (h *nativeHash) active() bool { return h.n > 0 }

// add copies a block at begin into the buffer; false when the piece is
// Go's to hash.
func (h *nativeHash) add(begin int64, data []byte) bool {
	if h.n == 0 {
		return false
	}
	if begin%BlockSize != 0 || begin+int64(len(data)) > h.n || len(data) > BlockSize {
		// Not a block (the engine writes only blocks): a view of its own.
		js.CopyBytesToJS(h.u.Call("subarray", begin, begin+int64(len(data))), data)
		return true
	}
	js.CopyBytesToJS(h.buf.view(begin), data)
	return true
}

// digests hands the browser's digests to the goroutines waiting for them:
// one pair of callbacks for the page, bound to each digest's id
// (Function.prototype.bind), rather than a pair made and released per
// piece.
var digests struct {
	once    sync.Once
	done    js.Func // (id, ArrayBuffer)
	failed  js.Func // (id, error)
	mu      sync.Mutex
	next    int
	waiting map[int]chan digestResult
}

type digestResult struct {
	sum [20]byte
	err error
}

func initDigests() {
	digests.waiting = map[int]chan digestResult{}
	deliver := func(args []js.Value, r digestResult) {
		if len(args) == 0 {
			return
		}
		digests.mu.Lock()
		ch := digests.waiting[args[0].Int()]
		delete(digests.waiting, args[0].Int())
		digests.mu.Unlock()
		if ch != nil {
			ch <- r // buffered: never blocks
		}
	}
	digests.done = js.FuncOf(func(this js.Value, args []js.Value) any {
		var r digestResult
		if len(args) > 1 {
			js.CopyBytesToGo(r.sum[:], uint8Array.New(args[1]))
		}
		deliver(args, r)
		return nil
	})
	digests.failed = js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "unknown error"
		if len(args) > 1 && args[1].Truthy() {
			msg = args[1].Call("toString").String()
		}
		deliver(args, digestResult{err: fmt.Errorf("engine: the browser's SHA-1: %s", msg)})
		return nil
	})
}

// verify asks the browser for the SHA-1 of the piece, gives the buffer
// back to the pool (the browser hashes a copy), and waits for the digest
// on a channel: it says whether it is want.
func (h *nativeHash) verify(ctx context.Context, want [20]byte) (bool, error) {
	digests.once.Do(initDigests)
	ch := make(chan digestResult, 1)
	digests.mu.Lock()
	digests.next++
	id := digests.next
	digests.waiting[id] = ch
	digests.mu.Unlock()
	subtle.Call("digest", sha1Name, h.u).Call("then", digests.done.Call("bind", nil, id), digests.failed.Call("bind", nil, id))
	h.release()
	select {
	case r := <-ch:
		if r.err != nil {
			return false, r.err
		}
		return r.sum == want, nil
	case <-ctx.Done():
		digests.mu.Lock()
		delete(digests.waiting, id)
		digests.mu.Unlock()
		return false, ctx.Err()
	}
}

// release returns the buffer to the torrent's pool (or drops it when the
// pool is full).
func (h *nativeHash) release() {
	pool := &h.t.natPool
	pool.mu.Lock()
	if len(pool.free) < nativePoolSize {
		pool.free = append(pool.free, h.buf)
	}
	pool.mu.Unlock()
	h.t.nativeHashBytes.Add(-h.t.lay.pieceLength)
	h.buf, h.u, h.n = nil, js.Undefined(), 0
}
