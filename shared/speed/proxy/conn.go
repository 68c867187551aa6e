package proxy

import (
	"errors"
	"net"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svcconn"
)

// The connection (docs/speed-protocol.md section 11.1) is a service
// connection (package svcconn) on ServiceHash whose peers both speak
// bt_speed and bt_proxy.

const (
	// HandshakeTimeout bounds the BitTorrent and extended handshakes.
	HandshakeTimeout = 30 * time.Second
	// MaxMalformed malformed messages close a connection.
	MaxMalformed = svcconn.MaxMalformed
	// WriteTimeout bounds one message's write: a peer that stops reading
	// is cut off rather than holding the writer.
	WriteTimeout = 60 * time.Second
)

// ErrNotProxy says the peer is not a proxy peer: another info hash, or no
// bt_speed or bt_proxy in its extended handshake.
var ErrNotProxy = errors.New("proxy: the peer does not speak the paid proxy")

// service is the proxy's connection: the extended ids this side assigns
// (the peer sends bt_speed messages with 1 and bt_proxy ones with 2), and a
// cap on one message that admits the extended handshake.
var service = svcconn.Service{
	Name: "proxy", Hash: ServiceHash, Ext: ExtensionName, ExtID: 2, SpeedID: 1, Client: "btspeed-proxy",
	MaxFrame: speed.MaxHandshakeSize, HandshakeTimeout: HandshakeTimeout, WriteTimeout: WriteTimeout,
	NotPeer: ErrNotProxy, TooLarge: ErrTooLarge, Unknown: ErrUnknownType,
}

// Conn is a proxy connection after both handshakes. Reads are for one
// goroutine; writes may come from any.
type Conn struct {
	*svcconn.Conn // Peer, WriteSpeed, deadlines, Close
}

// Handshake runs the BitTorrent handshake on ServiceHash with peerID and
// the extended handshake carrying self, on c, within HandshakeTimeout, and
// returns the connection. It fails with ErrNotProxy for a peer that is not
// a proxy peer.
func Handshake(c net.Conn, peerID [20]byte, self speed.Handshake) (*Conn, error) {
	sc, err := svcconn.Handshake(c, &service, peerID, self)
	if err != nil {
		return nil, err
	}
	return &Conn{sc}, nil
}

// Read returns the next proxy or Speed message: a Message or a
// speed.Message. It skips other BitTorrent messages and messages of unknown
// types, drops malformed ones and fails at the MaxMalformed-th.
func (c *Conn) Read() (any, error) {
	return svcconn.Read(c.Conn,
		func(b []byte) (any, error) { return Decode(b) },
		func(b []byte) (any, error) { return speed.Decode(b) })
}

// Write sends a proxy message.
func (c *Conn) Write(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return c.WritePayload(b)
}
