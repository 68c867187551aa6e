package sim

import (
	"slices"
	"strings"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/choker"
)

// The simulated provider side: what it receives, its choking rounds and
// uploads, and disconnects.

func (s *Sim) providerReceive(c *conn, it item) {
	switch it.kind {
	case itInterested:
		c.interested = true
	case itNotInterested:
		c.interested = false
		c.req = nil
	case itRequest:
		if !c.unchoked || c.chokePending {
			return // requests from choked peers are dropped
		}
		c.req = &provRequest{piece: it.piece, next: it.block}
	case itSpeed:
		m, err := speed.Decode(it.speed)
		if err != nil {
			s.anomaly(c, "provider decoding: %v", err)
			return
		}
		if c.psess == nil {
			s.anomaly(c, "Speed message %T to a legacy seed", m)
			return
		}
		switch m := m.(type) {
		case speed.Bid:
			c.bid = m.Rate
		case speed.Payment:
			s.providerPayment(c, m)
		default:
			s.anomaly(c, "provider got %T", m)
		}
	default:
		s.anomaly(c, "provider got item kind %d", it.kind)
	}
}

func (s *Sim) providerPayment(c *conn, m speed.Payment) {
	before := c.psess.Earned()
	rej, err := c.psess.Receive(s.ctx, s.now, m)
	if err != nil {
		s.anomaly(c, "Receive: %v", err)
	}
	if rej != nil {
		s.record(Event{Kind: EvPaymentRejected, Provider: c.p.spec.Name, Requester: c.r.spec.Name, Piece: int(m.Piece), Detail: rej.Reason.String() + ": " + rej.Text})
		s.sendSpeed(c, true, *rej)
		return
	}
	inc := c.psess.Earned() - before
	if rec := s.chanByID[m.State.Channel]; rec == nil {
		s.anomaly(c, "provider accepted a payment on channel %s no requester opened", m.State.Channel)
	} else {
		rec.Accepted = m.State
	}
	s.record(Event{Kind: EvPaymentOK, Provider: c.p.spec.Name, Requester: c.r.spec.Name, Piece: int(m.Piece), Amount: inc})
	delete(c.owed, m.Piece)
}

func (s *Sim) tick(p *provider) {
	for _, c := range p.conns {
		if c.closed || c.psess == nil {
			continue
		}
		res := c.psess.Tick(s.now)
		if res.Choke && !c.lateSeen {
			s.record(Event{Kind: EvChokedLate, Provider: p.spec.Name, Requester: c.r.spec.Name, Piece: -1})
		}
		c.lateSeen = res.Choke
		if res.Ban {
			s.record(Event{Kind: EvProviderBan, Provider: p.spec.Name, Requester: c.r.spec.Name, Piece: -1})
			p.bans.Ban(c.r.acct.String(), s.now, speed.DefaultBanDuration)
			s.disconnect(c)
			continue
		}
		if res.Choke && (c.unchoked || c.chokePending) {
			s.choke(c)
		}
		ids := slices.Clone(res.Close)
		slices.SortFunc(ids, func(a, b speed.ChannelID) int { return strings.Compare(a.String(), b.String()) })
		for _, id := range ids {
			msg, err := c.psess.Close(s.ctx, id)
			if err != nil {
				s.anomaly(c, "Close: %v", err)
				continue
			}
			s.record(Event{Kind: EvChannelClosing, Provider: p.spec.Name, Requester: c.r.spec.Name, Piece: -1, Amount: msg.Seq})
			s.sendSpeed(c, true, *msg)
		}
	}
}

// choke chokes at once: the request in flight is dropped.
func (s *Sim) choke(c *conn) {
	c.unchoked, c.chokePending, c.req = false, false, nil
	s.sendToReq(c, item{kind: itChoke})
}

// chokeRound runs one of p's choking rounds: the choker picks the winners
// among the eligible interested peers, the winners are unchoked (with a
// bid response for Speed peers) and everyone else is choked.
func (s *Sim) chokeRound(p *provider) {
	p.round++
	peers, byID := s.chokerPeers(p)
	cfg := choker.Config{Slots: s.sc.Slots, Optimistic: s.sc.Optimistic, Reserve: p.spec.Reserve}
	res := choker.Round(cfg, peers, p.rng)
	won := s.roundWinners(p, res, byID)
	contested := s.firstHonest == 0
	for _, c := range p.conns {
		if c.closed {
			continue
		}
		d, ok := won[c]
		if !ok {
			s.roundLoser(c)
			continue
		}
		s.roundWinner(p, c, d, contested)
	}
}

// chokerPeers starts a round on p's connections (the bytes sent in the
// round that ends become its throughput) and returns the peers the choker
// may unchoke, with the connection behind each ID: interested, and for a
// Speed peer neither late, banned by its session nor banned by p.
func (s *Sim) chokerPeers(p *provider) ([]choker.Peer, map[string]*conn) {
	var peers []choker.Peer
	byID := map[string]*conn{}
	for _, c := range p.conns {
		if c.closed {
			continue
		}
		c.sentLast, c.sentRound = c.sentRound, 0
		if !c.interested {
			continue
		}
		sp := c.psess != nil
		if sp && (c.psess.Late() || c.psess.Banned() || p.bans.Banned(c.r.acct.String(), s.now)) {
			continue
		}
		cp := choker.Peer{ID: c.r.spec.Name, Speed: sp, Bytes: c.sentLast, ChokedRounds: c.chokedRounds, Interested: true}
		if sp {
			cp.Account = c.r.acct.String()
			cp.Bid = c.bid
		}
		peers = append(peers, cp)
		byID[cp.ID] = c
	}
	return peers, byID
}

// roundWinners maps the choker's decisions back to connections, recording
// an anomaly for an unknown peer or one unchoked twice.
func (s *Sim) roundWinners(p *provider, res choker.Result, byID map[string]*conn) map[*conn]choker.Decision {
	won := map[*conn]choker.Decision{}
	for _, d := range res.Unchoked {
		c := byID[d.ID]
		if c == nil {
			s.anomaly(nil, "choker of %s unchoked unknown or ineligible peer %q", p.spec.Name, d.ID)
			continue
		}
		if _, dup := won[c]; dup {
			s.anomaly(c, "choker unchoked %q twice", d.ID)
			continue
		}
		won[c] = d
	}
	return won
}

// roundLoser chokes a connection that won no slot this round: at once, or
// after the piece in flight when the scenario lets it finish.
func (s *Sim) roundLoser(c *conn) {
	c.chokedRounds++
	if !c.unchoked || c.chokePending {
		return
	}
	if s.sc.FinishPieceOnChoke && c.req != nil && c.req.next > 0 {
		c.chokePending = true // choke after the piece's last block
	} else {
		s.choke(c)
	}
}

// roundWinner unchokes a connection that won slot d: it counts the round
// for the requester, grants a Speed peer its rate (sending a bid response
// when the grant changed) and sends the unchoke if the peer was choked.
func (s *Sim) roundWinner(p *provider, c *conn, d choker.Decision, contested bool) {
	c.chokedRounds = 0
	if d.Kind == choker.Paid && (d.Rate > c.bid || d.Rate < p.spec.Reserve) {
		s.anomaly(c, "paid slot at %d: bid %d, reserve %d", d.Rate, c.bid, p.spec.Reserve)
	}
	switch d.Kind {
	case choker.Paid:
		c.r.paidRounds++
		if contested {
			c.r.paidRoundsContested++
		}
	case choker.OptimisticSlot:
		c.r.optRounds++
	default:
		c.r.freeRounds++
	}
	if c.psess != nil {
		br := c.psess.Grant(p.round, grantRate(p, c, d))
		if !c.granted || br.Rate != c.grantedRate {
			c.granted, c.grantedRate = true, br.Rate
			s.sendSpeed(c, true, br)
		}
	} else if d.Kind == choker.Paid {
		s.anomaly(c, "paid slot for a legacy peer")
	}
	c.chokePending = false
	if !c.unchoked {
		c.unchoked = true
		s.sendToReq(c, item{kind: itUnchoke})
	}
}

// grantRate is the rate p asks of c for slot d: the auction's price for a
// paid slot, nothing for a free one, and for an Overcharger more than c bid.
func grantRate(p *provider, c *conn, d choker.Decision) uint64 {
	if p.spec.Kind == Overcharger {
		if c.bid == 0 {
			return speed.BaseUnitsPerBTT
		}
		return 2*c.bid + 1
	}
	if d.Kind == choker.Paid {
		return d.Rate
	}
	return 0
}

func (s *Sim) upload(p *provider) {
	n := len(p.conns)
	if n == 0 {
		return
	}
	// Capacity may be below a block per step: unused credit carries over
	// (up to one step's worth plus a block) while someone is waiting.
	p.credit = min(p.credit+s.sc.Capacity, s.sc.Capacity+s.sc.BlockLen)
	for p.credit >= s.sc.BlockLen {
		progress := false
		for k := 0; k < n && p.credit >= s.sc.BlockLen; k++ {
			c := p.conns[(p.rr+k)%n]
			if c.closed || !c.unchoked || c.req == nil {
				continue
			}
			if c.psess != nil && !c.psess.CanServe(c.req.piece, uint64(s.sc.PieceLen), nil) {
				continue
			}
			s.sendBlock(c)
			p.credit -= s.sc.BlockLen
			progress = true
		}
		if !progress {
			p.credit = min(p.credit, s.sc.BlockLen) // idle: no hoarding
			break
		}
	}
	p.rr = (p.rr + 1) % n
}

func (s *Sim) sendBlock(c *conn) {
	rq := c.req
	bl := s.sc.BlockLen
	if c.psess != nil {
		c.psess.Sent(s.now, rq.piece, bl, s.sc.PieceLen)
		if rate := c.psess.Rate(); rate > 0 {
			u := c.owed[rq.piece]
			if u == nil {
				u = &unpaid{}
				c.owed[rq.piece] = u
			}
			u.bytes += bl
			u.charge.Add(rate, bl)
		}
	}
	s.sendToReq(c, item{kind: itBlock, piece: rq.piece, block: rq.next, n: bl})
	c.sentRound += bl
	c.p.sent += bl
	rq.next++
	if rq.next >= s.blocksPerPc {
		c.req = nil
		if c.chokePending {
			s.choke(c)
		}
	}
}

// disconnect closes a connection from both ends: queued messages are lost,
// the provider closes the session's channels, the requester releases the
// piece it held there and forgets its bid.
func (s *Sim) disconnect(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	c.toReq, c.toProv = nil, nil
	c.unchoked, c.chokePending, c.req = false, false, nil
	if c.psess != nil {
		if err := c.psess.CloseAll(s.ctx); err != nil {
			s.anomaly(c, "CloseAll on disconnect: %v", err)
		}
	}
	r := c.r
	if c.inflight != nil {
		r.reserved[c.inflight.piece] = false
		if c.rsess != nil {
			c.rsess.Failed(c.inflight.piece) // drop the partial piece's charge
		}
		delete(c.reqCharge, c.inflight.piece)
		c.inflight = nil
	}
	c.rUnchoked, c.requested = false, false
	if r.bid != nil {
		r.bid.Forget(c.p.spec.Name)
	}
}
