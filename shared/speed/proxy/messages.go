package proxy

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"math"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Wire layout. A proxy message travels as a BEP 10 extended message:
//
//	<length prefix: 4 bytes> <20: BEP 10 message id> <extended id: the id the
//	receiver assigned to "bt_proxy" in its handshake "m" dict>
//	<bencoded dict: at most MaxDictSize bytes> [<raw block: Data only, 1..MaxBlock bytes>]
//
// Key "t" of the dict holds the message type; the other keys depend on it
// (docs/speed-protocol.md section 11.3 lists them).

// ExtensionName is the BEP 10 extension name of the proxy messages.
const ExtensionName = "bt_proxy"

// ServiceHash is the info hash that proxy connections handshake with and
// that providers announce on: sha1("btspeed/service/proxy/v1").
var ServiceHash = sha1.Sum([]byte("btspeed/service/proxy/v1"))

// Caps (docs/speed-protocol.md section 11.2).
const (
	MaxDictSize   = 4096                   // the bencoded dict of every message (a URL alone may take 2048)
	MaxBlock      = 16 << 10               // raw bytes after a Data dict
	MaxPayload    = MaxDictSize + MaxBlock // a whole payload
	MaxURLLen     = 2048                   // Fetch.URL
	MaxETagLen    = 256                    // Pin.ETag
	MaxCTypeLen   = 128                    // Head.ContentType
	MaxTextLen    = 200                    // Refused.Text
	MaxLength     = 1 << 40                // Pin.Length
	MinChunk      = 16 << 10               // the smallest chunk size
	MaxChunk      = 1 << 20                // the largest chunk size
	MaxChunkIndex = MaxLength/MinChunk - 1 // the last chunk index of the longest content
	DefaultChunk  = 256 << 10              // btspeed's chunk size
	MaxFetches    = 4                      // fetches in progress per connection
	BlockAlign    = MaxBlock               // Data.Offset is a multiple of it
	maxFetchID    = math.MaxUint32         // IDs are 1..maxFetchID
	maxLastMod    = 1 << 40                // unix seconds, far beyond any date
)

// Type is a proxy message type, the "t" key.
type Type uint64

// The message types.
const (
	TypeFetch   Type = 1
	TypeHead    Type = 2
	TypeData    Type = 3
	TypePay     Type = 4
	TypeRefused Type = 5
	TypeCancel  Type = 6
)

// Message is one of Fetch, Head, Data, Pay, Refused and Cancel.
type Message interface {
	Type() Type
	toWire() (wireMsg, []byte)
}

// Decoding errors. ErrUnknownType is not a protocol violation: receivers skip
// the message. The others mean the peer sent garbage.
var (
	ErrTooLarge    = errors.New("proxy: message larger than its cap")
	ErrMalformed   = errors.New("proxy: malformed message")
	ErrUnknownType = errors.New("proxy: unknown message type")
)

// Pin names one version of a URL's content: its length and validators as
// the origin gave them, and the chunk size it is cut in. The zero Pin (Chunk
// 0) is no pin.
type Pin struct {
	Length       uint64 // bytes, at most MaxLength
	ETag         string // the ETag header as sent, quotes and W/ included; "" when absent
	LastModified uint64 // the Last-Modified header in unix seconds; 0 when absent
	Chunk        uint32 // chunk size: a power of two, MinChunk..MaxChunk
}

// IsZero reports whether p is no pin.
func (p Pin) IsZero() bool { return p == Pin{} }

// Chunks is how many chunks the content has.
func (p Pin) Chunks() uint64 {
	if p.Chunk == 0 {
		return 0
	}
	return (p.Length + uint64(p.Chunk) - 1) / uint64(p.Chunk)
}

// Fetch (requester to provider): fetch URL and send it from chunk From on.
// A resumed fetch carries the Pin it holds.
type Fetch struct {
	ID      uint32 // the requester's number for this fetch on the connection, not 0
	URL     string // absolute http or https URL, no user info or fragment
	From    uint64 // first chunk index wanted
	MaxRate uint64 // the highest rate it pays, base units per MiB
	Pin     Pin    // zero on a first fetch
}

// Head (provider to requester): the content's pin and the price of the
// fetch, with what the requester needs to open a channel.
type Head struct {
	ID          uint32
	Pin         Pin // never zero
	ContentType string
	Rate        uint64         // base units per MiB, at most the fetch's MaxRate
	Payee       wallet.Address // the provider's account, as in its handshake
	Ledger      string
	MinTTL      uint32 // seconds a channel must have left when first used
}

// Data (provider to requester): one block of chunk Index at Offset.
type Data struct {
	ID     uint32
	Index  uint64 // chunk index, at most MaxChunkIndex
	Offset uint32 // in the chunk: a multiple of BlockAlign, below MaxChunk
	Block  []byte // 1..MaxBlock bytes, within MaxChunk
}

// Pay (requester to provider): a channel state, signed by the payer, that
// pays for chunk Index of fetch ID.
type Pay struct {
	ID    uint32
	Index uint64
	State speed.State
	Sig   wallet.Signature
}

// Reason says why a provider refused a fetch.
type Reason uint64

// Refusal reasons. Receivers treat an unknown reason like ReasonOther.
const (
	ReasonOther     Reason = 0
	ReasonBadURL    Reason = 1 // not http or https, too long, user info
	ReasonForbidden Reason = 2 // the destination is not on the public Internet
	ReasonTooLarge  Reason = 3 // longer than the provider's cap
	ReasonOrigin    Reason = 4 // the origin failed or gave no length
	ReasonChanged   Reason = 5 // the pin does not match the origin: Refused.Pin is the new one
	ReasonBusy      Reason = 6 // too many fetches, or a rate cap
	ReasonRate      Reason = 7 // the provider's price is above MaxRate
	ReasonUnpaid    Reason = 8 // a chunk is unpaid, or the requester is banned
)

var reasonNames = map[Reason]string{
	ReasonOther: "other", ReasonBadURL: "bad url", ReasonForbidden: "forbidden", ReasonTooLarge: "too large",
	ReasonOrigin: "origin", ReasonChanged: "changed", ReasonBusy: "busy", ReasonRate: "rate", ReasonUnpaid: "unpaid",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason %d", uint64(r))
}

// Refused (provider to requester): fetch ID will not be served (further).
type Refused struct {
	ID   uint32
	Why  Reason
	Text string // for logs, at most MaxTextLen bytes
	Pin  Pin    // with ReasonChanged: the origin's current version; may be zero
}

// Cancel (requester to provider): stop sending fetch ID.
type Cancel struct {
	ID uint32
}

func (Fetch) Type() Type   { return TypeFetch }
func (Head) Type() Type    { return TypeHead }
func (Data) Type() Type    { return TypeData }
func (Pay) Type() Type     { return TypePay }
func (Refused) Type() Type { return TypeRefused }
func (Cancel) Type() Type  { return TypeCancel }
