//go:build js

package wstracker

import (
	"context"

	"github.com/btspeed/btspeed/shared/fetch"
	"github.com/coder/websocket"
)

// dial opens the browser's own WebSocket; an HTTP client does not apply.
func dial(ctx context.Context, url string, _ fetch.Doer) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	return ws, err
}
