// Package relaybridge is the peer side of the relay's bridge: it reaches a
// classic TCP or uTP BitTorrent peer through a btspeed relay, over a WebRTC
// data channel or, where WebRTC cannot connect, a WebSocket. The returned
// net.Conn carries the BitTorrent wire protocol end to end (the relay
// checks that both sides' handshakes name the torrent before it pipes
// anything else); hand it to engine.Client.AddConn. It works natively and
// in the browser.
package relaybridge

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/btspeed/btspeed/engine/rtc"

	"github.com/btspeed/btspeed/shared/fetch"
)

// Transports.
const (
	WebRTC    = "webrtc"
	WebSocket = "websocket"
)

// Config says which relay to go through and how.
type Config struct {
	// Relay is the relay's base URL (http://host:port or https://host).
	Relay string
	// RTC configures the WebRTC side (ICE servers; natively a pion API).
	RTC rtc.Config
	// HTTPClient posts the offer (nil: fetch.Default()).
	HTTPClient fetch.Doer
}

// BridgedMaxBuffered is the receive buffer of a bridged WebRTC connection
// when Config.RTC leaves it 0: four times rtc's default, since the engine
// keeps its requests within a quarter of it (128 by default) and a classic
// seed needs more in flight: Transmission, which sends what is requested
// once per 500 ms, takes 511 (8 MiB), and with 128 sends at most 4 MB/s.
// What an honest peer sends is bounded by those requests; a peer that
// overruns the buffer is cut off.
const BridgedMaxBuffered = 32 << 20

// maxAnswer caps the relay's answer.
const maxAnswer = 64 << 10

func (c Config) endpoint(ih [20]byte, peer, network string) (string, error) {
	u, err := url.Parse(c.Relay)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("relaybridge: relay URL %q: want http(s)://host", c.Relay)
	}
	q := url.Values{"info_hash": {hex.EncodeToString(ih[:])}, "peer": {peer}}
	if network != "" && network != "tcp" {
		q.Set("net", network)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/bridge"
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Dial opens a bridged connection to peer (IP:PORT, which the relay must
// have discovered for ih) over transport (WebRTC or WebSocket); network is
// "tcp" (default) or "utp", how the relay reaches the peer.
func Dial(ctx context.Context, cfg Config, transport string, ih [20]byte, peer, network string) (net.Conn, error) {
	ep, err := cfg.endpoint(ih, peer, network)
	if err != nil {
		return nil, err
	}
	switch transport {
	case WebRTC, "":
		return dialRTC(ctx, cfg, ep)
	case WebSocket:
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ep, "http"), nil)
		if err != nil {
			return nil, fmt.Errorf("relaybridge: websocket: %w", err)
		}
		ws.SetReadLimit(1 << 20)
		// The connection outlives ctx, which only bounds the dial.
		return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
	default:
		return nil, fmt.Errorf("relaybridge: unknown transport %q", transport)
	}
}

func dialRTC(ctx context.Context, cfg Config, ep string) (net.Conn, error) {
	if cfg.RTC.MaxBuffered <= 0 {
		cfg.RTC.MaxBuffered = BridgedMaxBuffered
	}
	p, err := rtc.NewOffer(ctx, cfg.RTC)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(p.Local)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, bytes.NewReader(body))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("relaybridge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = fetch.Default()
	}
	resp, err := hc.Do(req)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("relaybridge: posting the offer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil || len(b) > maxAnswer {
		p.Close()
		return nil, fmt.Errorf("relaybridge: reading the answer: %w", errors.Join(err, errors.New("answer too large or cut")))
	}
	if resp.StatusCode != http.StatusOK {
		p.Close()
		return nil, &RefusedError{Status: resp.StatusCode, Reason: strings.TrimSpace(string(b))}
	}
	var answer rtc.SessionDescription
	if err := json.Unmarshal(b, &answer); err != nil {
		p.Close()
		return nil, fmt.Errorf("relaybridge: malformed answer: %w", err)
	}
	if err := p.Accept(answer); err != nil {
		p.Close()
		return nil, err
	}
	return p.Connect(ctx)
}

// RefusedError is the relay saying no (not discovered, not public, too
// many connections, bad request).
type RefusedError struct {
	Status int
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("relaybridge: the relay refused (%d): %s", e.Status, e.Reason)
}
