//go:build !js

package engine

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/anacrolix/torrent/tracker"
	"github.com/btspeed/btspeed/engine/trackerclient"
)

// announceTo announces to one tracker until the torrent closes.
func (t *Torrent) announceTo(url string) {
	cl, err := trackerclient.New(url, trackerclient.Options{DialContext: t.cfg.trackerDial(), UserAgent: t.cfg.UserAgent})
	if err != nil {
		// WebSocket trackers (WebTorrent) are for browser peers.
		t.log.Debug("unusable tracker", "url", url, "err", err)
		return
	}
	defer cl.Close()
	key := rand.Int32()
	event := tracker.Started
	completedSent := false
	failures := 0
	for {
		req := t.announceRequest(event, key)
		ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
		res, err := cl.Announce(ctx, req)
		cancel()
		wait := 30 * time.Second
		if err != nil {
			failures++
			wait = min(time.Duration(failures)*30*time.Second, 10*time.Minute)
			t.log.Debug("announce failed", "url", url, "err", err)
		} else {
			failures = 0
			event = tracker.None
			if req.Left == 0 {
				completedSent = true
			}
			wait = time.Duration(min(max(res.Interval, 30), 1800)) * time.Second
			t.mu.Lock()
			for _, p := range res.Peers {
				if p.Port > 0 && p.Port < 65536 && p.IP != nil {
					t.addCandidateLocked(net.JoinHostPort(p.IP.String(), strconv.Itoa(p.Port)), "tracker")
				}
			}
			t.mu.Unlock()
			t.dialSome()
		}
		if !t.sleepAnnounce(wait, completedSent) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			if event == tracker.Completed || (!completedSent && t.isComplete()) {
				// A download that ends as soon as it completes still
				// counts in the tracker's "downloaded" (BEP 48).
				cl.Announce(ctx, t.announceRequest(tracker.Completed, key))
			}
			cl.Announce(ctx, t.announceRequest(tracker.Stopped, key))
			cancel()
			return
		}
		if !completedSent && t.isComplete() {
			completedSent = true
			event = tracker.Completed
		}
	}
}

func (t *Torrent) announceRequest(event tracker.AnnounceEvent, key int32) tracker.AnnounceRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	left := int64(-1)
	if t.lay != nil {
		left = t.lay.total - t.statsCompletedLocked()
	}
	return tracker.AnnounceRequest{
		InfoHash:   t.ih,
		PeerId:     t.cfg.PeerID,
		Downloaded: t.stats.Downloaded,
		Uploaded:   t.stats.Uploaded,
		Left:       left,
		Event:      event,
		Key:        key,
		NumWant:    50,
		Port:       uint16(t.cfg.ListenPort),
	}
}

// trackerDial returns the dial function for HTTP trackers.
func (c Config) trackerDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.TrackerDialer != nil {
		return c.TrackerDialer.DialContext
	}
	return (&net.Dialer{}).DialContext
}
