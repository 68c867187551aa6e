package engine

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/choker"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Our provider side of a Speed connection: selling to the peer (sections
// 5.2 and 8.3 of docs/speed-protocol.md). Read top to bottom, a sale goes:
//
//  1. gotBidLocked (reader): the peer's bid, which the next choking round
//     reads (speedChokerPeerLocked).
//  2. speedGrantLocked (choking round): a winner's grant is queued in the
//     write stream before the unchoke; writeGrant (writer) turns it into
//     the bid response at its place there, so both sides price the same
//     blocks at the same rate (M11).
//  3. speedFilterServe and speedSent (writer): blocks of a bounded number
//     of unpaid pieces (M22), each priced as it goes out.
//  4. gotPaymentLocked / paid (worker): the payment is checked, off the
//     torrent lock; bogus ones cost strikes.
//  5. speedProvTickLocked (choking round): late payments choke and strike,
//     three strikes ban (M20); channels near their deadline are closed
//     (closeChannelLocked, on the worker; M18). The choker leaves late
//     payers out (speedExcludedLocked).
//  6. closeAll (worker): when the peer leaves, every channel that pays us
//     is closed on the ledger (M19).

// speedProv is our provider side with one requester. The session is used
// by the writer (grants, what may be served, blocks sent), the worker
// (payments, closes) and the choking round (deadlines), so mu guards it:
// taken after Torrent.mu, never before. peerBid and charged are guarded by
// Torrent.mu.
type speedProv struct {
	mu   sync.Mutex
	sess *speed.ProviderSession

	peerBid uint64 // its bid to us
	charged uint64 // the rate we granted it last
}

func newSpeedProv(cfg speed.ProviderConfig, requester wallet.Address) speedProv {
	return speedProv{sess: speed.NewProviderSession(cfg, requester)}
}

// gotBidLocked records the peer's bid (reader).
func (c *conn) gotBidLocked(m speed.Bid) { c.speed.prov.peerBid = m.Rate }

// speedChokerPeerLocked fills in c's Speed fields for the choker.
func (t *Torrent) speedChokerPeerLocked(c *conn, p *choker.Peer) {
	s := c.speed
	if s == nil || !t.speedSettingsLocked().Enabled {
		return
	}
	p.Account = s.hs.Account.String()
	p.Speed = true
	p.Bid = s.prov.peerBid
}

// speedReserveLocked is the lowest rate our slots sell for (the choker's
// reserve).
func (t *Torrent) speedReserveLocked() uint64 {
	if t.sp == nil {
		return 0
	}
	return t.speedSettingsLocked().Reserve
}

// speedExcludedLocked leaves late payers, and banned ones, out of choking
// rounds (M20).
func (t *Torrent) speedExcludedLocked(c *conn) bool {
	s := c.speed
	if s == nil {
		return false
	}
	s.prov.mu.Lock()
	defer s.prov.mu.Unlock()
	return s.prov.sess.Late() || s.prov.sess.Banned()
}

// speedGrantLocked queues the grant for an unchoke before the unchoke
// itself (M11): the rate c pays from now on.
func (t *Torrent) speedGrantLocked(c *conn, d choker.Decision) {
	s := c.speed
	if s == nil || t.sp == nil {
		return
	}
	rate := d.Rate
	if !t.speedSettingsLocked().Enabled {
		rate = 0
	}
	if rate == s.prov.charged && !c.amChoking {
		return // unchanged for a peer already unchoked
	}
	s.prov.charged = rate
	c.grantLocked(t.sp.round, rate)
}

// writeGrant applies a grant at its place in the stream and writes the bid
// response (writer).
func (c *conn) writeGrant(w *bufio.Writer, it outItem) error {
	s := c.speed
	if s == nil {
		return nil
	}
	s.prov.mu.Lock()
	resp := s.prov.sess.Grant(it.round, it.rate)
	s.prov.mu.Unlock()
	id := c.extID(speed.ExtensionName)
	if id == 0 {
		return nil
	}
	b, err := speed.Encode(resp)
	if err != nil {
		return fmt.Errorf("encoding a bid response: %w", err)
	}
	m := pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(id), ExtendedPayload: b}
	return m.WriteTo(w)
}

// extID returns the peer's id for an extension (taking the torrent lock).
func (c *conn) extID(name string) int {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.ext[name]
}

// speedFilterServe returns the first n of the requests the writer took
// that it may serve now: blocks of at most speed.UnpaidPieces unpaid pieces
// (M22), counting those of this batch; the others wait for a payment
// (writer, without the torrent lock).
func (c *conn) speedFilterServe(reqs []request, n int, pieceLen uint64) (serve []request) {
	s := c.speed
	if s == nil {
		return reqs[:min(n, len(reqs))]
	}
	s.prov.mu.Lock()
	defer s.prov.mu.Unlock()
	var admitted []uint32
	for _, r := range reqs {
		if len(serve) == n {
			break
		}
		if s.prov.sess.CanServe(r.piece, pieceLen, admitted) {
			serve = append(serve, r)
			if !slices.Contains(admitted, r.piece) {
				admitted = append(admitted, r.piece)
			}
		}
	}
	return serve
}

// speedSent records a block sent, priced at the rate in force (writer,
// without the torrent lock).
func (c *conn) speedSent(now time.Time, r request, pieceLen int64) {
	s := c.speed
	if s == nil {
		return
	}
	s.prov.mu.Lock()
	s.prov.sess.Sent(now, r.piece, uint64(r.length), uint64(pieceLen))
	s.prov.mu.Unlock()
}

// gotPaymentLocked takes a payment (reader); the worker checks it.
func (c *conn) gotPaymentLocked(m speed.Payment) {
	c.enqueueLocked(func(ctx context.Context) { c.paid(ctx, m) })
}

// paid checks a payment (worker): on the ledger the first time its channel
// is seen, then against what is owed. A rejection goes back to the peer; a
// peer the session banned is dropped; an accepted payment may unblock the
// requests that waited for it.
func (c *conn) paid(ctx context.Context, m speed.Payment) {
	t, s := c.t, c.speed
	s.prov.mu.Lock()
	rej, err := s.prov.sess.Receive(ctx, t.cfg.Now(), m)
	earned, banned := s.prov.sess.Earned(), s.prov.sess.Banned()
	s.prov.mu.Unlock()
	if err != nil {
		c.log.Info("payment not processed", "err", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.speedAccountLocked(c, 0, earned)
	if rej != nil {
		c.speedSendLocked(*rej)
	}
	if banned {
		t.speedBanLocked(c)
		return
	}
	c.nudge() // a paid piece may unblock queued requests
}

// speedProvTickLocked checks c's deadlines at now (choking round): a late
// payment chokes it, its strikes may ban it, and channels whose deadline is
// near are closed.
func (c *conn) speedProvTickLocked(now time.Time) {
	t, s := c.t, c.speed
	s.prov.mu.Lock()
	r := s.prov.sess.Tick(now)
	s.prov.mu.Unlock()
	if r.Ban {
		t.speedBanLocked(c)
		return
	}
	if r.Choke {
		t.chokeLocked(c)
	}
	for _, id := range r.Close {
		c.closeChannelLocked(id)
	}
}

// closeChannelLocked closes one channel c pays us through, on the worker,
// and tells c.
func (c *conn) closeChannelLocked(id speed.ChannelID) {
	s := c.speed
	c.enqueueLocked(func(ctx context.Context) {
		s.prov.mu.Lock()
		m, err := s.prov.sess.Close(ctx, id)
		s.prov.mu.Unlock()
		if err != nil {
			c.log.Info("closing a channel failed", "channel", id, "err", err)
			return
		}
		if m != nil {
			c.t.mu.Lock()
			c.speedSendLocked(*m)
			c.t.mu.Unlock()
		}
	})
}

// closeAll closes every channel that holds a payment to us (worker, when
// the peer has left).
func (p *speedProv) closeAll(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess.CloseAll(ctx)
}
