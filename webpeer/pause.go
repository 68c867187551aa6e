package webpeer

import (
	"errors"
	"fmt"
	"slices"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/engine"
)

// ErrPaused says a torrent is paused: resume it to read its files.
var ErrPaused = errors.New("webpeer: the torrent is paused; resume it to read its files")

// find returns torrent ih.
func (p *Peer) find(ih metainfo.Hash) (*Torrent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.torrents[ih]
	if !ok {
		return nil, fmt.Errorf("webpeer: no torrent %s", ih.HexString())
	}
	return t, nil
}

// Pause stops a torrent: its connections and payment channels close and
// nothing is downloaded or uploaded until Resume. Its data and place in
// the list stay (across restarts too). Pausing a paused torrent does
// nothing.
func (p *Peer) Pause(ih metainfo.Hash) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	t, err := p.find(ih)
	if err != nil {
		return err
	}
	t.mu.Lock()
	old, st, paused, failed := t.t, t.st, t.paused, t.moveErr != nil
	t.checking = false // waiting for its check, it stays paused
	t.mu.Unlock()
	if paused {
		p.saveTorrent(t)
		return nil
	}
	snap, verified := t.Status(), old.Verified()
	p.mu.Lock()
	eng := p.eng
	p.mu.Unlock()
	if st != nil {
		st.moving.Store(true) // the storage stays open: this page keeps the torrent
	}
	if err := eng.Remove(ih); err != nil && !errors.Is(err, engine.ErrUnknownTorrent) {
		p.log.Info("stopping a torrent to pause it", "torrent", ih.HexString(), "err", err)
	}
	if st != nil {
		st.moving.Store(false)
	}
	if failed { // a failed move counted what it did already
		t.mu.Lock()
		t.t = nil
		close(t.gone)
		t.gone = make(chan struct{})
		t.mu.Unlock()
	} else {
		t.moved(old, nil, nil) // counts what it did, and wakes readers
	}
	t.mu.Lock()
	t.paused, t.snap, t.verified, t.moveErr = true, snap, verified, nil
	t.mu.Unlock()
	p.saveTorrent(t)
	return nil
}

// Resume starts a paused torrent again: with the pieces it had when it
// was paused in this page, or, paused in an earlier one, after hash-
// checking what its storage holds. Resuming a running torrent does
// nothing.
func (p *Peer) Resume(ih metainfo.Hash) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	t, err := p.find(ih)
	if err != nil {
		return err
	}
	return p.resumeOp(t)
}

// resumeOp is Resume; the caller holds opMu.
func (p *Peer) resumeOp(t *Torrent) error {
	ih := t.ih
	t.mu.Lock()
	st, verified, spec, paused := t.st, t.verified, t.spec, t.paused
	spec.Speed = cloneSettings(t.override)
	t.mu.Unlock()
	if !paused {
		return nil
	}
	eng, err := p.engineOp()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(spec.Trackers, func(tier []string) bool { return slices.Equal(tier, p.cfg.Trackers) }) {
		spec.Trackers = append(spec.Trackers, p.cfg.Trackers)
	}
	var nt *engine.Torrent
	if st != nil && !st.closed.Load() && spec.InfoBytes != nil && verified != nil {
		spec.Check = false
		spec.Storage = func(*metainfo.Info) (engine.Storage, error) { return st, nil }
		nt, err = eng.AddVerified(spec, verified)
	} else {
		p.mu.Lock()
		limit := p.settings.StorageLimit - p.usedLocked() + t.length()
		p.mu.Unlock()
		spec.Check = spec.InfoBytes != nil
		spec.Storage = t.opener(limit, nil)
		nt, err = eng.AddTorrent(spec)
	}
	if err != nil {
		err = fmt.Errorf("webpeer: resuming %s: %w", ih.HexString(), err)
		t.mu.Lock()
		t.moveErr = err
		if t.checking { // kept running: its record stays as it is for the tab that has it
			t.checking, t.elsewhere = false, true
		}
		t.mu.Unlock()
		return err
	}
	t.mu.Lock()
	t.t, t.paused, t.verified, t.moveErr, t.elsewhere, t.checking = nt, false, nil, nil, false, false
	t.spec.Trackers = spec.Trackers
	close(t.gone)
	t.gone = make(chan struct{})
	t.mu.Unlock()
	p.saveTorrent(t)
	p.watchInfo(t)
	return nil
}

// closeStorage closes a removed torrent's storage (a paused one's is
// open still).
func (t *Torrent) closeStorage() {
	t.mu.Lock()
	st := t.st
	t.mu.Unlock()
	if st != nil {
		if err := st.Close(); err != nil {
			t.p.log.Info("closing a removed torrent's storage", "torrent", t.ih.HexString(), "err", err)
		}
	}
}
