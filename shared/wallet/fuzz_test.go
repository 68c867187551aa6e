package wallet

import (
	"bytes"
	"testing"
)

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH", "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC", "", "T", "1111111111111111111111111", "0OIl"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		// base58check is canonical: what parses prints back identically.
		if a.String() != s {
			t.Fatalf("ParseAddress(%q).String() = %q", s, a.String())
		}
		if b, err := ParseHexAddress(a.Hex()); err != nil || b != a {
			t.Fatalf("hex round trip of %q: %v", s, err)
		}
	})
}

func FuzzParseMnemonic(f *testing.F) {
	f.Add(abandonAbout)
	f.Add("legal winner thank year wave sausage worth useful legal winner thank yellow")
	f.Add("ABANDON  abandon\tabandon abandon abandon abandon abandon abandon abandon abandon abandon ABOUT")
	f.Add("abandon abandon")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMnemonic(s)
		if err != nil {
			return
		}
		again, err := MnemonicFromEntropy(m.Entropy())
		if err != nil {
			t.Fatalf("entropy of %q does not encode: %v", s, err)
		}
		if again.String() != m.String() {
			t.Fatalf("round trip of %q gave %q", m, again)
		}
		if p, err := ParseMnemonic(m.String()); err != nil || p.String() != m.String() {
			t.Fatalf("normalized phrase %q does not reparse: %v", m, err)
		}
	})
}

func FuzzDecryptKeystore(f *testing.F) {
	k, err := PrivateKeyFromHex(web3VectorKey)
	if err != nil {
		f.Fatal(err)
	}
	// Cheapest possible scrypt so the fuzzer spends its time on parsing.
	seed, err := EncryptKeystore(k, []byte("pw"), ScryptParams{N: 2, R: 1, P: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, []byte("pw"))
	f.Add(seed, []byte("wrong"))
	f.Add([]byte(web3PBKDF2Vector), []byte("testpassword"))
	f.Add([]byte(`{"version":3,"crypto":{}}`), []byte(""))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		key, err := DecryptKeystore(data, password)
		if err != nil {
			return
		}
		// Whatever decrypts must encrypt again and decrypt to the same key.
		out, err := EncryptKeystore(key, password, ScryptParams{N: 2, R: 1, P: 1})
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecryptKeystore(out, password)
		if err != nil || !bytes.Equal(back.Bytes(), key.Bytes()) {
			t.Fatalf("re-encrypted keystore does not decrypt to the same key: %v", err)
		}
	})
}
