package rtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Config configures the peer connections a package user opens.
type Config struct {
	// API makes peer connections; nil is pion's default. Natively, tests
	// and servers set a SettingEngine here (interfaces, ports, public IPs).
	API *webrtc.API
	// ICEServers are the STUN/TURN servers; empty gathers host candidates
	// only.
	ICEServers []webrtc.ICEServer
	// MaxBuffered caps received bytes not yet read (default
	// DefaultMaxBuffered).
	MaxBuffered int
	// SendBuffer caps what a Conn's writes keep in the data channel:
	// queued, or sent and not yet acknowledged (default
	// DefaultSendBuffer). As SCTP counts a message acknowledged only when
	// the receiver has it, this also caps the bytes in flight, whatever
	// the congestion window: a small one keeps a sender from overrunning
	// a receiver whose UDP socket buffer is small or read late.
	SendBuffer int
}

func (c Config) newPC() (*webrtc.PeerConnection, error) {
	conf := webrtc.Configuration{ICEServers: c.ICEServers}
	var (
		pc  *webrtc.PeerConnection
		err error
	)
	api := c.API
	if api == nil {
		api = defaultAPI()
	}
	pc, err = api.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("rtc: new peer connection: %w", err)
	}
	return pc, nil
}

// Peer is one side of a WebRTC connection being set up: Local is the
// description to send to the other side.
type Peer struct {
	Local webrtc.SessionDescription

	pc     *webrtc.PeerConnection
	conn   chan *Conn // the data channel, once there is one
	mu     sync.Mutex
	closed bool
}

// gather sets desc as the local description and waits until every
// candidate is in it (no trickle ICE).
func (p *Peer) gather(ctx context.Context, desc webrtc.SessionDescription) error {
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
	label := make([]byte, 20)
	rand.Read(label)
	dc, err := pc.CreateDataChannel(hex.EncodeToString(label), nil)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("rtc: create data channel: %w", err)
	}
	p.conn <- newConn(pc, dc, cfg)
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
func NewAnswer(ctx context.Context, cfg Config, offer webrtc.SessionDescription) (*Peer, error) {
	if offer.Type != webrtc.SDPTypeOffer {
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
			p.conn <- newConn(pc, dc, cfg)
		})
		if !taken {
			dc.Close() // one channel per peer, as WebTorrent does
		}
	})
	err = pc.SetRemoteDescription(offer)
	if err != nil {
		err = fmt.Errorf("set remote description: %w", err)
	} else {
		var answer webrtc.SessionDescription
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
func (p *Peer) Accept(answer webrtc.SessionDescription) error {
	if answer.Type != webrtc.SDPTypeAnswer {
		return errors.New("rtc: the remote description is not an answer")
	}
	if err := p.pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("rtc: set remote description: %w", err)
	}
	return nil
}

// Connect waits until the data channel is open and returns it as a
// connection; on failure or when ctx ends first the peer is closed.
func (p *Peer) Connect(ctx context.Context) (*Conn, error) {
	var c *Conn
	select {
	case c = <-p.conn:
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("rtc: waiting for the data channel: %w", ctx.Err())
	}
	select {
	case <-c.Opened():
		return c, nil
	case <-c.Done():
		return nil, errors.New("rtc: the data channel closed before it opened")
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("rtc: opening the data channel: %w", ctx.Err())
	}
}

// Close abandons the peer connection.
func (p *Peer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.pc.Close()
	}
}
