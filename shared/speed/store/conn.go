package store

import (
	"crypto/rand"
	"errors"
	"net"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svcconn"
)

// A storage connection (docs/speed-protocol.md sections 11.1 and 12.3) is a
// service connection (package svcconn) on ServiceHash: the BEP 3 handshake
// with the extension bit, then BEP 10 extended handshakes advertising
// bt_speed (with the peer's account and ledger) and bt_store. No piece
// message travels on it.

// ErrNotStorage says the peer is not a storage peer: another info hash, or
// no bt_speed or bt_store in its extended handshake.
var ErrNotStorage = errors.New("store: the peer is not a storage peer")

// service is storage's connection: the extended ids this side assigns
// (bt_store 1, bt_speed 2) and a cap on one message, a whole payload. The
// caller sets the deadlines.
var service = svcconn.Service{
	Name: "store", Hash: ServiceHash, Ext: ExtensionName, ExtID: 1, SpeedID: 2, Client: "btspeed",
	MaxFrame: 2 + MaxPayload, NotPeer: ErrNotStorage, TooLarge: ErrTooLarge, Unknown: ErrUnknownType,
}

// Conn is an established storage connection. Send is safe from several
// goroutines; Recv is for one.
type Conn struct {
	*svcconn.Conn // Peer, deadlines, CloseWrite, Close
}

// Handshake runs both handshakes on c as self (whose account and ledger the
// peer learns) and returns the connection, or an error wrapping
// ErrNotStorage when the peer is not a storage peer. The caller sets
// deadlines on c.
func Handshake(c net.Conn, self speed.Handshake) (*Conn, error) {
	var peerID [20]byte
	copy(peerID[:], "-BS0001-")
	_, _ = rand.Read(peerID[8:]) // crypto/rand.Read never fails (Go 1.24+)
	sc, err := svcconn.Handshake(c, &service, peerID, self)
	if err != nil {
		return nil, err
	}
	return &Conn{sc}, nil
}

// Recv returns the next storage message. Unknown types and other extensions'
// messages (bt_speed's too) are skipped; malformed ones too, until the
// third, which is an error.
func (c *Conn) Recv() (Message, error) {
	return svcconn.Read[Message](c.Conn, Decode, nil)
}

// Send sends m.
func (c *Conn) Send(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return c.WritePayload(b)
}
