package webpeer

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/engine"
)

// What survives a reload and a browser restart: every torrent's record
// (its info once known, trackers, own Speed settings, running or paused,
// its counters) in the KV, its data in the Storage (IndexedDB in the
// browser), and the Speed history with its totals in the KV. Start adds
// the torrents again: running ones hash-check what their storage holds
// and carry on, paused ones wait for Resume.

const (
	torrentsKey  = "btspeed.torrents"     // the info hashes in the order added
	torrentKey   = "btspeed.torrent."     // + info hash: its record
	historyKey   = "btspeed.history"      // the Speed history and totals
	maxTorrents  = 1000                   // torrents kept at most
	maxRecordLen = maxTorrentFile * 4 / 3 // a record's JSON (the info in base64)
)

// record is a torrent as kept.
type record struct {
	InfoHash   string                `json:"infoHash"`
	Info       []byte                `json:"info,omitempty"` // bencoded info dictionary
	Name       string                `json:"name,omitempty"`
	Trackers   [][]string            `json:"trackers,omitempty"`
	WebSeeds   []string              `json:"webSeeds,omitempty"`
	Speed      *engine.SpeedSettings `json:"speed,omitempty"`
	Paused     bool                  `json:"paused,omitempty"`
	Verified   int64                 `json:"verified"` // bytes verified when last saved
	Done       bool                  `json:"done,omitempty"`
	Downloaded int64                 `json:"downloaded"`
	Uploaded   int64                 `json:"uploaded"`
	Spent      uint64                `json:"spent"`
	Earned     uint64                `json:"earned"`
}

// kept is the Speed history as kept.
type kept struct {
	Spent  uint64  `json:"spent"`
	Earned uint64  `json:"earned"`
	Points []Point `json:"points"`
}

// loadHistory restores the Speed history and totals.
func (p *Peer) loadHistory() {
	if p.cfg.KeepNothing {
		return
	}
	raw, ok := p.cfg.KV.Get(historyKey)
	if !ok {
		return
	}
	var k kept
	if err := json.Unmarshal([]byte(raw), &k); err != nil {
		p.log.Warn("stored Speed history unreadable; starting a new one", "err", err)
		return
	}
	if len(k.Points) > maxHistory {
		k.Points = k.Points[len(k.Points)-maxHistory:]
	}
	p.spentBefore, p.earnedBefore, p.history = k.Spent, k.Earned, k.Points
}

// saveState saves the history and every torrent whose record changed.
func (p *Peer) saveState() {
	spent, earned := p.Totals()
	raw, _ := json.Marshal(kept{Spent: spent, Earned: earned, Points: p.History()})
	p.setKV(historyKey, string(raw))
	for _, t := range p.Torrents() {
		p.saveTorrent(t)
	}
}

// setKV stores value under key unless it is there already.
func (p *Peer) setKV(key, value string) {
	p.savedMu.Lock()
	defer p.savedMu.Unlock()
	p.setKVLocked(key, value)
}

// setKVLocked is setKV with savedMu held.
func (p *Peer) setKVLocked(key, value string) {
	if p.cfg.KeepNothing {
		return
	}
	if p.saved[key] == value {
		return
	}
	if err := p.cfg.KV.Set(key, value); err != nil {
		p.log.Warn("saving the state for the next start", "key", key, "err", err)
		return
	}
	p.saved[key] = value
}

func (p *Peer) deleteKV(key string) {
	if p.cfg.KeepNothing {
		return
	}
	p.savedMu.Lock()
	defer p.savedMu.Unlock()
	delete(p.saved, key)
	p.cfg.KV.Delete(key)
}

// listTorrent adds torrent ih to the kept list (add) or takes it off. The
// list is edited, never written whole: another tab of the same browser
// keeps its torrents in it too.
func (p *Peer) listTorrent(ih string, add bool) {
	if p.cfg.KeepNothing {
		return
	}
	p.savedMu.Lock()
	defer p.savedMu.Unlock()
	list := p.keptList()
	i := slices.Index(list, ih)
	switch {
	case add && i < 0 && len(list) < maxTorrents:
		list = append(list, ih)
	case !add && i >= 0:
		list = slices.Delete(list, i, i+1)
	default:
		return
	}
	raw, _ := json.Marshal(list)
	if err := p.cfg.KV.Set(torrentsKey, string(raw)); err != nil {
		p.log.Warn("saving the list of torrents for the next start", "err", err)
	}
}

// keptList is the kept torrents' info hashes, in the order added.
func (p *Peer) keptList() []string {
	raw, ok := p.cfg.KV.Get(torrentsKey)
	if !ok {
		return nil
	}
	var list []string
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		p.log.Warn("the list of kept torrents is unreadable", "err", err)
		return nil
	}
	return list[:min(len(list), maxTorrents)]
}

// saveTorrent stores t's record unless it was removed.
func (p *Peer) saveTorrent(t *Torrent) {
	r, ok := t.record()
	if !ok {
		return
	}
	raw, _ := json.Marshal(r)
	if len(raw) > maxRecordLen {
		p.log.Warn("a torrent's record is too large to keep", "torrent", r.InfoHash)
		return
	}
	// Not after Remove deleted it: Remove marks the torrent dropped before.
	p.savedMu.Lock()
	defer p.savedMu.Unlock()
	if _, ok := t.record(); ok {
		p.setKVLocked(torrentKey+r.InfoHash, string(raw))
	}
}

// record is what t keeps; false once it is removed, or while another tab
// has it (that tab keeps it).
func (t *Torrent) record() (record, bool) {
	s := t.Status()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped || t.elsewhere {
		return record{}, false
	}
	return record{InfoHash: t.ih.HexString(), Info: t.spec.InfoBytes, Name: t.spec.DisplayName, Trackers: t.spec.Trackers,
		WebSeeds: t.spec.WebSeeds, Speed: cloneSettings(t.override), Paused: t.paused && !t.checking, Verified: s.Verified, Done: s.Done,
		Downloaded: s.Downloaded, Uploaded: s.Uploaded, Spent: s.Spent, Earned: s.Earned}, true
}

// loadRecords reads the kept torrents; what has no readable record
// leaves the list.
func (p *Peer) loadRecords() []record {
	var out []record
	for _, h := range p.keptList() {
		raw, ok := p.cfg.KV.Get(torrentKey + h)
		var r record
		if !ok || json.Unmarshal([]byte(raw), &r) != nil || r.InfoHash != h {
			p.log.Warn("a kept torrent's record is missing or unreadable", "torrent", h)
			p.listTorrent(h, false)
			continue
		}
		out = append(out, r)
	}
	return out
}

// restore lists the kept torrents again, deletes stored data no torrent
// needs, and starts rechecking the running ones in the background.
func (p *Peer) restore() {
	if p.cfg.KeepNothing {
		return
	}
	var keep []metainfo.Hash
	var check []*Torrent
	for _, r := range p.loadRecords() {
		t, err := p.restoreOne(r)
		if err != nil {
			p.log.Warn("a kept torrent could not be listed again", "torrent", r.InfoHash, "err", err)
			continue
		}
		keep = append(keep, t.ih)
		if t.checking {
			check = append(check, t)
		}
	}
	if p.cfg.Sweep != nil {
		if err := p.cfg.Sweep(keep); err != nil {
			p.log.Warn("deleting the data of removed torrents", "err", err)
		}
	}
	p.wg.Add(1)
	go p.recheck(check)
}

// restoreOne lists one kept torrent, stopped: paused as it was left, or
// waiting for recheck to start it.
func (p *Peer) restoreOne(r record) (*Torrent, error) {
	var ih metainfo.Hash
	if err := ih.FromHexString(r.InfoHash); err != nil {
		return nil, fmt.Errorf("webpeer: kept torrent %q: %w", r.InfoHash, err)
	}
	spec := engine.TorrentSpec{InfoHash: ih, InfoBytes: r.Info, DisplayName: r.Name, Trackers: r.Trackers, WebSeeds: r.WebSeeds}
	t := &Torrent{p: p, ih: ih, override: r.Speed, gone: make(chan struct{}), spec: spec, paused: true, checking: !r.Paused,
		snap: snapshot(r), before: carried{downloaded: r.Downloaded, uploaded: r.Uploaded, spent: r.Spent, earned: r.Earned}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.torrents[ih]; dup {
		return nil, errDuplicate
	}
	p.torrents[ih] = t
	p.order = append(p.order, ih)
	return t, nil
}

// recheck starts the kept torrents that were running, one at a time: each
// hash-checks what its storage holds, then carries on. One whose storage
// will not open (another tab has it) stays paused with the error.
func (p *Peer) recheck(list []*Torrent) {
	defer p.wg.Done()
	for _, t := range list {
		if p.ctx.Err() != nil {
			return
		}
		p.opMu.Lock()
		t.mu.Lock()
		waiting := t.checking && !t.dropped
		t.mu.Unlock()
		if waiting {
			if err := p.resumeOp(t); err != nil {
				p.log.Warn("a kept torrent did not start again", "torrent", t.ih.HexString(), "err", err)
			}
		}
		p.opMu.Unlock()
	}
}

// snapshot is what a stopped torrent shows, from its record.
func snapshot(r record) Status {
	s := Status{InfoHash: r.InfoHash, Name: r.Name, Verified: r.Verified, Done: r.Done}
	var info metainfo.Info
	if r.Info != nil && bencode.Unmarshal(r.Info, &info) == nil {
		s.Metadata, s.Name, s.Length, s.Files = true, info.BestName(), info.TotalLength(), files(&info)
		if s.Length > 0 {
			s.Progress = float64(r.Verified) / float64(s.Length)
		}
	}
	if r.Done {
		s.Progress = 1
	}
	m := metainfo.Magnet{InfoHash: metainfo.NewHashFromHex(r.InfoHash), DisplayName: s.Name}
	for _, tier := range r.Trackers {
		m.Trackers = append(m.Trackers, tier...)
	}
	s.MagnetURI = m.String()
	return s
}

// forget deletes a removed torrent's data, with the storage's Forget, and
// its record; when the data cannot go (another tab has the torrent) the
// record stays, for that tab.
func (p *Peer) forget(ih metainfo.Hash) error {
	if p.cfg.Forget != nil {
		if err := p.cfg.Forget(ih); err != nil {
			return fmt.Errorf("webpeer: deleting the data of %s: %w", ih.HexString(), err)
		}
	}
	p.deleteKV(torrentKey + ih.HexString())
	p.listTorrent(ih.HexString(), false)
	return nil
}

// StorageUse is the browser storage the torrents take against the limit.
type StorageUse struct {
	Used  int64 `json:"used"`  // bytes the torrents hold (their full lengths)
	Limit int64 `json:"limit"` // the user's storage limit
	// Torrents counts the torrents kept, paused ones included.
	Torrents int `json:"torrents"`
}

// Storage returns what the torrents take of the storage limit.
func (p *Peer) Storage() StorageUse {
	p.mu.Lock()
	defer p.mu.Unlock()
	return StorageUse{Used: p.usedLocked(), Limit: p.settings.StorageLimit, Torrents: len(p.torrents)}
}

// watchInfo keeps a torrent added without its info (a magnet link) with
// the info once it is known.
func (p *Peer) watchInfo(t *Torrent) {
	if t.spec.InfoBytes != nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			t.mu.Lock()
			et, gone, dropped := t.t, t.gone, t.dropped
			t.mu.Unlock()
			if dropped {
				return
			}
			var got <-chan struct{}
			if et != nil {
				got = et.GotInfo()
			}
			select {
			case <-got:
				t.mu.Lock()
				t.spec.InfoBytes = et.InfoBytes()
				t.mu.Unlock()
				p.saveTorrent(t)
				return
			case <-gone:
			case <-p.ctx.Done():
				return
			}
		}
	}()
}
