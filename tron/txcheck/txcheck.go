// Package txcheck reads the raw data of a TRON transaction (the protobuf
// Transaction.raw that a signature covers) with protowire alone, and
// checks that a transaction a node built is exactly the TRC-10 transfer
// asked for, before a key signs it: a key signs whatever it is given, and
// the node that builds a transaction is not trusted to build the right one.
//
// It carries none of gotron-sdk's generated protobuf code, so the browser
// peer (GOOS=js) stays small. The decoder is strict: a field it does not
// know, a singular field given twice, or a field of the wrong wire type is
// an error rather than something a protobuf library might read another
// way.
package txcheck

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/btspeed/btspeed/shared/wallet"
	"google.golang.org/protobuf/encoding/protowire"
)

// MaxRaw caps the raw data this package reads: a TRC-10 transfer is about
// 100 bytes.
const MaxRaw = 4 << 10

// maxContracts caps the contracts a raw data may list (TRON allows one).
const maxContracts = 16

// MaxExpiration is how far past the head block a transaction may expire on
// TRON.
const MaxExpiration = 24 * time.Hour

// TRON's contract types (Transaction.Contract.ContractType) and the type
// URL of the TRC-10 transfer's parameter.
const (
	TypeTransfer      = 1
	TypeTransferAsset = 2
	TransferAssetURL  = "type.googleapis.com/protocol.TransferAssetContract"
)

// Errors: ErrMalformed for bytes that are not a transaction this package
// reads, ErrMismatch for a transaction other than the one asked for.
var (
	ErrMalformed = errors.New("txcheck: malformed transaction")
	ErrMismatch  = errors.New("txcheck: not the transaction asked for")
)

// Raw is a transaction's raw data (protocol.Transaction.raw).
type Raw struct {
	RefBlockBytes []byte // field 1
	RefBlockNum   int64  // 3
	RefBlockHash  []byte // 4
	Expiration    int64  // 8, unix milliseconds
	Data          []byte // 10
	Contracts     []Contract
	Scripts       []byte // 12
	Timestamp     int64  // 14, unix milliseconds
	FeeLimit      int64  // 18
}

// Contract is one Transaction.Contract.
type Contract struct {
	Type         int32  // 1
	TypeURL      string // 2: the parameter's google.protobuf.Any type_url
	Value        []byte // and its value
	Provider     []byte // 3
	ContractName []byte // 4
	PermissionID int32  // 5
}

// TransferAsset is a protocol.TransferAssetContract: a TRC-10 transfer.
type TransferAsset struct {
	AssetName []byte // 1: the token id, e.g. "1002000"
	Owner     []byte // 2: 21-byte address
	To        []byte // 3
	Amount    int64  // 4
}

// fields walks a message's fields, calling f with each field's number,
// type and value bytes (for varints, the decoded value in v). A number
// seen twice is an error unless repeated allows it.
func fields(b []byte, repeated func(protowire.Number) bool, f func(num protowire.Number, typ protowire.Type, v uint64, val []byte) error) error {
	seen := map[protowire.Number]bool{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if seen[num] && (repeated == nil || !repeated(num)) {
			return fmt.Errorf("%w: field %d given twice", ErrMalformed, num)
		}
		seen[num] = true
		var v uint64
		var val []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			val, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, typ, v, val); err != nil {
			return err
		}
	}
	return nil
}

func want(num protowire.Number, got, typ protowire.Type) error {
	if got != typ {
		return fmt.Errorf("%w: field %d has wire type %d, want %d", ErrMalformed, num, got, typ)
	}
	return nil
}

func unknown(msg string, num protowire.Number) error {
	return fmt.Errorf("%w: %s has unknown field %d", ErrMalformed, msg, num)
}

// int32Of reads a varint as protobuf's int32 (negative values are sign
// extended to 64 bits on the wire).
func int32Of(num protowire.Number, v uint64) (int32, error) {
	x := int64(v)
	if x < -1<<31 || x >= 1<<31 {
		return 0, fmt.Errorf("%w: field %d: %d is not an int32", ErrMalformed, num, x)
	}
	return int32(x), nil
}

// ParseRaw decodes a transaction's raw data. The slices in the result
// point into b.
func ParseRaw(b []byte) (Raw, error) {
	var r Raw
	if len(b) > MaxRaw {
		return r, fmt.Errorf("%w: %d bytes of raw data, over %d", ErrMalformed, len(b), MaxRaw)
	}
	err := fields(b, func(n protowire.Number) bool { return n == 11 }, func(num protowire.Number, typ protowire.Type, v uint64, val []byte) error {
		bytesField := func(dst *[]byte) error {
			*dst = val
			return want(num, typ, protowire.BytesType)
		}
		varintField := func(dst *int64) error {
			*dst = int64(v)
			return want(num, typ, protowire.VarintType)
		}
		switch num {
		case 1:
			return bytesField(&r.RefBlockBytes)
		case 3:
			return varintField(&r.RefBlockNum)
		case 4:
			return bytesField(&r.RefBlockHash)
		case 8:
			return varintField(&r.Expiration)
		case 9:
			return fmt.Errorf("%w: authorities (field 9) are not supported", ErrMalformed)
		case 10:
			return bytesField(&r.Data)
		case 11:
			if err := want(num, typ, protowire.BytesType); err != nil {
				return err
			}
			if len(r.Contracts) == maxContracts {
				return fmt.Errorf("%w: more than %d contracts", ErrMalformed, maxContracts)
			}
			c, err := parseContract(val)
			if err != nil {
				return err
			}
			r.Contracts = append(r.Contracts, c)
			return nil
		case 12:
			return bytesField(&r.Scripts)
		case 14:
			return varintField(&r.Timestamp)
		case 18:
			return varintField(&r.FeeLimit)
		}
		return unknown("raw data", num)
	})
	return r, err
}

func parseContract(b []byte) (Contract, error) {
	var c Contract
	err := fields(b, nil, func(num protowire.Number, typ protowire.Type, v uint64, val []byte) error {
		switch num {
		case 1, 5:
			if err := want(num, typ, protowire.VarintType); err != nil {
				return err
			}
			x, err := int32Of(num, v)
			if num == 1 {
				c.Type = x
			} else {
				c.PermissionID = x
			}
			return err
		case 2:
			if err := want(num, typ, protowire.BytesType); err != nil {
				return err
			}
			return parseAny(val, &c)
		case 3:
			c.Provider = val
			return want(num, typ, protowire.BytesType)
		case 4:
			c.ContractName = val
			return want(num, typ, protowire.BytesType)
		}
		return unknown("contract", num)
	})
	return c, err
}

// parseAny reads a google.protobuf.Any.
func parseAny(b []byte, c *Contract) error {
	return fields(b, nil, func(num protowire.Number, typ protowire.Type, _ uint64, val []byte) error {
		switch num {
		case 1:
			if !utf8.Valid(val) {
				return fmt.Errorf("%w: the parameter's type URL is not UTF-8", ErrMalformed)
			}
			c.TypeURL = string(val)
		case 2:
			c.Value = val
		default:
			return unknown("parameter", num)
		}
		return want(num, typ, protowire.BytesType)
	})
}

// ParseTransferAsset decodes a TransferAssetContract.
func ParseTransferAsset(b []byte) (TransferAsset, error) {
	var t TransferAsset
	err := fields(b, nil, func(num protowire.Number, typ protowire.Type, v uint64, val []byte) error {
		switch num {
		case 1:
			t.AssetName = val
		case 2:
			t.Owner = val
		case 3:
			t.To = val
		case 4:
			t.Amount = int64(v)
			return want(num, typ, protowire.VarintType)
		default:
			return unknown("TRC-10 transfer", num)
		}
		return want(num, typ, protowire.BytesType)
	})
	return t, err
}

// Transfer is the TRC-10 transfer asked for.
type Transfer struct {
	From, To wallet.Address
	Token    string // the TRC-10 token id
	Amount   int64  // base units
}

// CheckTransferAsset checks a transaction a node built, given as TRON's
// HTTP API gives it (txID and raw_data_hex): that txID is sha256 of the raw
// data, that the raw data is exactly one TRC-10 transfer of want with no
// data, scripts, extra signers or fee limit, and that it expires after the
// earliest of clocks and at most MaxExpiration after the latest. Clocks
// are the times the caller knows for now, such as the head block's and
// its own (either may be off: a new chain's head is its genesis). It
// returns the raw data, the bytes to sign, and their decoding.
func CheckTransferAsset(txID, rawHex string, want Transfer, clocks ...time.Time) ([]byte, Raw, error) {
	if len(clocks) == 0 {
		return nil, Raw{}, errors.New("txcheck: no clock to check the expiration against")
	}
	if len(rawHex) > 2*MaxRaw {
		return nil, Raw{}, fmt.Errorf("%w: %d hex digits of raw data, over %d", ErrMalformed, len(rawHex), 2*MaxRaw)
	}
	raw, err := hex.DecodeString(rawHex)
	if err != nil {
		return nil, Raw{}, fmt.Errorf("%w: raw_data_hex is not hex", ErrMalformed)
	}
	id := sha256.Sum256(raw)
	if !strings.EqualFold(txID, hex.EncodeToString(id[:])) {
		return nil, Raw{}, fmt.Errorf("%w: txID %.64q is not the hash of the raw data (%x)", ErrMismatch, txID, id)
	}
	r, err := ParseRaw(raw)
	if err != nil {
		return nil, Raw{}, err
	}
	if err := checkTransfer(r, want, clocks); err != nil {
		return nil, Raw{}, err
	}
	return raw, r, nil
}

func checkTransfer(r Raw, want Transfer, clocks []time.Time) error {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMismatch}, args...)...)
	}
	if len(r.Contracts) != 1 {
		return mismatch("%d contracts, want one", len(r.Contracts))
	}
	c := r.Contracts[0]
	switch {
	case c.Type != TypeTransferAsset || c.TypeURL != TransferAssetURL:
		return mismatch("contract type %d (%q), want a TRC-10 transfer", c.Type, c.TypeURL)
	case len(c.Provider) > 0 || len(c.ContractName) > 0 || c.PermissionID != 0:
		return mismatch("the contract names a provider, a contract name or permission %d", c.PermissionID)
	case len(r.Data) > 0 || len(r.Scripts) > 0 || r.FeeLimit != 0:
		return mismatch("it carries data, scripts or a fee limit")
	}
	t, err := ParseTransferAsset(c.Value)
	if err != nil {
		return err
	}
	switch {
	case !bytes.Equal(t.Owner, want.From[:]):
		return mismatch("it sends from %x, not %s", t.Owner, want.From)
	case !bytes.Equal(t.To, want.To[:]):
		return mismatch("it sends to %x, not %s", t.To, want.To)
	case string(t.AssetName) != want.Token:
		return mismatch("it sends token %q, not %q", t.AssetName, want.Token)
	case t.Amount != want.Amount:
		return mismatch("it sends %d, not %d", t.Amount, want.Amount)
	}
	early, late := clocks[0].UnixMilli(), clocks[0].UnixMilli()
	for _, c := range clocks[1:] {
		early, late = min(early, c.UnixMilli()), max(late, c.UnixMilli())
	}
	if r.Expiration <= early || r.Expiration > late+MaxExpiration.Milliseconds() {
		return mismatch("it expires at %s, outside %s to %s", stamp(r.Expiration), stamp(early), stamp(late+MaxExpiration.Milliseconds()))
	}
	return nil
}

func stamp(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
