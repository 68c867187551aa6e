package speed

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
)

// RequesterConfig configures a requester's side of the protocol.
type RequesterConfig struct {
	Key      *wallet.PrivateKey // the requester's account key, K1
	Ledger   Ledger
	LedgerID string
	// DepositPieces is the smallest channel worth opening: this many
	// pieces at the current piece's price (default 8), so that a small
	// expected spend does not open a channel every few pieces. Until
	// SetExpected is called it is also the size: a new channel holds this
	// many pieces, capped by a quarter of the balance (but never below one
	// piece). Every deposit is capped by MaxDeposit, SetLimit and the
	// balance.
	DepositPieces uint64
	// MaxDeposit caps one channel's deposit; 0 means no cap beyond the
	// balance.
	MaxDeposit uint64
	// ChannelTTL is how long new channels run before they time out (default
	// 2 hours; at least twice the provider's MinTTL).
	ChannelTTL time.Duration
	// MaxRejections payments rejected for reasons an honest provider does
	// not give make the requester stop paying that provider (default 3).
	MaxRejections int
	// Nonce returns a fresh channel-open nonce; nil uses crypto/rand.
	Nonce func() uint64
	// Service is the service its channels pay for (OpenRequest.Service);
	// "" means ServiceSpeed.
	Service string
}

// Requester errors.
var (
	// ErrCannotPay: the balance does not cover the piece; stop buying.
	ErrCannotPay = errors.New("speed: balance does not cover the payment")
	// ErrProviderMisbehaving: too many unjustified rejections, or a bid
	// response for another account or ledger; stop paying this provider.
	ErrProviderMisbehaving = errors.New("speed: provider misbehaving")
	// ErrAboveBid: a bid response charges more than the last bid sent to
	// the provider, or charges when no bid was sent. It is refused: the
	// requester pays nothing for what the provider sends under it and
	// requests nothing from it until a bid response at or below its bid.
	ErrAboveBid = errors.New("speed: bid response above our bid")
)

func (c RequesterConfig) withDefaults() RequesterConfig {
	if c.DepositPieces == 0 {
		c.DepositPieces = 8
	}
	if c.ChannelTTL <= 0 {
		c.ChannelTTL = 2 * time.Hour
	}
	if c.MaxRejections <= 0 {
		c.MaxRejections = 3
	}
	if c.Service == "" {
		c.Service = ServiceSpeed
	}
	if c.Nonce == nil {
		c.Nonce = func() uint64 {
			var b [8]byte
			_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
			return binary.BigEndian.Uint64(b[:])
		}
	}
	return c
}

// RequesterSession is a requester's side of the protocol with one provider
// on one connection: the rate the provider quoted, what each piece received
// costs, the channel paying it, and what was spent. The requester pays only
// for verified pieces (M15, M22) and pays exactly what the provider computes,
// because both apply the same rates to the same blocks in stream order. It is
// not safe for concurrent use; the connection's owner serializes calls.
type RequesterSession struct {
	cfg      RequesterConfig
	provider wallet.Address

	rate   uint64
	minTTL time.Duration
	quoted bool

	bid     uint64 // the last bid sent to the provider
	bidSent bool
	refused bool // the last bid response asked more than bid

	limit   uint64 // what a new channel may lock, when limited
	limited bool

	expected  uint64 // bytes we still expect to buy from the provider, when expecting
	expecting bool

	pieces   map[uint32]*Charge
	held     []uint32 // verified pieces whose payment waits for a batch (Hold)
	exposure uint64   // the provider's, from its bid response
	channel  *requesterChannel
	last     *lastPayment
	// recent are the last payments sent (at most recentPayments), the
	// newest last: with several pieces unpaid at once (M22) several
	// payments may be in flight when one is rejected.
	recent []*lastPayment
	// carry is what payments on channel carryCh that the provider
	// provably cannot redeem were worth: the repayment of the last one on
	// that channel carries it.
	carry   uint64
	carryCh ChannelID

	spent      uint64
	rejections int
}

type requesterChannel struct {
	info Channel
	seq  uint64
	paid uint64
}

type lastPayment struct {
	Payment
	amount uint64
	repaid bool
}

// NewRequesterSession starts a session with the provider whose handshake
// named account.
func NewRequesterSession(cfg RequesterConfig, provider wallet.Address) *RequesterSession {
	return &RequesterSession{cfg: cfg.withDefaults(), provider: provider, pieces: make(map[uint32]*Charge)}
}

// Bid records a bid sent to the provider (0 withdraws it). The caller
// calls it in stream order with Accept: a bid response that arrives after
// the bid was sent is checked against it.
func (r *RequesterSession) Bid(rate uint64) { r.bid, r.bidSent = rate, true }

// Accept takes a bid response: blocks received from now on cost its rate.
// A response for another account or another ledger is refused with
// ErrProviderMisbehaving; the engine then stops buying from this peer. A
// response charging more than the last bid sent, or charging when no bid
// was sent, is refused with ErrAboveBid: the rate in force becomes 0 for
// this requester, blocks received under it are not charged (nothing is
// paid for them) and Refused reports true until a later bid response is
// accepted. A rate of 0 (a free slot) is always accepted.
func (r *RequesterSession) Accept(m BidResponse) error {
	if m.Payee != r.provider {
		return fmt.Errorf("%w: bid response pays %s, handshake said %s", ErrProviderMisbehaving, m.Payee, r.provider)
	}
	if m.Ledger != r.cfg.LedgerID {
		return fmt.Errorf("%w: provider uses ledger %q, we use %q", ErrProviderMisbehaving, m.Ledger, r.cfg.LedgerID)
	}
	if m.Rate > 0 && (!r.bidSent || m.Rate > r.bid) {
		r.rate, r.refused = 0, true
		if !r.bidSent {
			return fmt.Errorf("%w: rate %d answers no bid", ErrAboveBid, m.Rate)
		}
		return fmt.Errorf("%w: rate %d, our bid %d", ErrAboveBid, m.Rate, r.bid)
	}
	r.rate, r.minTTL, r.quoted, r.refused = m.Rate, time.Duration(m.MinTTL)*time.Second, true, false
	r.exposure = m.Exposure
	return nil
}

// BatchPieces is how many verified pieces of pieceLen bytes one payment
// may pay for: an eighth of the pieces the provider's exposure (its bid
// response's) leaves unpaid, so the next payments have room to cross; 1
// (a payment a piece) for a provider that did not state one.
func (r *RequesterSession) BatchPieces(pieceLen uint64) int {
	if r.exposure == 0 {
		return 1
	}
	return max(1, UnpaidPieces(r.exposure, pieceLen)/8)
}

// Hold defers the payment for a verified piece, to be paid with the next
// one (Verified, VerifiedFunded): a batch. It returns false, holding
// nothing, when the piece costs nothing.
func (r *RequesterSession) Hold(piece uint32) bool {
	if c := r.pieces[piece]; c == nil || c.Due() == 0 {
		delete(r.pieces, piece)
		return false
	}
	r.held = append(r.held, piece)
	return true
}

// Held returns how many verified pieces wait to be paid (Hold).
func (r *RequesterSession) Held() int { return len(r.held) }

// Unhold takes the last held piece back, for the caller to pay it (with the
// rest held) through Verified or VerifiedFunded; false when none is held.
func (r *RequesterSession) Unhold() (uint32, bool) {
	if len(r.held) == 0 {
		return 0, false
	}
	piece := r.held[len(r.held)-1]
	r.held = r.held[:len(r.held)-1]
	return piece, true
}

// batch returns piece and the held pieces, and what they cost together.
func (r *RequesterSession) batch(piece uint32) ([]uint32, uint64) {
	pieces := []uint32{piece}
	due := r.pieces[piece].Due()
	for _, h := range r.held {
		if c := r.pieces[h]; c != nil && h != piece {
			pieces = append(pieces, h)
			due += c.Due()
		}
	}
	return pieces, due
}

// paidFor forgets pieces once a payment for them is signed.
func (r *RequesterSession) paidFor(pieces []uint32) {
	for _, p := range pieces {
		delete(r.pieces, p)
	}
	r.held = r.held[:0]
}

// Refused reports whether the last bid response was refused (ErrAboveBid):
// the provider is not a paid unchoke, and nothing should be requested from
// it until it prices again within the bid.
func (r *RequesterSession) Refused() bool { return r.refused }

// SetLimit caps what channels opened from now on may lock (the budget left
// for this torrent, less what open channels still hold): CanBuy says no to
// a piece that would need a new channel costing more, and a deposit never
// exceeds the limit, except to pay for a piece already received (a deposit
// of exactly that piece: an honest requester is never late). Without a call
// there is no such cap.
func (r *RequesterSession) SetLimit(limit uint64) { r.limit, r.limited = limit, true }

// SetExpected sizes channels opened from now on for the download rather
// than the piece: bytes is what the requester still expects to buy from this
// provider (0: nothing more). A new channel then holds their price at the
// rate in force plus one piece (for rounding), at least DepositPieces
// pieces, within SetLimit and the balance; Prefund opens the next one only
// when the current channel could no longer pay for two more pieces and for
// what is still expected.
func (r *RequesterSession) SetExpected(bytes uint64) { r.expected, r.expecting = bytes, true }

// Rate returns the rate in force (0 before any bid response).
func (r *RequesterSession) Rate() uint64 { return r.rate }

// Received records a block of piece received from the provider (free at
// rate 0, and after a refused bid response).
func (r *RequesterSession) Received(piece uint32, bytes uint64) {
	if r.rate == 0 || r.refused {
		return
	}
	c := r.pieces[piece]
	if c == nil {
		c = &Charge{}
		r.pieces[piece] = c
	}
	c.Add(r.rate, bytes)
}

// Due returns what the blocks of piece received so far cost.
func (r *RequesterSession) Due(piece uint32) uint64 {
	if c := r.pieces[piece]; c != nil {
		return c.Due()
	}
	return 0
}

// Spent returns the total signed over to this provider that it could redeem:
// a state rejected for a reason that leaves it redeemable (channel expiring)
// stays counted even when the piece is paid again on a new channel.
func (r *RequesterSession) Spent() uint64 { return r.spent }

// Failed records that piece failed its hash check. The caller bans the
// provider (M21) when it alone supplied the piece; nothing is paid.
func (r *RequesterSession) Failed(piece uint32) {
	delete(r.pieces, piece)
}

// Verified pays for a piece whose hash checked out: it returns the payment to
// send, or nil when the piece was free. It opens a channel on the ledger
// first when none has room (M14, M17).
func (r *RequesterSession) Verified(ctx context.Context, now time.Time, piece uint32) (*Payment, error) {
	c := r.pieces[piece]
	if c == nil || c.Due() == 0 {
		delete(r.pieces, piece)
		return nil, nil
	}
	pieces, due := r.batch(piece)
	p, err := r.pay(ctx, now, pieces, due)
	if err != nil {
		return nil, err
	}
	r.paidFor(pieces)
	return p, nil
}

// VerifiedFunded is Verified for the common case, without the ledger: it pays
// for a verified piece only when the channel in use has room for it (a
// signature, no round trip), so a caller may run it on its hot path. ok is
// false, with nothing paid or recorded, when paying needs the ledger (a new
// channel) or fails: the caller then calls Verified, which says why.
func (r *RequesterSession) VerifiedFunded(now time.Time, piece uint32) (p *Payment, ok bool) {
	c := r.pieces[piece]
	if c == nil || c.Due() == 0 {
		delete(r.pieces, piece)
		return nil, true
	}
	pieces, due := r.batch(piece)
	if r.rejections >= r.cfg.MaxRejections || !r.usable(now, due) {
		return nil, false
	}
	p, err := r.sign(pieces, due)
	if err != nil {
		return nil, false
	}
	r.paidFor(pieces)
	return p, true
}

func (r *RequesterSession) pay(ctx context.Context, now time.Time, pieces []uint32, due uint64) (*Payment, error) {
	if r.rejections >= r.cfg.MaxRejections {
		return nil, fmt.Errorf("%w: %d payments rejected", ErrProviderMisbehaving, r.rejections)
	}
	if !r.usable(now, due) {
		if err := r.open(ctx, now, due); err != nil {
			return nil, err
		}
	}
	return r.sign(pieces, due)
}

// sign pays due for pieces (the first named, the others More) through the
// channel in use, which has room.
func (r *RequesterSession) sign(pieces []uint32, due uint64) (*Payment, error) {
	ch := r.channel
	st := State{Channel: ch.info.ID, Seq: ch.seq + 1, Paid: ch.paid + due}
	sig, err := st.Sign(r.cfg.Key)
	if err != nil {
		return nil, err
	}
	ch.seq, ch.paid = st.Seq, st.Paid
	r.spent += due
	p := Payment{State: st, Piece: pieces[0], More: slices.Clone(pieces[1:]), Sig: sig}
	r.last = &lastPayment{Payment: p, amount: due}
	if len(r.recent) == recentPayments {
		r.recent = slices.Delete(r.recent, 0, 1)
	}
	r.recent = append(r.recent, r.last)
	return &p, nil
}

// usable reports whether the current channel can take a payment of due:
// room left, and more than the provider's ttl before its deadline. The
// provider closes a channel only within its close margin (less than ttl) of
// the deadline, so payments stop well before a close can race them.
func (r *RequesterSession) usable(now time.Time, due uint64) bool {
	ch := r.channel
	if ch == nil || ch.info.Deposit-ch.paid < due {
		return false
	}
	return ch.info.Deadline.Sub(now) > r.minTTL
}

// Unspent returns what is left of the current channel's deposit while the
// channel can still take payments: money the requester can spend with this
// provider on top of its ledger balance. The bidder's balance is the ledger
// balance plus Unspent over all sessions.
func (r *RequesterSession) Unspent(now time.Time) uint64 {
	if !r.usable(now, 0) {
		return 0
	}
	return r.channel.info.Deposit - r.channel.paid
}

// CanBuy reports whether a piece of pieceLen bytes bought now, at the rate in
// force, could be paid for: free, or room in the current channel, or enough
// ledger balance (within SetLimit) to open a new one. The engine requests a piece from a
// charging provider only when it can pay for it, so an honest requester is
// never late for lack of money.
func (r *RequesterSession) CanBuy(ctx context.Context, now time.Time, pieceLen uint64) (bool, error) {
	price := Price(r.rate, pieceLen)
	if price == 0 || r.usable(now, price) {
		return true, nil
	}
	if r.limited && r.limit < price {
		return false, nil
	}
	balance, err := r.cfg.Ledger.Balance(ctx, r.cfg.Key.Address())
	if err != nil {
		return false, fmt.Errorf("speed: reading balance: %w", err)
	}
	return balance >= price, nil
}

func (r *RequesterSession) open(ctx context.Context, now time.Time, due uint64) error {
	me := r.cfg.Key.Address()
	balance, err := r.cfg.Ledger.Balance(ctx, me)
	if err != nil {
		return fmt.Errorf("speed: reading balance: %w", err)
	}
	if balance < due {
		return fmt.Errorf("%w: balance %d, piece costs %d", ErrCannotPay, balance, due)
	}
	deposit := r.deposit(due, balance)
	ttl := max(r.cfg.ChannelTTL, 2*r.minTTL)
	req := OpenRequest{Ledger: r.cfg.LedgerID, Payer: me, Payee: r.provider, Deposit: deposit, Deadline: now.Add(ttl).Unix(), Nonce: r.cfg.Nonce(),
		Service: r.cfg.Service}
	signed, err := req.Sign(r.cfg.Key)
	if err != nil {
		return err
	}
	info, err := r.cfg.Ledger.OpenChannel(ctx, signed)
	if err != nil {
		return fmt.Errorf("speed: opening a channel to %s: %w", r.provider, err)
	}
	r.channel = &requesterChannel{info: info}
	return nil
}

// deposit sizes a new channel that must pay due now, with balance on the
// ledger (at least due): the expected spend (SetExpected) plus one piece and
// at least DepositPieces pieces, else DepositPieces pieces within a quarter
// of the balance; never more than MaxDeposit, the limit or the balance,
// except to cover due.
func (r *RequesterSession) deposit(due, balance uint64) uint64 {
	least := mulSat(due, r.cfg.DepositPieces)
	deposit := min(least, max(balance/4, due))
	if r.expecting {
		deposit = max(addSat(Price(r.rate, r.expected), due), least)
	}
	if r.cfg.MaxDeposit > 0 {
		deposit = min(deposit, max(r.cfg.MaxDeposit, due))
	}
	if r.limited {
		deposit = min(deposit, max(r.limit, due))
	}
	return min(deposit, balance)
}

func mulSat(a, b uint64) uint64 {
	if hi, lo := bits.Mul64(a, b); hi == 0 {
		return lo
	}
	return ^uint64(0)
}

func addSat(a, b uint64) uint64 {
	if s, carry := bits.Add64(a, b, 0); carry == 0 {
		return s
	}
	return ^uint64(0)
}

// Prefund opens the next channel before the current one runs out, so that
// paying for a piece never waits for the ledger: when the channel in use
// could not pay for two more pieces of pieceLen at the rate in force (nor,
// after SetExpected, for what is still expected, if less), or there is
// none, it opens a new one now, sized as a payment would size it. What the
// old channel still holds goes back to the requester when the provider
// closes it. It does nothing at rate 0, when nothing more is expected, or
// when the limit (SetLimit) cannot cover a piece, and returns ErrCannotPay
// (changing nothing) when the balance cannot cover a piece.
func (r *RequesterSession) Prefund(ctx context.Context, now time.Time, pieceLen uint64) error {
	price := Price(r.rate, pieceLen)
	if price == 0 || r.rejections >= r.cfg.MaxRejections || (r.limited && r.limit < price) {
		return nil
	}
	need := mulSat(price, 2)
	if r.expecting {
		need = min(need, Price(r.rate, r.expected))
	}
	if need == 0 || r.usable(now, need) {
		return nil
	}
	return r.open(ctx, now, price)
}

// recentPayments is how many payments a requester remembers for
// rejections that arrive after later payments were sent: twice the pieces
// a provider may leave unpaid.
const recentPayments = 2 * MaxUnpaidPieces

// Rejected handles a payment rejection. When the provider provably cannot
// use the rejected state (the channel is closed or unknown to the ledger, or
// the signature did not verify), the same piece is paid again on a new
// channel and that payment is returned. A rejection of an earlier payment
// than the last (several pieces unpaid at once) is left to the last: its
// state is cumulative, so it carries the earlier one's amount when the
// provider takes it (ledger unavailable, stale sequence), or its
// repayment on a new channel does (see earlier). Other reasons never come
// from an honest provider facing an honest requester; they count toward
// MaxRejections, after which paying stops with ErrProviderMisbehaving.
func (r *RequesterSession) Rejected(ctx context.Context, now time.Time, m PaymentRejected) (*Payment, error) {
	l := r.last
	if l != nil && l.State.Channel == m.Channel && l.State.Seq > m.Seq {
		return r.earlier(m)
	}
	if l == nil || l.State.Channel != m.Channel || l.State.Seq != m.Seq || l.repaid {
		r.rejections++
		return nil, nil
	}
	switch m.Reason {
	case ReasonChannelClosed, ReasonUnknownChannel, ReasonChannelExpiring, ReasonBadSignature:
		l.repaid = true
		r.channel = nil
		if m.Reason != ReasonChannelExpiring {
			// The provider cannot redeem that state: it does not count.
			r.spent -= l.amount
		} else {
			// It could still close the channel with it before the
			// deadline, so it stays counted in Spent (the worst case)
			// and counts against the provider.
			r.rejections++
		}
		amount := l.amount
		if r.carryCh == m.Channel {
			amount += r.carry
		}
		p, err := r.pay(ctx, now, append([]uint32{l.Piece}, l.More...), amount)
		if err == nil {
			r.carry, r.carryCh = 0, ChannelID{}
		}
		return p, err
	case ReasonLedgerUnavailable:
		// The provider could not look the channel up: send the same
		// payment again (the caller may wait a little first).
		p := l.Payment
		return &p, nil
	default:
		r.rejections++
		if r.rejections >= r.cfg.MaxRejections {
			return nil, fmt.Errorf("%w: payment rejected: %s", ErrProviderMisbehaving, m.Reason)
		}
		return nil, nil
	}
}

// earlier handles the rejection of a payment sent before the last one on
// the same channel. For a ledger the provider could not reach, or a
// sequence the last state already passed (an earlier payment sent again),
// nothing is done: the provider takes the last state, which carries the
// earlier amount, for the rejected piece too (ProviderSession.Receive).
// When the provider cannot redeem the earlier state (the channel closed,
// unknown, expiring, a bad signature), its amount is carried by the
// repayment of the last payment on that channel, which the provider also
// rejects for the same reason.
func (r *RequesterSession) earlier(m PaymentRejected) (*Payment, error) {
	var e *lastPayment
	for _, p := range r.recent {
		if p.State.Channel == m.Channel && p.State.Seq == m.Seq {
			e = p
		}
	}
	if e == nil || e.repaid {
		r.rejections++
		return nil, nil
	}
	e.repaid = true
	switch m.Reason {
	case ReasonLedgerUnavailable, ReasonStaleSequence:
	case ReasonChannelClosed, ReasonUnknownChannel, ReasonChannelExpiring, ReasonBadSignature:
		if r.carryCh != m.Channel {
			r.carry, r.carryCh = 0, m.Channel
		}
		r.carry += e.amount
		if m.Reason != ReasonChannelExpiring {
			r.spent -= e.amount
		}
	default:
		r.rejections++
		if r.rejections >= r.cfg.MaxRejections {
			return nil, fmt.Errorf("%w: payment rejected: %s", ErrProviderMisbehaving, m.Reason)
		}
	}
	return nil, nil
}

// Closing handles the provider's notice that it closes a channel: further
// payments go to a new one.
func (r *RequesterSession) Closing(m ChannelClosing) {
	if r.channel != nil && r.channel.info.ID == m.Channel {
		r.channel = nil
	}
}
