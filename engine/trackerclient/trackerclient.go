//go:build !js

// Package trackerclient wraps anacrolix's HTTP (BEP 3) and UDP (BEP 15)
// tracker clients so that no tracker can crash or stall the process using
// them (the engine's announces, the relay's peer discovery):
//
//   - anacrolix's bencode decoding panics on a dictionary-model peer list
//     holding anything but dictionaries of the expected types: Announce
//     recovers and returns an error;
//   - its HTTP client reads a reply of any size: the connection here reads
//     at most MaxResponse bytes;
//   - its UDP dispatcher hands answers to a channel of capacity one while
//     holding a lock that ending the transaction needs, so three answers to
//     one request block the announce for ever: only the first answer to
//     each transaction passes;
//   - it leaves numwant out of HTTP announces: it is added.
//
// Options.Allow, when set, is asked about every address dialled or sent to
// (the relay's guard against being pointed at private networks).
package trackerclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
)

// MaxResponse caps an HTTP tracker's reply.
const MaxResponse = 256 << 10

// Errors.
var (
	ErrTooBig  = errors.New("tracker response too large")
	ErrRefused = errors.New("tracker address refused")
)

// Options configure a Client.
type Options struct {
	// DialContext dials HTTP trackers (default net.Dialer); the connection
	// it returns is capped at MaxResponse bytes read.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// ListenPacket opens the UDP trackers' socket (default
	// net.ListenPacket).
	ListenPacket func(network, addr string) (net.PacketConn, error)
	// Allow, when set, says whether a UDP tracker address may be sent to
	// (HTTP addresses are the dialer's to check).
	Allow     func(netip.Addr) bool
	UserAgent string
	// Logger receives anacrolix's logs (zero: its default).
	Logger alog.Logger
}

// Client is one tracker.
type Client struct {
	cl tracker.Client
	ua string
}

// New returns a client for an http(s):// or udp:// tracker URL.
func New(url string, o Options) (*Client, error) {
	if o.DialContext == nil {
		d := &net.Dialer{}
		o.DialContext = d.DialContext
	}
	if o.ListenPacket == nil {
		o.ListenPacket = net.ListenPacket
	}
	dial := o.DialContext
	cl, err := tracker.NewClient(url, tracker.NewClientOpts{
		Http: trHttp.NewClientOpts{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &limitedConn{Conn: c, left: MaxResponse}, nil
		}},
		Logger: o.Logger,
		ListenPacket: func(network, addr string) (net.PacketConn, error) {
			pc, err := o.ListenPacket(network, addr)
			if err != nil {
				return nil, err
			}
			return &packetConn{PacketConn: pc, allow: o.Allow, seen: make(map[uint32]bool)}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tracker client: %w", err)
	}
	return &Client{cl: cl, ua: o.UserAgent}, nil
}

// Announce sends one announce.
func (c *Client) Announce(ctx context.Context, req tracker.AnnounceRequest) (res tracker.AnnounceResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed tracker response: %v", r)
		}
	}()
	return c.cl.Announce(ctx, req, tracker.AnnounceOpt{
		UserAgent: c.ua,
		HttpRequestDirector: func(r *http.Request) error {
			if req.NumWant > 0 {
				r.URL.RawQuery += "&numwant=" + strconv.Itoa(int(req.NumWant))
			}
			return nil
		},
	})
}

// Close releases the client.
func (c *Client) Close() error { return c.cl.Close() }

// limitedConn is a net.Conn that fails once it has read its allowance.
type limitedConn struct {
	net.Conn
	left int // guarded by the one reader http.Transport has per connection
}

// Read reads within the allowance.
func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, ErrTooBig
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// maxTransactions caps the transaction ids a packetConn remembers; one
// announce uses at most four.
const maxTransactions = 64

// packetConn is the UDP client's socket: writes only to allowed addresses
// (checked per packet: anacrolix resolves the name again for each), and
// only the first answer to each transaction id is read.
type packetConn struct {
	net.PacketConn
	allow func(netip.Addr) bool
	seen  map[uint32]bool // used by the one reader
}

// WriteTo writes b to addr if it is allowed.
func (c *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.allow != nil {
		ua, ok := addr.(*net.UDPAddr)
		if !ok || !c.allow(ua.AddrPort().Addr().Unmap()) {
			return 0, fmt.Errorf("UDP tracker %v: %w", addr, ErrRefused)
		}
	}
	return c.PacketConn.WriteTo(b, addr)
}

// ReadFrom reads the next packet that is not a repeated answer.
func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n < 8 {
			return n, addr, err // too short: the dispatcher rejects it
		}
		tid := binary.BigEndian.Uint32(b[4:8]) // after the action (BEP 15)
		if c.seen[tid] || len(c.seen) >= maxTransactions {
			continue
		}
		c.seen[tid] = true
		return n, addr, nil
	}
}
