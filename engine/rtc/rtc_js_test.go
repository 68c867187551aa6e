//go:build js

package rtc

// These tests need the browser's WebRTC: TestInChromium (browser_test.go)
// builds them and runs them in headless Chromium. Under Node they skip.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall/js"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

func requireWebRTC(t testing.TB) {
	t.Helper()
	if js.Global().Get("RTCPeerConnection").IsUndefined() {
		t.Skip("no RTCPeerConnection here (Node): TestInChromium runs these tests in Chromium")
	}
}

// pair opens a data channel between two peer connections in this page.
func pair(t testing.TB, cfg Config) (offerer, answerer *Conn) {
	t.Helper()
	requireWebRTC(t)
	return pairConfigs(t, cfg, cfg)
}

func TestJSStreamBothWays(t *testing.T) {
	a, b := pair(t, Config{})
	defer b.Close()
	if a.RemoteAddr().Network() != "webrtc" {
		t.Fatalf("network %q", a.RemoteAddr().Network())
	}
	// Chromium accepts 256 KiB messages: both ends send MessageSize.
	if a.msgSize != MessageSize || b.msgSize != MessageSize {
		t.Fatalf("messages of %d and %d bytes between two Chromium peers, want %d", a.msgSize, b.msgSize, MessageSize)
	}
	// 8 MiB each way: well past the 1 MiB high-water mark, so writers
	// wait for bufferedamountlow.
	exchange(t, a, b, 8<<20)
	// A local close delivers what was written before it, like TCP.
	tail := bytes.Repeat([]byte("tail"), 100000)
	if _, err := a.Write(tail); err != nil {
		t.Fatal(err)
	}
	a.Close()
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, tail) {
		t.Fatalf("after the peer closed: read %d bytes (want %d), err %v", len(got), len(tail), err)
	}
}

// TestJSNetConn runs x/net's net.Conn conformance suite (deadlines, close,
// concurrent use) over the browser's data channel.
func TestJSNetConn(t *testing.T) {
	requireWebRTC(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := pair(t, Config{})
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// TestJSOverflow: a peer sending more than the receive cap is cut off
// (the browser's message handler never waits), and whatever it queued
// before is still readable.
func TestJSOverflow(t *testing.T) {
	a, b := pair(t, Config{MaxBuffered: 64 << 10})
	defer a.Close()
	dc := a.ch.(*jsChannel).dc // raw sends bypass Conn's message cutting
	dc.Call("send", uint8Array.New(1000))
	dc.Call("send", uint8Array.New(65<<10))
	got, err := io.ReadAll(b)
	if len(got) != 1000 {
		t.Fatalf("read %d bytes before the overflow, want 1000", len(got))
	}
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("err = %v, want ErrOverflow", err)
	}
}

func TestJSRejectsWrongDescriptions(t *testing.T) {
	requireWebRTC(t)
	ctx := context.Background()
	o, err := NewOffer(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := NewAnswer(ctx, Config{}, SessionDescription{Type: SDPTypeAnswer, SDP: o.Local.SDP}); err == nil {
		t.Fatal("an answer accepted as an offer")
	}
	if _, err := NewAnswer(ctx, Config{}, SessionDescription{Type: SDPTypeOffer, SDP: "v=0\r\nnonsense"}); err == nil {
		t.Fatal("a malformed offer accepted")
	}
	if err := o.Accept(SessionDescription{Type: SDPTypeOffer, SDP: o.Local.SDP}); err == nil {
		t.Fatal("an offer accepted as an answer")
	}
	if err := o.Accept(SessionDescription{Type: SDPTypeAnswer, SDP: "garbage"}); err == nil {
		t.Fatal("a malformed answer accepted")
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := o.Connect(cctx); err == nil {
		t.Fatal("connected without an answer")
	}
}

// liveJSRefs counts the JavaScript values Go holds references to (every
// js.Func not released is one), when the page exposes its Go instance as
// window.goInstance; -1 otherwise.
func liveJSRefs() int {
	g := js.Global().Get("goInstance")
	if g.IsUndefined() {
		return -1
	}
	return g.Get("_values").Length() - g.Get("_idPool").Length()
}

// quiesce lets goroutines end and finalizers free js.Values (after a GC)
// until neither count has fallen for 5 rounds of the event loop (at most
// 300), and returns both.
func quiesce() (goroutines, refs int) {
	goroutines, refs = runtime.NumGoroutine(), liveJSRefs()
	for round, still := 0, 0; round < 300 && still < 5; round++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		g, r := runtime.NumGoroutine(), liveJSRefs()
		if g < goroutines || r < refs {
			still = 0
		} else {
			still++
		}
		goroutines, refs = min(g, goroutines), min(r, refs)
	}
	return runtime.NumGoroutine(), liveJSRefs()
}

// TestJSOpenCloseLeaksNothing opens, uses and closes many connections,
// closed from either side, and checks that every handler was released (the
// package's count and the JavaScript references Go holds) and that no
// goroutine is left.
func TestJSOpenCloseLeaksNothing(t *testing.T) {
	requireWebRTC(t)
	const n = 30
	goroutines, refs := quiesce()
	handlers := liveHandlers.Load()
	for i := range n {
		a, b := pair(t, Config{})
		exchange(t, a, b, 64<<10+i)
		if i%2 == 0 {
			a.Close()
		} else {
			b.Close()
		}
		<-a.released
		<-b.released
		if h := liveHandlers.Load(); h > handlers {
			t.Fatalf("pair %d: %d handlers not released after both ends closed", i, h-handlers)
		}
	}
	g, r := quiesce()
	t.Logf("%d pairs: goroutines %d -> %d, JavaScript references %d -> %d", n, goroutines, g, refs, r)
	if g > goroutines {
		t.Errorf("%d goroutines left", g-goroutines)
	}
	if refs < 0 {
		t.Log("the page exposes no goInstance: JavaScript references not counted")
	} else if r >= refs+n { // unreleased handlers would be 8 a pair
		t.Errorf("%d more JavaScript references held", r-refs)
	}
}

// TestJSICEServerJSON: the ICE servers BTSpeed.start passes are
// RTCIceServers, whose urls is one URL or a list.
func TestJSICEServerJSON(t *testing.T) {
	var got []ICEServer
	err := json.Unmarshal([]byte(`[{"urls":"stun:a.example:3478"},{"urls":["turn:b.example","turns:b.example"],"username":"u","credential":"p"}]`), &got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].URLs) != 1 || got[0].URLs[0] != "stun:a.example:3478" ||
		len(got[1].URLs) != 2 || got[1].Username != "u" || got[1].Credential != "p" {
		t.Fatalf("decoded %+v", got)
	}
	if err := json.Unmarshal([]byte(`{"urls":7}`), new(ICEServer)); err == nil {
		t.Fatal("urls 7 accepted")
	}
}
