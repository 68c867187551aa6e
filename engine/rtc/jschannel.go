//go:build js

package rtc

import (
	"errors"
	"io"
	"sync/atomic"
	"syscall/js"
	"time"
)

// highWater is the send buffer above which writes wait; lowWater is where
// they resume. In the browser a data channel's bufferedAmount is what waits
// to enter SCTP (not what is in flight), and more queued only makes larger
// bursts: with 1 MiB, Chromium lost up to 14% of a download's packets
// between the page and the kernel (docs/browser-performance.md), with 256
// KiB about 3%.
const (
	highWater = 256 << 10
	lowWater  = 64 << 10
)

var uint8Array = js.Global().Get("Uint8Array")

// liveHandlers counts the Go event handlers set on browser objects and not
// yet released.
var liveHandlers atomic.Int64

// jsChannel is a Conn's channel in the browser: an RTCDataChannel.
type jsChannel struct {
	pc    *jsPC
	dc    js.Value
	out   js.Value      // one Uint8Array of MessageSize bytes that sends copy through
	low   chan struct{} // bufferedamountlow fired
	ended chan struct{} // the channel closed or the connection failed
}

// newJSConn wraps dc, which must not have delivered a message yet (the
// caller runs on the event loop, before dc's first event): it sets the
// handlers at once so no message is missed.
func newJSConn(pc *jsPC, dc js.Value, maxBuffered int) *Conn {
	c := newConn(dc.Get("label").String(), maxBuffered)
	ch := &jsChannel{pc: pc, dc: dc, out: uint8Array.New(MessageSize), low: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
	c.ch = ch
	dc.Set("binaryType", "arraybuffer")
	dc.Set("bufferedAmountLowThreshold", lowWater)
	pc.on(dc, "bufferedamountlow", func(js.Value) {
		notify(ch.low)
		c.notifyWritable()
	})
	pc.on(dc, "message", func(ev js.Value) { receiveJS(c, ev.Get("data")) })
	pc.on(dc, "open", func(js.Value) { c.markOpen() })
	pc.on(dc, "close", func(js.Value) {
		notify(ch.ended)
		c.shut(io.EOF)
	})
	pc.on(pc.pc, "connectionstatechange", func(js.Value) {
		if s := pc.pc.Get("connectionState").String(); s == "failed" || s == "closed" {
			notify(ch.ended)
			c.shut(errors.New("rtc: peer connection " + s))
		}
	})
	if dc.Get("readyState").String() == "open" {
		c.markOpen()
	}
	return c
}

// receiveJS queues a message's data (an ArrayBuffer, binaryType
// "arraybuffer"; a string for a text message), copied straight into a
// pooled buffer.
func receiveJS(c *Conn, data js.Value) {
	if data.Type() == js.TypeString {
		s := data.String()
		c.receive(len(s), func(b []byte) { copy(b, s) })
		return
	}
	c.receive(data.Get("byteLength").Int(), func(b []byte) { js.CopyBytesToGo(b, uint8Array.New(data)) })
}

// send copies p into the reused array and sends it (the browser copies a
// message when it is sent).
func (ch *jsChannel) send(p []byte) error {
	js.CopyBytesToJS(ch.out, p)
	msg := ch.out
	if len(p) < MessageSize {
		msg = ch.out.Call("subarray", 0, len(p))
	}
	_, err := call(ch.dc, "send", msg)
	return err
}

// maxMessage is the remote's max-message-size as the browser read it from
// the remote description (RTCSctpTransport.maxMessageSize; 0 there means
// unlimited, and so is Infinity), or 0 when the browser does not say.
func (ch *jsChannel) maxMessage() int {
	var max int
	err := catchJS(func() {
		sctp := ch.pc.pc.Get("sctp")
		if !sctp.Truthy() {
			return
		}
		v := sctp.Get("maxMessageSize")
		if v.Type() != js.TypeNumber {
			return
		}
		switch f := v.Float(); {
		case f == 0 || f > 1<<30: // unlimited, or beyond any message we send
			max = -1
		case f > 0:
			max = int(f)
		}
	})
	if err != nil {
		return 0
	}
	return max
}

func (ch *jsChannel) bufferedAmount() int { return ch.dc.Get("bufferedAmount").Int() }

func (ch *jsChannel) highWater() int { return highWater }

// addrs: the browser's API gives the selected candidates only through
// getStats, asynchronously; the address stays a label.
func (ch *jsChannel) addrs() (local, remote string, ok bool) { return "", "", false }

// close closes the channel and then the peer connection. With drain it
// first waits (up to drainTime in all) until the browser has sent what was
// queued (Chromium's close drops messages still queued) and then for the
// channel's close event, which comes once the stream reset went through:
// what was sent before it has arrived.
func (ch *jsChannel) close(drain bool) {
	defer ch.pc.close()
	if !drain {
		return
	}
	t := time.NewTimer(drainTime)
	defer t.Stop()
	ch.dc.Set("bufferedAmountLowThreshold", 0)
	for ch.bufferedAmount() > 0 {
		select {
		case <-ch.low:
		case <-ch.ended:
			return
		case <-t.C:
			return
		}
	}
	if _, err := call(ch.dc, "close"); err != nil {
		return
	}
	select {
	case <-ch.ended:
	case <-t.C:
	}
}

// call calls v's method, turning a JavaScript exception into an error.
func call(v js.Value, method string, args ...any) (r js.Value, err error) {
	err = catchJS(func() { r = v.Call(method, args...) })
	return r, err
}

// catchJS runs f, turning a JavaScript exception it throws into an error.
func catchJS(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			jerr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = jerr
		}
	}()
	f()
	return nil
}

// awaitCall calls v's method, which returns a promise, and waits until the
// promise settles.
func awaitCall(v js.Value, method string, args ...any) (js.Value, error) {
	promise, err := call(v, method, args...)
	if err != nil {
		return js.Undefined(), err
	}
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1) // the handlers never block
	arg := func(args []js.Value) js.Value {
		if len(args) == 0 {
			return js.Undefined()
		}
		return args[0]
	}
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args)}
		return nil
	})
	defer then.Release()
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: js.Error{Value: arg(args)}}
		return nil
	})
	defer catch.Release()
	promise.Call("then", then, catch)
	r := <-done
	return r.v, r.err
}
