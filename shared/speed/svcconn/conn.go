// Package svcconn is the connection of btspeed's paid services
// (docs/speed-protocol.md section 11.1; section 12.3 for storage): a
// BitTorrent connection (BEP 3) on the service's hash, whose handshake sets
// the extension bit, then BEP 10 extended handshakes advertising bt_speed
// (the peer's account and ledger) and the service's extension (bt_proxy,
// bt_store), then length-prefixed extended messages, each capped before it
// is read. No bitfield, piece or metadata message travels on it.
//
// A Service holds what tells one service's connections apart (its hash,
// extension, extended ids, caps and sentinel errors); Handshake opens a Conn
// for it and Read decodes what arrives with the service's own decoders, so
// packages proxy and store keep only their messages.
//
// The bytes on the wire, both directions:
//
//	handshake  19 "BitTorrent protocol" | 8 reserved (byte 5: 0x10, BEP 10) | 20 hash | 20 peer id
//	message    4 length n (big endian; 0: keep-alive) | n bytes: 20 (extended) | extended id | payload
//
// The first extended message (id 0) is the extended handshake, a bencoded
// dictionary: {"m": {bt_speed: id, service: id}, "bt_speed": {acct, ledger,
// v}, "v": client}. After it, a peer sends each message with the id the
// other side assigned to its extension.
package svcconn

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

const (
	// MaxMalformed malformed messages close a connection.
	MaxMalformed = 3
	pstr         = "\x13BitTorrent protocol"
	extendedID   = 20 // the BEP 10 message id
	readBuffer   = 32 << 10
)

// Service describes one paid service's connections; it is static, shared by
// all of them.
type Service struct {
	Name    string   // the service, first in errors: "proxy", "store"
	Hash    [20]byte // the service hash: the connections' info hash
	Ext     string   // the service's BEP 10 extension: "bt_proxy"
	ExtID   byte     // the extended id this side assigns to Ext
	SpeedID byte     // and to bt_speed
	Client  string   // "v" in the extended handshake
	// MaxFrame caps one BitTorrent message, its length prefix excluded.
	MaxFrame uint32
	// HandshakeTimeout, when set, bounds the handshakes (Handshake sets and
	// then clears the deadline); when zero, the caller sets deadlines.
	HandshakeTimeout time.Duration
	// WriteTimeout, when set, bounds each message's write, so that a peer
	// that stops reading is cut off rather than holding the writer; when
	// zero, the caller's deadlines apply.
	WriteTimeout time.Duration
	NotPeer      error // wrapped when the peer is not a peer of this service
	TooLarge     error // wrapped when a message is over MaxFrame
	Unknown      error // the service decoder's error for an unknown type
}

// Conn is a service connection after both handshakes. Reads are for one
// goroutine; writes may come from any.
type Conn struct {
	// Peer is the peer's bt_speed entry: its account and ledger.
	Peer speed.Handshake

	nc        net.Conn // static after Handshake
	svc       *Service
	r         *bufio.Reader // owned by the reader
	malformed int           // owned by the reader
	wmu       sync.Mutex    // serializes writes
	peerExt   byte          // the peer's id for the service's extension
	peerSpeed byte          // the peer's id for bt_speed
}

// Handshake runs the BitTorrent handshake on svc's hash with peerID and the
// extended handshake carrying self, on nc, and returns the connection. Both
// sides send before they read, so it writes while it reads, and returns
// once the write is done (or fails at a deadline). It fails with
// svc.NotPeer for a peer that is not a peer of the service.
func Handshake(nc net.Conn, svc *Service, peerID [20]byte, self speed.Handshake) (*Conn, error) {
	if svc.HandshakeTimeout > 0 {
		if err := nc.SetDeadline(time.Now().Add(svc.HandshakeTimeout)); err != nil {
			return nil, fmt.Errorf("%s: handshake: %w", svc.Name, err)
		}
	}
	ext, err := bencode.Marshal(map[string]any{
		"m":                 map[string]int{speed.ExtensionName: int(svc.SpeedID), svc.Ext: int(svc.ExtID)},
		speed.ExtensionName: self,
		"v":                 svc.Client,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: extended handshake: %w", svc.Name, err)
	}
	hello := make([]byte, 0, 68+6+len(ext))
	hello = append(hello, pstr...)
	hello = append(hello, 0, 0, 0, 0, 0, 0x10, 0, 0) // BEP 10
	hello = append(append(hello, svc.Hash[:]...), peerID[:]...)
	hello = appendFrame(hello, 0, ext)
	werr := make(chan error, 1)
	go func() { _, err := nc.Write(hello); werr <- err }()
	c := &Conn{nc: nc, svc: svc, r: bufio.NewReaderSize(nc, readBuffer)}
	err = c.readHandshakes()
	if werr := <-werr; err == nil && werr != nil {
		err = fmt.Errorf("%s: sending the handshake: %w", svc.Name, werr)
	}
	if err != nil {
		return nil, err
	}
	if svc.HandshakeTimeout > 0 {
		if err := nc.SetDeadline(time.Time{}); err != nil {
			return nil, fmt.Errorf("%s: handshake: %w", svc.Name, err)
		}
	}
	return c, nil
}

func (c *Conn) readHandshakes() error {
	var h [68]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return fmt.Errorf("%s: reading the handshake: %w", c.svc.Name, err)
	}
	if string(h[:20]) != pstr || h[25]&0x10 == 0 || !bytes.Equal(h[28:48], c.svc.Hash[:]) {
		return fmt.Errorf("%w: not a BitTorrent handshake on the %s's service hash", c.svc.NotPeer, c.svc.Name)
	}
	for {
		id, payload, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("%s: reading the extended handshake: %w", c.svc.Name, err)
		}
		if id != 0 {
			continue // a message from a confused peer: not for us
		}
		var m struct {
			M map[string]int64 `bencode:"m"`
		}
		if err := bencode.Unmarshal(payload, &m); err != nil {
			return fmt.Errorf("%w: extended handshake: %v", c.svc.NotPeer, err)
		}
		hs, ok, err := speed.ParseHandshake(payload)
		sp, ep := m.M[speed.ExtensionName], m.M[c.svc.Ext]
		if err != nil || !ok || sp < 1 || sp > 255 || ep < 1 || ep > 255 {
			return fmt.Errorf("%w: no bt_speed or %s (%v)", c.svc.NotPeer, c.svc.Ext, err)
		}
		c.Peer, c.peerSpeed, c.peerExt = hs, byte(sp), byte(ep)
		return nil
	}
}

// readFrame reads BitTorrent messages until an extended one and returns
// its extended id and payload; keep-alives and other messages are skipped.
func (c *Conn) readFrame() (byte, []byte, error) {
	for {
		var l [4]byte
		if _, err := io.ReadFull(c.r, l[:]); err != nil {
			return 0, nil, err
		}
		n := binary.BigEndian.Uint32(l[:])
		if n > c.svc.MaxFrame {
			return 0, nil, fmt.Errorf("%w: a message of %d bytes", c.svc.TooLarge, n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return 0, nil, err
		}
		if n >= 2 && b[0] == extendedID {
			return b[1], b[2:], nil
		}
	}
}

// appendFrame appends an extended message for the peer's id ext.
func appendFrame(b []byte, ext byte, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(2+len(payload)))
	return append(append(b, extendedID, ext), payload...)
}

// Read returns the next message that decode (for the service's extension)
// or decodeSpeed (for bt_speed; nil: bt_speed messages are skipped)
// returns. It skips other messages and those whose type is unknown
// (svc.Unknown, speed.ErrUnknownType), drops malformed ones and fails at
// the MaxMalformed-th.
func Read[M any](c *Conn, decode, decodeSpeed func(payload []byte) (M, error)) (M, error) {
	var zero M
	for {
		id, payload, err := c.readFrame()
		if err != nil {
			return zero, err
		}
		var m M
		switch {
		case id == c.svc.ExtID:
			m, err = decode(payload)
		case id == c.svc.SpeedID && decodeSpeed != nil:
			m, err = decodeSpeed(payload)
		default:
			continue
		}
		switch {
		case err == nil:
			return m, nil
		case errors.Is(err, c.svc.Unknown) || errors.Is(err, speed.ErrUnknownType):
			continue
		}
		if c.malformed++; c.malformed >= MaxMalformed {
			return zero, fmt.Errorf("%s: %d malformed messages, the last: %w", c.svc.Name, c.malformed, err)
		}
	}
}

// WritePayload sends payload, an encoded message of the service.
func (c *Conn) WritePayload(payload []byte) error {
	return c.write(c.peerExt, payload)
}

// WriteSpeed sends a Speed message (payment rejected, channel closing).
func (c *Conn) WriteSpeed(m speed.Message) error {
	b, err := speed.Encode(m)
	if err != nil {
		return err
	}
	return c.write(c.peerSpeed, b)
}

func (c *Conn) write(ext byte, payload []byte) error {
	b := appendFrame(make([]byte, 0, 6+len(payload)), ext, payload)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.svc.WriteTimeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.svc.WriteTimeout)); err != nil {
			return fmt.Errorf("%s: writing: %w", c.svc.Name, err)
		}
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("%s: writing: %w", c.svc.Name, err)
	}
	return nil
}

// SetDeadline bounds reads and writes from now on (zero: none).
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// SetReadDeadline bounds the reads from now on (zero: none).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// CloseWrite shuts the sending side down, where the transport can (TCP);
// elsewhere it returns errors.ErrUnsupported.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }
