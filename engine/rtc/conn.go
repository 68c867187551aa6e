// Package rtc carries BitTorrent connections over WebRTC data channels, the
// way WebTorrent does: one peer connection with one reliable, ordered data
// channel per peer, signalled without trickle ICE (the whole candidate list
// travels in the offer and the answer). It builds on pion/webrtc, natively
// and in the browser (GOOS=js), and is what the engine's WebTorrent tracker
// client (engine/wstracker) and the relay's bridge open.
//
// A Conn is a net.Conn: reads return the channel's messages as a byte
// stream, writes are cut into messages of at most MessageSize bytes and wait
// while the channel's send buffer is full. What a remote peer can make us
// hold is capped (Config.MaxBuffered).
package rtc

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Sizes of the data channel stream.
const (
	// MessageSize is the largest message a Conn sends: WebTorrent's block
	// plus a piece message header fits, and every WebRTC stack accepts it.
	MessageSize = 16<<10 + 13
	// DefaultSendBuffer is the send buffer (the data channel's
	// bufferedAmount: bytes queued or sent and not yet acknowledged) above
	// which writes wait (Config.SendBuffer); they resume when it falls to
	// a quarter of that.
	DefaultSendBuffer = 1 << 20
	// DefaultMaxBuffered caps received bytes not yet read.
	DefaultMaxBuffered = 8 << 20
)

// ErrOverflow closes a connection whose peer sent more than the receive
// buffer holds.
var ErrOverflow = errors.New("rtc: peer overran the receive buffer")

// Addr is the address of one end of a data channel: network "webrtc" and,
// natively, the ICE candidate's IP:port.
type Addr struct{ S string }

// Network returns "webrtc".
func (Addr) Network() string { return "webrtc" }

// String returns the candidate address or a label.
func (a Addr) String() string { return a.S }

// Conn is a net.Conn over one WebRTC data channel; closing it closes the
// peer connection.
type Conn struct {
	pc          *webrtc.PeerConnection
	dc          *webrtc.DataChannel
	maxBuffered int
	highWater   uint64 // the send buffer above which writes wait

	opened    chan struct{}
	openOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
	readable  chan struct{} // a message arrived
	space     chan struct{} // the reader consumed some
	writable  chan struct{} // the send buffer fell to a quarter of highWater

	mu     sync.Mutex
	queue  [][]byte
	queued int
	err    error // why the stream ended, once closed
	local  Addr
	remote Addr

	wmu           sync.Mutex // one writer at a time, so messages stay in order
	readDeadline  deadline
	writeDeadline deadline
}

// newConn wraps dc, which must not have delivered a message yet: it
// registers the handlers at once so no message is missed.
func newConn(pc *webrtc.PeerConnection, dc *webrtc.DataChannel, cfg Config) *Conn {
	maxBuffered, sendBuffer := cfg.MaxBuffered, cfg.SendBuffer
	if maxBuffered <= 0 {
		maxBuffered = DefaultMaxBuffered
	}
	if sendBuffer <= 0 {
		sendBuffer = DefaultSendBuffer
	}
	c := &Conn{
		pc: pc, dc: dc, maxBuffered: maxBuffered, highWater: uint64(sendBuffer),
		opened:        make(chan struct{}),
		closed:        make(chan struct{}),
		readable:      make(chan struct{}, 1),
		space:         make(chan struct{}, 1),
		writable:      make(chan struct{}, 1),
		local:         Addr{"webrtc"},
		remote:        Addr{"webrtc:" + dc.Label()},
		readDeadline:  makeDeadline(),
		writeDeadline: makeDeadline(),
	}
	dc.SetBufferedAmountLowThreshold(c.highWater / 4)
	dc.OnBufferedAmountLow(func() { notify(c.writable) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { c.receive(m.Data) })
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

func (c *Conn) markOpen() {
	c.openOnce.Do(func() {
		if l, r, ok := candidatePair(c.pc); ok {
			c.mu.Lock()
			c.local, c.remote = Addr{l}, Addr{r}
			c.mu.Unlock()
		}
		close(c.opened)
	})
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// receive queues one message. Natively it waits while the queue is full,
// which pushes back through SCTP's window; in the browser, where waiting
// would block the event loop, a full queue closes the connection.
func (c *Conn) receive(data []byte) {
	if len(data) == 0 {
		return
	}
	c.mu.Lock()
	for c.err == nil && c.queued+len(data) > c.maxBuffered {
		if !blockingReceive || len(data) > c.maxBuffered {
			c.mu.Unlock()
			c.shut(ErrOverflow)
			return
		}
		c.mu.Unlock()
		select {
		case <-c.space:
		case <-c.closed:
		}
		c.mu.Lock()
	}
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	// Natively pion hands over a buffer of its own: keep a copy.
	c.queue = append(c.queue, append([]byte(nil), data...))
	c.queued += len(data)
	c.mu.Unlock()
	notify(c.readable)
}

// shut ends the stream with err (io.EOF for an orderly close) and releases
// the WebRTC resources.
func (c *Conn) shut(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.closed)
		local := errors.Is(err, net.ErrClosed)
		go func() {
			// Like TCP, a local close first delivers what was written
			// (bounded: a peer that stopped reading gets 5 s).
			if local && c.isOpen() {
				for deadline := time.Now().Add(5 * time.Second); c.dc.BufferedAmount() > 0 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
			}
			c.dc.Close()
			c.pc.Close()
		}()
	})
}

func (c *Conn) isOpen() bool {
	select {
	case <-c.opened:
		return true
	default:
		return false
	}
}

// Opened is closed once the data channel is open.
func (c *Conn) Opened() <-chan struct{} { return c.opened }

// Done is closed once the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Read reads from the received messages.
func (c *Conn) Read(p []byte) (int, error) {
	if expired(&c.readDeadline) {
		return 0, os.ErrDeadlineExceeded
	}
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			n := copy(p, c.queue[0])
			if n == len(c.queue[0]) {
				c.queue[0] = nil
				c.queue = c.queue[1:]
			} else {
				c.queue[0] = c.queue[0][n:]
			}
			c.queued -= n
			c.mu.Unlock()
			notify(c.space)
			return n, nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			if err != io.EOF {
				err = &net.OpError{Op: "read", Net: "webrtc", Err: err}
			}
			return 0, err
		}
		c.mu.Unlock()
		select {
		case <-c.readable:
		case <-c.closed:
		case <-c.readDeadline.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Write sends p as messages of at most MessageSize bytes, waiting while
// the channel's send buffer is above Config.SendBuffer.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.opened:
	case <-c.closed:
		return 0, net.ErrClosed
	case <-c.writeDeadline.wait():
		return 0, os.ErrDeadlineExceeded
	}
	if expired(&c.writeDeadline) {
		return 0, os.ErrDeadlineExceeded
	}
	n := 0
	for n < len(p) {
		for c.dc.BufferedAmount() > c.highWater {
			// The low-water event may race with this check; a short
			// tick keeps a lost wake-up from stalling the stream.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-c.writable:
			case <-t.C:
			case <-c.closed:
				t.Stop()
				return n, net.ErrClosed
			case <-c.writeDeadline.wait():
				t.Stop()
				return n, os.ErrDeadlineExceeded
			}
			t.Stop()
		}
		select {
		case <-c.closed:
			return n, net.ErrClosed
		default:
		}
		m := min(len(p)-n, MessageSize)
		if err := c.dc.Send(p[n : n+m]); err != nil {
			return n, &net.OpError{Op: "write", Net: "webrtc", Err: err}
		}
		n += m
	}
	return n, nil
}

// Close closes the data channel and its peer connection.
func (c *Conn) Close() error {
	c.shut(net.ErrClosed)
	return nil
}

// LocalAddr returns the local candidate's address once open.
func (c *Conn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.local
}

// RemoteAddr returns the remote candidate's address once open.
func (c *Conn) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { c.readDeadline.set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.writeDeadline.set(t); return nil }

// deadline is a settable deadline whose channel closes when it passes (the
// scheme of net.Pipe).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired and closed it: wait, then renew
	}
	d.timer = nil
	closed := false
	select {
	case <-d.cancel:
		closed = true
	default:
	}
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func expired(d *deadline) bool {
	select {
	case <-d.wait():
		return true
	default:
		return false
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}
