package speed

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
)

// Signing domains of the structures this package defines (see wallet.Domain).
const (
	// DomainChannelOpen: a payer's request to open a channel on the ledger.
	DomainChannelOpen wallet.Domain = "btspeed/ledger/channel-open/v1"
	// DomainChannelOpenV2: an open request naming the service it pays for
	// (OpenRequest.Service); its bytes are v1's plus the service.
	DomainChannelOpenV2 wallet.Domain = "btspeed/ledger/channel-open/v2"
	// DomainChannelState: a channel state; the payer signs it to pay, the
	// payee countersigns it to close.
	DomainChannelState wallet.Domain = "btspeed/channel-state/v1"
)

// ChannelID names a payment channel: sha256 of "btspeed/channel-id/v1" and
// the canonical bytes of the open request, so an id is known before the
// ledger answers and a retried open names the same channel.
type ChannelID [32]byte

// String returns the id in hex.
func (id ChannelID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value.
func (id ChannelID) IsZero() bool { return id == ChannelID{} }

// MarshalText encodes the id as 64 hex digits.
func (id ChannelID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 64 hex digits.
func (id *ChannelID) UnmarshalText(b []byte) error {
	if len(b) != 2*len(id) {
		return fmt.Errorf("speed: channel id of %d hex digits, want %d", len(b), 2*len(id))
	}
	if _, err := hex.Decode(id[:], b); err != nil {
		return fmt.Errorf("speed: channel id: %w", err)
	}
	return nil
}

// OpenRequest asks the ledger named Ledger to move Deposit from Payer's
// balance into a new channel that pays Payee, closing by itself at Deadline
// (everything back to the payer) unless the payee closes it first (M14, M19).
// Nonce makes every request unique for its payer; Ledger makes it worthless
// on any other ledger. Service names what the channel pays for (see
// CheckService); the ledger copies it into the channel's history entries.
type OpenRequest struct {
	Ledger   string // the ledger id, 1..MaxLedgerIDLen printable ASCII bytes
	Payer    wallet.Address
	Payee    wallet.Address
	Deposit  uint64 // base units
	Deadline int64  // unix seconds
	Nonce    uint64
	Service  string // ServiceSpeed, ServiceProxy, ServiceStorage...; "" (old clients) means Speed
}

// Services channels pay for (OpenRequest.Service).
const (
	ServiceSpeed   = "speed"   // BitTorrent Speed: pieces (engine, webpeer)
	ServiceProxy   = "proxy"   // the paid proxy (proxy/requester, btspeed fetch)
	ServiceStorage = "storage" // paid storage (store, btspeed store)
)

// MaxServiceLen bounds OpenRequest.Service, in bytes.
const MaxServiceLen = 16

// CheckService says what is wrong with a service tag, or nil: at most
// MaxServiceLen bytes of [a-z0-9-] ("" is valid: an old client's Speed).
func CheckService(s string) error {
	if len(s) > MaxServiceLen {
		return fmt.Errorf("service tag of %d bytes, at most %d", len(s), MaxServiceLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("service tag %q has a byte other than a-z, 0-9 and -", s)
		}
	}
	return nil
}

// Bytes is the canonical encoding that is signed and hashed:
//
//	len(ledger) (1) | ledger | payer (21) | payee (21) | deposit (8, big endian)
//	| deadline (8) | nonce (8)
//
// followed, for a request with a service (signed under DomainChannelOpenV2),
// by
//
//	len(service) (1) | service
func (o OpenRequest) Bytes() []byte {
	b := make([]byte, 0, 1+len(o.Ledger)+2*wallet.AddressLen+3*8+1+len(o.Service))
	b = append(b, byte(len(o.Ledger)))
	b = append(b, o.Ledger...)
	b = append(b, o.Payer[:]...)
	b = append(b, o.Payee[:]...)
	b = binary.BigEndian.AppendUint64(b, o.Deposit)
	b = binary.BigEndian.AppendUint64(b, uint64(o.Deadline))
	b = binary.BigEndian.AppendUint64(b, o.Nonce)
	if o.Service != "" {
		b = append(b, byte(len(o.Service)))
		b = append(b, o.Service...)
	}
	return b
}

// Domain is the request's signing domain: DomainChannelOpen without a
// service, DomainChannelOpenV2 with one.
func (o OpenRequest) Domain() wallet.Domain {
	if o.Service != "" {
		return DomainChannelOpenV2
	}
	return DomainChannelOpen
}

// ID returns the id of the channel this request opens.
func (o OpenRequest) ID() ChannelID {
	return sha256.Sum256(append([]byte("btspeed/channel-id/v1"), o.Bytes()...))
}

// Validate checks what a ledger checks before anything else: a valid ledger
// id, distinct payer and payee, a non-zero deposit, a valid service tag.
func (o OpenRequest) Validate() error {
	if err := ValidateLedgerID(o.Ledger); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := CheckService(o.Service); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if o.Payer == o.Payee {
		return fmt.Errorf("%w: payer and payee are the same account", ErrBadRequest)
	}
	if o.Deposit == 0 {
		return fmt.Errorf("%w: zero deposit", ErrBadRequest)
	}
	return nil
}

// Sign signs the request with the payer's key.
func (o OpenRequest) Sign(k *wallet.PrivateKey) (SignedOpen, error) {
	if err := o.Validate(); err != nil {
		return SignedOpen{}, err
	}
	if k.Address() != o.Payer {
		return SignedOpen{}, fmt.Errorf("speed: open request for payer %s signed by %s", o.Payer, k.Address())
	}
	sig, err := k.Sign(o.Domain(), o.Bytes())
	if err != nil {
		return SignedOpen{}, err
	}
	return SignedOpen{Request: o, Sig: sig}, nil
}

// SignedOpen is an open request with the payer's signature.
type SignedOpen struct {
	Request OpenRequest
	Sig     wallet.Signature
}

// Verify checks the request's fields and the payer's signature.
func (s SignedOpen) Verify() error {
	if err := s.Request.Validate(); err != nil {
		return err
	}
	return s.Request.Domain().Verify(s.Request.Payer, s.Request.Bytes(), s.Sig)
}

// Channel is a payment channel as the ledger reports it.
type Channel struct {
	ID       ChannelID
	Payer    wallet.Address
	Payee    wallet.Address
	Deposit  uint64
	Deadline time.Time
	// Closed is set once the channel paid out, by the payee's close or at the
	// deadline; a closed channel never reopens.
	Closed bool
	// Seq and Paid are the state the channel closed with (zero when it
	// timed out or is open).
	Seq  uint64
	Paid uint64
}

// State is a channel state: after it, Paid base units of the deposit belong to
// the payee and the rest to the payer (M15). Seq increases strictly with every
// state the payer signs.
type State struct {
	Channel ChannelID
	Seq     uint64
	Paid    uint64
}

// stateLen is the length of State.Bytes.
const stateLen = 32 + 8 + 8

// Bytes is the canonical encoding that is signed:
//
//	channel id (32) | seq (8, big endian) | paid (8, big endian)
func (s State) Bytes() []byte {
	b := make([]byte, 0, stateLen)
	b = append(b, s.Channel[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	return binary.BigEndian.AppendUint64(b, s.Paid)
}

// Sign signs the state (the payer to pay, the payee to close).
func (s State) Sign(k *wallet.PrivateKey) (wallet.Signature, error) {
	return k.Sign(DomainChannelState, s.Bytes())
}

// Verify checks that signer signed the state.
func (s State) Verify(signer wallet.Address, sig wallet.Signature) error {
	return DomainChannelState.Verify(signer, s.Bytes(), sig)
}

// CloseRequest is what a payee submits to close a channel: a state signed by
// both parties (M18).
type CloseRequest struct {
	State    State
	PayerSig wallet.Signature
	PayeeSig wallet.Signature
}

// Ledger is the private ledger as the Speed protocol needs it. The ledger
// package serves it over HTTP and provides a client; memledger implements it
// in memory for tests. Implementations enforce:
//
//   - OpenChannel: the payer's signature, a nonce not used before by that
//     payer (retrying the identical request returns the same channel), a
//     deposit of at least 1 that the payer's balance covers (it leaves the
//     balance at once), and a deadline in the future.
//   - CloseChannel: both signatures over the state, Paid <= Deposit, the
//     channel open; it pays Paid to the payee and the rest to the payer.
//     Retrying the close that closed a channel returns the closed channel.
//   - At its deadline an open channel closes by itself, all to the payer.
type Ledger interface {
	Balance(ctx context.Context, account wallet.Address) (uint64, error)
	OpenChannel(ctx context.Context, req SignedOpen) (Channel, error)
	Channel(ctx context.Context, id ChannelID) (Channel, error)
	CloseChannel(ctx context.Context, req CloseRequest) (Channel, error)
}

// Errors a Ledger returns, wrapped with detail.
var (
	ErrChannelNotFound   = errors.New("speed: no such channel")
	ErrChannelClosed     = errors.New("speed: channel is closed")
	ErrInsufficientFunds = errors.New("speed: balance too low")
	ErrNonceUsed         = errors.New("speed: nonce already used by this payer")
	ErrBadRequest        = errors.New("speed: invalid ledger request")
)
