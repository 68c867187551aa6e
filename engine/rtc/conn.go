// Package rtc carries BitTorrent connections over WebRTC data channels, the
// way WebTorrent does: one peer connection with one reliable, ordered data
// channel per peer, signalled without trickle ICE (the whole candidate list
// travels in the offer and the answer). Natively it builds on pion/webrtc;
// in the browser (GOOS=js) it drives the browser's own RTCPeerConnection
// through syscall/js, so none of pion's ICE, DTLS or SCTP is in the wasm.
// It is what the engine's WebTorrent tracker client (engine/wstracker) and
// the relay's bridge open.
//
// A Conn is a net.Conn: reads return the channel's messages as a byte
// stream, writes are cut into messages of at most MessageSize bytes (less
// when the remote's SDP max-message-size is smaller) and wait while the
// channel's send buffer is full. What a remote peer can make us
// hold is capped (Config.MaxBuffered).
package rtc

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Sizes of the data channel stream.
const (
	// MessageSize is the largest message a Conn sends, when the remote's
	// max-message-size allows (Chromium's is 256 KiB, pion's 64 KiB, the
	// default when the SDP has none 64 KiB): fewer, larger messages cost
	// fewer sends and receive events. Message boundaries carry no meaning
	// (the stream is bytes, for WebTorrent's peers as for ours).
	MessageSize = 64 << 10
	// smallMessage is the largest message every WebRTC stack accepts
	// (WebTorrent's block plus a piece message header): what a Conn sends
	// when the remote's limit is unknown or smaller than that.
	smallMessage = 16<<10 + 13
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

// channel is the data channel under a Conn: pion's natively, the
// browser's in js. Its handlers call the Conn's markOpen, receive,
// writable and shut.
type channel interface {
	// send queues one message; it does not wait.
	send(p []byte) error
	// bufferedAmount is how many bytes are queued to send.
	bufferedAmount() int
	// highWater is the send buffer above which a writer waits, until the
	// channel's buffered-amount-low event.
	highWater() int
	// addrs returns the selected candidates' addresses, if known.
	addrs() (local, remote string, ok bool)
	// maxMessage is the largest message the remote accepts, once open: 0
	// when unknown, -1 when unlimited.
	maxMessage() int
	// close closes the channel and its peer connection and releases
	// their handlers; with drain it first lets what is queued go out
	// (bounded by drainTime).
	close(drain bool)
}

// drainTime bounds how long a local close waits for queued data to go out
// to a peer that stopped reading.
const drainTime = 5 * time.Second

// Conn is a net.Conn over one WebRTC data channel; closing it closes the
// peer connection.
type Conn struct {
	ch          channel // set by the backend before any handler runs
	maxBuffered int

	opened    chan struct{}
	openOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
	released  chan struct{} // closed once the channel and peer connection are closed
	readable  chan struct{} // a message arrived
	space     chan struct{} // the reader consumed some
	writable  chan struct{} // the send buffer fell below the low threshold

	mu     sync.Mutex
	queue  []chunk
	queued int   // bytes in queue not yet read
	err    error // why the stream ended, once closed
	local  Addr
	remote Addr

	wmu           sync.Mutex // one writer at a time, so messages stay in order
	msgSize       int        // largest message Write sends, set when open
	readDeadline  deadline
	writeDeadline deadline
}

// MaxBuffered is the most the Conn holds received and not yet read (its
// Config.MaxBuffered): a peer that sends more is cut off (in the browser)
// or waits (natively). The engine keeps its requests within a quarter of it.
func (c *Conn) MaxBuffered() int { return c.maxBuffered }

// newConn makes a Conn for the channel labelled label; the backend sets
// c.ch and registers its handlers before any message can arrive.
func newConn(label string, maxBuffered int) *Conn {
	if maxBuffered <= 0 {
		maxBuffered = DefaultMaxBuffered
	}
	return &Conn{
		maxBuffered:   maxBuffered,
		opened:        make(chan struct{}),
		closed:        make(chan struct{}),
		released:      make(chan struct{}),
		readable:      make(chan struct{}, 1),
		space:         make(chan struct{}, 1),
		writable:      make(chan struct{}, 1),
		local:         Addr{"webrtc"},
		remote:        Addr{"webrtc:" + label},
		readDeadline:  makeDeadline(),
		writeDeadline: makeDeadline(),
	}
}

// markOpen is the channel's open handler.
func (c *Conn) markOpen() {
	c.openOnce.Do(func() {
		if l, r, ok := c.ch.addrs(); ok {
			c.mu.Lock()
			c.local, c.remote = Addr{l}, Addr{r}
			c.mu.Unlock()
		}
		// Set before opened closes: Write reads it after waiting for it.
		c.msgSize = messageSize(c.ch.maxMessage())
		close(c.opened)
	})
}

// messageSize is the largest message to send to a remote that accepts at
// most max bytes (0 unknown, -1 unlimited).
func messageSize(max int) int {
	switch {
	case max < 0:
		return MessageSize
	case max < smallMessage:
		return smallMessage
	default:
		return min(max, MessageSize)
	}
}

// notifyWritable is the channel's buffered-amount-low handler.
func (c *Conn) notifyWritable() { notify(c.writable) }

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// chunk is one received message, read from off on; pooled says buf came
// from bufPool.
type chunk struct {
	buf    *[]byte
	off    int
	pooled bool
}

// bufPools hold message buffers of smallMessage and of MessageSize bytes.
// Only messages of at least half a pool's size use it, so what the queue
// holds in memory stays under twice the bytes it counts against
// MaxBuffered.
var bufPools = [2]sync.Pool{
	{New: func() any { b := make([]byte, smallMessage); return &b }},
	{New: func() any { b := make([]byte, MessageSize); return &b }},
}

func poolFor(n int) *sync.Pool {
	switch {
	case n >= smallMessage/2 && n <= smallMessage:
		return &bufPools[0]
	case n >= MessageSize/2 && n <= MessageSize:
		return &bufPools[1]
	}
	return nil
}

func getBuf(n int) (buf *[]byte, pooled bool) {
	if p := poolFor(n); p != nil {
		buf = p.Get().(*[]byte)
		*buf = (*buf)[:n]
		return buf, true
	}
	b := make([]byte, n)
	return &b, false
}

func (k *chunk) release() {
	if k.pooled {
		*k.buf = (*k.buf)[:cap(*k.buf)]
		poolFor(cap(*k.buf)).Put(k.buf)
	}
	k.buf = nil
}

// receive queues one message of n bytes, which fill copies into the buffer
// it is given. Natively it waits while the queue is full, which pushes back
// through SCTP's window; in the browser, where waiting would block the
// event loop, a full queue closes the connection.
func (c *Conn) receive(n int, fill func([]byte)) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	for c.err == nil && c.queued+n > c.maxBuffered {
		if !blockingReceive || n > c.maxBuffered {
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
	buf, pooled := getBuf(n)
	fill(*buf)
	c.queue = append(c.queue, chunk{buf: buf, pooled: pooled})
	c.queued += n
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
		// Like TCP, a local close first delivers what was written.
		drain := errors.Is(err, net.ErrClosed) && c.isOpen()
		go func() { // owned by the Conn: released closes when it ends
			c.ch.close(drain)
			close(c.released)
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
			k := &c.queue[0]
			n := copy(p, (*k.buf)[k.off:])
			k.off += n
			if k.off == len(*k.buf) {
				k.release()
				c.queue = c.queue[1:]
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

// Write sends p as messages of at most MessageSize bytes (or the remote's
// limit), waiting while the channel's send buffer is above its high-water
// mark.
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
		if err := c.waitWritable(); err != nil {
			return n, err
		}
		m := min(len(p)-n, c.msgSize)
		if err := c.ch.send(p[n : n+m]); err != nil {
			return n, &net.OpError{Op: "write", Net: "webrtc", Err: err}
		}
		n += m
	}
	return n, nil
}

// waitWritable waits until the send buffer is at most its high water. The
// channel's buffered-amount-low event wakes it; where that event can be
// lost (lostWakeupTick > 0) a tick re-checks.
func (c *Conn) waitWritable() error {
	for c.ch.bufferedAmount() > c.ch.highWater() {
		var (
			t    *time.Timer
			tick <-chan time.Time
		)
		if lostWakeupTick > 0 {
			t = time.NewTimer(lostWakeupTick)
			tick = t.C
		}
		var err error
		select {
		case <-c.writable:
		case <-tick:
		case <-c.closed:
			err = net.ErrClosed
		case <-c.writeDeadline.wait():
			err = os.ErrDeadlineExceeded
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return err
		}
	}
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
		return nil
	}
}

// Close closes the data channel and its peer connection, first delivering
// what was written (for at most drainTime). Natively it returns once both
// are closed; in the browser at once (Conn.released tells when).
func (c *Conn) Close() error {
	c.shut(net.ErrClosed)
	if closeWaits {
		<-c.released
	}
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
