package wallet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// SignatureLen is the length of every signature this package makes: R (32
// bytes), S (32 bytes) and the recovery byte V.
const SignatureLen = 65

// Errors returned when checking signatures.
var (
	// ErrMalformedSignature: not 65 bytes, V not a recovery id, R or S out
	// of range, or S in the upper half of the curve order (malleable).
	ErrMalformedSignature = errors.New("wallet: malformed signature")
	// ErrSignatureMismatch: a well-formed signature that was not made by the
	// expected address over these bytes.
	ErrSignatureMismatch = errors.New("wallet: signature does not match")
)

// Signature is R || S || V. Signatures made here have V = 27 + recovery id
// (TRON's and TIP-191's convention) and a low S; parsing also accepts V of 0
// or 1, which TRON transaction signatures from some tools carry.
type Signature [SignatureLen]byte

// Hex returns "0x" and 130 hex digits, the form TronWeb prints.
func (s Signature) Hex() string { return "0x" + hex.EncodeToString(s[:]) }

// MarshalText encodes the signature as Hex does.
func (s Signature) MarshalText() ([]byte, error) { return []byte(s.Hex()), nil }

// UnmarshalText parses the hex form; see ParseSignature.
func (s *Signature) UnmarshalText(text []byte) error {
	parsed, err := ParseSignature(string(text))
	if err != nil {
		return err
	}
	*s = parsed
	return nil
}

// ParseSignature parses 130 hex digits, with or without "0x". It checks the
// length and encoding only; whether the signature verifies is for Verify*.
func ParseSignature(s string) (Signature, error) {
	var sig Signature
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if len(s) != 2*SignatureLen {
		return sig, fmt.Errorf("%w: %d hex digits, want %d", ErrMalformedSignature, len(s), 2*SignatureLen)
	}
	if _, err := hex.Decode(sig[:], []byte(s)); err != nil {
		return sig, fmt.Errorf("%w: not hex", ErrMalformedSignature)
	}
	return sig, nil
}

// SignatureFromBytes copies a 65-byte signature.
func SignatureFromBytes(b []byte) (Signature, error) {
	var sig Signature
	if len(b) != SignatureLen {
		return sig, fmt.Errorf("%w: %d bytes, want %d", ErrMalformedSignature, len(b), SignatureLen)
	}
	copy(sig[:], b)
	return sig, nil
}

// signDigest signs a 32-byte digest. Callers use the purpose-specific methods:
// a bare digest carries no domain.
func (p *PrivateKey) signDigest(digest []byte) Signature {
	raw, err := sign(digest, p.k)
	if err != nil {
		// sign fails only for a digest that is not 32 bytes or a
		// key that is not on the curve; both are impossible here.
		panic(fmt.Sprintf("wallet: signing: %v", err))
	}
	var sig Signature
	copy(sig[:], raw)
	sig[64] += 27
	return sig
}

// recoverDigest returns the address that made sig over digest.
func recoverDigest(digest []byte, sig Signature) (Address, error) {
	v := sig[64]
	if v >= 27 {
		v -= 27
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	if !validSignatureValues(v, r, s) {
		return Address{}, ErrMalformedSignature
	}
	raw := make([]byte, SignatureLen)
	copy(raw, sig[:])
	raw[64] = v
	pub, err := ecrecover(digest, raw)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrMalformedSignature, err)
	}
	return addressFromUncompressed(pub), nil
}

func verifyDigest(addr Address, digest []byte, sig Signature) error {
	got, err := recoverDigest(digest, sig)
	if err != nil {
		return err
	}
	if got != addr {
		return ErrSignatureMismatch
	}
	return nil
}

// TRON message signing v2 (TIP-191).

// tronMessagePrefix starts every TRON v2 signed message; it cannot be the
// start of a transaction's raw_data or of a btspeed domain preimage.
const tronMessagePrefix = "\x19TRON Signed Message:\n"

// MessageDigest is keccak256("\x19TRON Signed Message:\n" + len(msg) + msg),
// the digest TronWeb's signMessageV2 signs.
func MessageDigest(msg []byte) []byte {
	return keccak256([]byte(tronMessagePrefix), []byte(strconv.Itoa(len(msg))), msg)
}

// SignMessage signs msg the way TronWeb's Trx.signMessageV2 does; TronWeb's
// verifyMessageV2 recovers p's address from the result.
func (p *PrivateKey) SignMessage(msg []byte) Signature {
	return p.signDigest(MessageDigest(msg))
}

// RecoverMessage returns the address that signed msg with SignMessage.
func RecoverMessage(msg []byte, sig Signature) (Address, error) {
	return recoverDigest(MessageDigest(msg), sig)
}

// VerifyMessage checks that addr signed msg (TRON message signing v2).
func VerifyMessage(addr Address, msg []byte, sig Signature) error {
	return verifyDigest(addr, MessageDigest(msg), sig)
}

// TRON transactions.

// TransactionID is sha256 of a transaction's serialized raw_data: the
// transaction's id and the digest its owner signs.
func TransactionID(rawData []byte) [32]byte { return sha256.Sum256(rawData) }

// SignTransaction signs a TRON transaction given its serialized raw_data
// (proto.Marshal of core.TransactionRaw) and returns the transaction id and
// the signature to append to the transaction's signature list.
func (p *PrivateKey) SignTransaction(rawData []byte) (id [32]byte, sig Signature) {
	id = TransactionID(rawData)
	return id, p.signDigest(id[:])
}

// RecoverTransaction returns the address that signed a transaction's raw_data.
func RecoverTransaction(rawData []byte, sig Signature) (Address, error) {
	id := TransactionID(rawData)
	return recoverDigest(id[:], sig)
}

// btspeed's own signed structures.

// Domain names what a signed btspeed structure is for, such as
// "btspeed/ledger/transfer/v1" or "btspeed/speed/channel-state/v1". The
// digest binds the domain, so a signature for one domain never verifies for
// another, nor as a TRON message or transaction. The payload must itself
// carry what makes it unique within the domain (channel id, sequence, nonce).
type Domain string

// maxDomainLen bounds a domain tag; tags are short constants.
const maxDomainLen = 128

// domainPrefix starts every domain-separated preimage. Its first byte, 0x19,
// cannot start an RLP-encoded Ethereum transaction, and the rest differs from
// TRON's message prefix at the second byte.
const domainPrefix = "\x19btspeed signed data:\n"

// ErrInvalidDomain is returned for an empty, too long, or non-printable
// domain tag.
var ErrInvalidDomain = errors.New("wallet: invalid signing domain")

// Validate checks that d is a usable tag: 1..128 printable ASCII characters.
func (d Domain) Validate() error {
	if len(d) == 0 || len(d) > maxDomainLen {
		return fmt.Errorf("%w: length %d", ErrInvalidDomain, len(d))
	}
	for i := 0; i < len(d); i++ {
		if d[i] < 0x21 || d[i] > 0x7e {
			return fmt.Errorf("%w: byte 0x%02x at %d", ErrInvalidDomain, d[i], i)
		}
	}
	return nil
}

// Digest is keccak256(prefix || uvarint(len(domain)) || domain || payload).
// The length prefix makes the split between domain and payload unambiguous.
func (d Domain) Digest(payload []byte) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var n [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(n[:], uint64(len(d)))
	return keccak256([]byte(domainPrefix), n[:l], []byte(d), payload), nil
}

// Sign signs payload for domain d.
func (p *PrivateKey) Sign(d Domain, payload []byte) (Signature, error) {
	digest, err := d.Digest(payload)
	if err != nil {
		return Signature{}, err
	}
	return p.signDigest(digest), nil
}

// Recover returns the address that signed payload for domain d.
func (d Domain) Recover(payload []byte, sig Signature) (Address, error) {
	digest, err := d.Digest(payload)
	if err != nil {
		return Address{}, err
	}
	return recoverDigest(digest, sig)
}

// Verify checks that addr signed payload for domain d. It returns
// ErrMalformedSignature, ErrSignatureMismatch or ErrInvalidDomain.
func (d Domain) Verify(addr Address, payload []byte, sig Signature) error {
	digest, err := d.Digest(payload)
	if err != nil {
		return err
	}
	return verifyDigest(addr, digest, sig)
}
