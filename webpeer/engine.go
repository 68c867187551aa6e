package webpeer

import (
	"fmt"
	"sync/atomic"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/wstracker"
)

// One engine runs every torrent. It is made with Speed (the wallet's key)
// while the wallet is unlocked and without it otherwise, since Speed is
// negotiated when a connection opens. When the wallet is created,
// restored, unlocked or locked, the torrents move to a new engine that
// matches it (engine.AddVerified: nothing downloaded is lost or hashed
// again), so that Speed is on for every running torrent exactly when the
// wallet and the settings say so, and what the page shows is what the
// engine does.

// keptStorage is a torrent's storage; it stays open while the torrent
// moves between engines (removing it from the old one closes it).
type keptStorage struct {
	engine.Storage
	moving atomic.Bool
	closed atomic.Bool
}

// Close closes the storage unless the torrent is moving (or pausing); a
// second Close does nothing.
func (k *keptStorage) Close() error {
	if k.moving.Load() || k.closed.Swap(true) {
		return nil
	}
	return k.Storage.Close()
}

// Prefetch passes a read-ahead hint on to the storage when it takes one
// (engine.Prefetcher).
func (k *keptStorage) Prefetch(offs []int64, lens []int) {
	if pf, ok := k.Storage.(engine.Prefetcher); ok {
		pf.Prefetch(offs, lens)
	}
}

// engineOp returns the running engine, starting it (with Speed when the
// wallet is unlocked) on first use; the caller holds opMu.
func (p *Peer) engineOp() (*engine.Client, error) {
	p.mu.Lock()
	eng := p.eng
	p.mu.Unlock()
	if eng != nil {
		return eng, nil
	}
	eng, addr, err := p.newEngine()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.eng, p.engAddr = eng, addr
	p.mu.Unlock()
	return eng, nil
}

// newEngine makes an engine for the wallet as it is now: with Speed, and
// the account it pays with, when the wallet is unlocked.
func (p *Peer) newEngine() (*engine.Client, string, error) {
	cfg := engine.Config{
		Logger:      p.log,
		Now:         p.cfg.Now,
		StallAfter:  p.cfg.StallAfter,
		UserAgent:   "btspeed/" + engine.Version + " (web)",
		PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: p.cfg.RTC, HTTPClient: p.cfg.HTTPClient, Logger: p.log})},
		PeerSources: []engine.PeerSource{&relaybridge.Source{Config: relaybridge.Config{Relay: p.cfg.Relay, RTC: p.cfg.RTC, HTTPClient: p.cfg.HTTPClient}, Logger: p.log}},
	}
	var addr string
	if key := p.wallet.unlocked(); key != nil {
		cfg.Speed = &engine.SpeedConfig{Key: key, Ledger: p.ledger, LedgerID: p.ledgerID, Settings: speedSettings(p.Settings())}
		addr = key.Address().String()
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("webpeer: start the engine: %w", err)
	}
	return eng, addr, nil
}

// walletChanged gives the torrents an engine that matches the wallet: with
// no torrent running the engine just stops (the next one starts as the
// wallet is then); otherwise every torrent moves to a new engine.
func (p *Peer) walletChanged() {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	var addr string
	if key := p.wallet.unlocked(); key != nil {
		addr = key.Address().String()
	}
	p.mu.Lock()
	eng, fits, n := p.eng, p.engAddr == addr, len(p.torrents)
	p.mu.Unlock()
	switch {
	case eng == nil || fits:
	case n == 0:
		p.closeEngineOp()
	default:
		if err := p.swapEngineOp(); err != nil {
			p.log.Error("the torrents keep their engine", "err", err)
		}
	}
}

// swapEngineOp moves every torrent to a new engine made for the wallet as
// it is now, and stops the old one (closing its payment channels); the
// caller holds opMu.
func (p *Peer) swapEngineOp() error {
	neu, addr, err := p.newEngine()
	if err != nil {
		return err
	}
	p.mu.Lock()
	old := p.eng
	p.mu.Unlock()
	for _, t := range p.Torrents() {
		t.moveOp(old, neu)
	}
	old.Close()
	spent, earned, _ := old.SpeedTotals()
	p.mu.Lock()
	p.eng, p.engAddr = neu, addr
	p.spentBefore += spent
	p.earnedBefore += earned
	p.mu.Unlock()
	return nil
}

// closeEngineOp stops the engine; the caller holds opMu.
func (p *Peer) closeEngineOp() {
	p.mu.Lock()
	eng := p.eng
	p.eng, p.engAddr = nil, ""
	p.mu.Unlock()
	if eng == nil {
		return
	}
	eng.Close() // closes the payment channels: slow, and outside mu
	spent, earned, _ := eng.SpeedTotals()
	p.mu.Lock()
	p.spentBefore += spent
	p.earnedBefore += earned
	p.mu.Unlock()
}

// moveOp moves the torrent from one engine to another, with its storage
// and verified pieces, its own Speed settings and its counters so far.
// Connections and pieces half downloaded are dropped: Speed is agreed on
// when a connection opens. The caller holds opMu.
func (t *Torrent) moveOp(from, to *engine.Client) {
	t.mu.Lock()
	old, st, spec := t.t, t.st, t.spec
	spec.Speed = cloneSettings(t.override)
	t.mu.Unlock()
	if old == nil { // paused: in no engine
		return
	}
	if st != nil {
		st.moving.Store(true)
	}
	if err := from.Remove(t.ih); err != nil {
		t.p.log.Info("stopping a torrent to move it", "torrent", t.ih.HexString(), "err", err)
	}
	if st != nil {
		st.moving.Store(false)
	}
	var (
		nt  *engine.Torrent
		err error
	)
	if info := old.InfoBytes(); info != nil && st != nil {
		spec.InfoBytes, spec.Check = info, false
		spec.Storage = func(*metainfo.Info) (engine.Storage, error) { return st, nil }
		nt, err = to.AddVerified(spec, old.Verified())
	} else {
		nt, err = to.AddTorrent(spec) // without its info yet: fetched again
	}
	if err != nil && st != nil {
		st.Close()
	}
	t.moved(old, nt, err)
}

// opener opens t's storage within limit bytes, with prefill written.
func (t *Torrent) opener(limit int64, prefill []byte) func(*metainfo.Info) (engine.Storage, error) {
	p := t.p
	return func(info *metainfo.Info) (engine.Storage, error) {
		if info.TotalLength() > limit {
			return nil, fmt.Errorf("webpeer: %s needs %d bytes; the storage limit leaves %d (raise it in settings)", info.BestName(), info.TotalLength(), max(limit, 0))
		}
		st, err := p.cfg.Storage(t.ih, info, limit)
		if err != nil {
			return nil, err
		}
		if prefill != nil {
			if _, err := st.WriteAt(prefill, 0); err != nil {
				st.Close()
				return nil, err
			}
		}
		ks := &keptStorage{Storage: st}
		t.mu.Lock()
		t.st = ks
		t.mu.Unlock()
		return ks, nil
	}
}
