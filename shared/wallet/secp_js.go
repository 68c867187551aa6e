//go:build js

package wallet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// The secp256k1 and Keccak-256 primitives of the browser peer: what
// go-ethereum's crypto package does without cgo (it wraps the same decred
// secp256k1), written against decred directly so that go-ethereum's common,
// rlp and uint256 packages stay out of the wasm. secp_other.go is the native
// side; the wallet's tests run on both.

var (
	curveN  = secp256k1.S256().Params().N
	curveP  = secp256k1.S256().Params().P
	halfN   = new(big.Int).Rsh(curveN, 1)
	errKey  = errors.New("invalid secp256k1 public key")
	errSize = errors.New("digest must be 32 bytes")
)

func keccak256(data ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, b := range data {
		h.Write(b)
	}
	return h.Sum(nil)
}

func generateKey() (*ecdsa.PrivateKey, error) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("generating a secp256k1 key: %w", err)
	}
	defer k.Zero()
	return toECDSA(k.Serialize())
}

func toECDSA(d []byte) (*ecdsa.PrivateKey, error) {
	if len(d) != 32 {
		return nil, fmt.Errorf("invalid length, need 256 bits")
	}
	D := new(big.Int).SetBytes(d)
	if D.Cmp(curveN) >= 0 {
		return nil, errors.New("invalid private key, >=N")
	}
	if D.Sign() <= 0 {
		return nil, errors.New("invalid private key, zero or negative")
	}
	pub := secp256k1.PrivKeyFromBytes(d).PubKey()
	return &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: s256(), X: pub.X(), Y: pub.Y()}, D: D}, nil
}

func fromECDSA(k *ecdsa.PrivateKey) []byte { return k.D.FillBytes(make([]byte, 32)) }

func fromECDSAPub(k *ecdsa.PublicKey) []byte {
	b := make([]byte, 65)
	b[0] = 4
	k.X.FillBytes(b[1:33])
	k.Y.FillBytes(b[33:])
	return b
}

func unmarshalPubkey(b []byte) (*ecdsa.PublicKey, error) {
	if len(b) != 65 || b[0] != 4 {
		return nil, errKey
	}
	return parsePubkey(b)
}

func decompressPubkey(b []byte) (*ecdsa.PublicKey, error) {
	if len(b) != 33 {
		return nil, errors.New("invalid compressed public key length")
	}
	return parsePubkey(b)
}

// parsePubkey parses a key and checks that it is on the curve.
func parsePubkey(b []byte) (*ecdsa.PublicKey, error) {
	k, err := secp256k1.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errKey, err)
	}
	return &ecdsa.PublicKey{Curve: s256(), X: k.X(), Y: k.Y()}, nil
}

func s256() elliptic.Curve { return secp256k1.S256() }

// sign returns r || s || v with v the recovery id, 0 or 1, and s in the lower
// half of the order, as go-ethereum's crypto.Sign.
func sign(digest []byte, k *ecdsa.PrivateKey) ([]byte, error) {
	if len(digest) != 32 {
		return nil, errSize
	}
	var priv secp256k1.PrivateKey
	if overflow := priv.Key.SetByteSlice(k.D.Bytes()); overflow || priv.Key.IsZero() {
		return nil, errors.New("invalid private key")
	}
	defer priv.Zero()
	sig := decredecdsa.SignCompact(&priv, digest, false) // v || r || s, v = 27 + recovery id
	v := sig[0] - 27
	copy(sig, sig[1:])
	sig[64] = v
	return sig, nil
}

func validSignatureValues(v byte, r, s *big.Int) bool {
	if r.Sign() <= 0 || s.Sign() <= 0 || s.Cmp(halfN) > 0 {
		return false
	}
	return r.Cmp(curveN) < 0 && (v == 0 || v == 1)
}

// ecrecover returns the uncompressed public key that made sig (r || s || v)
// over digest.
func ecrecover(digest, sig []byte) ([]byte, error) {
	if len(sig) != 65 {
		return nil, errors.New("invalid signature")
	}
	if len(digest) != 32 {
		return nil, errSize
	}
	compact := make([]byte, 65)
	compact[0] = sig[64] + 27
	copy(compact[1:], sig)
	pub, _, err := decredecdsa.RecoverCompact(compact, digest)
	if err != nil {
		return nil, fmt.Errorf("recovering the public key: %w", err)
	}
	return pub.SerializeUncompressed(), nil
}
