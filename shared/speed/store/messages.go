package store

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Wire layout. A storage message travels as a BEP 10 extended message:
//
//	<length prefix: 4 bytes> <20> <the receiver's extended id for "bt_store">
//	<bencoded dict: at most MaxDictSize bytes> [<raw bytes: Put, Proof and Data only>]
//
// Key "t" of the dict holds the message type (docs/speed-protocol.md section
// 12.3 lists the keys of each).

// ExtensionName is the BEP 10 extension name of the storage messages.
const ExtensionName = "bt_store"

// ServiceHash is the info hash storage connections handshake with:
// sha1("btspeed/service/storage/v1").
var ServiceHash = sha1.Sum([]byte("btspeed/service/storage/v1"))

// Sizes and caps (docs/speed-protocol.md sections 12.1-12.3).
const (
	SegmentSize    = 4 << 10                            // a leaf of the tree
	ChunkSize      = 256 << 10                          // a ciphertext chunk: 64 segments
	PlainChunkSize = ChunkSize - TagSize                // plaintext per chunk
	TagSize        = 16                                 // the AEAD tag per chunk
	SegsPerChunk   = ChunkSize / SegmentSize            // 64
	MaxBlock       = 16 << 10                           // raw bytes after a Put or Data dict
	MaxDepth       = 40                                 // hashes in a Merkle path
	MaxK           = 16                                 // segments one challenge asks
	DefaultK       = 8                                  // btspeed's challenge size
	MaxProofBody   = MaxK * (SegmentSize + MaxDepth*32) // raw bytes after a Proof dict
	MaxDictSize    = 4096                               // the bencoded dict of every message
	MaxPayload     = MaxDictSize + MaxProofBody         // a whole payload
	MaxLength      = 1 << 40                            // an object's ciphertext length
	MinPeriod      = 3600                               // seconds
	MaxPeriod      = 2_592_000                          // seconds (30 days)
	MaxPeriods     = 1000                               // periods of one contract
	MaxTextLen     = 200                                // Refused.Text
	maxSegIndex    = MaxLength/SegmentSize - 1          // the last segment of the longest object
	maxChunkIndex  = MaxLength/ChunkSize - 1            // the last chunk of the longest object
	maxUnix        = 1 << 40                            // seconds, far beyond any date
	blockAlign     = MaxBlock                           // Data.Offset is a multiple of it
	segsPerBlock   = MaxBlock / SegmentSize             // a Put carries 4 segments
)

// Type is a storage message type, the "t" key.
type Type uint64

// The message types. Paid (12) is btspeed's acknowledgement of a payment.
const (
	TypePropose   Type = 1
	TypeAccept    Type = 2
	TypePut       Type = 3
	TypeStored    Type = 4
	TypeChallenge Type = 5
	TypeProof     Type = 6
	TypeGet       Type = 7
	TypeData      Type = 8
	TypePay       Type = 9
	TypeRefused   Type = 10
	TypeEnd       Type = 11
	TypePaid      Type = 12
)

// Message is one of the types above.
type Message interface {
	Type() Type
	toWire() (wireMsg, []byte)
}

// Decoding errors. ErrUnknownType is not a protocol violation: receivers skip
// the message. The others mean the peer sent garbage.
var (
	ErrTooLarge    = errors.New("store: message larger than its cap")
	ErrMalformed   = errors.New("store: malformed message")
	ErrUnknownType = errors.New("store: unknown message type")
)

// ObjectID names a stored object: sha256("btspeed/storage-id/v1" || nonce ||
// account).
type ObjectID [32]byte

// Hash is a node of the Merkle tree.
type Hash [32]byte

// Terms are what a contract binds, as the requester proposes them.
type Terms struct {
	Root    Hash
	Length  uint64 // ciphertext bytes, 1..MaxLength
	Period  uint32 // seconds, MinPeriod..MaxPeriod
	Periods uint32 // 1..MaxPeriods
	Price   uint64 // base units per period for this object
	Rate    uint64 // retrieval, base units per MiB
}

// Propose (requester to provider): store this object on these terms.
type Propose struct {
	Obj   ObjectID
	Nonce [16]byte
	Terms Terms
}

// Accept (provider to requester): the provider signs the contract and says
// where to pay it.
type Accept struct {
	Obj    ObjectID
	Payee  wallet.Address
	Ledger string
	MinTTL uint32
	Sig    wallet.Signature // DomainContract over ContractBytes
}

// Put (requester to provider): segments from Seg on with the Merkle path of
// their aligned group.
type Put struct {
	Obj   ObjectID
	Seg   uint64
	Proof []Hash
	Data  []byte // 1..MaxBlock bytes
}

// Stored (provider to requester): its signed receipt; period 0 begins at
// Start (unix seconds).
type Stored struct {
	Obj   ObjectID
	Start uint64
	Sig   wallet.Signature // DomainStored over StoredBytes
}

// Challenge (requester to provider): prove holding K segments picked by N.
type Challenge struct {
	Obj ObjectID
	N   Hash
	K   uint32 // 1..MaxK
}

// Proof (provider to requester): for each picked segment, the segment and
// its path (BuildProof's layout; VerifyProof reads it).
type Proof struct {
	Obj  ObjectID
	N    Hash
	Body []byte
}

// Get (requester to provider): send chunk Index.
type Get struct {
	Obj   ObjectID
	Index uint64
}

// Data (provider to requester): a block of chunk Index at Offset; the first
// block carries the chunk's Merkle path.
type Data struct {
	Obj    ObjectID
	Index  uint64
	Offset uint32
	Proof  []Hash
	Block  []byte
}

// What a Pay pays for.
const (
	PayPeriod   = 0
	PayRetrieve = 1
)

// Pay (requester to provider): a channel state paying period N (What =
// PayPeriod) or retrieved chunk N (PayRetrieve).
type Pay struct {
	Obj   ObjectID
	What  uint8
	N     uint64
	State speed.State
	Sig   wallet.Signature
}

// Paid (provider to requester): the payment of Pay (What, N) is stored; Seq
// is the state's.
type Paid struct {
	Obj  ObjectID
	What uint8
	N    uint64
	Seq  uint64
}

// Reason says why a message was refused.
type Reason uint64

// Reasons (docs/speed-protocol.md section 12.3). Unknown ones read as
// ReasonOther.
const (
	ReasonOther    Reason = 0
	ReasonQuota    Reason = 1
	ReasonTooLarge Reason = 2
	ReasonRate     Reason = 3
	ReasonUnknown  Reason = 4
	ReasonUnpaid   Reason = 5
	ReasonBadProof Reason = 6
)

// Refused (either way): Obj's last message was refused.
type Refused struct {
	Obj  ObjectID
	Why  Reason
	Text string
}

// End (either way): the contract ends; no more periods are paid.
type End struct{ Obj ObjectID }

// Type implementations.
func (Propose) Type() Type   { return TypePropose }
func (Accept) Type() Type    { return TypeAccept }
func (Put) Type() Type       { return TypePut }
func (Stored) Type() Type    { return TypeStored }
func (Challenge) Type() Type { return TypeChallenge }
func (Proof) Type() Type     { return TypeProof }
func (Get) Type() Type       { return TypeGet }
func (Data) Type() Type      { return TypeData }
func (Pay) Type() Type       { return TypePay }
func (Paid) Type() Type      { return TypePaid }
func (Refused) Type() Type   { return TypeRefused }
func (End) Type() Type       { return TypeEnd }

// String is the id in hex.
func (id ObjectID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes the id in hex.
func (id ObjectID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes an id in hex.
func (id *ObjectID) UnmarshalText(b []byte) error { return unhex(id[:], b) }

// MarshalText encodes the hash in hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText decodes a hash in hex.
func (h *Hash) UnmarshalText(b []byte) error { return unhex(h[:], b) }

func unhex(dst, b []byte) error {
	if hex.DecodedLen(len(b)) != len(dst) {
		return fmt.Errorf("store: %d hex digits, want %d", len(b), 2*len(dst))
	}
	_, err := hex.Decode(dst, b)
	return err
}
