package rtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// newLabel is a random data channel label, as WebTorrent's simple-peer
// makes them.
func newLabel() string {
	b := make([]byte, 20)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Connect waits until the data channel is open and returns it as a
// connection; on failure or when ctx ends first the peer is closed.
func (p *Peer) Connect(ctx context.Context) (*Conn, error) {
	var c *Conn
	select {
	case c = <-p.conn:
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("rtc: waiting for the data channel: %w", ctx.Err())
	}
	select {
	case <-c.Opened():
		return c, nil
	case <-c.Done():
		return nil, errors.New("rtc: the data channel closed before it opened")
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("rtc: opening the data channel: %w", ctx.Err())
	}
}

// Close abandons the peer connection.
func (p *Peer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.closePC()
	}
}
