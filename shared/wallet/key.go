package wallet

import (
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPrivateKey is returned for private key bytes that are not a
// scalar in [1, n-1] of secp256k1.
var ErrInvalidPrivateKey = errors.New("wallet: invalid secp256k1 private key")

// PrivateKey is a secp256k1 private key. Its methods sign; it never leaves
// the process except through the keystore or an explicit Bytes call.
type PrivateKey struct {
	k *ecdsa.PrivateKey // static after construction
}

// GenerateKey returns a new random key from the operating system's CSPRNG.
func GenerateKey() (*PrivateKey, error) {
	k, err := generateKey()
	if err != nil {
		return nil, fmt.Errorf("wallet: generating key: %w", err)
	}
	return &PrivateKey{k: k}, nil
}

// PrivateKeyFromBytes parses a 32-byte big-endian private key.
func PrivateKeyFromBytes(b []byte) (*PrivateKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: %d bytes, want 32", ErrInvalidPrivateKey, len(b))
	}
	k, err := toECDSA(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPrivateKey, err)
	}
	return &PrivateKey{k: k}, nil
}

// PrivateKeyFromHex parses 64 hex digits, with or without "0x".
func PrivateKeyFromHex(s string) (*PrivateKey, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not hex", ErrInvalidPrivateKey)
	}
	return PrivateKeyFromBytes(b)
}

// Bytes returns the 32-byte big-endian scalar. Handle with care.
func (p *PrivateKey) Bytes() []byte { return fromECDSA(p.k) }

// Public returns the public half of the key.
func (p *PrivateKey) Public() PublicKey { return PublicKey{k: p.k.PublicKey} }

// Address returns the key's TRON address.
func (p *PrivateKey) Address() Address { return p.Public().Address() }

// PublicKey is a secp256k1 public key.
type PublicKey struct {
	k ecdsa.PublicKey
}

// Bytes returns the 65-byte uncompressed encoding (0x04 || X || Y).
func (p PublicKey) Bytes() []byte { return fromECDSAPub(&p.k) }

// Address returns the TRON address of the key:
// 0x41 || keccak256(X || Y)[12:].
func (p PublicKey) Address() Address {
	return addressFromUncompressed(fromECDSAPub(&p.k))
}

// ParsePublicKey parses a 65-byte uncompressed or 33-byte compressed key.
func ParsePublicKey(b []byte) (PublicKey, error) {
	switch len(b) {
	case 65:
		k, err := unmarshalPubkey(b)
		if err != nil {
			return PublicKey{}, fmt.Errorf("wallet: public key: %w", err)
		}
		return PublicKey{k: *k}, nil
	case 33:
		k, err := decompressPubkey(b)
		if err != nil {
			return PublicKey{}, fmt.Errorf("wallet: public key: %w", err)
		}
		return PublicKey{k: *k}, nil
	default:
		return PublicKey{}, fmt.Errorf("wallet: public key is %d bytes, want 33 or 65", len(b))
	}
}

func addressFromUncompressed(pub []byte) Address {
	var a Address
	a[0] = AddressPrefix
	h := keccak256(pub[1:])
	copy(a[1:], h[12:])
	return a
}
