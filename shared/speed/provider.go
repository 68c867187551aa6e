package speed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
)

// ProviderConfig configures a provider's side of the protocol. The zero
// values of the durations and counts select the defaults.
type ProviderConfig struct {
	Key      *wallet.PrivateKey // the provider's account key, K2
	Ledger   Ledger
	LedgerID string
	// MinTTL is how long a channel must have left before its deadline when
	// first used (default 10 minutes): time to close it safely.
	MinTTL time.Duration
	// CloseMargin: a channel is closed once its deadline is this near
	// (default 5 minutes, M19).
	CloseMargin time.Duration
	// PaymentTimeout is how long after the provider sent the whole of a piece
	// its payment may take (default 30 s, M20). A late payment chokes the
	// requester and costs a strike, and so does every further PaymentTimeout
	// it stays late.
	PaymentTimeout time.Duration
	// MaxStrikes strikes (late payments, bogus payments) get a requester
	// banned (default 3).
	MaxStrikes int
	// Exposure is the unpaid bandwidth the provider lets a requester have
	// (M22, default DefaultExposure): up to Exposure / piece length pieces
	// sent and unpaid at once (at least 1, at most MaxUnpaidPieces), so
	// payments for the first ones cross while the next are sent.
	Exposure uint64
	// Store keeps the latest state of each channel; it must be durable before
	// it returns (architecture: flushed before acknowledging). Nil keeps
	// states in memory only.
	Store StateStore
}

// StateStore persists the latest payer-signed state of each channel, so a
// provider that restarts can still close its channels.
type StateStore interface {
	SaveState(ch Channel, s State, payerSig wallet.Signature) error
}

// Default protocol timings.
const (
	DefaultMinTTL         = 10 * time.Minute
	DefaultCloseMargin    = 5 * time.Minute
	DefaultPaymentTimeout = 30 * time.Second
	DefaultMaxStrikes     = 3
	DefaultBanDuration    = time.Hour
	// DefaultExposure is the unpaid bandwidth a provider allows a
	// requester by default: 2 MiB, 64 pieces of 32 KiB, one piece of 2 MiB
	// or more. Over WebRTC a browser keeps about that much in flight (128
	// requests of 16 KiB; the data channel's send buffer holds up to 1 MiB),
	// so the payments for the first pieces cross while the rest are sent.
	DefaultExposure = 2 << 20
	// MaxUnpaidPieces caps the pieces a requester may have unpaid at once,
	// whatever the exposure.
	MaxUnpaidPieces = 64
)

// UnpaidPieces is how many pieces of pieceLen bytes a provider with the
// given exposure serves a requester before the first of them is paid:
// exposure / pieceLen, at least 1 and at most MaxUnpaidPieces.
func UnpaidPieces(exposure, pieceLen uint64) int {
	if pieceLen == 0 || exposure <= pieceLen {
		return 1
	}
	return int(min(exposure/pieceLen, MaxUnpaidPieces))
}

func (c ProviderConfig) withDefaults() ProviderConfig {
	if c.MinTTL <= 0 {
		c.MinTTL = DefaultMinTTL
	}
	if c.CloseMargin <= 0 {
		c.CloseMargin = DefaultCloseMargin
	}
	if c.MinTTL < c.CloseMargin {
		c.MinTTL = c.CloseMargin
	}
	if c.PaymentTimeout <= 0 {
		c.PaymentTimeout = DefaultPaymentTimeout
	}
	if c.MaxStrikes <= 0 {
		c.MaxStrikes = DefaultMaxStrikes
	}
	if c.Exposure == 0 {
		c.Exposure = DefaultExposure
	}
	return c
}

// ProviderSession is a provider's side of the protocol with one requester on
// one connection: the rate in force, what each piece sent costs, the
// requester's channels and their latest states, and its strikes. It is not
// safe for concurrent use; the connection's owner serializes calls.
//
// Exposure (M22): CanServe admits blocks of at most UnpaidPieces unpaid
// pieces, so the provider never has more than one piece or its exposure
// (ProviderConfig.Exposure), whichever is more, of bandwidth outstanding
// with a requester.
type ProviderSession struct {
	cfg       ProviderConfig
	me        wallet.Address
	requester wallet.Address

	rate  uint64 // in force: applied to every block sent from now on
	round uint64

	owed     map[uint32]*owedPiece
	channels map[ChannelID]*providerChannel

	strikes int
	banned  bool
	earned  uint64
	// maxUnpaid is the most pieces owed at once (MaxUnpaid).
	maxUnpaid int
	// lateStrike is when lateness last cost a strike: pieces late
	// together (several are unpaid at once) cost one strike per
	// PaymentTimeout, like a single late piece.
	lateStrike time.Time
}

type owedPiece struct {
	charge Charge
	sent   uint64 // bytes of the piece sent, duplicates included
	// due is when the payment must have arrived: PaymentTimeout after the
	// provider sent the whole piece, then every further PaymentTimeout it
	// stays unpaid costs another strike. Zero while the piece is incomplete:
	// a piece cut short by a choke is never late, but it still blocks every
	// other piece (CanServe) until it is paid.
	due  time.Time
	late bool
	// rejected: a payment naming the piece was rejected. A later state
	// that pays more than its own piece pays for such pieces (the
	// requester's states are cumulative): see Receive.
	rejected bool
}

type providerChannel struct {
	info    Channel
	latest  State
	sig     wallet.Signature // payer's signature over latest
	closing bool
}

// NewProviderSession starts a session with the requester whose handshake
// named account.
func NewProviderSession(cfg ProviderConfig, requester wallet.Address) *ProviderSession {
	cfg = cfg.withDefaults()
	return &ProviderSession{
		cfg:       cfg,
		me:        cfg.Key.Address(),
		requester: requester,
		owed:      make(map[uint32]*owedPiece),
		channels:  make(map[ChannelID]*providerChannel),
	}
}

// Grant sets the rate for everything sent from now on, after the choker
// unchoked the requester in round (rate 0 for a free slot), and returns the
// bid response to send before the unchoke (M11).
func (p *ProviderSession) Grant(round, rate uint64) BidResponse {
	p.round, p.rate = round, min(rate, MaxRate)
	return BidResponse{Round: round, Rate: p.rate, Payee: p.me, Ledger: p.cfg.LedgerID, MinTTL: uint32(p.cfg.MinTTL / time.Second), Exposure: p.cfg.Exposure}
}

// Rate returns the rate in force.
func (p *ProviderSession) Rate() uint64 { return p.rate }

// CanServe reports whether a block of piece, of a torrent whose pieces are
// pieceLen bytes, may be sent now: not after a ban, and only while piece
// is already owed or fewer than UnpaidPieces other pieces are. admitted
// lists the pieces the caller has admitted but not yet recorded as Sent
// (the rest of a batch of requests), which count as owed: a caller that
// filters a batch passes what it admitted so far.
func (p *ProviderSession) CanServe(piece uint32, pieceLen uint64, admitted []uint32) bool {
	if p.banned {
		return false
	}
	if n := len(p.owed); len(admitted) == 0 && (n == 0 || n == 1 && p.owed[piece] != nil) {
		return true // the usual case, without ranging over the map per block
	}
	if o := p.owed[piece]; o != nil && o.charge.Due() > 0 {
		return true
	}
	limit := UnpaidPieces(p.cfg.Exposure, pieceLen)
	others := 0
	for idx, o := range p.owed {
		if idx != piece && o.charge.Due() > 0 {
			others++
		}
	}
	if p.rate > 0 { // at rate 0 what is admitted now will owe nothing
		for i, a := range admitted {
			if a == piece {
				return true
			}
			if o := p.owed[a]; (o == nil || o.charge.Due() == 0) && !slices.Contains(admitted[:i], a) {
				others++
			}
		}
	}
	return others < limit
}

// Sent records a block of bytes of piece sent at the rate in force;
// pieceLen is the piece's length, so the session knows when it has sent all of
// it and the payment falls due.
func (p *ProviderSession) Sent(now time.Time, piece uint32, bytes, pieceLen uint64) {
	if p.rate == 0 {
		return
	}
	o := p.owed[piece]
	if o == nil {
		o = &owedPiece{}
		p.owed[piece] = o
		p.maxUnpaid = max(p.maxUnpaid, len(p.owed))
	}
	o.charge.Add(p.rate, bytes)
	o.sent += bytes
	if o.sent >= pieceLen {
		o.due = now.Add(p.cfg.PaymentTimeout)
	}
}

// MaxUnpaid returns the most pieces sent at a non-zero rate that were
// unpaid at once (counted as each piece started).
func (p *ProviderSession) MaxUnpaid() int { return p.maxUnpaid }

// Owed returns what the requester owes for pieces sent and not yet paid.
func (p *ProviderSession) Owed() uint64 {
	var sum uint64
	for _, o := range p.owed {
		sum += o.charge.Due()
	}
	return sum
}

// Earned returns the total of accepted payments.
func (p *ProviderSession) Earned() uint64 { return p.earned }

// Receive checks a payment. It returns nil when the payment is accepted, or
// the rejection to send back. A non-nil error means the ledger could not be
// asked; the rejection then says ReasonLedgerUnavailable.
func (p *ProviderSession) Receive(ctx context.Context, now time.Time, m Payment) (*PaymentRejected, error) {
	reject := func(r Reason, format string, args ...any) *PaymentRejected {
		switch r {
		case ReasonBadSignature, ReasonUnknownChannel, ReasonChannelMismatch:
			p.strike() // bogus payments cost a ledger lookup or a signature check
		case ReasonLedgerUnavailable:
			p.extend(m.Piece, now)
		}
		for _, piece := range append([]uint32{m.Piece}, m.More...) {
			if o := p.owed[piece]; o != nil {
				o.rejected = true
			}
		}
		return &PaymentRejected{Channel: m.State.Channel, Seq: m.State.Seq, Reason: r, Text: truncate(fmt.Sprintf(format, args...), MaxReasonText)}
	}
	if p.banned {
		return reject(ReasonOther, "banned"), nil
	}
	// The signature is checked against the requester's account before any
	// ledger lookup, so garbage costs the sender a signature.
	if err := m.State.Verify(p.requester, m.Sig); err != nil {
		return reject(ReasonBadSignature, "%v", err), nil
	}
	ch := p.channels[m.State.Channel]
	if ch == nil {
		info, err := p.cfg.Ledger.Channel(ctx, m.State.Channel)
		switch {
		case errors.Is(err, ErrChannelNotFound):
			return reject(ReasonUnknownChannel, "channel %s not on the ledger", m.State.Channel), nil
		case err != nil:
			return reject(ReasonLedgerUnavailable, "ledger unavailable"), fmt.Errorf("speed: looking up channel %s: %w", m.State.Channel, err)
		case info.Payer != p.requester || info.Payee != p.me:
			return reject(ReasonChannelMismatch, "channel pays %s from %s", info.Payee, info.Payer), nil
		case info.Closed:
			return reject(ReasonChannelClosed, "channel closed"), nil
		case info.Deadline.Sub(now) < p.cfg.MinTTL:
			return reject(ReasonChannelExpiring, "channel has %s left, need %s", info.Deadline.Sub(now).Truncate(time.Second), p.cfg.MinTTL), nil
		}
		ch = &providerChannel{info: info, latest: State{Channel: info.ID}}
		p.channels[info.ID] = ch
	}
	if ch.closing || ch.info.Closed {
		// This session closed it, racing the payment: a fresh timeout
		// to pay again on a new channel.
		p.extend(m.Piece, now)
		return reject(ReasonChannelClosed, "channel closing"), nil
	}
	if m.State.Paid > ch.info.Deposit {
		return reject(ReasonOverDeposit, "paid %d above deposit %d", m.State.Paid, ch.info.Deposit), nil
	}
	if m.State.Seq <= ch.latest.Seq || m.State.Paid < ch.latest.Paid {
		return reject(ReasonStaleSequence, "seq %d paid %d after seq %d paid %d", m.State.Seq, m.State.Paid, ch.latest.Seq, ch.latest.Paid), nil
	}
	var due uint64
	for _, piece := range append([]uint32{m.Piece}, m.More...) {
		o := p.owed[piece]
		if o == nil || o.charge.Due() == 0 {
			return reject(ReasonNotOwed, "nothing owed for piece %d", piece), nil
		}
		due += o.charge.Due()
	}
	inc := m.State.Paid - ch.latest.Paid
	if inc < due {
		return reject(ReasonUnderpaid, "pieces %d and %d more cost %d, paid %d", m.Piece, len(m.More), due, inc), nil
	}
	if p.cfg.Store != nil {
		if err := p.cfg.Store.SaveState(ch.info, m.State, m.Sig); err != nil {
			return reject(ReasonOther, "provider storage failed"), fmt.Errorf("speed: saving channel state: %w", err)
		}
	}
	ch.latest, ch.sig = m.State, m.Sig
	delete(p.owed, m.Piece)
	for _, piece := range m.More {
		delete(p.owed, piece)
	}
	p.earned += inc
	p.settleRejected(inc - due)
	return nil, nil
}

// settleRejected applies what an accepted state paid beyond its own piece
// to the fully sent pieces whose payments were rejected, lowest index
// first: the requester's states are cumulative, so one that follows a
// rejected state (left behind when the ledger could not be reached, or
// paid again on a new channel) carries its amount.
func (p *ProviderSession) settleRejected(surplus uint64) {
	if surplus == 0 {
		return
	}
	var idx []uint32
	for i, o := range p.owed {
		if o.rejected && !o.due.IsZero() {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		d := p.owed[i].charge.Due()
		if d > surplus {
			return
		}
		surplus -= d
		delete(p.owed, i)
	}
}

func (p *ProviderSession) strike() {
	p.strikes++
	if p.strikes >= p.cfg.MaxStrikes {
		p.banned = true
	}
}

// TickResult says what a provider must do about a requester now.
type TickResult struct {
	Choke bool // a payment is late: choke the requester (M20)
	Ban   bool // strikes reached the limit: disconnect and refuse reconnects
	// Close lists channels whose deadline is within the close margin.
	Close []ChannelID
}

// Tick checks payment deadlines and channel deadlines at now.
func (p *ProviderSession) Tick(now time.Time) TickResult {
	var r TickResult
	for _, o := range p.owed {
		for o.charge.Due() > 0 && !o.due.IsZero() && !now.Before(o.due) && !p.banned {
			o.late = true
			o.due = o.due.Add(p.cfg.PaymentTimeout)
			if p.lateStrike.IsZero() || !now.Before(p.lateStrike.Add(p.cfg.PaymentTimeout)) {
				p.lateStrike = now
				p.strike()
			}
		}
		if o.late {
			r.Choke = true
		}
	}
	r.Ban = p.banned
	for id, ch := range p.channels {
		if !ch.closing && !ch.info.Closed && ch.info.Deadline.Sub(now) <= p.cfg.CloseMargin {
			r.Close = append(r.Close, id)
		}
	}
	return r
}

// Late reports whether a payment is overdue; the choker leaves such
// requesters choked.
func (p *ProviderSession) Late() bool {
	for _, o := range p.owed {
		if o.late {
			return true
		}
	}
	return false
}

// Banned reports whether the requester reached the strike limit.
func (p *ProviderSession) Banned() bool { return p.banned }

// Close countersigns the latest state of a channel and submits it to the
// ledger (M18), returning the message that tells the requester. A channel
// that never received a payment is left to time out back to its payer.
func (p *ProviderSession) Close(ctx context.Context, id ChannelID) (*ChannelClosing, error) {
	ch := p.channels[id]
	if ch == nil {
		return nil, fmt.Errorf("speed: closing %s: %w", id, ErrChannelNotFound)
	}
	ch.closing = true
	if ch.latest.Seq == 0 {
		return &ChannelClosing{Channel: id}, nil
	}
	sig, err := ch.latest.Sign(p.cfg.Key)
	if err != nil {
		return nil, err
	}
	info, err := p.cfg.Ledger.CloseChannel(ctx, CloseRequest{State: ch.latest, PayerSig: ch.sig, PayeeSig: sig})
	if err != nil {
		ch.closing = false // try again at the next tick
		return nil, fmt.Errorf("speed: closing %s: %w", id, err)
	}
	ch.info = info
	return &ChannelClosing{Channel: id, Seq: ch.latest.Seq}, nil
}

// CloseAll closes every channel that holds a payment, when the requester
// disconnects or the provider stops. It returns the first error and goes on.
func (p *ProviderSession) CloseAll(ctx context.Context) error {
	var first error
	for id, ch := range p.channels {
		if ch.closing || ch.info.Closed {
			continue
		}
		if _, err := p.Close(ctx, id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// extend gives the payment for piece a fresh PaymentTimeout when the
// provider's side (its own close, its ledger) made a payment fail.
func (p *ProviderSession) extend(piece uint32, now time.Time) {
	if o := p.owed[piece]; o != nil && !o.due.IsZero() {
		if d := now.Add(p.cfg.PaymentTimeout); d.After(o.due) {
			o.due = d
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
