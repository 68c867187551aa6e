package bridge

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// NetConn makes a WebSocket carrying binary messages a net.Conn: a byte
// stream in each direction, as the bridge and the engine want it. Native
// peers use it to reach the bridge; the browser speaks the same framing
// with its own WebSocket.
func NetConn(ws *websocket.Conn) net.Conn { return &wsNetConn{ws: ws} }

type wsNetConn struct {
	ws  *websocket.Conn
	rmu sync.Mutex // serializes Read (one reader at a time, as websocket requires)
	r   io.Reader  // the message being read
	wmu sync.Mutex // serializes Write
}

func (c *wsNetConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			kind, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
					return 0, io.EOF
				}
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				continue
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsNetConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsNetConn) Close() error {
	c.wmu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.ws.Close()
}

func (c *wsNetConn) LocalAddr() net.Addr  { return wsAddr{c.ws.LocalAddr()} }
func (c *wsNetConn) RemoteAddr() net.Addr { return wsAddr{c.ws.RemoteAddr()} }
func (c *wsNetConn) SetDeadline(t time.Time) error {
	c.ws.SetReadDeadline(t)
	return c.ws.SetWriteDeadline(t)
}
func (c *wsNetConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsNetConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// wsAddr reports the network as "websocket".
type wsAddr struct{ net.Addr }

func (wsAddr) Network() string { return "websocket" }
