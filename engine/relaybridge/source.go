package relaybridge

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/btspeed/btspeed/engine"

	"github.com/btspeed/btspeed/shared/fetch"
)

// Peers is what a relay's /bridge/peers answers: the classic peers it
// will bridge to for a torrent.
type Peers struct {
	Peers []string `json:"peers"`
	// UTP says whether the relay can reach them over uTP too.
	UTP bool `json:"utp"`
}

// maxPeersAnswer caps the /bridge/peers answer.
const maxPeersAnswer = 64 << 10

// ListPeers asks the relay which classic peers of ih it can bridge to,
// passing the torrent's tracker URLs so it can search them too.
func ListPeers(ctx context.Context, cfg Config, ih [20]byte, trackers []string) (*Peers, error) {
	u, err := url.Parse(cfg.Relay)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("relaybridge: relay URL %q: want http(s)://host", cfg.Relay)
	}
	q := url.Values{"info_hash": {hex.EncodeToString(ih[:])}}
	for _, tr := range trackers {
		if strings.HasPrefix(tr, "http://") || strings.HasPrefix(tr, "https://") || strings.HasPrefix(tr, "udp://") {
			q.Add("tr", tr)
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/bridge/peers"
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("relaybridge: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = fetch.Default()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("relaybridge: listing peers: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeersAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("relaybridge: listing peers: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &RefusedError{Status: resp.StatusCode, Reason: strings.TrimSpace(string(b))}
	}
	if len(b) > maxPeersAnswer {
		return nil, errors.New("relaybridge: peer list too large")
	}
	var p Peers
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("relaybridge: malformed peer list: %w", err)
	}
	return &p, nil
}

// Source is an engine.PeerSource: for every torrent it asks the relay for
// bridgeable classic peers now and then and connects to those it has not
// tried lately, over WebRTC, falling back to WebSocket.
type Source struct {
	Config
	// Transport forces WebRTC or WebSocket; "" tries WebRTC first.
	Transport string
	// MaxPerTorrent caps the bridged connections opened per round
	// (default 8); Poll is the longest time between rounds (default 1
	// min; the first rounds come sooner, while the relay's search runs);
	// Retry is how long before a peer is tried again (default 10 min).
	MaxPerTorrent int
	Poll, Retry   time.Duration
	Logger        *slog.Logger
}

// String names the source in a torrent's status (engine.Status.Trying).
func (s *Source) String() string { return "the relay bridge" }

// Run implements engine.PeerSource.
func (s *Source) Run(ctx context.Context, t *engine.Torrent) {
	poll, retry, per := s.Poll, s.Retry, s.MaxPerTorrent
	if poll <= 0 {
		poll = time.Minute
	}
	if retry <= 0 {
		retry = 10 * time.Minute
	}
	if per <= 0 {
		per = 8
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var trackers []string
	for _, tier := range t.Trackers() {
		trackers = append(trackers, tier...)
	}
	ih := t.InfoHash()
	tried := make(map[string]time.Time)
	wait := min(5*time.Second, poll)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if t.AnnounceState().WantPeers > 0 {
			lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			list, err := ListPeers(lctx, s.Config, ih, trackers)
			cancel()
			if err != nil {
				log.Debug("bridge peers", "err", err)
			} else {
				now := time.Now()
				for k, at := range tried {
					if now.Sub(at) > retry {
						delete(tried, k)
					}
				}
				n := 0
				for _, p := range list.Peers {
					if n == per || len(tried) >= 10_000 {
						break
					}
					if _, ok := tried[p]; ok {
						continue
					}
					tried[p] = now
					n++
					wg.Add(1)
					go func() {
						defer wg.Done()
						s.connect(ctx, t, ih, p, log)
					}()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, poll)
	}
}

// connect opens one bridged connection and gives it to the torrent.
func (s *Source) connect(ctx context.Context, t *engine.Torrent, ih [20]byte, peer string, log *slog.Logger) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	transports := []string{WebRTC, WebSocket}
	if s.Transport != "" {
		transports = []string{s.Transport}
	}
	for _, tr := range transports {
		conn, err := Dial(dctx, s.Config, tr, ih, peer, "tcp")
		var refused *RefusedError
		if errors.As(err, &refused) {
			log.Debug("bridge refused", "peer", peer, "err", err)
			return
		}
		if err != nil {
			log.Debug("bridge failed", "peer", peer, "transport", tr, "err", err)
			continue
		}
		label := "bridge (WebRTC)"
		if tr == WebSocket {
			label = "bridge (WebSocket)"
		}
		if err := t.AddConn(ctx, &engine.LabeledConn{Conn: conn, Transport: label, Peer: peer}); err != nil {
			log.Debug("bridged peer refused", "peer", peer, "err", err)
		}
		return
	}
}
