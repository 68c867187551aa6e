package engine

import (
	"context"
	"errors"
	"slices"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Our requester side of a Speed connection: buying from the peer (sections
// 5.1 and 8.2 of docs/speed-protocol.md). Read top to bottom, a purchase
// goes:
//
//  1. speedBidLocked: the torrent's auto-bidder decides and the bids go out
//     (before "interested", M3; rebids by bidder's 10% / one-minute rule).
//  2. gotBidResponseLocked (reader): a bid response arrives; a priced one
//     stops new pieces from this peer until the worker has checked we can
//     pay at that rate.
//  3. acceptBidResponse (worker): the session accepts the rate, in stream
//     order with the blocks, then checkBuy.
//  4. checkBuy (worker): budget, next channel opened ahead of need
//     (Prefund), balance (CanBuy); the picker may then start pieces
//     (speedMayStartLocked).
//  5. speedReceivedLocked: each block's price accrues at the rate in force.
//  6. speedVerifiedLocked / payPiece (worker): the verified piece is paid,
//     retried with backoff while the ledger is unreachable;
//     speedFailedLocked: a piece that fails pays nothing and bans (M21).
//  7. gotPaymentRejectedLocked, gotChannelClosingLocked: the provider's
//     answers.

// speedReq is our requester side with one provider. The session is the
// worker goroutine's, except that while the worker is idle (nothing queued
// or running) the reader may call it under Torrent.mu for the per-block
// and per-piece hot path (speedReceivedLocked, speedVerifiedLocked): the
// worker cannot start a job without that lock, so the calls stay in stream
// order. The other fields are guarded by Torrent.mu and written by the
// reader (the peer's messages) and the worker (what the session decided).
type speedReq struct {
	sess *speed.RequesterSession // the worker's (see above)

	rate         uint64 // the rate it charges us (bid responses the worker applied)
	rateSeen     uint64 // the rate of the last bid response received, not yet applied
	canBuy       bool   // we may start a piece from it at its rate
	stopPay      bool   // it misbehaved as a provider: buy nothing more from it
	cannotPay    bool   // at its rate we cannot pay for a piece (budget, balance): no bid
	refused      bool   // its last bid response asked more than our bid: request nothing
	unspent      uint64 // what our channel to it still holds
	held         int    // verified pieces whose payment waits for a batch
	checkRetries int    // failed balance checks in a row (backoff of the retries)
	// unavailable is the payment last rejected for "ledger unavailable"
	// and how many times in a row (the backoff of sending it again).
	unavailable      speed.PaymentRejected
	unavailableTimes int
}

// maxUnavailableBackoff caps the wait before a payment rejected for
// "ledger unavailable" goes again (attempt 3: 8 s), well inside the payment
// timeout the provider restarts at each such rejection.
const maxUnavailableBackoff = 3

func newSpeedReq(cfg speed.RequesterConfig, provider wallet.Address) speedReq {
	return speedReq{sess: speed.NewRequesterSession(cfg, provider), canBuy: true}
}

// speedBidLocked runs the torrent's auto-bidder and sends the bids it
// decides on: the only place bids are sent. It runs when a Speed peer
// arrives, before we say interested, every choking round and when the
// settings change.
func (t *Torrent) speedBidLocked() {
	if t.sp == nil || t.lay == nil {
		return
	}
	var remaining uint64
	if !t.have.Full() {
		remaining = uint64(t.lay.total - t.statsCompletedLocked())
	}
	now := t.cfg.Now()
	unspent := t.speedUnspentLocked()
	in := bidder.Input{Now: now, Remaining: remaining, Market: t.c.speed.marketRate(now)}
	byID := make(map[string]*conn)
	for c := range t.conns {
		if c.speed == nil {
			continue
		}
		byID[c.addr] = c
		// A peer we cannot pay is bid nothing (section 8.2): it would
		// sell us a slot we cannot use.
		r := &c.speed.req
		wanted := c.peerHave.n > 0 && c.peerHave.AnyNotIn(&t.have)
		in.Peers = append(in.Peers, bidder.Peer{ID: c.addr, Speed: true, HasWanted: wanted && !r.stopPay && !r.cannotPay})
	}
	in.Balance = min(t.c.speed.balance.Load()+unspent, t.speedBudgetLeftLocked())
	for _, b := range t.sp.bidder.Update(in) {
		if c := byID[b.Peer]; c != nil {
			c.speedSendLocked(speed.Bid{Rate: b.Rate})
			// The session checks bid responses that arrive from now on
			// against this bid.
			sess, rate := c.speed.req.sess, b.Rate
			c.enqueueLocked(func(context.Context) { sess.Bid(rate) })
		}
	}
}

// gotBidResponseLocked takes a bid response (reader). It is applied by the
// worker, in order with the blocks around it; until then a priced one
// stops new pieces from this peer.
func (c *conn) gotBidResponseLocked(m speed.BidResponse) {
	r := &c.speed.req
	r.rateSeen = m.Rate
	if m.Rate > 0 {
		r.canBuy = false // until the worker has checked we can pay
	}
	c.enqueueLocked(func(context.Context) { c.acceptBidResponse(m) })
}

// acceptBidResponse applies a bid response (worker): the only place bid
// responses are accepted. One priced above our bid (or answering none) is
// refused and we request nothing from the peer until it prices within the
// bid; one for another account or ledger stops buying from this peer;
// otherwise checkBuy decides whether we can pay at the new rate.
func (c *conn) acceptBidResponse(m speed.BidResponse) {
	t, r := c.t, &c.speed.req
	err := r.sess.Accept(m)
	if errors.Is(err, speed.ErrAboveBid) {
		t.mu.Lock()
		r.refused, r.canBuy, r.rate = true, false, 0
		c.speedRefusedLocked()
		t.mu.Unlock()
		c.log.Info("refused a price above our bid: requesting nothing from the provider until it prices within the bid", "err", err)
		return
	}
	if err != nil {
		c.t.mu.Lock()
		r.stopPay, r.canBuy = true, false
		c.t.mu.Unlock()
		c.log.Info("stopped buying from a provider", "err", err)
		return
	}
	t.c.speed.observe(c.speed.hs.Account, m.Rate, t.cfg.Now())
	t.mu.Lock()
	r.refused = false
	t.mu.Unlock()
	c.checkBuy()
}

// speedRefusedLocked stops requesting from c, whose price we refused: its
// outstanding requests are cancelled and its pieces left to others, as if
// it had choked us.
func (c *conn) speedRefusedLocked() {
	t := c.t
	for k := range c.reqs {
		c.sendLocked(pp.MakeCancelMessage(pp.Integer(k.piece()), pp.Integer(k.block()*BlockSize), pp.Integer(t.lay.blockLen(k.piece(), k.block()))))
	}
	t.releaseRequestsLocked(c)
	for _, i := range c.owned {
		if p := t.partial[i]; p != nil && p.owner == c {
			p.owner = nil
		}
	}
	c.owned = nil
	t.requestFromAllLocked()
}

// speedMayRequestLocked says whether we may request anything from c: not
// while we refuse its price.
func (t *Torrent) speedMayRequestLocked(c *conn) bool { return c.speed == nil || !c.speed.req.refused }

// checkBuy decides (worker) whether we may start another piece from c at
// the rate in force: within the budget, and payable from our channel or
// balance. A balance check that fails for a passing reason is retried with
// backoff.
func (c *conn) checkBuy() {
	t, r := c.t, &c.speed.req
	rate := r.sess.Rate()
	t.mu.Lock()
	ok := !r.stopPay
	var pieceLen uint64
	if t.lay != nil {
		pieceLen = uint64(t.lay.pieceLength)
	}
	left := t.speedBudgetLeftLocked()
	locked := t.speedUnspentLocked()
	expected := t.speedExpectedLocked()
	t.mu.Unlock()
	// A new channel locks no more than the budget leaves after what open
	// channels still hold, and is sized for what we expect to buy from c.
	r.sess.SetLimit(left - min(left, locked))
	r.sess.SetExpected(expected)
	var checkErr error
	checked := false
	if ok && rate > 0 {
		ok = speed.Price(rate, pieceLen) <= left
		if ok {
			ok, checkErr = c.canPay(pieceLen)
			checked = true
		}
	}
	unspent := r.sess.Unspent(t.cfg.Now())
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case checked && checkErr == nil:
		r.checkRetries = 0
	case checked && transientSpeedErr(t.ctx, checkErr):
		r.checkRetries++
		c.retryLocked(r.checkRetries-1, func(context.Context) { c.checkBuy() })
	}
	r.rate, r.canBuy, r.unspent = rate, ok, unspent
	if !checked || checkErr == nil {
		c.setCannotPayLocked(rate > 0 && !ok)
	}
	if ok {
		t.fillRequestsLocked(c)
	}
}

// setCannotPayLocked records whether we can pay c at its rate; a change
// withdraws our bid to it at once, or bids again (section 8.2).
func (c *conn) setCannotPayLocked(cannot bool) {
	r := &c.speed.req
	if r.cannotPay == cannot {
		return
	}
	r.cannotPay = cannot
	c.t.speedBidLocked()
}

// speedReqTickLocked checks again, each choking round, whether we can now
// pay a provider we could not: money may have come in.
func (c *conn) speedReqTickLocked() {
	if r := &c.speed.req; r.cannotPay && !r.stopPay {
		c.enqueueLocked(func(context.Context) { c.checkBuy() })
	}
	c.speedFlushLocked()
}

// speedExpectedLocked estimates what we still expect to buy from one
// charging provider: the bytes we lack, shared evenly among the Speed peers
// that charge us. A channel sized for it carries the download (section 6 of
// docs/speed-protocol.md); a provider that delivers more than its share gets
// the next channel when this one runs low.
func (t *Torrent) speedExpectedLocked() uint64 {
	if t.lay == nil || t.have.Full() {
		return 0
	}
	var sellers uint64
	for c := range t.conns {
		if s := c.speed; s != nil && (s.req.rate > 0 || s.req.rateSeen > 0) && !s.req.stopPay && !s.req.refused {
			sellers++
		}
	}
	return uint64(t.lay.total-t.statsCompletedLocked()) / max(sellers, 1)
}

// canPay opens the next channel while the current one still pays, so no
// payment waits for the ledger, and says whether a piece of pieceLen at the
// rate in force can be paid for (worker).
func (c *conn) canPay(pieceLen uint64) (bool, error) {
	t, sess := c.t, c.speed.req.sess
	if err := sess.Prefund(t.ctx, t.cfg.Now(), pieceLen); err != nil && !errors.Is(err, speed.ErrCannotPay) {
		c.log.Info("opening the next channel", "err", err)
	}
	ok, err := sess.CanBuy(t.ctx, t.cfg.Now(), pieceLen)
	if err != nil {
		c.log.Info("cannot check our balance", "err", err)
	}
	return ok, err
}

// speedMayStartLocked says whether we may request blocks of piece from c:
// a charging provider only while we can pay for a piece, and for no more
// pieces at once than our channel to it can pay for (at least one), so that
// with several pieces unpaid at once (M22) an honest requester is still
// never late for lack of money.
func (t *Torrent) speedMayStartLocked(c *conn, piece int) bool {
	s := c.speed
	if s == nil {
		return true
	}
	if s.req.rateSeen > 0 || s.req.rate > 0 {
		if !s.req.canBuy || s.req.stopPay {
			return false
		}
		n := uint64(len(c.owned) + s.req.held)
		price := speed.Price(max(s.req.rate, s.req.rateSeen), uint64(t.lay.pieceLength))
		return n == 0 || price == 0 || (n+1)*price <= s.req.unspent || slices.Contains(c.owned, piece)
	}
	return true
}

// speedReceivedLocked records a block from c (its price accrues at the
// rate in force, in stream order: the worker applies bid responses and
// blocks in the order they arrived). With the worker idle it is recorded
// at once, without a job per block.
func (t *Torrent) speedReceivedLocked(c *conn, piece int, n uint64) {
	s := c.speed
	if s == nil {
		return
	}
	if c.speedIdleLocked() {
		s.req.sess.Received(uint32(piece), n)
		return
	}
	c.enqueueLocked(func(context.Context) { s.req.sess.Received(uint32(piece), n) })
}

// speedFailedLocked: a piece with data from c failed its hash: pay nothing
// for it and ban the provider (M21).
func (t *Torrent) speedFailedLocked(c *conn, piece int) {
	s := c.speed
	if s == nil {
		return
	}
	c.enqueueLocked(func(context.Context) { s.req.sess.Failed(uint32(piece)) })
	t.speedBanLocked(c)
}

// speedVerifiedLocked: a piece with data from c verified: pay for it. The
// provider serves a bounded number of unpaid pieces (M22), so the
// common case, the worker idle and the channel in use with room, pays at
// once on this goroutine: a signature, no hop to the worker. The signature
// is made under the torrent lock (0.03-0.05 ms natively, once a piece).
// Paying through a new channel (the ledger) goes to the worker.
func (t *Torrent) speedVerifiedLocked(c *conn, piece int) {
	if c.speed == nil || c.closed {
		return
	}
	if c.speedIdleLocked() {
		if c.speedHoldLocked(piece) {
			return
		}
		if p, ok := c.speed.req.sess.VerifiedFunded(t.cfg.Now(), uint32(piece)); ok {
			c.settlePayLocked(p, nil, 0, nil)
			// Opening the next channel ahead of need and the balance
			// check are off the payment's path, and needed only once the
			// channel runs low (Prefund's two pieces): otherwise the
			// worker would be busy as the next pieces' blocks arrive,
			// and they would queue behind it one job a block.
			r := &c.speed.req
			r.unspent = r.sess.Unspent(t.cfg.Now())
			if price := speed.Price(r.sess.Rate(), uint64(t.lay.pieceLength)); r.unspent < 2*price {
				c.enqueueLocked(func(context.Context) { c.checkBuy() })
			}
			return
		}
	}
	c.enqueueLocked(func(ctx context.Context) { c.payPiece(ctx, piece, 0) })
}

// speedHoldLocked defers the payment for a verified piece into a batch
// (section 8.2): while the provider's exposure allows a batch, fewer than a
// batch are held and more pieces from c are coming, so a payment covers
// several pieces (one signature for them, and one check at the provider).
// It reports whether the piece needs nothing more now. The session is the
// reader's here: the worker is idle.
func (c *conn) speedHoldLocked(piece int) bool {
	r := &c.speed.req
	b := r.sess.BatchPieces(uint64(c.t.lay.pieceLength))
	if b <= 1 || r.sess.Held()+1 >= b || len(c.owned) == 0 || c.peerChoking {
		return false
	}
	r.sess.Hold(uint32(piece))
	r.held = r.sess.Held()
	return true
}

// speedFlushLocked pays, on the worker, for the verified pieces held for a
// batch: at each choking round (well within the provider's payment
// timeout) and when c chokes us.
func (c *conn) speedFlushLocked() {
	if c.speed == nil || c.speed.req.held == 0 {
		return
	}
	sess := c.speed.req.sess
	c.enqueueLocked(func(ctx context.Context) {
		if piece, ok := sess.Unhold(); ok {
			c.payPiece(ctx, int(piece), 0)
		}
	})
}

// payPiece pays for a verified piece (worker); a passing failure is retried
// with backoff, so the provider, which serves one piece unpaid, is not left
// waiting forever.
func (c *conn) payPiece(ctx context.Context, piece, attempt int) {
	p, err := c.speed.req.sess.Verified(ctx, c.t.cfg.Now(), uint32(piece))
	var retry func(context.Context)
	if transientSpeedErr(ctx, err) {
		retry = func(ctx context.Context) { c.payPiece(ctx, piece, attempt+1) }
	}
	c.afterPay(p, err, attempt, retry)
}

// gotPaymentRejectedLocked takes a payment rejection (reader); the worker
// pays again where the reason allows. A payment the provider's ledger could
// not take goes again after a wait (1 s, doubling to 8 s while the same
// payment keeps coming back), so that an outage does not bounce it between
// us at wire speed (section 8.2).
func (c *conn) gotPaymentRejectedLocked(m speed.PaymentRejected) {
	job := func(ctx context.Context) {
		p, err := c.speed.req.sess.Rejected(ctx, c.t.cfg.Now(), m)
		c.afterPay(p, err, 0, nil)
	}
	if m.Reason != speed.ReasonLedgerUnavailable {
		c.enqueueLocked(job)
		return
	}
	r := &c.speed.req
	key := speed.PaymentRejected{Channel: m.Channel, Seq: m.Seq}
	if r.unavailable != key {
		r.unavailable, r.unavailableTimes = key, 0
	}
	c.retryLocked(min(r.unavailableTimes, maxUnavailableBackoff), job)
	r.unavailableTimes++
}

// afterPay sends a payment the requester session produced and records what
// it spent (worker): one pass under the torrent lock. A provider that
// misbehaves is bought from no more; an empty wallet stops buying from it
// until the next check; retry, if any, runs after the backoff of attempt. After a success we
// check whether we can buy the next piece.
func (c *conn) afterPay(p *speed.Payment, err error, attempt int, retry func(context.Context)) {
	if err != nil {
		c.log.Info("payment failed", "err", err)
	}
	c.t.mu.Lock()
	c.settlePayLocked(p, err, attempt, retry)
	c.t.mu.Unlock()
	if err == nil {
		c.checkBuy()
	}
}

// settlePayLocked is afterPay's pass under the torrent lock, on the worker
// or on the reader while the worker is idle.
func (c *conn) settlePayLocked(p *speed.Payment, err error, attempt int, retry func(context.Context)) {
	t, r := c.t, &c.speed.req
	spent := r.sess.Spent()
	r.held = r.sess.Held()
	if misbehaving := errors.Is(err, speed.ErrProviderMisbehaving); misbehaving || errors.Is(err, speed.ErrCannotPay) {
		// A stop is for good: ErrCannotPay never lifts one that a
		// misbehaving provider earned.
		r.stopPay = r.stopPay || misbehaving
		r.canBuy = false
		c.setCannotPayLocked(true)
	}
	t.speedAccountLocked(c, spent, 0)
	if p != nil {
		t.sp.payments++
		c.speedSendLocked(*p)
	}
	if retry != nil {
		c.retryLocked(attempt, retry)
	}
}

// gotChannelClosingLocked: the provider closes a channel; the session pays
// through a new one from now on (worker).
func (c *conn) gotChannelClosingLocked(m speed.ChannelClosing) {
	c.enqueueLocked(func(context.Context) { c.speed.req.sess.Closing(m) })
}

// transientSpeedErr says whether a Speed error may pass by itself: not a
// misbehaving provider, not an empty wallet, not a closing torrent.
func transientSpeedErr(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && !errors.Is(err, speed.ErrProviderMisbehaving) && !errors.Is(err, speed.ErrCannotPay)
}
