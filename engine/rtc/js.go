//go:build js

package rtc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
)

// In the browser the signalling types are the package's own, shaped like
// the browser's (and pion's) JSON.
type (
	// SDPType says whether a SessionDescription is an offer or an answer:
	// RTCSessionDescription's type.
	SDPType string

	// SessionDescription is an offer or an answer (RTCSessionDescriptionInit).
	SessionDescription struct {
		Type SDPType `json:"type"`
		SDP  string  `json:"sdp"`
	}

	// ICEServer is a STUN or TURN server (RTCIceServer).
	ICEServer struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username,omitempty"`
		Credential string   `json:"credential,omitempty"`
	}
)

// The SDP types a Peer exchanges.
const (
	SDPTypeOffer  SDPType = "offer"
	SDPTypeAnswer SDPType = "answer"
)

// String returns the type as the browser spells it.
func (t SDPType) String() string { return string(t) }

// UnmarshalJSON takes an RTCIceServer: urls is one URL or a list.
func (s *ICEServer) UnmarshalJSON(b []byte) error {
	var v struct {
		URLs       json.RawMessage `json:"urls"`
		Username   string          `json:"username"`
		Credential string          `json:"credential"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("rtc: ICE server: %w", err)
	}
	var one string
	if err := json.Unmarshal(v.URLs, &one); err == nil {
		s.URLs = []string{one}
	} else if err := json.Unmarshal(v.URLs, &s.URLs); err != nil {
		return fmt.Errorf("rtc: ICE server urls: %w", err)
	}
	s.Username, s.Credential = v.Username, v.Credential
	return nil
}

// blockingReceive: in the browser a message handler must never block the
// event loop, so a full receive queue closes the connection instead.
const blockingReceive = false

// closeWaits: in the browser the close completes through events the event
// loop delivers, and Close may be called from a handler on that loop, so it
// must not wait; Conn.released tells when it is done.
const closeWaits = false

// lostWakeupTick: the browser's bufferedamountlow event is not lost (the
// amount only falls between event-loop tasks), so writers need no tick.
const lostWakeupTick = 0

// Config configures the peer connections a package user opens.
type Config struct {
	// ICEServers are the STUN/TURN servers; empty gathers host candidates
	// only.
	ICEServers []ICEServer
	// MaxBuffered caps received bytes not yet read (default
	// DefaultMaxBuffered).
	MaxBuffered int
}

// rtcConfiguration is c as an RTCConfiguration.
func (c Config) rtcConfiguration() js.Value {
	servers := make([]any, len(c.ICEServers))
	for i, s := range c.ICEServers {
		urls := make([]any, len(s.URLs))
		for j, u := range s.URLs {
			urls[j] = u
		}
		o := map[string]any{"urls": urls}
		if s.Username != "" {
			o["username"] = s.Username
		}
		if s.Credential != "" {
			o["credential"] = s.Credential
		}
		servers[i] = o
	}
	return js.ValueOf(map[string]any{"iceServers": servers})
}

// Peer is one side of a WebRTC connection being set up: Local is the
// description to send to the other side.
type Peer struct {
	Local SessionDescription

	pc     *jsPC
	conn   chan *Conn // the data channel, once there is one
	mu     sync.Mutex
	closed bool
}

func (p *Peer) closePC() { p.pc.close() }

// NewOffer starts the initiating side: a peer connection with one data
// channel and an offer holding all candidates.
func NewOffer(ctx context.Context, cfg Config) (*Peer, error) {
	pc, err := newJSPC(cfg)
	if err != nil {
		return nil, err
	}
	p := &Peer{pc: pc, conn: make(chan *Conn, 1)}
	dc, err := call(pc.pc, "createDataChannel", newLabel())
	if err != nil {
		pc.close()
		return nil, fmt.Errorf("rtc: create data channel: %w", err)
	}
	p.conn <- newJSConn(pc, dc, cfg.MaxBuffered)
	if err := p.gather(ctx, "createOffer"); err != nil {
		pc.close()
		return nil, fmt.Errorf("rtc: offer: %w", err)
	}
	return p, nil
}

// NewAnswer answers a remote offer: p.Local is the answer to send back.
func NewAnswer(ctx context.Context, cfg Config, offer SessionDescription) (*Peer, error) {
	if offer.Type != SDPTypeOffer {
		return nil, errors.New("rtc: the remote description is not an offer")
	}
	pc, err := newJSPC(cfg)
	if err != nil {
		return nil, err
	}
	p := &Peer{pc: pc, conn: make(chan *Conn, 1)}
	var once sync.Once
	pc.on(pc.pc, "datachannel", func(ev js.Value) {
		dc := ev.Get("channel")
		taken := false
		once.Do(func() {
			taken = true
			p.conn <- newJSConn(pc, dc, cfg.MaxBuffered)
		})
		if !taken {
			dc.Call("close") // one channel per peer, as WebTorrent does
		}
	})
	if err := p.setRemote(offer); err != nil {
		pc.close()
		return nil, fmt.Errorf("rtc: answer: %w", err)
	}
	if err := p.gather(ctx, "createAnswer"); err != nil {
		pc.close()
		return nil, fmt.Errorf("rtc: answer: %w", err)
	}
	return p, nil
}

// Accept gives the initiating side the remote answer.
func (p *Peer) Accept(answer SessionDescription) error {
	if answer.Type != SDPTypeAnswer {
		return errors.New("rtc: the remote description is not an answer")
	}
	return p.setRemote(answer)
}

func (p *Peer) setRemote(desc SessionDescription) error {
	init := js.ValueOf(map[string]any{"type": string(desc.Type), "sdp": desc.SDP})
	if _, err := awaitCall(p.pc.pc, "setRemoteDescription", init); err != nil {
		return fmt.Errorf("rtc: set remote description: %w", err)
	}
	return nil
}

// gather creates the local description with create ("createOffer" or
// "createAnswer"), sets it and waits until every candidate is in it (no
// trickle ICE).
func (p *Peer) gather(ctx context.Context, create string) error {
	pc := p.pc.pc
	gathered := make(chan struct{}, 1)
	p.pc.on(pc, "icegatheringstatechange", func(js.Value) { notify(gathered) })
	desc, err := awaitCall(pc, create)
	if err != nil {
		return fmt.Errorf("rtc: %s: %w", create, err)
	}
	if _, err := awaitCall(pc, "setLocalDescription", desc); err != nil {
		return fmt.Errorf("rtc: set local description: %w", err)
	}
	for pc.Get("iceGatheringState").String() != "complete" {
		select {
		case <-gathered:
		case <-ctx.Done():
			return fmt.Errorf("rtc: gathering candidates: %w", ctx.Err())
		}
	}
	local := pc.Get("localDescription")
	p.Local = SessionDescription{Type: SDPType(local.Get("type").String()), SDP: local.Get("sdp").String()}
	return nil
}

// jsPC is a browser RTCPeerConnection and the Go event handlers set on it
// and on its data channel, released when it closes.
type jsPC struct {
	pc js.Value

	mu       sync.Mutex
	handlers []handler
	closed   bool
}

type handler struct {
	target js.Value
	prop   string // "on" + the event's name
	fn     js.Func
}

func newJSPC(cfg Config) (*jsPC, error) {
	ctor := js.Global().Get("RTCPeerConnection")
	if ctor.IsUndefined() {
		return nil, errors.New("rtc: this browser has no WebRTC (RTCPeerConnection)")
	}
	var pc js.Value
	if err := catchJS(func() { pc = ctor.New(cfg.rtcConfiguration()) }); err != nil {
		return nil, fmt.Errorf("rtc: new peer connection: %w", err)
	}
	return &jsPC{pc: pc}, nil
}

// on sets target's handler for event to f until the peer connection
// closes. f runs on the browser's event loop: it must not block.
func (p *jsPC) on(target js.Value, event string, f func(ev js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		var ev js.Value
		if len(args) > 0 {
			ev = args[0]
		}
		f(ev)
		return nil
	})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		fn.Release()
		return
	}
	p.handlers = append(p.handlers, handler{target: target, prop: "on" + event, fn: fn})
	liveHandlers.Add(1)
	p.mu.Unlock()
	target.Set("on"+event, fn)
}

// close closes the peer connection and releases the handlers. The browser
// calls no handler after this: their properties are null before control
// returns to its event loop.
func (p *jsPC) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	hs := p.handlers
	p.handlers = nil
	p.mu.Unlock()
	catchJS(func() { p.pc.Call("close") })
	for _, h := range hs {
		h.target.Set(h.prop, js.Null())
		h.fn.Release()
	}
	liveHandlers.Add(-int64(len(hs)))
}
