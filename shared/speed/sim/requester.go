package sim

import (
	"errors"
	"fmt"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/wallet"
)

// The simulated requester side: what it receives, what it pays, its bids
// and what it asks for.

func (s *Sim) requesterReceive(c *conn, it item) {
	r := c.r
	switch it.kind {
	case itChoke:
		c.rUnchoked, c.requested = false, false
		if c.inflight != nil && c.inflight.received == 0 {
			r.reserved[c.inflight.piece] = false
			c.inflight = nil
		}
	case itUnchoke:
		c.rUnchoked = true
	case itBlock:
		s.requesterBlock(c, it)
	case itSpeed:
		r.speedMsgs++
		m, err := speed.Decode(it.speed)
		if err != nil {
			s.anomaly(c, "requester decoding: %v", err)
			return
		}
		if c.rsess == nil {
			s.anomaly(c, "Speed message %T to a legacy requester", m)
			return
		}
		switch m := m.(type) {
		case speed.BidResponse:
			err := c.rsess.Accept(m)
			if errors.Is(err, speed.ErrAboveBid) {
				// Not a paid unchoke: request nothing here (the piece in
				// flight goes elsewhere) until a price within the bid.
				s.record(Event{Kind: EvRefused, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: -1, Amount: m.Rate, Detail: err.Error()})
				c.refused, c.reqRate = true, 0
				if d := c.inflight; d != nil {
					r.reserved[d.piece] = false
					delete(c.reqCharge, d.piece)
					c.inflight = nil
				}
				c.requested = false
				return
			}
			if err != nil {
				s.anomaly(c, "Accept: %v", err)
				s.abandon(c)
				return
			}
			c.reqRate, c.refused = m.Rate, false
			if r.market != nil {
				r.market.Observe(c.p.acct.String(), m.Rate, s.now)
			}
		case speed.PaymentRejected:
			if r.spec.Kind != HonestRequester {
				return
			}
			before := c.rsess.Spent()
			pm, err := c.rsess.Rejected(s.ctx, s.now, m)
			s.afterPay(c, pm, err, before, -1, 0)
		case speed.ChannelClosing:
			c.rsess.Closing(m)
		default:
			s.anomaly(c, "requester got %T", m)
		}
	default:
		s.anomaly(c, "requester got item kind %d", it.kind)
	}
}

// requesterBlock takes a block c's provider sent: it prices the block at
// the rate in force and, when the piece is whole, checks and pays for it.
func (s *Sim) requesterBlock(c *conn, it item) {
	r := c.r
	d := c.inflight
	if d == nil && (c.noBuy || c.refused) {
		r.received += it.n // still on the way when the requester gave up
		r.recvFrom[c.p.idx] += it.n
		return
	}
	if d == nil || d.piece != it.piece || d.received != it.block {
		s.anomaly(c, "unexpected block %d of piece %d", it.block, it.piece)
		return
	}
	if c.rsess != nil {
		c.rsess.Received(it.piece, it.n)
		if c.reqRate > 0 {
			ch := c.reqCharge[it.piece]
			if ch == nil {
				ch = &speed.Charge{}
				c.reqCharge[it.piece] = ch
			}
			ch.Add(c.reqRate, it.n)
		}
	}
	if d.received > 0 && c.reqRate != d.rate {
		d.mixed = true
	}
	d.rate = c.reqRate
	d.received++
	r.received += it.n
	r.recvFrom[c.p.idx] += it.n
	if d.received < s.blocksPerPc {
		return
	}
	s.requesterPiece(c, d)
}

// requesterPiece checks piece d, complete from c: bad data bans the
// provider; good data is counted, its price compared with what the
// provider charged, and paid for by an honest Speed requester.
func (s *Sim) requesterPiece(c *conn, d *download) {
	r := c.r
	c.inflight, c.requested = nil, false
	piece := d.piece
	r.reserved[piece] = false
	providerCharge := uint64(0)
	if u := c.owed[piece]; u != nil {
		providerCharge = u.charge.Due()
	}
	if c.p.spec.Kind == BadDataProvider {
		s.requesterBadPiece(c, piece)
		return
	}
	if r.have[piece] {
		s.anomaly(c, "piece %d downloaded twice", piece)
	} else {
		r.have[piece] = true
		r.haveCount++
	}
	s.checkPieceCharge(c, piece, providerCharge)
	detail := ""
	if d.mixed {
		detail = "mixed rates"
	}
	s.record(Event{Kind: EvVerified, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(piece), Amount: providerCharge, Detail: detail})
	vk := [2]int{r.idx, c.p.idx}
	if s.verifiedFrom[vk] == nil {
		s.verifiedFrom[vk] = map[uint32]bool{}
	}
	s.verifiedFrom[vk][piece] = true
	if r.haveCount == s.sc.Pieces {
		s.requesterCompleted(r)
	}
	if r.spec.Kind != HonestRequester || c.rsess == nil {
		return // legacy peers owe nothing; non-payers never pay
	}
	if r.cannotPay || c.noBuy {
		// It stopped paying: the piece stays unpaid (the provider will
		// strike it); that is what running out of money costs.
		return
	}
	before := c.rsess.Spent()
	pm, err := c.rsess.Verified(s.ctx, s.now, piece)
	s.afterPay(c, pm, err, before, int(piece), providerCharge)
}

// requesterBadPiece fails a piece that did not verify: its charge is
// dropped, and the requester bans and leaves the provider that sent it.
func (s *Sim) requesterBadPiece(c *conn, piece uint32) {
	r := c.r
	s.record(Event{Kind: EvFailed, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(piece)})
	if c.rsess != nil {
		c.rsess.Failed(piece)
	}
	delete(c.reqCharge, piece)
	r.bans.Ban(c.p.acct.String(), s.now, speed.DefaultBanDuration)
	s.record(Event{Kind: EvRequesterBan, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(piece)})
	s.disconnect(c)
}

// checkPieceCharge records an anomaly when the requester's own pricing of
// a verified piece (its mirror of the charges, and its session's Due)
// differs from what the provider charged for it.
func (s *Sim) checkPieceCharge(c *conn, piece uint32, providerCharge uint64) {
	mirror := uint64(0)
	if ch := c.reqCharge[piece]; ch != nil {
		mirror = ch.Due()
	}
	delete(c.reqCharge, piece)
	if c.rsess != nil && mirror != providerCharge {
		s.anomaly(c, "piece %d: requester prices it %d, provider %d", piece, mirror, providerCharge)
	}
	if c.rsess != nil && c.rsess.Due(piece) != providerCharge {
		s.anomaly(c, "piece %d: RequesterSession.Due %d, provider charged %d", piece, c.rsess.Due(piece), providerCharge)
	}
}

// requesterCompleted marks r done at this step, notes the first honest
// requester to finish, and tells every provider r is no longer interested.
func (s *Sim) requesterCompleted(r *requester) {
	r.completed = s.step
	s.record(Event{Kind: EvCompleted, Requester: r.spec.Name, Piece: -1})
	if r.spec.Kind == HonestRequester && s.firstHonest == 0 {
		s.firstHonest = s.step
	}
	for _, cc := range r.conns {
		s.sendToProv(cc, item{kind: itNotInterested})
	}
}

// afterPay sends a payment that Verified or Rejected returned and records it.
// piece is -1 for a repayment after a rejection.
func (s *Sim) afterPay(c *conn, pm *speed.Payment, err error, before uint64, piece int, charge uint64) {
	r := c.r
	switch {
	case errors.Is(err, speed.ErrCannotPay):
		s.record(Event{Kind: EvCannotPay, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: piece, Detail: err.Error()})
		s.stopBuying(r)
		return
	case errors.Is(err, speed.ErrProviderMisbehaving):
		s.anomaly(c, "requester: %v", err)
		s.abandon(c)
		return
	case err != nil:
		s.anomaly(c, "requester payment: %v", err)
		return
	}
	if piece >= 0 {
		r.expectedSpend += charge
	}
	if pm == nil {
		if piece >= 0 && charge != 0 {
			s.anomaly(c, "piece %d cost %d but Verified paid nothing", piece, charge)
		}
		return
	}
	amount := c.rsess.Spent() - before
	if piece >= 0 && amount != charge {
		s.anomaly(c, "piece %d paid %d, provider charged %d", piece, amount, charge)
	}
	if rec := s.chanByID[pm.State.Channel]; rec == nil {
		s.anomaly(c, "payment on channel %s the requester did not open", pm.State.Channel)
	} else if pm.State.Seq > rec.Signed.Seq {
		rec.Signed = pm.State
	}
	s.record(Event{Kind: EvPayment, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(pm.Piece), Amount: amount,
		Detail: fmt.Sprintf("seq=%d paid=%d", pm.State.Seq, pm.State.Paid)})
	s.sendSpeed(c, false, *pm)
}

// stopBuying: the requester cannot pay; it withdraws every bid and stops
// requesting from Speed providers.
func (s *Sim) stopBuying(r *requester) {
	if r.cannotPay {
		return
	}
	r.cannotPay = true
	for _, c := range r.conns {
		if c.closed || !c.speed {
			continue
		}
		if c.lastBidOut != 0 {
			s.sendSpeed(c, false, speed.Bid{Rate: 0})
			c.lastBidOut = 0
		}
		s.sendToProv(c, item{kind: itNotInterested})
		s.abandon(c)
	}
}

// abandon stops buying from c: the piece held there is released (blocks of
// it still on the way are ignored).
func (s *Sim) abandon(c *conn) {
	c.noBuy = true
	if d := c.inflight; d != nil {
		c.r.reserved[d.piece] = false
		delete(c.reqCharge, d.piece)
		c.inflight = nil
	}
	c.requested = false
}

func (s *Sim) balance(a wallet.Address) uint64 {
	b, err := s.bank.Balance(s.ctx, a)
	if err != nil {
		s.anomaly(nil, "Balance: %v", err)
	}
	return b
}

func (s *Sim) requesterStep(r *requester) {
	if !r.joined {
		if s.step < r.spec.JoinAt {
			return
		}
		r.joined = true
		for _, c := range r.conns {
			// Every provider is a seed: the requester is interested in all.
			s.sendToProv(c, item{kind: itInterested})
		}
	}
	complete := r.haveCount == s.sc.Pieces
	// Bids.
	switch r.spec.Kind {
	case HonestRequester:
		if r.cannotPay {
			break
		}
		var peers []bidder.Peer
		for _, c := range r.conns {
			if c.closed || !c.speed || c.noBuy {
				continue
			}
			peers = append(peers, bidder.Peer{ID: c.p.spec.Name, Speed: true, HasWanted: !complete && s.canBuy(c)})
		}
		remaining := uint64(s.sc.Pieces-r.haveCount) * s.sc.PieceLen
		balance := s.balance(r.acct)
		for _, rs := range r.sessions {
			balance += rs.Unspent(s.now)
		}
		in := bidder.Input{Now: s.now, Balance: balance, Remaining: remaining, Peers: peers}
		if r.market != nil {
			in.Market = r.market.Estimate(s.now)
		}
		bids := r.bid.Update(in)
		for _, b := range bids {
			c := r.connTo(b.Peer)
			if c == nil {
				s.anomaly(nil, "%s: bid for unknown peer %q", r.spec.Name, b.Peer)
				continue
			}
			s.sendBid(c, b.Rate)
		}
	case NonPayer:
		for _, c := range r.conns {
			if !c.closed && c.speed && !c.bidSent && !complete {
				c.bidSent = true
				s.sendBid(c, r.spec.FixedBid)
			}
		}
	}
	if complete {
		return
	}
	// Requests: one piece in flight per unchoking provider.
	for _, c := range r.conns {
		if c.closed || !c.rUnchoked || c.requested || c.noBuy || c.refused {
			continue
		}
		if c.speed && r.cannotPay {
			continue
		}
		if c.inflight == nil {
			if r.spec.Kind == HonestRequester && !s.canBuy(c) {
				continue // it could not pay for a new piece here
			}
			piece, ok := r.pick()
			if !ok {
				continue
			}
			r.reserved[piece] = true
			c.inflight = &download{piece: piece}
		}
		c.requested = true
		s.sendToProv(c, item{kind: itRequest, piece: c.inflight.piece, block: c.inflight.received})
	}
}

// canBuy reports whether r could pay c's provider for a new piece now.
func (s *Sim) canBuy(c *conn) bool {
	if c.rsess == nil {
		return true
	}
	ok, err := c.rsess.CanBuy(s.ctx, s.now, s.sc.PieceLen)
	if err != nil {
		s.anomaly(nil, "CanBuy: %v", err)
		return false
	}
	return ok
}

func (s *Sim) sendBid(c *conn, rate uint64) {
	r := c.r
	c.lastBidOut = rate
	r.bids = append(r.bids, BidSent{Step: s.step, Provider: c.p.spec.Name, Rate: rate, Free: s.balance(r.acct)})
	if rate > 0 {
		r.bidSum += rate
		r.bidCount++
		r.maxBid = max(r.maxBid, rate)
	}
	if c.rsess != nil {
		c.rsess.Bid(rate) // checked against the bid responses that follow
	}
	s.sendSpeed(c, false, speed.Bid{Rate: rate})
}

func (r *requester) connTo(name string) *conn {
	for _, c := range r.conns {
		if c.p.spec.Name == name {
			return c
		}
	}
	return nil
}

// pick chooses a random piece the requester neither has nor holds in flight.
func (r *requester) pick() (uint32, bool) {
	var cand []uint32
	for i, h := range r.have {
		if !h && !r.reserved[i] {
			cand = append(cand, uint32(i))
		}
	}
	if len(cand) == 0 {
		return 0, false
	}
	return cand[r.rng.IntN(len(cand))], true
}
