//go:build !js

package wstracker

import (
	"context"
	"net/http"

	"github.com/btspeed/btspeed/shared/fetch"
	"github.com/coder/websocket"
)

func dial(ctx context.Context, url string, d fetch.Doer) (*websocket.Conn, error) {
	hc, _ := d.(*http.Client)
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	return ws, err
}
