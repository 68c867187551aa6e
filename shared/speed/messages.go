package speed

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/anacrolix/torrent/bencode"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Wire layout. A Speed message travels as a BEP 10 extended message:
//
//	<length prefix: 4 bytes> <20: BEP 10 message id> <extended id: the id the
//	receiver assigned to "bt_speed" in its handshake "m" dict> <payload>
//
// The payload is one bencoded dictionary of at most MaxMessageSize bytes. Key
// "t" holds the message type; the other keys depend on it (docs/speed-protocol.md
// lists them). Unknown keys are ignored, so later versions can add optional
// fields; unknown types are reported with ErrUnknownType, which receivers skip.

// MaxMessageSize caps a Speed message payload. The largest message, a payment,
// is under 200 bytes.
const MaxMessageSize = 1024

// Field caps.
const (
	MaxLedgerIDLen = 64
	MaxReasonText  = 200
	MaxTTL         = 30 * 24 * 3600 // seconds a bid response may ask a channel to have left
)

// Type is a Speed message type, the "t" key.
type Type uint64

// The message types of protocol version 1.
const (
	TypeBid             Type = 1
	TypeBidResponse     Type = 2
	TypePayment         Type = 3
	TypePaymentRejected Type = 4
	TypeChannelClosing  Type = 5
)

// Message is one of Bid, BidResponse, Payment, PaymentRejected and
// ChannelClosing.
type Message interface {
	Type() Type
	toWire() wireMsg
}

// Decoding errors. ErrUnknownType is not a protocol violation: receivers skip
// the message. The others mean the peer sent garbage.
var (
	ErrTooLarge    = errors.New("speed: message larger than MaxMessageSize")
	ErrMalformed   = errors.New("speed: malformed message")
	ErrUnknownType = errors.New("speed: unknown message type")
)

// Bid (requester to provider): the requester offers Rate base units per MiB
// for an unchoke (M3-M6). Rate 0 withdraws the bid.
type Bid struct {
	Rate uint64
}

// BidResponse (provider to requester, before unchoking a bidder, M11): the
// price the requester pays from now on and what it needs to open a channel.
type BidResponse struct {
	Round  uint64         // the provider's choking round, increasing
	Rate   uint64         // base units per MiB: the round's clearing price, or 0 for a free slot
	Payee  wallet.Address // the provider's ledger account, K2
	Ledger string         // the ledger the provider accepts channels on
	MinTTL uint32         // seconds a channel must have left before its deadline when first used
	// Exposure is the provider's exposure in bytes (section 8.3: it serves
	// UnpaidPieces(Exposure, piece length) pieces unpaid); 0, absent,
	// means one piece. A requester may batch payments only below it.
	Exposure uint64
}

// Payment (requester to provider, after verifying a piece, M15): a channel
// state signed by the payer that moves the piece's price to the payee.
type Payment struct {
	State State
	Piece uint32 // the piece this payment is for
	// More lists other pieces the payment also pays for (a batch, at most
	// MaxUnpaidPieces-1, distinct, without Piece); paid rises by what they
	// all cost.
	More []uint32
	Sig  wallet.Signature
}

// Reason says why a payment was rejected.
type Reason uint64

// Rejection reasons. Receivers treat an unknown reason like ReasonOther.
const (
	ReasonOther             Reason = 0
	ReasonBadSignature      Reason = 1 // the state is not signed by the channel's payer
	ReasonUnknownChannel    Reason = 2 // the ledger has no such channel
	ReasonChannelMismatch   Reason = 3 // payer or payee is not this connection's pair
	ReasonChannelClosed     Reason = 4 // the channel is closed
	ReasonChannelExpiring   Reason = 5 // less than MinTTL left when first used
	ReasonStaleSequence     Reason = 6 // seq not above the last accepted state
	ReasonUnderpaid         Reason = 7 // the increase is less than the piece costs
	ReasonOverDeposit       Reason = 8 // paid exceeds the deposit
	ReasonNotOwed           Reason = 9 // nothing is owed for that piece
	ReasonLedgerUnavailable Reason = 10
)

var reasonNames = map[Reason]string{
	ReasonOther: "other", ReasonBadSignature: "bad signature", ReasonUnknownChannel: "unknown channel",
	ReasonChannelMismatch: "channel mismatch", ReasonChannelClosed: "channel closed",
	ReasonChannelExpiring: "channel expiring", ReasonStaleSequence: "stale sequence",
	ReasonUnderpaid: "underpaid", ReasonOverDeposit: "over deposit", ReasonNotOwed: "not owed",
	ReasonLedgerUnavailable: "ledger unavailable",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason %d", uint64(r))
}

// PaymentRejected (provider to requester): the payment with this channel and
// sequence was not accepted.
type PaymentRejected struct {
	Channel ChannelID
	Seq     uint64
	Reason  Reason
	Text    string // for logs, at most MaxReasonText bytes
}

// ChannelClosing (provider to requester): the provider is closing the channel
// with the state of sequence Seq (M18, M19); further payments must use a new
// channel.
type ChannelClosing struct {
	Channel ChannelID
	Seq     uint64
}

func (Bid) Type() Type             { return TypeBid }
func (BidResponse) Type() Type     { return TypeBidResponse }
func (Payment) Type() Type         { return TypePayment }
func (PaymentRejected) Type() Type { return TypePaymentRejected }
func (ChannelClosing) Type() Type  { return TypeChannelClosing }

// wireMsg is the bencoded dictionary of every message type; each type uses
// its own subset of keys.
type wireMsg struct {
	T      uint64   `bencode:"t"`
	Rate   uint64   `bencode:"rate,omitempty"`
	Round  uint64   `bencode:"round,omitempty"`
	Payee  []byte   `bencode:"payee,omitempty"`
	Ledger string   `bencode:"ledger,omitempty"`
	TTL    uint64   `bencode:"ttl,omitempty"`
	Ch     []byte   `bencode:"ch,omitempty"`
	Seq    uint64   `bencode:"seq,omitempty"`
	Paid   uint64   `bencode:"paid,omitempty"`
	Piece  uint64   `bencode:"piece,omitempty"`
	More   []uint64 `bencode:"more,omitempty"`
	Sig    []byte   `bencode:"sig,omitempty"`
	Unpaid uint64   `bencode:"unpaid,omitempty"`
	Reason uint64   `bencode:"reason,omitempty"`
	Text   string   `bencode:"text,omitempty"`
}

func (m Bid) toWire() wireMsg { return wireMsg{T: uint64(TypeBid), Rate: m.Rate} }

func (m BidResponse) toWire() wireMsg {
	return wireMsg{T: uint64(TypeBidResponse), Round: m.Round, Rate: m.Rate, Payee: m.Payee[:], Ledger: m.Ledger, TTL: uint64(m.MinTTL), Unpaid: m.Exposure}
}

func (m Payment) toWire() wireMsg {
	w := wireMsg{T: uint64(TypePayment), Ch: m.State.Channel[:], Seq: m.State.Seq, Paid: m.State.Paid, Piece: uint64(m.Piece), Sig: m.Sig[:]}
	for _, p := range m.More {
		w.More = append(w.More, uint64(p))
	}
	return w
}

func (m PaymentRejected) toWire() wireMsg {
	return wireMsg{T: uint64(TypePaymentRejected), Ch: m.Channel[:], Seq: m.Seq, Reason: uint64(m.Reason), Text: m.Text}
}

func (m ChannelClosing) toWire() wireMsg {
	return wireMsg{T: uint64(TypeChannelClosing), Ch: m.Channel[:], Seq: m.Seq}
}

// Encode returns the bencoded payload of m. It refuses messages a receiver
// would reject, so a bug shows up at the sender.
func Encode(m Message) ([]byte, error) {
	w := m.toWire()
	if _, err := fromWire(w); err != nil {
		return nil, fmt.Errorf("speed: encoding %T: %w", m, err)
	}
	b, err := bencode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("speed: encoding %T: %w", m, err)
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("speed: encoding %T: %w", m, ErrTooLarge)
	}
	return b, nil
}

// Decode parses a payload. The size is checked before anything is parsed.
func Decode(payload []byte) (Message, error) {
	if len(payload) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	var w wireMsg
	if err := bencode.Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return fromWire(w)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func fromWire(w wireMsg) (Message, error) {
	if w.Rate > MaxRate {
		return nil, malformed("rate %d above %d", w.Rate, uint64(MaxRate))
	}
	switch Type(w.T) {
	case TypeBid:
		return Bid{Rate: w.Rate}, nil
	case TypeBidResponse:
		m := BidResponse{Round: w.Round, Rate: w.Rate, Ledger: w.Ledger}
		a, err := address(w.Payee)
		if err != nil {
			return nil, err
		}
		m.Payee = a
		if err := ValidateLedgerID(w.Ledger); err != nil {
			return nil, err
		}
		if w.TTL > MaxTTL {
			return nil, malformed("ttl %d above %d", w.TTL, MaxTTL)
		}
		m.MinTTL = uint32(w.TTL)
		if w.Unpaid > MaxRate {
			return nil, malformed("unpaid %d above %d", w.Unpaid, uint64(MaxRate))
		}
		m.Exposure = w.Unpaid
		return m, nil
	case TypePayment:
		id, err := channelID(w.Ch)
		if err != nil {
			return nil, err
		}
		if w.Seq == 0 {
			return nil, malformed("payment with seq 0")
		}
		if w.Piece > math.MaxUint32 {
			return nil, malformed("piece %d", w.Piece)
		}
		sig, err := wallet.SignatureFromBytes(w.Sig)
		if err != nil {
			return nil, malformed("sig: %v", err)
		}
		more, err := morePieces(w.Piece, w.More)
		if err != nil {
			return nil, err
		}
		return Payment{State: State{Channel: id, Seq: w.Seq, Paid: w.Paid}, Piece: uint32(w.Piece), More: more, Sig: sig}, nil
	case TypePaymentRejected:
		id, err := channelID(w.Ch)
		if err != nil {
			return nil, err
		}
		if len(w.Text) > MaxReasonText {
			return nil, malformed("text of %d bytes", len(w.Text))
		}
		return PaymentRejected{Channel: id, Seq: w.Seq, Reason: Reason(w.Reason), Text: w.Text}, nil
	case TypeChannelClosing:
		id, err := channelID(w.Ch)
		if err != nil {
			return nil, err
		}
		return ChannelClosing{Channel: id, Seq: w.Seq}, nil
	case 0:
		return nil, malformed("no message type")
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, w.T)
	}
}

func address(b []byte) (wallet.Address, error) {
	var a wallet.Address
	if len(b) != wallet.AddressLen {
		return a, malformed("address of %d bytes", len(b))
	}
	if b[0] != wallet.AddressPrefix {
		return a, malformed("address prefix 0x%02x", b[0])
	}
	copy(a[:], b)
	return a, nil
}

func channelID(b []byte) (ChannelID, error) {
	var id ChannelID
	if len(b) != len(id) {
		return id, malformed("channel id of %d bytes", len(b))
	}
	copy(id[:], b)
	return id, nil
}

// ValidateLedgerID checks a ledger id: 1..MaxLedgerIDLen printable ASCII
// bytes (0x21-0x7e). Errors wrap ErrMalformed.
func ValidateLedgerID(s string) error {
	if len(s) == 0 || len(s) > MaxLedgerIDLen {
		return malformed("ledger id of %d bytes", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return malformed("ledger id byte 0x%02x", s[i])
		}
	}
	return nil
}

// morePieces checks a payment's other pieces: at most MaxUnpaidPieces-1,
// each a piece index, distinct and other than piece.
func morePieces(piece uint64, w []uint64) ([]uint32, error) {
	if len(w) == 0 {
		return nil, nil
	}
	if len(w) > MaxUnpaidPieces-1 {
		return nil, malformed("payment for %d more pieces, at most %d", len(w), MaxUnpaidPieces-1)
	}
	more := make([]uint32, 0, len(w))
	for _, p := range w {
		if p > math.MaxUint32 || p == piece || slices.Contains(more, uint32(p)) {
			return nil, malformed("payment's more pieces %v (piece %d)", w, piece)
		}
		more = append(more, uint32(p))
	}
	return more, nil
}
