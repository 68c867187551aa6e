package engine

import (
	"fmt"
	"net"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// maxPendingHaves caps the have messages kept from a peer before the info
// is known.
const maxPendingHaves = 1 << 16

// handle applies one message from the peer. An error closes the connection.
func (c *conn) handle(m *pp.Message) error {
	if m.Type == pp.Piece {
		return c.handlePiece(m)
	}
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	switch m.Type {
	case pp.Choke:
		c.peerChoking = true
		c.speedFlushLocked()
		if !c.fast {
			// Without BEP 6 a choke drops every pending request.
			t.releaseRequestsLocked(c)
			t.requestFromAllLocked()
		}
	case pp.Unchoke:
		c.peerChoking = false
		t.fillRequestsLocked(c)
	case pp.Interested:
		c.peerInterested = true
		t.chokeSoonLocked()
	case pp.NotInterested:
		c.peerInterested = false
	case pp.Have:
		return c.gotHaveLocked(int(m.Index))
	case pp.Bitfield:
		return c.gotBitfieldLocked(m.Bitfield)
	case pp.HaveAll:
		if !c.fast {
			return c.protocolError("have all without the fast extension")
		}
		return c.gotHaveAllLocked()
	case pp.HaveNone:
		if !c.fast {
			return c.protocolError("have none without the fast extension")
		}
		c.gotBitfield = true
	case pp.Request:
		return c.gotRequestLocked(request{m.Index.Uint32(), m.Begin.Uint32(), m.Length.Uint32()})
	case pp.Cancel:
		r := request{m.Index.Uint32(), m.Begin.Uint32(), m.Length.Uint32()}
		for i, q := range c.queue {
			if q == r {
				c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
				break
			}
		}
	case pp.Reject:
		if !c.fast {
			return c.protocolError("reject without the fast extension")
		}
		c.gotRejectLocked(m)
	case pp.AllowedFast:
		if !c.fast {
			return c.protocolError("allowed fast without the fast extension")
		}
		if t.lay != nil && int64(m.Index) < int64(t.lay.numPieces) && len(c.allowedFast) < 256 {
			c.allowedFast[int(m.Index)] = true
			t.fillRequestsLocked(c)
		}
	case pp.Suggest, pp.Port:
		// Advisory (BEP 6 suggest) or DHT (BEP 5): nothing to do.
	case pp.Extended:
		return c.gotExtendedLocked(m)
	default:
		// Unknown message types are skipped (the decoder has read them).
	}
	return nil
}

func (c *conn) gotHaveLocked(i int) error {
	t := c.t
	if t.lay == nil {
		if i < 0 || i >= maxPieces {
			return c.protocolError("have %d", i)
		}
		if len(c.pendingHave) < maxPendingHaves {
			c.pendingHave = append(c.pendingHave, i)
		}
		return nil
	}
	if i < 0 || i >= t.lay.numPieces {
		return c.protocolError("have for piece %d of %d", i, t.lay.numPieces)
	}
	if c.peerHave.Set(i) {
		t.avail[i]++
		if !c.amInterested && !t.have.Get(i) {
			t.speedBidLocked() // the bid goes before interested (M3)
			c.amInterested = true
			c.sendLocked(pp.Message{Type: pp.Interested})
		}
		t.fillRequestsLocked(c)
	}
	return nil
}

func (c *conn) gotBitfieldLocked(bools []bool) error {
	t := c.t
	// BEP 3 allows one bitfield, first; some clients (aria2) send have none
	// and then a bitfield: a later one replaces what we knew.
	c.gotBitfield = true
	if t.lay == nil {
		c.pendingHave, c.pendingAll = nil, false
		// Keep it as haves until the info says how long it should be.
		for i, v := range bools {
			if v && len(c.pendingHave) < maxPendingHaves {
				c.pendingHave = append(c.pendingHave, i)
			}
		}
		return nil
	}
	bf, err := bitfieldFromBools(bools, t.lay.numPieces)
	if err != nil {
		return c.protocolError("%w", err)
	}
	c.setPeerHaveLocked(bf)
	return nil
}

func (c *conn) gotHaveAllLocked() error {
	t := c.t
	c.gotBitfield = true
	if t.lay == nil {
		c.pendingAll = true
		return nil
	}
	bf := newBitfield(t.lay.numPieces)
	bf.SetAll()
	c.setPeerHaveLocked(bf)
	return nil
}

// setPeerHaveLocked replaces the peer's (empty) piece set.
func (c *conn) setPeerHaveLocked(bf bitfield) {
	t := c.t
	for i, w := range c.peerHave.words {
		for w != 0 {
			t.avail[i*64+bitsTrailing(w)]--
			w &= w - 1
		}
	}
	c.peerHave = bf
	for i, w := range bf.words {
		for w != 0 {
			t.avail[i*64+bitsTrailing(w)]++
			w &= w - 1
		}
	}
	// Bid before saying interested, so the provider's next round sees the
	// bid (M3).
	t.speedBidLocked()
	t.updateInterestLocked(c)
	t.fillRequestsLocked(c)
}

// infoArrivedLocked applies what a peer told us before the info was known.
func (c *conn) infoArrivedLocked() {
	t := c.t
	c.peerHave = newBitfield(t.lay.numPieces)
	bf := newBitfield(t.lay.numPieces)
	if c.pendingAll {
		bf.SetAll()
	}
	for _, i := range c.pendingHave {
		if i >= t.lay.numPieces {
			c.closeLocked(c.protocolError("have for piece %d of %d", i, t.lay.numPieces))
			return
		}
		bf.Set(i)
	}
	c.pendingHave = nil
	c.setPeerHaveLocked(bf)
	c.sendHavesLocked()
}

// updateInterestLocked tells the peer whether we want something it has.
func (t *Torrent) updateInterestLocked(c *conn) {
	want := t.lay != nil && !t.have.Full() && c.peerHave.AnyNotIn(&t.have)
	if want == c.amInterested {
		return
	}
	c.amInterested = want
	if want {
		c.sendLocked(pp.Message{Type: pp.Interested})
	} else {
		c.sendLocked(pp.Message{Type: pp.NotInterested})
	}
}

func (c *conn) gotRequestLocked(r request) error {
	t := c.t
	if t.lay == nil || !t.lay.validRequest(r.piece, r.begin, r.length) {
		return c.protocolError("request %d/%d/%d outside the torrent", r.piece, r.begin, r.length)
	}
	if !t.have.Get(int(r.piece)) {
		c.rejectLocked(r)
		return nil
	}
	if c.amChoking {
		c.rejectLocked(r)
		return nil
	}
	if len(c.queue) >= t.cfg.MaxPeerRequests {
		if !c.fast {
			return c.protocolError("more than %d queued requests", t.cfg.MaxPeerRequests)
		}
		c.rejectLocked(r)
		return nil
	}
	c.queue = append(c.queue, r)
	c.nudge()
	return nil
}

// rejectLocked refuses a request: with BEP 6 by a reject message, without
// it by ignoring it (the peer knows a choked request is dropped).
func (c *conn) rejectLocked(r request) {
	if c.fast {
		c.sendLocked(pp.Message{Type: pp.Reject, Index: pp.Integer(r.piece), Begin: pp.Integer(r.begin), Length: pp.Integer(r.length)})
	}
}

func (c *conn) gotRejectLocked(m *pp.Message) {
	t := c.t
	if t.lay == nil || m.Begin%BlockSize != 0 {
		return
	}
	k := mkBlockKey(int(m.Index), int(m.Begin/BlockSize))
	if _, ok := c.reqs[k]; !ok {
		return
	}
	delete(c.reqs, k)
	t.stats.Rejected++
	if p := t.partial[k.piece()]; p != nil && p.requested[k.block()] > 0 {
		p.requested[k.block()]--
		if p.owner == c {
			p.owner = nil // let another peer finish it
		}
	}
	t.requestFromAllLocked()
}

// handlePiece stores a block the peer sent.
func (c *conn) handlePiece(m *pp.Message) error {
	t := c.t
	t.mu.Lock()
	if c.closed {
		t.mu.Unlock()
		return net.ErrClosed
	}
	if t.lay == nil {
		t.mu.Unlock()
		return c.protocolError("piece before the info is known")
	}
	piece, begin, n := int(m.Index), int64(m.Begin), int64(len(m.Piece))
	if piece < 0 || piece >= t.lay.numPieces || begin%BlockSize != 0 || begin >= t.lay.pieceLen(piece) {
		t.mu.Unlock()
		return c.protocolError("piece %d/%d outside the torrent", piece, begin)
	}
	b := int(begin / BlockSize)
	k := mkBlockKey(piece, b)
	if _, asked := c.reqs[k]; !asked || n != t.lay.blockLen(piece, b) {
		// Not asked for, cancelled, or the wrong size: a peer may race a
		// cancel, but one that keeps sending unasked data is dropped.
		c.unexpected++
		t.stats.Wasted += n
		t.mu.Unlock()
		if c.unexpected > 2*t.cfg.MaxRequests {
			return c.protocolError("too many unrequested blocks")
		}
		return nil
	}
	delete(c.reqs, k)
	p := t.partial[piece]
	if p == nil || p.received.Get(b) {
		t.stats.Wasted += n
		t.mu.Unlock()
		return nil
	}
	if p.requested[b] > 0 {
		p.requested[b]--
	}
	p.received.Set(b)
	p.from[c] = true
	if p.requested[b] > 0 {
		t.cancelDuplicatesLocked(c, p, k)
	}
	c.downloaded += n
	if !t.have.Full() {
		c.roundBytes += uint64(n) // the choker counts what we download, while we do
	}
	now := t.cfg.Now()
	c.lastPiece = now
	c.down.add(now, n)
	t.gotDataLocked(now, n)
	t.stats.Downloaded += n
	t.speedReceivedLocked(c, piece, uint64(n))
	if c.maxReqs-len(c.reqs) >= fillBatch {
		t.fillRequestsLocked(c)
	}
	st := t.st
	off := t.lay.pieceOff(piece) + begin
	t.mu.Unlock()

	_, err := st.WriteAt(m.Piece, off)
	if err == nil {
		p.hashBlock(begin, m.Piece)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failLocked(fmt.Errorf("engine: writing piece %d: %w", piece, err))
		return nil
	}
	t.blockWrittenLocked(p, piece)
	return nil
}

// blockWrittenLocked counts a block of p as written to storage and, once
// the whole piece is, checks its hash: at once when every block was hashed
// as it arrived, otherwise on a verify goroutine the torrent owns.
func (t *Torrent) blockWrittenLocked(p *partialPiece, piece int) {
	p.written++
	if p.written != p.blocks {
		return
	}
	delete(t.partial, piece)
	if p.owner != nil {
		p.owner.dropOwnedLocked(piece)
	}
	if good, done := p.hashDone(t.lay); done {
		// Every block was hashed as it arrived: no storage read, no
		// wait for a hasher, so a payment goes out at once.
		t.pieceCheckedLocked(p, good)
		return
	}
	t.busy[piece] = true
	t.wg.Add(1)
	go t.verify(p)
}

// fillBatch is how many request slots must be free before the pipeline is
// refilled, so picking runs once per batch rather than once per block.
const fillBatch = 16

// cancelDuplicatesLocked cancels the endgame duplicates of a block another
// connection delivered.
func (t *Torrent) cancelDuplicatesLocked(got *conn, p *partialPiece, k blockKey) {
	for c := range t.conns {
		if c == got {
			continue
		}
		if _, ok := c.reqs[k]; ok {
			delete(c.reqs, k)
			p.requested[k.block()]--
			length := t.lay.blockLen(k.piece(), k.block())
			c.sendLocked(pp.MakeCancelMessage(pp.Integer(k.piece()), pp.Integer(k.block()*BlockSize), pp.Integer(length)))
		}
	}
}
