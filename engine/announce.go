package engine

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
)

// maxTrackers caps the tracker URLs a torrent announces to.
const maxTrackers = 16

// announceLoop announces to every tracker of the torrent (BEP 3 HTTP, BEP
// 15 UDP) through anacrolix's tracker clients, and dials the peers they
// return. A tracker URL a configured PeerFinder handles (WebTorrent's
// WebSocket trackers) goes to that finder instead.
func (t *Torrent) announceLoop() {
	defer t.wg.Done()
	done := make(chan struct{})
	n := 0
	seen := make(map[string]bool)
	for _, tier := range t.spec.Trackers {
		for _, u := range tier {
			if n == maxTrackers || seen[u] {
				continue
			}
			seen[u] = true
			n++
			finder := t.cfg.finderFor(u)
			go func() {
				defer func() { done <- struct{}{} }()
				if finder != nil {
					finder.Run(t.ctx, t, u)
					return
				}
				t.announceTo(u)
			}()
		}
	}
	for range n {
		<-done
	}
}

// announceTo announces to one tracker until the torrent closes.
func (t *Torrent) announceTo(url string) {
	opts := tracker.NewClientOpts{Http: trHttp.NewClientOpts{DialContext: t.cfg.trackerDial()}}
	cl, err := tracker.NewClient(url, opts)
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
		res, err := cl.Announce(ctx, req, tracker.AnnounceOpt{UserAgent: t.cfg.UserAgent})
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
			cl.Announce(ctx, t.announceRequest(tracker.Stopped, key), tracker.AnnounceOpt{UserAgent: t.cfg.UserAgent})
			cancel()
			return
		}
		if !completedSent && t.isComplete() {
			completedSent = true
			event = tracker.Completed
		}
	}
}

// sleepAnnounce waits wait, or less when the download completes and the
// tracker has not heard of it; false when the torrent closes.
func (t *Torrent) sleepAnnounce(wait time.Duration, completedSent bool) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	complete := t.complete
	if completedSent {
		complete = nil
	}
	select {
	case <-t.ctx.Done():
		return false
	case <-complete:
		return true
	case <-timer.C:
		return true
	}
}

func (t *Torrent) isComplete() bool {
	select {
	case <-t.complete:
		return true
	default:
		return false
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

// statsCompletedLocked returns the bytes of verified pieces.
func (t *Torrent) statsCompletedLocked() int64 {
	done := int64(t.have.Count()) * t.lay.pieceLength
	if t.have.Get(t.lay.numPieces - 1) {
		done -= t.lay.pieceLength - t.lay.pieceLen(t.lay.numPieces-1)
	}
	return done
}

// trackerDial returns the dial function for HTTP trackers.
func (c Config) trackerDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.TrackerDialer != nil {
		return c.TrackerDialer.DialContext
	}
	return (&net.Dialer{}).DialContext
}

// AnnounceState is what a tracker announce reports about a torrent.
type AnnounceState struct {
	PeerID               [20]byte
	Downloaded, Uploaded int64
	// Left is the bytes still missing, -1 before the info is known.
	Left int64
	// WantPeers is how many more connections the torrent would take.
	WantPeers int
}

// AnnounceState returns what an announce for the torrent reports now; a
// PeerFinder reads it.
func (t *Torrent) AnnounceState() AnnounceState {
	r := t.announceRequest(tracker.None, 0)
	t.mu.Lock()
	want := max(t.cfg.MaxConnsPerTorrent-len(t.conns), 0)
	t.mu.Unlock()
	return AnnounceState{PeerID: r.PeerId, Downloaded: r.Downloaded, Uploaded: r.Uploaded, Left: r.Left, WantPeers: want}
}

// AddConn runs the outgoing handshake on an established connection (a
// WebRTC data channel a PeerFinder opened) and adds it to the torrent.
// WebTorrent peers send their handshake as soon as the channel opens, so
// both ends of a data channel use AddConn.
func (t *Torrent) AddConn(ctx context.Context, nc net.Conn) error {
	return t.c.AddConn(ctx, nc, t.ih)
}
