//go:build !js

package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// A Conn's send window: how much it lets wait in pion's send buffer, which
// holds what is queued and what is in flight until acknowledged. Enough for
// windowRate at the shortest round trip seen on the association, from
// minWindow to maxWindow; writes resume when the buffer falls to half of
// it. pion does not pace what it sends, nor limit a burst (SCTP's
// Max.Burst): it sends what the window lets it at once. A browser's WebRTC
// UDP socket has a 128 KiB receive buffer (about 60 datagrams), overrun
// whenever the browser is not scheduled for a few milliseconds, and pion
// repairs a lost retransmission only by its retransmission timeout (800
// ms, SCTPRTOMax). On short paths the window is what bounds such a burst:
// a Conn writes at most a message (MessageSize) above it, so with 32 KiB
// at most 96 KiB is in flight toward the browser. Measured through the
// relay's bridge on loopback (BenchmarkBrowserBridge, 6 ops of 64 MiB
// each): 128 KiB lost 280-296 datagrams an op and stalled 3-5 times on
// the timeout; 64 KiB 172 and 3; 48 KiB 52 and 3; 32 KiB 36-42 and none,
// and the bridged download reached the native one's rate. It costs pion
// to pion on loopback (a bigger receive buffer) some speed: direct WebRTC
// 70-72 MB/s against 77-87 with 128 KiB (docs/engine.md, the bridge). The round trip
// scales the window above it: 1 MiB from 33 ms on.
const (
	minWindow  = 32 << 10
	maxWindow  = 1 << 20
	windowRate = 32e6 // bytes a second
)

// sendWindow is the send window for a shortest smoothed round trip of
// minRTT seconds (0: none measured yet).
func sendWindow(minRTT float64) int {
	return min(maxWindow, max(minWindow, int(minRTT*windowRate)))
}

// Natively the signalling types are pion's.
type (
	// SessionDescription is an offer or an answer.
	SessionDescription = webrtc.SessionDescription
	// SDPType says whether a SessionDescription is an offer or an answer.
	SDPType = webrtc.SDPType
	// ICEServer is a STUN or TURN server.
	ICEServer = webrtc.ICEServer
)

// The SDP types a Peer exchanges.
const (
	SDPTypeOffer  = webrtc.SDPTypeOffer
	SDPTypeAnswer = webrtc.SDPTypeAnswer
)

// blockingReceive: natively a full receive queue waits, which pushes back
// on the sender through SCTP's receive window.
const blockingReceive = true

// closeWaits: natively Close returns once the channel and the peer
// connection are closed (after the drain), so no goroutine outlives it.
const closeWaits = true

// lostWakeupTick: pion's buffered-amount-low callback may race with a
// writer's check, so a writer also re-checks this often.
const lostWakeupTick = 50 * time.Millisecond

// Config configures the peer connections a package user opens.
type Config struct {
	// API makes peer connections; nil is the package's default (Tune).
	// Tests and servers set a SettingEngine here (interfaces, ports,
	// public IPs).
	API *webrtc.API
	// ICEServers are the STUN/TURN servers; empty gathers host candidates
	// only.
	ICEServers []ICEServer
	// MaxBuffered caps received bytes not yet read (default
	// DefaultMaxBuffered).
	MaxBuffered int
}

func (c Config) newPC() (*webrtc.PeerConnection, error) {
	api := c.API
	if api == nil {
		api = defaultAPI()
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: c.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("rtc: new peer connection: %w", err)
	}
	return pc, nil
}

// SCTPReceiveBuffer is the SCTP receive window the package's default API
// (and the relay's) uses: pion's default of 1 MiB holds a data channel to
// about 40 MB/s on loopback here, 4 MiB to about 55.
const SCTPReceiveBuffer = 4 << 20

// SCTPRTOMax caps SCTP's retransmission timeout, as the browsers' own SCTP
// (WebRTC's dcsctp: at most 800 ms) does. pion's timeout is at least 1 s
// and doubles at each loss it repairs by timeout up to 60 s, so a data
// channel toward a browser, whose 128 KiB UDP receive buffer a fast sender
// overruns whenever the browser is not scheduled for a few milliseconds,
// stalled a second or more at such losses (docs/engine.md, the bridge).
const SCTPRTOMax = 800 * time.Millisecond

// Tune applies the package's transport settings to se.
func Tune(se *webrtc.SettingEngine) {
	se.SetSCTPMaxReceiveBufferSize(SCTPReceiveBuffer)
	se.SetSCTPRTOMax(SCTPRTOMax)
}

var defaultAPI = sync.OnceValue(func() *webrtc.API {
	var se webrtc.SettingEngine
	Tune(&se)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
})

// Peer is one side of a WebRTC connection being set up: Local is the
// description to send to the other side.
type Peer struct {
	Local SessionDescription

	pc     *webrtc.PeerConnection
	conn   chan *Conn // the data channel, once there is one
	mu     sync.Mutex
	closed bool
}

func (p *Peer) closePC() { p.pc.Close() }

// gather sets desc as the local description and waits until every
// candidate is in it (no trickle ICE).
func (p *Peer) gather(ctx context.Context, desc SessionDescription) error {
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("rtc: set local description: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("rtc: gathering candidates: %w", ctx.Err())
	}
	p.Local = *p.pc.LocalDescription()
	return nil
}

// NewOffer starts the initiating side: a peer connection with one data
// channel and an offer holding all candidates.
func NewOffer(ctx context.Context, cfg Config) (*Peer, error) {
	pc, err := cfg.newPC()
	if err != nil {
		return nil, err
	}
	p := &Peer{pc: pc, conn: make(chan *Conn, 1)}
	dc, err := pc.CreateDataChannel(newLabel(), nil)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("rtc: create data channel: %w", err)
	}
	p.conn <- newPionConn(pc, dc, cfg.MaxBuffered)
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = p.gather(ctx, offer)
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("rtc: offer: %w", err)
	}
	return p, nil
}

// NewAnswer answers a remote offer: p.Local is the answer to send back.
func NewAnswer(ctx context.Context, cfg Config, offer SessionDescription) (*Peer, error) {
	if offer.Type != SDPTypeOffer {
		return nil, errors.New("rtc: the remote description is not an offer")
	}
	pc, err := cfg.newPC()
	if err != nil {
		return nil, err
	}
	p := &Peer{pc: pc, conn: make(chan *Conn, 1)}
	var once sync.Once
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		taken := false
		once.Do(func() {
			taken = true
			p.conn <- newPionConn(pc, dc, cfg.MaxBuffered)
		})
		if !taken {
			dc.Close() // one channel per peer, as WebTorrent does
		}
	})
	err = pc.SetRemoteDescription(offer)
	if err != nil {
		err = fmt.Errorf("set remote description: %w", err)
	} else {
		var answer SessionDescription
		if answer, err = pc.CreateAnswer(nil); err == nil {
			err = p.gather(ctx, answer)
		}
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("rtc: answer: %w", err)
	}
	return p, nil
}

// Accept gives the initiating side the remote answer.
func (p *Peer) Accept(answer SessionDescription) error {
	if answer.Type != SDPTypeAnswer {
		return errors.New("rtc: the remote description is not an answer")
	}
	if err := p.pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("rtc: set remote description: %w", err)
	}
	return nil
}

// pionChannel is a Conn's channel natively.
type pionChannel struct {
	pc *webrtc.PeerConnection
	dc *webrtc.DataChannel

	// window and minRTT belong to the Conn's one writer (highWater runs
	// under its write lock).
	window int
	minRTT float64 // seconds; 0 until the association measured one
}

// newPionConn wraps dc, which must not have delivered a message yet: it
// registers the handlers at once so no message is missed.
func newPionConn(pc *webrtc.PeerConnection, dc *webrtc.DataChannel, maxBuffered int) *Conn {
	c := newConn(dc.Label(), maxBuffered)
	c.ch = &pionChannel{pc: pc, dc: dc, window: minWindow}
	dc.SetBufferedAmountLowThreshold(minWindow / 2)
	dc.OnBufferedAmountLow(c.notifyWritable)
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		// pion hands over a buffer of its own: receive copies it.
		c.receive(len(m.Data), func(b []byte) { copy(b, m.Data) })
	})
	dc.OnOpen(c.markOpen)
	dc.OnClose(func() { c.shut(io.EOF) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			c.shut(errors.New("rtc: peer connection " + s.String()))
		}
	})
	if dc.ReadyState() == webrtc.DataChannelStateOpen {
		c.markOpen()
	}
	return c
}

func (ch *pionChannel) send(p []byte) error { return ch.dc.Send(p) }

func (ch *pionChannel) bufferedAmount() int { return int(ch.dc.BufferedAmount()) }

// highWater is the send window for the shortest smoothed round trip the
// association has reported so far (minWindow before it reports one); the
// buffered-amount-low event follows it at half.
func (ch *pionChannel) highWater() int {
	if st := ch.pc.SCTP(); st != nil {
		if rtt := st.Stats().SmoothedRoundTripTime; rtt > 0 && (ch.minRTT == 0 || rtt < ch.minRTT) {
			ch.minRTT = rtt
		}
	}
	w := sendWindow(ch.minRTT)
	if w != ch.window {
		ch.window = w
		ch.dc.SetBufferedAmountLowThreshold(uint64(w / 2))
	}
	return w
}

// addrs returns the selected ICE candidates' addresses.
func (ch *pionChannel) addrs() (local, remote string, ok bool) {
	sctp := ch.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return "", "", false
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return "", "", false
	}
	return net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port))),
		net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))), true
}

// maxMessage is the association's limit: the remote's SDP
// max-message-size, or pion's default (65535) when it gave none.
func (ch *pionChannel) maxMessage() int {
	sctp := ch.pc.SCTP()
	if sctp == nil {
		return 0
	}
	return int(sctp.GetCapabilities().MaxMessageSize)
}

func (ch *pionChannel) close(drain bool) {
	// pion has no event for an empty send buffer: poll it (bounded).
	for deadline := time.Now().Add(drainTime); drain && ch.dc.BufferedAmount() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	ch.dc.Close()
	ch.pc.Close()
}
