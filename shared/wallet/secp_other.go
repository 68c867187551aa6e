//go:build !js

package wallet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"
)

// The secp256k1 and Keccak-256 primitives the wallet uses. Natively they are
// go-ethereum's (libsecp256k1 through cgo where cgo is on); secp_js.go has the
// browser's, on decred's secp256k1 without go-ethereum.

func keccak256(data ...[]byte) []byte { return crypto.Keccak256(data...) }

func generateKey() (*ecdsa.PrivateKey, error) { return crypto.GenerateKey() }

func toECDSA(d []byte) (*ecdsa.PrivateKey, error) { return crypto.ToECDSA(d) }

func fromECDSA(k *ecdsa.PrivateKey) []byte { return crypto.FromECDSA(k) }

func fromECDSAPub(k *ecdsa.PublicKey) []byte { return crypto.FromECDSAPub(k) }

func unmarshalPubkey(b []byte) (*ecdsa.PublicKey, error) { return crypto.UnmarshalPubkey(b) }

func decompressPubkey(b []byte) (*ecdsa.PublicKey, error) { return crypto.DecompressPubkey(b) }

func s256() elliptic.Curve { return crypto.S256() }

func sign(digest []byte, k *ecdsa.PrivateKey) ([]byte, error) { return crypto.Sign(digest, k) }

func validSignatureValues(v byte, r, s *big.Int) bool {
	return crypto.ValidateSignatureValues(v, r, s, true)
}

func ecrecover(digest, sig []byte) ([]byte, error) { return crypto.Ecrecover(digest, sig) }
