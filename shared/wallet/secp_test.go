package wallet

import (
	"bytes"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// TestPrimitivesMatchGoEthereum checks the wallet's secp256k1 and Keccak-256
// primitives against go-ethereum's crypto package byte for byte. Natively the
// wallet uses go-ethereum itself; under GOOS=js GOARCH=wasm (./build.sh test
// runs this package under Node) it checks secp_js.go, written on decred's
// secp256k1 so the browser peer does without go-ethereum.
func TestPrimitivesMatchGoEthereum(t *testing.T) {
	n := crypto.S256().Params().N
	for i := range 24 {
		seed := sha256.Sum256([]byte{byte(i)})
		d := new(big.Int).Mod(new(big.Int).SetBytes(seed[:]), n).FillBytes(make([]byte, 32))
		digest := sha256.Sum256(seed[:])
		ours, err := toECDSA(d)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		theirs, err := crypto.ToECDSA(d)
		if err != nil {
			t.Fatal(err)
		}
		pub := fromECDSAPub(&ours.PublicKey)
		if !bytes.Equal(pub, crypto.FromECDSAPub(&theirs.PublicKey)) || !bytes.Equal(fromECDSA(ours), d) {
			t.Fatalf("key %d: public key %x, go-ethereum has %x", i, pub, crypto.FromECDSAPub(&theirs.PublicKey))
		}
		if got, want := keccak256(pub[1:], digest[:]), crypto.Keccak256(pub[1:], digest[:]); !bytes.Equal(got, want) {
			t.Fatalf("keccak256 = %x, go-ethereum %x", got, want)
		}
		sig, err := sign(digest[:], ours)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := crypto.Sign(digest[:], theirs)
		if !bytes.Equal(sig, want) {
			t.Fatalf("key %d: signature %x, go-ethereum %x", i, sig, want)
		}
		rec, err := ecrecover(digest[:], sig)
		if err != nil || !bytes.Equal(rec, pub) {
			t.Fatalf("key %d: recovered %x (%v), want %x", i, rec, err, pub)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
		highS := new(big.Int).Sub(n, s)
		if !validSignatureValues(sig[64], r, s) || validSignatureValues(sig[64], r, highS) ||
			validSignatureValues(2, r, s) || validSignatureValues(sig[64], n, s) {
			t.Fatalf("key %d: signature value checks disagree with go-ethereum's rules", i)
		}
		comp := crypto.CompressPubkey(&theirs.PublicKey)
		if k, err := decompressPubkey(comp); err != nil || !bytes.Equal(fromECDSAPub(k), pub) {
			t.Fatalf("key %d: decompress %x: %v", i, comp, err)
		}
		if k, err := unmarshalPubkey(pub); err != nil || !bytes.Equal(fromECDSAPub(k), pub) {
			t.Fatalf("key %d: unmarshal: %v", i, err)
		}
		bad := bytes.Clone(pub)
		bad[64] ^= 1 // off the curve
		if _, err := unmarshalPubkey(bad); err == nil {
			t.Fatalf("key %d: a point off the curve parsed", i)
		}
		if _, err := unmarshalPubkey(comp); err == nil {
			t.Fatalf("key %d: a compressed key parsed as uncompressed", i)
		}
	}
	for _, d := range []*big.Int{big.NewInt(0), n, new(big.Int).Add(n, big.NewInt(1))} {
		if _, err := toECDSA(d.FillBytes(make([]byte, 32))); err == nil {
			t.Fatalf("private key %x accepted", d)
		}
	}
	k, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := toECDSA(fromECDSA(k)); err != nil || again.X.Cmp(k.X) != 0 || again.Y.Cmp(k.Y) != 0 {
		t.Fatalf("a generated key does not round-trip: %v", err)
	}
}
