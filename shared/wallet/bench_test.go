package wallet

import "testing"

// Signature costs bound the ledger's throughput (a channel close verifies
// two signatures). Natively go-ethereum uses libsecp256k1 through cgo;
// CGO_ENABLED=0 and wasm use the pure Go implementation.

func BenchmarkSign(b *testing.B) {
	k, _ := GenerateKey()
	payload := make([]byte, 128)
	for b.Loop() {
		if _, err := k.Sign("btspeed/bench/v1", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k, _ := GenerateKey()
	payload := make([]byte, 128)
	sig, _ := k.Sign("btspeed/bench/v1", payload)
	a := k.Address()
	for b.Loop() {
		if err := Domain("btspeed/bench/v1").Verify(a, payload, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeriveKey(b *testing.B) {
	m, _ := ParseMnemonic(abandonAbout)
	for b.Loop() {
		if _, err := m.DeriveKey("", 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptKeystoreLight(b *testing.B) {
	k, _ := GenerateKey()
	data, _ := EncryptKeystore(k, []byte("pw"), LightScrypt)
	for b.Loop() {
		if _, err := DecryptKeystore(data, []byte("pw")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	for b.Loop() {
		if _, err := ParseAddress("TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"); err != nil {
			b.Fatal(err)
		}
	}
}
