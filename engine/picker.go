package engine

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"math"
	"slices"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// fillRequestsLocked tops up c's request pipeline: first the blocks of
// pieces assigned to c, then pieces nobody is finishing, then a new piece
// picked rarest first; when nothing is left to start (the endgame), blocks
// already requested from slower peers.
func (t *Torrent) fillRequestsLocked(c *conn) {
	if c.closed || t.lay == nil || t.have.Full() || !c.amInterested {
		return
	}
	if (c.peerChoking && len(c.allowedFast) == 0) || !t.speedMayRequestLocked(c) {
		return
	}
	room := c.maxReqs - len(c.reqs)
	if room <= 0 {
		return
	}
	// 1. Pieces assigned to c.
	for _, i := range c.owned {
		if room = t.requestBlocksLocked(c, t.partial[i], room, 0); room == 0 {
			return
		}
	}
	// 2. Pieces whose owner left or choked us.
	for _, p := range t.partial {
		if p.owner != nil && p.owner != c && !p.owner.closed && !p.owner.peerChoking {
			continue
		}
		if !c.peerHave.Get(p.index) || !c.mayRequest(p.index) || !t.speedMayStartLocked(c, p.index) {
			continue
		}
		if p.owner != c {
			if p.owner != nil {
				p.owner.dropOwnedLocked(p.index)
			}
			p.owner = c
			c.owned = append(c.owned, p.index)
		}
		if room = t.requestBlocksLocked(c, p, room, 0); room == 0 {
			return
		}
	}
	// 3. New pieces, rarest first.
	for room > 0 {
		i := t.pickPieceLocked(c)
		if i < 0 {
			break
		}
		p := &partialPiece{
			index:     i,
			blocks:    t.lay.numBlocks(i),
			received:  newBitfield(t.lay.numBlocks(i)),
			owner:     c,
			from:      make(map[*conn]bool, 1),
			requested: make([]uint8, t.lay.numBlocks(i)),
			nat:       t.newNativeHash(t.lay.pieceLen(i)),
		}
		t.partial[i] = p
		c.owned = append(c.owned, i)
		room = t.requestBlocksLocked(c, p, room, 0)
	}
	if room == 0 {
		return
	}
	// 4. Endgame: every wanted piece is in progress; ask c too for blocks
	// still outstanding elsewhere (at most two requests per block).
	for _, p := range t.partial {
		if !c.peerHave.Get(p.index) || !c.mayRequest(p.index) || !t.speedMayStartLocked(c, p.index) {
			continue
		}
		if room = t.requestBlocksLocked(c, p, room, 2); room == 0 {
			return
		}
	}
}

// mayRequest says whether c will serve piece i now: it is not choking us,
// or the piece is allowed fast (BEP 6).
func (c *conn) mayRequest(i int) bool { return !c.peerChoking || c.allowedFast[i] }

// dropOwnedLocked removes piece i from c's assigned pieces.
func (c *conn) dropOwnedLocked(i int) {
	if j := slices.Index(c.owned, i); j >= 0 {
		c.owned = slices.Delete(c.owned, j, j+1)
	}
}

// requestBlocksLocked requests up to room blocks of p from c: blocks with
// no outstanding request, or, with dup > 0, blocks with fewer than dup
// requests that c has not been asked for. It returns the room left.
func (t *Torrent) requestBlocksLocked(c *conn, p *partialPiece, room, dup int) int {
	if p == nil || !c.mayRequest(p.index) {
		return room
	}
	limit := uint8(max(dup, 1))
	for b := 0; b < p.blocks && room > 0; b++ {
		if p.received.Get(b) || p.requested[b] >= limit {
			continue
		}
		if dup == 0 && p.requested[b] > 0 {
			continue
		}
		k := mkBlockKey(p.index, b)
		if _, ok := c.reqs[k]; ok {
			continue
		}
		c.reqs[k] = time.Now()
		p.requested[b]++
		room--
		t.stats.MaxOutstanding = max(t.stats.MaxOutstanding, len(c.reqs))
		c.sendLocked(pp.Message{
			Type:   pp.Request,
			Index:  pp.Integer(p.index),
			Begin:  pp.Integer(b * BlockSize),
			Length: pp.Integer(t.lay.blockLen(p.index, b)),
		})
	}
	return room
}

// pickPieceLocked picks the rarest piece c has that we lack and nobody is
// downloading, breaking ties from a random start; -1 if there is none.
func (t *Torrent) pickPieceLocked(c *conn) int {
	n := len(t.have.words)
	if n == 0 {
		return -1
	}
	// Pieces a reader waits for come first, in reading order.
	for _, i := range t.prio {
		if !t.have.Get(i) && c.peerHave.Get(i) && t.partial[i] == nil && !t.busy[i] && c.mayRequest(i) && t.speedMayStartLocked(c, i) {
			return i
		}
	}
	best, bestAvail := -1, math.MaxInt
	start := t.rng.IntN(n)
	for j := range n {
		k := (start + j) % n
		w := c.peerHave.words[k] &^ t.have.words[k]
		for w != 0 {
			i := k*64 + bitsTrailing(w)
			w &= w - 1
			if t.partial[i] != nil || t.busy[i] || !c.mayRequest(i) || !t.speedMayStartLocked(c, i) {
				continue
			}
			if a := t.avail[i]; a < bestAvail {
				best, bestAvail = i, a
				if a <= 1 {
					return best
				}
			}
		}
	}
	return best
}

// verify finishes hashing a piece whose blocks are all written but did not
// all arrive in order: it reads the rest from storage. In the browser it
// waits for the browser's SHA-1 of the piece instead (piecehash_js.go).
func (t *Torrent) verify(p *partialPiece) {
	defer t.wg.Done()
	var (
		good bool
		err  error
	)
	if p.nat.active() {
		// The browser hashes it, off this thread: no hasher slot.
		if good, err = p.nat.verify(t.ctx, t.lay.hash(p.index)); t.ctx.Err() != nil {
			return
		}
	} else {
		select {
		case t.hashSem <- struct{}{}:
		case <-t.ctx.Done():
			return
		}
		good, err = p.hashRest(t.lay, t.st)
		<-t.hashSem
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.busy, p.index)
	if t.closed {
		return
	}
	if err != nil {
		t.failLocked(err)
		return
	}
	t.pieceCheckedLocked(p, good)
}

// pieceCheckedLocked applies a piece's hash check.
func (t *Torrent) pieceCheckedLocked(p *partialPiece, good bool) {
	if !good {
		t.stats.HashFailures++
		t.stats.Wasted += t.lay.pieceLen(p.index)
		for c := range p.from {
			c.hashFailures++
			t.speedFailedLocked(c, p.index)
			if len(p.from) == 1 || c.hashFailures >= 3 {
				c.closeLocked(c.protocolError("sent data for piece %d that fails its hash", p.index))
			}
		}
		t.requestFromAllLocked()
		return
	}
	t.have.Set(p.index)
	if t.verified != nil {
		close(t.verified)
		t.verified = nil
	}
	for c := range t.conns {
		// Have suppression: a peer that has the piece gains nothing from
		// hearing we do (downloading from a seed, that is one message per
		// piece saved; over WebRTC each costs the browser a send).
		if !c.peerHave.Get(p.index) {
			c.sendLocked(pp.Message{Type: pp.Have, Index: pp.Integer(p.index)})
		}
		if c.amInterested && !c.peerHave.AnyNotIn(&t.have) {
			c.amInterested = false
			c.sendLocked(pp.Message{Type: pp.NotInterested})
		}
	}
	for c := range p.from {
		t.speedVerifiedLocked(c, p.index)
	}
	if t.have.Full() {
		close(t.complete)
		if err := t.st.Flush(); err != nil {
			t.failLocked(fmt.Errorf("engine: flushing storage: %w", err))
		}
		t.log.Info("download complete", "pieces", t.lay.numPieces)
	}
}

// hashBlock feeds a written block to the piece's running SHA-1 if it is the
// next one in order (out-of-order blocks are read back by hashRest); in the
// browser it copies it into the piece's buffer for the browser's SHA-1.
func (p *partialPiece) hashBlock(begin int64, data []byte) {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	if p.nat.add(begin, data) {
		return // the browser hashes it once it is whole
	}
	if p.h == nil {
		p.h = sha1.New()
	}
	if begin == p.hashedTo {
		p.h.Write(data)
		p.hashedTo += int64(len(data))
	}
}

// hashDone says, when every byte was hashed in order, whether the piece
// matches its hash.
func (p *partialPiece) hashDone(lay *layout) (good, done bool) {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	if p.nat.active() || p.h == nil || p.hashedTo != lay.pieceLen(p.index) {
		return false, false
	}
	want := lay.hash(p.index)
	return bytes.Equal(p.h.Sum(nil), want[:]), true
}

// hashRest hashes what hashBlock missed, reading it from storage.
func (p *partialPiece) hashRest(lay *layout, st Storage) (bool, error) {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	if p.h == nil {
		p.h = sha1.New()
	}
	n := lay.pieceLen(p.index) - p.hashedTo
	buf := make([]byte, min(n, 1<<20))
	for off := p.hashedTo; off < lay.pieceLen(p.index); {
		k := min(int64(len(buf)), lay.pieceLen(p.index)-off)
		if _, err := st.ReadAt(buf[:k], lay.pieceOff(p.index)+off); err != nil {
			return false, fmt.Errorf("engine: reading piece %d: %w", p.index, err)
		}
		p.h.Write(buf[:k])
		off += k
	}
	p.hashedTo = lay.pieceLen(p.index)
	want := lay.hash(p.index)
	return bytes.Equal(p.h.Sum(nil), want[:]), nil
}
