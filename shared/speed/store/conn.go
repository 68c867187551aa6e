package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/anacrolix/torrent/bencode"
	"github.com/btspeed/btspeed/shared/speed"
)

// A storage connection (docs/speed-protocol.md sections 11.1 and 12.3) is a
// BitTorrent connection on ServiceHash: the BEP 3 handshake with the
// extension bit, then BEP 10 extended handshakes advertising bt_speed (with
// the peer's account and ledger) and bt_store. No piece message travels on
// it.

const (
	pstr          = "BitTorrent protocol"
	extendedID    = 20
	ourStoreID    = 1 // our extended id for bt_store
	ourSpeedID    = 2 // and for bt_speed
	maxMalformed  = 3 // the third malformed message closes
	maxFrameBytes = 2 + MaxPayload
)

// Conn is an established storage connection. Send is safe from several
// goroutines; Recv is for one.
type Conn struct {
	net.Conn
	Peer      speed.Handshake // the peer's account and ledger
	r         *bufio.Reader
	wmu       sync.Mutex
	peerStore byte // the peer's extended id for bt_store
	malformed int
}

// Handshake runs both handshakes on c as self (whose account and ledger the
// peer learns) and returns the connection, or an error when the peer is not a
// storage peer. The caller sets deadlines on c.
func Handshake(c net.Conn, self speed.Handshake) (*Conn, error) {
	var hs [68]byte
	hs[0] = byte(len(pstr))
	copy(hs[1:], pstr)
	hs[25] = 0x10 // BEP 10
	copy(hs[28:], ServiceHash[:])
	copy(hs[48:], "-BS0001-")
	if _, err := rand.Read(hs[56:]); err != nil {
		return nil, err
	}
	ext, err := bencode.Marshal(map[string]any{
		"m":                 map[string]int{ExtensionName: ourStoreID, speed.ExtensionName: ourSpeedID},
		speed.ExtensionName: self,
		"v":                 "btspeed",
	})
	if err != nil {
		return nil, fmt.Errorf("store: extended handshake: %w", err)
	}
	out := append(hs[:], frame(0, ext)...)
	werr := make(chan error, 1)
	go func() { _, err := c.Write(out); werr <- err }()
	conn, err := readHandshakes(c)
	if werr := <-werr; err == nil && werr != nil {
		err = fmt.Errorf("store: sending the handshake: %w", werr)
	}
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func readHandshakes(c net.Conn) (*Conn, error) {
	r := bufio.NewReaderSize(c, 32<<10)
	var hs [68]byte
	if _, err := io.ReadFull(r, hs[:]); err != nil {
		return nil, fmt.Errorf("store: reading the handshake: %w", err)
	}
	if hs[0] != byte(len(pstr)) || string(hs[1:20]) != pstr || hs[25]&0x10 == 0 || !bytes.Equal(hs[28:48], ServiceHash[:]) {
		return nil, errors.New("store: the peer is not a storage peer (handshake)")
	}
	conn := &Conn{Conn: c, r: r}
	for {
		id, payload, err := conn.readFrame()
		if err != nil {
			return nil, fmt.Errorf("store: reading the extended handshake: %w", err)
		}
		if id != 0 {
			continue
		}
		h, ok, err := speed.ParseHandshake(payload)
		var m struct {
			M map[string]int64 `bencode:"m"`
		}
		if !ok || err != nil || bencode.Unmarshal(payload, &m) != nil || m.M[ExtensionName] <= 0 || m.M[ExtensionName] > 255 {
			return nil, fmt.Errorf("store: the peer speaks no bt_speed or bt_store (%v)", err)
		}
		conn.Peer, conn.peerStore = h, byte(m.M[ExtensionName])
		return conn, nil
	}
}

func frame(ext byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(2+len(payload)))
	return append(append(b, extendedID, ext), payload...)
}

// readFrame reads BEP 3 messages until an extended one: its extended id
// and payload. Keep-alives and other messages are skipped.
func (c *Conn) readFrame() (byte, []byte, error) {
	for {
		var lb [4]byte
		if _, err := io.ReadFull(c.r, lb[:]); err != nil {
			return 0, nil, err
		}
		n := binary.BigEndian.Uint32(lb[:])
		if n > maxFrameBytes {
			return 0, nil, fmt.Errorf("%w: a frame of %d bytes", ErrTooLarge, n)
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

// Recv returns the next storage message. Unknown types and other extensions'
// messages are skipped; malformed ones too, until the third, which is an
// error.
func (c *Conn) Recv() (Message, error) {
	for {
		id, payload, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if id != ourStoreID {
			continue
		}
		m, err := Decode(payload)
		switch {
		case err == nil:
			return m, nil
		case errors.Is(err, ErrUnknownType):
			continue
		}
		if c.malformed++; c.malformed >= maxMalformed {
			return nil, fmt.Errorf("store: %d malformed messages, the last: %w", c.malformed, err)
		}
	}
}

// Send sends m.
func (c *Conn) Send(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.Conn.Write(frame(c.peerStore, b)); err != nil {
		return fmt.Errorf("store: sending %T: %w", m, err)
	}
	return nil
}
