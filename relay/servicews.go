package relay

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/gorilla/websocket"
)

// The paid services over a WebSocket (docs/speed-protocol.md sections
// 11.1 and 12.3): GET /proxy/ws and GET /store/ws upgrade to a WebSocket
// whose binary messages carry the same byte stream as a TCP connection to
// the provider, for requesters that cannot open TCP (browsers). The
// providers serve these connections exactly as TCP ones, under their own
// caps; the relay adds a per-address cap and a message size cap.

// Caps of the WebSocket transport.
const (
	// DefaultServiceWSPerAddr caps one service's WebSockets open at once
	// from one client address.
	DefaultServiceWSPerAddr = 4
	// serviceWSMaxMessage caps one WebSocket message from a requester: a
	// service connection's largest message (the extended handshake, 64
	// KiB) with the BitTorrent handshake before it.
	serviceWSMaxMessage = 64<<10 + 1<<10
)

// WSListener is a net.Listener fed by the relay's WebSocket handler of a
// service: the provider's Serve accepts from it as from a TCP listener.
type WSListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

// NewWSListener returns a listener whose Addr is addr (the provider's TCP
// address, for its logs).
func NewWSListener(addr net.Addr) *WSListener {
	return &WSListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// Accept returns the next connection handed over, or net.ErrClosed.
func (l *WSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections handed over later are closed.
func (l *WSListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *WSListener) Addr() net.Addr { return l.addr }

// Hand gives c to the Accept of the provider serving l, or closes it when
// l is closed: a provider that also takes TCP connections can serve both
// through l.
func (l *WSListener) Hand(c net.Conn) {
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
	// released, when set (by tests, through export_test.go), runs under
	// mu each time a slot is released.
	released func()
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
	if p.released != nil {
		p.released()
	}
}

// serviceWS is one service's WebSocket transport.
type serviceWS struct {
	ln      *WSListener
	perAddr *perAddr
}

func newServiceWS(ln *WSListener, max int) *serviceWS {
	if max <= 0 {
		max = DefaultServiceWSPerAddr
	}
	return &serviceWS{ln: ln, perAddr: &perAddr{max: max, open: map[netip.Addr]int{}}}
}

// serveProxyWS is GET /proxy/ws: one proxy connection over a WebSocket.
func (r *Relay) serveProxyWS(w http.ResponseWriter, req *http.Request) {
	if r.proxy == nil {
		http.Error(w, "this relay is not a proxy provider", http.StatusNotFound)
		return
	}
	r.serveWS(w, req, r.proxy.ws)
}

// serveStore is GET /store: {"ws": "/store/ws"} when the relay is a
// storage provider, 404 otherwise.
func (r *Relay) serveStore(w http.ResponseWriter, req *http.Request) {
	cors(w)
	if r.storeWS == nil {
		http.Error(w, "this relay is not a storage provider", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ws":"/store/ws"}`)
}

// serveStoreWS is GET /store/ws: one storage connection over a WebSocket.
func (r *Relay) serveStoreWS(w http.ResponseWriter, req *http.Request) {
	if r.storeWS == nil {
		http.Error(w, "this relay is not a storage provider", http.StatusNotFound)
		return
	}
	r.serveWS(w, req, r.storeWS)
}

// serveWS upgrades to a WebSocket and hands it to s's provider.
func (r *Relay) serveWS(w http.ResponseWriter, req *http.Request, s *serviceWS) {
	if !r.limit(w, req) {
		return
	}
	client := clientip.Key(r.cfg.Clients.Addr(req))
	if !s.perAddr.take(client) {
		http.Error(w, "too many connections to this service from your address: close one, then try again", http.StatusTooManyRequests)
		return
	}
	// Any origin: the connection pays from the requester's own wallet,
	// which it signs for; no cookie or credential of the relay is used.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, req, nil)
	if err != nil {
		s.perAddr.release(client) // Upgrade answered the error
		return
	}
	ws.SetReadLimit(serviceWSMaxMessage)
	c := &addrConn{Conn: bridge.NetConn(ws), remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0)),
		onClose: func() { s.perAddr.release(client) }}
	s.ln.Hand(c)
}
