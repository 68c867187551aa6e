package engine

import (
	"context"
	"errors"
	"time"

	"github.com/btspeed/btspeed/engine/webseed"

	"github.com/btspeed/btspeed/shared/fetch"
)

// maxWebSeeds caps the web seeds a torrent uses at once.
const maxWebSeeds = 4

// startWebSeeds starts one fetcher per web seed (BEP 19).
func (t *Torrent) startWebSeeds() {
	for i, u := range t.spec.WebSeeds {
		if i == maxWebSeeds {
			break
		}
		t.wg.Add(1)
		go t.webSeedLoop(u)
	}
}

// webSeedTimeout bounds one piece's requests to a web seed.
const webSeedTimeout = 2 * time.Minute

// webSeedLoop fetches pieces from one web seed until the torrent completes
// or closes, preferring pieces no connected peer has. It backs off on
// errors (honouring Retry-After) and gives the web seed up after data that
// fails its hash or ten failures in a row.
func (t *Torrent) webSeedLoop(url string) {
	defer t.wg.Done()
	select {
	case <-t.gotInfo:
	case <-t.ctx.Done():
		return
	}
	hc := fetch.Or(t.cfg.HTTPClient)
	t.mu.Lock()
	ws := &webseed.Client{HTTP: hc, URL: url, Info: t.lay.info}
	buf := make([]byte, t.lay.pieceLength)
	t.mu.Unlock()
	failures := 0
	for {
		t.mu.Lock()
		if t.closed || t.have.Full() {
			t.mu.Unlock()
			return
		}
		i := t.pickWebSeedPieceLocked()
		if i >= 0 {
			t.busy[i] = true
		}
		t.mu.Unlock()
		if i < 0 {
			if !t.sleep(time.Second) {
				return
			}
			continue
		}
		ctx, cancel := context.WithTimeout(t.ctx, webSeedTimeout)
		data, err := ws.ReadPiece(ctx, i, buf)
		cancel()
		if err == nil {
			_, err = t.st.WriteAt(data, t.lay.pieceOff(i))
		}
		var good bool
		if err == nil {
			p := &partialPiece{index: i, from: map[*conn]bool{}}
			p.hashBlock(0, data)
			good, _ = p.hashDone(t.lay)
			t.mu.Lock()
			delete(t.busy, i)
			if !t.closed {
				if good {
					t.stats.Downloaded += int64(len(data))
					t.gotDataLocked(t.cfg.Now(), int64(len(data)))
				}
				t.pieceCheckedLocked(p, good)
			}
			t.mu.Unlock()
			if !good {
				t.log.Info("web seed sent data that fails the hash; not using it any more", "url", url, "piece", i)
				return
			}
			failures = 0
			continue
		}
		t.mu.Lock()
		delete(t.busy, i)
		t.mu.Unlock()
		if t.ctx.Err() != nil {
			return
		}
		if errors.Is(err, webseed.ErrInvalid) || errors.Is(err, webseed.ErrBadResponse) || errors.Is(err, webseed.ErrNoRange) {
			t.log.Info("web seed unusable", "url", url, "err", err)
			return // retrying cannot help
		}
		failures++
		wait := time.Duration(min(1<<min(failures, 6), 60)) * time.Second
		var se *webseed.StatusError
		if errors.As(err, &se) && se.RetryAfter > 0 {
			wait = se.RetryAfter
		}
		t.log.Debug("web seed failed", "url", url, "piece", i, "err", err, "retry in", wait)
		if failures >= 10 {
			t.log.Info("giving up a web seed", "url", url, "err", err)
			return
		}
		if !t.sleep(wait) {
			return
		}
	}
}

// pickWebSeedPieceLocked picks a missing piece nobody is fetching: the
// first no peer has, else the first missing one; -1 if none.
func (t *Torrent) pickWebSeedPieceLocked() int {
	fallback := -1
	for i := range t.lay.numPieces {
		if t.have.Get(i) || t.partial[i] != nil || t.busy[i] {
			continue
		}
		if t.avail[i] == 0 {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return fallback
}

// sleep waits d; false if the torrent closed meanwhile.
func (t *Torrent) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
