package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/btspeed/btspeed/shared/speed"
)

// The connection (docs/speed-protocol.md section 11.1): a BitTorrent
// connection on ServiceHash whose peers both speak bt_speed and bt_proxy.

// Extended message ids this side assigns in its BEP 10 handshake: the
// peer sends bt_speed messages with speedExtID and bt_proxy ones with
// proxyExtID.
const (
	speedExtID = 1
	proxyExtID = 2
	// maxFrame caps one BitTorrent message on a proxy connection: the
	// extended handshake, or an extended message with its two id bytes.
	maxFrame = speed.MaxHandshakeSize
	// HandshakeTimeout bounds the BitTorrent and extended handshakes.
	HandshakeTimeout = 30 * time.Second
	// MaxMalformed malformed messages close a connection.
	MaxMalformed = 3
	// WriteTimeout bounds one message's write: a peer that stops reading
	// is cut off rather than holding the writer.
	WriteTimeout = 60 * time.Second
)

const pstr = "\x13BitTorrent protocol"

// ErrNotProxy says the peer is not a proxy peer: another info hash, or no
// bt_speed or bt_proxy in its extended handshake.
var ErrNotProxy = errors.New("proxy: the peer does not speak the paid proxy")

// Conn is a proxy connection after both handshakes. Reads are for one
// goroutine; writes may come from any.
type Conn struct {
	c         net.Conn
	r         *bufio.Reader
	wmu       sync.Mutex
	peerSpeed byte // the peer's id for bt_speed
	peerProxy byte // the peer's id for bt_proxy
	malformed int
	// Peer is the peer's bt_speed entry: its account and ledger.
	Peer speed.Handshake
}

// Handshake runs the BitTorrent handshake on ServiceHash with peerID and
// the extended handshake carrying self, on c, and returns the connection.
// It fails with ErrNotProxy for a peer that is not a proxy peer.
func Handshake(c net.Conn, peerID [20]byte, self speed.Handshake) (*Conn, error) {
	if err := c.SetDeadline(time.Now().Add(HandshakeTimeout)); err != nil {
		return nil, fmt.Errorf("proxy: handshake: %w", err)
	}
	ext, err := bencode.Marshal(map[string]any{
		"m":                 map[string]int{speed.ExtensionName: speedExtID, ExtensionName: proxyExtID},
		speed.ExtensionName: self,
		"v":                 "btspeed-proxy",
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: handshake: %w", err)
	}
	var hello bytes.Buffer
	hello.WriteString(pstr)
	hello.Write([]byte{0, 0, 0, 0, 0, 0x10, 0, 0}) // BEP 10
	hello.Write(ServiceHash[:])
	hello.Write(peerID[:])
	hello.Write(frame(0, ext))
	if _, err := c.Write(hello.Bytes()); err != nil {
		return nil, fmt.Errorf("proxy: handshake: %w", err)
	}
	conn := &Conn{c: c, r: bufio.NewReaderSize(c, 32<<10)}
	if err := conn.readHandshakes(); err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("proxy: handshake: %w", err)
	}
	return conn, nil
}

func (c *Conn) readHandshakes() error {
	var h [68]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return fmt.Errorf("proxy: handshake: %w", err)
	}
	if string(h[:20]) != pstr || h[25]&0x10 == 0 || !bytes.Equal(h[28:48], ServiceHash[:]) {
		return fmt.Errorf("%w: not a BitTorrent handshake on the proxy's service hash", ErrNotProxy)
	}
	for {
		id, payload, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("proxy: extended handshake: %w", err)
		}
		if id != 20 || len(payload) == 0 || payload[0] != 0 {
			continue // a bitfield or have from a confused peer: not for us
		}
		var m struct {
			M map[string]int64 `bencode:"m"`
		}
		if err := bencode.Unmarshal(payload[1:], &m); err != nil {
			return fmt.Errorf("%w: extended handshake: %v", ErrNotProxy, err)
		}
		hs, ok, err := speed.ParseHandshake(payload[1:])
		sp, pp := m.M[speed.ExtensionName], m.M[ExtensionName]
		if err != nil || !ok || sp < 1 || sp > 255 || pp < 1 || pp > 255 {
			return fmt.Errorf("%w: no bt_speed or bt_proxy (%v)", ErrNotProxy, err)
		}
		c.Peer, c.peerSpeed, c.peerProxy = hs, byte(sp), byte(pp)
		return nil
	}
}

// readFrame reads one BitTorrent message, skipping keep-alives.
func (c *Conn) readFrame() (byte, []byte, error) {
	for {
		var l [4]byte
		if _, err := io.ReadFull(c.r, l[:]); err != nil {
			return 0, nil, err
		}
		n := binary.BigEndian.Uint32(l[:])
		if n == 0 {
			continue
		}
		if n > maxFrame {
			return 0, nil, fmt.Errorf("proxy: a message of %d bytes", n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return 0, nil, err
		}
		return b[0], b[1:], nil
	}
}

func frame(ext byte, payload []byte) []byte {
	b := make([]byte, 6, 6+len(payload))
	binary.BigEndian.PutUint32(b, uint32(2+len(payload)))
	b[4], b[5] = 20, ext
	return append(b, payload...)
}

// Read returns the next proxy or Speed message: a Message or a
// speed.Message. It skips other BitTorrent messages and messages of unknown
// types, drops malformed ones and fails at the MaxMalformed-th.
func (c *Conn) Read() (any, error) {
	for {
		id, payload, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if id != 20 || len(payload) == 0 {
			continue
		}
		var m any
		switch payload[0] {
		case proxyExtID:
			m, err = Decode(payload[1:])
		case speedExtID:
			m, err = speed.Decode(payload[1:])
		default:
			continue
		}
		switch {
		case err == nil:
			return m, nil
		case errors.Is(err, ErrUnknownType) || errors.Is(err, speed.ErrUnknownType):
			continue
		}
		if c.malformed++; c.malformed >= MaxMalformed {
			return nil, fmt.Errorf("proxy: %d malformed messages, the last: %w", c.malformed, err)
		}
	}
}

// Write sends a proxy message.
func (c *Conn) Write(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return c.write(frame(c.peerProxy, b))
}

// WriteSpeed sends a Speed message (payment rejected, channel closing).
func (c *Conn) WriteSpeed(m speed.Message) error {
	b, err := speed.Encode(m)
	if err != nil {
		return err
	}
	return c.write(frame(c.peerSpeed, b))
}

func (c *Conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.c.SetWriteDeadline(time.Now().Add(WriteTimeout)); err != nil {
		return fmt.Errorf("proxy: writing: %w", err)
	}
	if _, err := c.c.Write(b); err != nil {
		return fmt.Errorf("proxy: writing: %w", err)
	}
	return nil
}

// SetReadDeadline bounds the reads from now on (zero: none).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }
