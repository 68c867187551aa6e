package engine

import (
	"context"
	"net"
	"time"
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
	run := func(f func()) {
		n++
		go func() {
			defer func() { done <- struct{}{} }()
			f()
		}()
	}
	urls := 0
	for _, tier := range t.spec.Trackers {
		var tiers []TierFinder // the tier's URLs a TierFinder handles, by finder
		tierURLs := make(map[TierFinder][]string)
		for _, u := range tier {
			if urls == maxTrackers || seen[u] {
				continue
			}
			seen[u] = true
			urls++
			finder := t.cfg.finderFor(u)
			if tf, ok := finder.(TierFinder); ok {
				if tierURLs[tf] == nil {
					tiers = append(tiers, tf)
				}
				tierURLs[tf] = append(tierURLs[tf], u)
				continue
			}
			run(func() {
				if finder != nil {
					finder.Run(t.ctx, t, u)
					return
				}
				t.announceTo(u)
			})
		}
		for _, tf := range tiers {
			us := tierURLs[tf]
			run(func() {
				if len(us) == 1 {
					tf.Run(t.ctx, t, us[0])
					return
				}
				tf.RunTier(t.ctx, t, us)
			})
		}
	}
	for range n {
		<-done
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

// statsCompletedLocked returns the bytes of verified pieces.
func (t *Torrent) statsCompletedLocked() int64 {
	done := int64(t.have.Count()) * t.lay.pieceLength
	if t.have.Get(t.lay.numPieces - 1) {
		done -= t.lay.pieceLength - t.lay.pieceLen(t.lay.numPieces-1)
	}
	return done
}

// AnnounceState is what a tracker announce reports about a torrent.
type AnnounceState struct {
	PeerID               [20]byte
	Downloaded, Uploaded int64
	// Left is the bytes still missing, -1 before the info is known.
	Left int64
	// WantPeers is how many more connections the torrent would take.
	WantPeers int
	// Connected is how many peers are connected now.
	Connected int
}

// AnnounceState returns what an announce for the torrent reports now; a
// PeerFinder reads it.
func (t *Torrent) AnnounceState() AnnounceState {
	t.mu.Lock()
	defer t.mu.Unlock()
	left := int64(-1)
	if t.lay != nil {
		left = t.lay.total - t.statsCompletedLocked()
	}
	return AnnounceState{PeerID: t.cfg.PeerID, Downloaded: t.stats.Downloaded, Uploaded: t.stats.Uploaded, Left: left,
		WantPeers: max(t.cfg.MaxConnsPerTorrent-len(t.conns), 0), Connected: len(t.conns)}
}

// AddConn runs the outgoing handshake on an established connection (a
// WebRTC data channel a PeerFinder opened) and adds it to the torrent.
// WebTorrent peers send their handshake as soon as the channel opens, so
// both ends of a data channel use AddConn.
func (t *Torrent) AddConn(ctx context.Context, nc net.Conn) error {
	return t.c.AddConn(ctx, nc, t.ih)
}
