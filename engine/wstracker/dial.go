//go:build !js

package wstracker

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

func dial(ctx context.Context, url string, hc *http.Client) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	return ws, err
}
