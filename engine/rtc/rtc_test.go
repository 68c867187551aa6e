//go:build !js

package rtc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"golang.org/x/net/nettest"
)

// loopbackConfig gathers host candidates on the loopback interface only:
// tests reach nothing off the machine.
func loopbackConfig(maxBuffered int) Config {
	se := loopbackSettings()
	return Config{API: webrtc.NewAPI(webrtc.WithSettingEngine(se)), MaxBuffered: maxBuffered}
}

// loopbackSettings is the setting engine of loopbackConfig, for tests that
// change more of it.
func loopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// pair opens a data channel between two peer connections in this process.
func pair(t testing.TB, cfg Config) (offerer, answerer *Conn) {
	t.Helper()
	return pairConfigs(t, cfg, cfg)
}

func TestStreamBothWays(t *testing.T) {
	a, b := pair(t, loopbackConfig(0))
	defer a.Close()
	defer b.Close()
	if a.RemoteAddr().Network() != "webrtc" {
		t.Fatalf("network %q", a.RemoteAddr().Network())
	}
	if host, _, err := net.SplitHostPort(a.RemoteAddr().String()); err != nil || host != "127.0.0.1" {
		t.Fatalf("remote address %q: want the loopback candidate", a.RemoteAddr())
	}
	exchange(t, a, b, 8<<20)
	a.Close()
	if _, err := io.ReadFull(b, make([]byte, 1)); err == nil {
		t.Fatal("read after the peer closed: no error")
	}
}

// TestMessageSizeFollowsRemote: each end sends messages as large as the
// other's SDP max-message-size allows, up to MessageSize, and the stream
// arrives whole both ways.
func TestMessageSizeFollowsRemote(t *testing.T) {
	small := loopbackConfig(0)
	se := loopbackSettings()
	se.SetSCTPMaxMessageSize(20000) // advertised as a=max-message-size:20000
	small.API = webrtc.NewAPI(webrtc.WithSettingEngine(se))
	a, b := pairConfigs(t, loopbackConfig(0), small)
	defer a.Close()
	defer b.Close()
	if a.msgSize != 20000 {
		t.Fatalf("offerer sends messages of %d bytes to a peer accepting 20000", a.msgSize)
	}
	if b.msgSize != MessageSize {
		t.Fatalf("answerer sends messages of %d bytes to pion (1 GiB accepted), want %d", b.msgSize, MessageSize)
	}
	for _, c := range []struct{ from, to *Conn }{{a, b}, {b, a}} {
		data := make([]byte, 1<<20+7)
		rand.Read(data)
		errc := make(chan error, 1)
		go func() { _, err := c.from.Write(data); errc <- err }()
		got := make([]byte, len(data))
		if _, err := io.ReadFull(c.to, got); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("bytes differ")
		}
	}
}

func TestMessageSizeLimits(t *testing.T) {
	for _, c := range []struct{ remote, want int }{
		{0, smallMessage}, {-1, MessageSize}, {1000, smallMessage}, {20000, 20000},
		{65535, 65535}, {262144, MessageSize}, {1073741823, MessageSize},
	} {
		if got := messageSize(c.remote); got != c.want {
			t.Errorf("messageSize(%d) = %d, want %d", c.remote, got, c.want)
		}
	}
}

// TestNetConn runs x/net's net.Conn conformance suite (deadlines, close,
// concurrent use) over a data channel.
func TestNetConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := pair(t, loopbackConfig(0))
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// TestOverflow: a peer sending one message larger than the receive cap
// is cut off, and whatever it queued before is still readable.
func TestOverflow(t *testing.T) {
	a, b := pair(t, loopbackConfig(64<<10))
	defer a.Close()
	// Raw sends bypass Conn's message cutting.
	if err := a.ch.(*pionChannel).dc.Send(bytes.Repeat([]byte{1}, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.(*pionChannel).dc.Send(make([]byte, 65<<10)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if len(got) != 1000 {
		t.Fatalf("read %d bytes before the overflow, want 1000", len(got))
	}
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("err = %v, want ErrOverflow", err)
	}
}

func TestRejectsWrongDescriptions(t *testing.T) {
	ctx := context.Background()
	cfg := loopbackConfig(0)
	o, err := NewOffer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := NewAnswer(ctx, cfg, webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: o.Local.SDP}); err == nil {
		t.Fatal("an answer accepted as an offer")
	}
	if _, err := NewAnswer(ctx, cfg, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0\r\nnonsense"}); err == nil {
		t.Fatal("a malformed offer accepted")
	}
	if err := o.Accept(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.Local.SDP}); err == nil {
		t.Fatal("an offer accepted as an answer")
	}
	if err := o.Accept(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "garbage"}); err == nil {
		t.Fatal("a malformed answer accepted")
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := o.Connect(cctx); err == nil {
		t.Fatal("connected without an answer")
	}
}

// TestSendWindow: on a short path the window stays small enough that what a
// Conn can have in flight (the window and one message) fits a browser's
// 128 KiB UDP receive buffer; longer round trips scale it up to 1 MiB.
func TestSendWindow(t *testing.T) {
	for _, c := range []struct {
		rtt  float64 // seconds
		want int
	}{
		{0, 32 << 10},      // before the association measured a round trip
		{0.0002, 32 << 10}, // loopback
		{0.001, 32 << 10},  // 32 KB at 32 MB/s: still the floor
		{0.002, 64000},     // a LAN
		{0.010, 320000},    // a nearby relay
		{0.050, 1 << 20},   // capped
		{2, 1 << 20},       // a satellite link
	} {
		if got := sendWindow(c.rtt); got != c.want {
			t.Errorf("sendWindow(%v s) = %d, want %d", c.rtt, got, c.want)
		}
	}
	if inFlight := sendWindow(0.0002) + MessageSize; inFlight > 128<<10 {
		t.Errorf("on loopback up to %d bytes can be in flight, more than a browser's 128 KiB receive buffer", inFlight)
	}
}
