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
		good, err := t.webSeedPiece(ws, i, buf)
		switch {
		case err == nil && !good:
			t.log.Info("web seed sent data that fails the hash; not using it any more", "url", url, "piece", i)
			return
		case err == nil:
			failures = 0
			continue
		case t.ctx.Err() != nil:
			return
		case errors.Is(err, webseed.ErrInvalid) || errors.Is(err, webseed.ErrBadResponse) || errors.Is(err, webseed.ErrNoRange):
			t.log.Info("web seed unusable", "url", url, "err", err)
			return // retrying cannot help
		}
		failures++
		if failures >= 10 {
			t.log.Info("giving up a web seed", "url", url, "err", err)
			return
		}
		wait := webSeedBackoff(err, failures)
		t.log.Debug("web seed failed", "url", url, "piece", i, "err", err, "retry in", wait)
		if !t.sleep(wait) {
			return
		}
	}
}

// webSeedPiece fetches piece i (marked busy by the caller) into buf, stores
// and checks it; good says whether it matched its hash. The piece is no
// longer busy when it returns.
func (t *Torrent) webSeedPiece(ws *webseed.Client, i int, buf []byte) (good bool, err error) {
	ctx, cancel := context.WithTimeout(t.ctx, webSeedTimeout)
	data, err := ws.ReadPiece(ctx, i, buf)
	cancel()
	if err == nil {
		_, err = t.st.WriteAt(data, t.lay.pieceOff(i))
	}
	if err != nil {
		t.mu.Lock()
		delete(t.busy, i)
		t.mu.Unlock()
		return false, err
	}
	p := &partialPiece{index: i, from: map[*conn]bool{}}
	p.hashBlock(0, data)
	good, _ = p.hashDone(t.lay)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.busy, i)
	if !t.closed {
		if good {
			t.stats.Downloaded += int64(len(data))
			t.gotDataLocked(t.cfg.Now(), int64(len(data)))
		}
		t.pieceCheckedLocked(p, good)
	}
	return good, nil
}

// webSeedBackoff is the wait after the failures-th failure in a row: the
// web seed's Retry-After when it gave one, else 2, 4, ... up to 60 seconds.
func webSeedBackoff(err error, failures int) time.Duration {
	var se *webseed.StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return se.RetryAfter
	}
	return time.Duration(min(1<<min(failures, 6), 60)) * time.Second
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
