package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/shengdoushi/base58"
)

// AddressPrefix is the first byte of every TRON mainnet address.
const AddressPrefix = 0x41

// AddressLen is the length of a TRON address in bytes: the prefix and 20
// bytes of public key hash.
const AddressLen = 21

// maxAddressText bounds the text ParseAddress looks at; a base58check address
// is 34 characters, so anything much longer is rejected before decoding.
const maxAddressText = 64

// Errors returned by ParseAddress and ParseHexAddress. Each names one way an
// address can be wrong, so callers can tell a typo (checksum) from a foreign
// address (prefix) or a truncated one (length).
var (
	ErrAddressEncoding = errors.New("wallet: address is not valid base58")
	ErrAddressLength   = errors.New("wallet: address has the wrong length")
	ErrAddressChecksum = errors.New("wallet: address checksum does not match")
	ErrAddressPrefix   = errors.New("wallet: address does not start with TRON's 0x41 prefix")
)

// Address is a 21-byte TRON address: 0x41 and the last 20 bytes of the
// keccak256 hash of the public key. The zero value is not a valid address.
type Address [AddressLen]byte

// String returns the base58check form, "T..." for every valid address.
func (a Address) String() string {
	payload := make([]byte, 0, AddressLen+4)
	payload = append(payload, a[:]...)
	sum := checksum(a[:])
	payload = append(payload, sum[:]...)
	return base58.Encode(payload, base58.BitcoinAlphabet)
}

// Hex returns the address as 42 lowercase hex digits starting with "41", the
// form TRON's HTTP API and keystore files use.
func (a Address) Hex() string { return hex.EncodeToString(a[:]) }

// Bytes returns a copy of the 21 address bytes.
func (a Address) Bytes() []byte { return append([]byte(nil), a[:]...) }

// IsZero reports whether a is the zero value.
func (a Address) IsZero() bool { return a == Address{} }

// MarshalText encodes the address in base58check, so addresses read naturally
// in JSON. The zero Address (no address) encodes as "".
func (a Address) MarshalText() ([]byte, error) {
	if a.IsZero() {
		return []byte{}, nil
	}
	return []byte(a.String()), nil
}

// UnmarshalText parses a base58check address; "" is the zero Address.
func (a *Address) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*a = Address{}
		return nil
	}
	parsed, err := ParseAddress(string(text))
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}

// ParseAddress parses a base58check TRON address ("T..."). It returns
// ErrAddressEncoding, ErrAddressLength, ErrAddressChecksum or ErrAddressPrefix,
// wrapped with the offending input.
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) == 0 || len(s) > maxAddressText {
		return a, fmt.Errorf("%w: %d characters", ErrAddressLength, len(s))
	}
	raw, err := base58.Decode(s, base58.BitcoinAlphabet)
	if err != nil {
		return a, fmt.Errorf("%w: %q", ErrAddressEncoding, s)
	}
	if len(raw) != AddressLen+4 {
		return a, fmt.Errorf("%w: %q decodes to %d bytes, want %d", ErrAddressLength, s, len(raw), AddressLen+4)
	}
	body, sum := raw[:AddressLen], raw[AddressLen:]
	want := checksum(body)
	if !bytes.Equal(sum, want[:]) {
		return a, fmt.Errorf("%w: %q", ErrAddressChecksum, s)
	}
	if body[0] != AddressPrefix {
		return a, fmt.Errorf("%w: %q starts with 0x%02x", ErrAddressPrefix, s, body[0])
	}
	copy(a[:], body)
	return a, nil
}

// ParseHexAddress parses the 42-digit hex form ("41" + 40 digits), with or
// without a "0x" prefix.
func ParseHexAddress(s string) (Address, error) {
	var a Address
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 2*AddressLen {
		return a, fmt.Errorf("%w: %d hex digits, want %d", ErrAddressLength, len(s), 2*AddressLen)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return a, fmt.Errorf("%w: not hex: %v", ErrAddressEncoding, err)
	}
	if raw[0] != AddressPrefix {
		return a, fmt.Errorf("%w: starts with 0x%02x", ErrAddressPrefix, raw[0])
	}
	copy(a[:], raw)
	return a, nil
}

// checksum is base58check's: the first four bytes of a double sha256.
func checksum(b []byte) [4]byte {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	var c [4]byte
	copy(c[:], h2[:4])
	return c
}
