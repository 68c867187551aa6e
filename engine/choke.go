package engine

import (
	"strconv"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/shared/speed/choker"
)

// chokeLoop runs a choking round every ChokeInterval, and early ones when
// an interested peer arrives while a slot is free.
func (t *Torrent) chokeLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.ChokeInterval)
	defer tick.Stop()
	for {
		full := false
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			full = true
		case <-t.chokeNow:
		}
		t.mu.Lock()
		if !t.closed {
			t.chokeRoundLocked(full)
			t.speedTickLocked()
		}
		t.mu.Unlock()
	}
}

// chokeSoonLocked asks for an early round if a slot is free.
func (t *Torrent) chokeSoonLocked() {
	unchoked := 0
	for c := range t.conns {
		if !c.amChoking {
			unchoked++
		}
	}
	if unchoked >= t.cfg.UploadSlots+t.cfg.OptimisticSlots {
		return
	}
	select {
	case t.chokeNow <- struct{}{}:
	default:
	}
}

// chokeRoundLocked runs the auction choker (shared/speed/choker) over the
// torrent's connections and applies its decisions. A full round closes the
// round's byte counts; early rounds only fill free slots.
func (t *Torrent) chokeRoundLocked(full bool) {
	if t.lay == nil {
		return
	}
	conns := make([]*conn, 0, len(t.conns))
	peers := make([]choker.Peer, 0, len(t.conns))
	for c := range t.conns {
		p := choker.Peer{
			ID:           strconv.Itoa(len(conns)),
			Bytes:        c.roundBytes,
			ChokedRounds: c.chokedRounds,
			Interested:   c.peerInterested && t.have.Count() > 0 && !t.speedExcludedLocked(c),
		}
		t.speedChokerPeerLocked(c, &p)
		conns = append(conns, c)
		peers = append(peers, p)
	}
	if t.sp != nil {
		t.sp.round++ // the round number bid responses carry (section 4.2)
	}
	cfg := choker.Config{Slots: t.cfg.UploadSlots, Optimistic: t.cfg.OptimisticSlots, Reserve: t.speedReserveLocked()}
	res := choker.Round(cfg, peers, t.rng)
	unchoke := make(map[*conn]choker.Decision, len(res.Unchoked))
	for _, d := range res.Unchoked {
		i, _ := strconv.Atoi(d.ID)
		unchoke[conns[i]] = d
	}
	if !full {
		// Early round: unchoke the newcomers the round picked, choke
		// nobody.
		for c, d := range unchoke {
			if c.amChoking {
				t.unchokeLocked(c, d)
			}
		}
		return
	}
	for _, c := range conns {
		if d, ok := unchoke[c]; ok {
			t.unchokeLocked(c, d)
		} else {
			t.chokeLocked(c)
		}
		c.roundBytes = 0
	}
}

func (t *Torrent) unchokeLocked(c *conn, d choker.Decision) {
	t.speedGrantLocked(c, d)
	c.chokedRounds = 0
	if c.amChoking {
		c.amChoking = false
		c.sendLocked(pp.Message{Type: pp.Unchoke})
	}
}

func (t *Torrent) chokeLocked(c *conn) {
	c.chokedRounds++
	if c.amChoking {
		return
	}
	c.amChoking = true
	c.sendLocked(pp.Message{Type: pp.Choke})
	for _, r := range c.queue {
		c.rejectLocked(r)
	}
	c.queue = nil
}
