package relay

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/gorilla/websocket"
)

// The paid proxy over a WebSocket (docs/speed-protocol.md section 11.1):
// GET /proxy/ws upgrades to a WebSocket whose binary messages carry the
// same byte stream as a TCP proxy connection, for requesters that cannot
// open TCP (browsers). The provider serves these connections exactly as
// TCP ones, under its own caps (MaxConns, MaxLength, UploadRate).

// Caps of the WebSocket transport.
const (
	// DefaultProxyWSPerAddr caps the proxy WebSockets open at once from
	// one client address.
	DefaultProxyWSPerAddr = 4
	// proxyWSMaxMessage caps one WebSocket message from a requester: a
	// proxy connection's largest message (the extended handshake, 64 KiB)
	// with the BitTorrent handshake before it.
	proxyWSMaxMessage = 64<<10 + 1<<10
)

// connListener is a net.Listener fed by the WebSocket handler: the
// provider's Serve accepts from it as from a TCP listener.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// Accept returns the next connection handed over, or net.ErrClosed.
func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections handed over later are closed.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// hand gives c to Serve, or closes it when the listener is closed.
func (l *connListener) hand(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// addrConn is a WebSocket's net.Conn with the client's address (as the
// relay's clientip resolver names it, behind trusted proxies) for the
// provider's bans, and a hook run once on Close.
type addrConn struct {
	net.Conn
	remote  net.Addr
	once    sync.Once
	onClose func()
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

func (c *addrConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}

// perAddr counts open connections per client address under a cap.
type perAddr struct {
	mu   sync.Mutex
	max  int
	open map[netip.Addr]int
}

// take counts one more from a, or says no at the cap.
func (p *perAddr) take(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[a] >= p.max {
		return false
	}
	p.open[a]++
	return true
}

func (p *perAddr) release(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[a]--; p.open[a] <= 0 {
		delete(p.open, a)
	}
}

// serveProxyWS is GET /proxy/ws: one proxy connection over a WebSocket.
func (r *Relay) serveProxyWS(w http.ResponseWriter, req *http.Request) {
	if r.proxy == nil {
		http.Error(w, "this relay is not a proxy provider", http.StatusNotFound)
		return
	}
	if !r.limit(w, req) {
		return
	}
	client := clientip.Key(r.cfg.Clients.Addr(req))
	if !r.proxy.perAddr.take(client) {
		http.Error(w, "too many proxy connections from your address: close one, then try again", http.StatusTooManyRequests)
		return
	}
	// Any origin: the connection pays from the requester's own wallet,
	// which it signs for; no cookie or credential of the relay is used.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, req, nil)
	if err != nil {
		r.proxy.perAddr.release(client) // Upgrade answered the error
		return
	}
	ws.SetReadLimit(proxyWSMaxMessage)
	c := &addrConn{Conn: bridge.NetConn(ws), remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0)),
		onClose: func() { r.proxy.perAddr.release(client) }}
	r.proxy.ws.hand(c)
}
