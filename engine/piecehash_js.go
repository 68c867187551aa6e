//go:build js

package engine

import (
	"context"
	"fmt"
	"syscall/js"
)

// In the browser, pieces are checked by the browser's own SHA-1
// (crypto.subtle.digest), which runs off the page's main thread, rather
// than Go's: compiled to wasm, Go's took about 13% of a downloading page's
// busy time (docs/browser-performance.md). A piece's blocks are copied
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
// SHA-1.
const maxNativeHashBytes = 32 << 20

// nativeHash is a piece's buffer for the browser's SHA-1; its zero value
// leaves the piece to Go's.
type nativeHash struct {
	u js.Value // Uint8Array of the piece
	n int64    // its length; 0: not in use
	t *Torrent // whose nativeHashBytes count n
}

// subtle is the page's SubtleCrypto, or undefined outside a secure context.
var subtle = func() js.Value {
	c := js.Global().Get("crypto")
	if c.Truthy() && c.Get("subtle").Truthy() {
		return c.Get("subtle")
	}
	return js.Undefined()
}()

// newNativeHash returns a buffer for a piece of n bytes, or the zero
// nativeHash when the browser's SHA-1 is not available or the torrent's
// buffers are at their cap.
func (t *Torrent) newNativeHash(n int64) nativeHash {
	if subtle.IsUndefined() || n <= 0 {
		return nativeHash{}
	}
	if t.nativeHashBytes.Add(n) > maxNativeHashBytes {
		t.nativeHashBytes.Add(-n)
		return nativeHash{}
	}
	return nativeHash{u: js.Global().Get("Uint8Array").New(n), n: n, t: t}
}

func (h *nativeHash) active() bool { return h.n > 0 }

// add copies a block at begin into the buffer; false when the piece is
// Go's to hash.
func (h *nativeHash) add(begin int64, data []byte) bool {
	if h.n == 0 {
		return false
	}
	js.CopyBytesToJS(h.u.Call("subarray", begin, begin+int64(len(data))), data)
	return true
}

// verify waits for the browser's SHA-1 of the piece and says whether it
// is want, then frees the buffer.
func (h *nativeHash) verify(ctx context.Context, want [20]byte) (bool, error) {
	type result struct {
		sum []byte
		err error
	}
	ch := make(chan result, 1) // the callbacks never block, whoever waits
	ok := js.FuncOf(func(this js.Value, args []js.Value) any {
		sum := make([]byte, 20)
		js.CopyBytesToGo(sum, js.Global().Get("Uint8Array").New(args[0]))
		ch <- result{sum: sum}
		return nil
	})
	bad := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "unknown error"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		ch <- result{err: fmt.Errorf("engine: the browser's SHA-1: %s", msg)}
		return nil
	})
	subtle.Call("digest", "SHA-1", h.u).Call("then", ok, bad)
	n := h.n
	h.u, h.n = js.Undefined(), 0
	defer h.t.nativeHashBytes.Add(-n)
	select {
	case r := <-ch:
		ok.Release()
		bad.Release()
		if r.err != nil {
			return false, r.err
		}
		return [20]byte(r.sum) == want, nil
	case <-ctx.Done():
		return false, ctx.Err() // the callbacks stay: they send into ch, buffered
	}
}
