package wallet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAddresses(t *testing.T) {
	one := make([]byte, 32)
	one[31] = 1
	k, err := PrivateKeyFromBytes(one)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Address().String(), "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC"; got != want {
		t.Errorf("address of key 1 = %s, want %s", got, want)
	}

	m, err := ParseMnemonic(abandonAbout)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index   uint32
		address string
		key     string // from TronWeb.fromMnemonic; "" when not recorded
	}{
		{0, "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH", ""},
		{1, "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK", "edb728e259afca2ddcc428459e7681b8414668649aedbc8d25c0872da219b2e6"},
	} {
		k, err := m.DeriveKey("", tc.index)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Address().String(); got != tc.address {
			t.Errorf("index %d: address %s, want %s", tc.index, got, tc.address)
		}
		if tc.key != "" && hex.EncodeToString(k.Bytes()) != tc.key {
			t.Errorf("index %d: key %x, want %s", tc.index, k.Bytes(), tc.key)
		}
	}
}

func TestAddressRoundTripAndHex(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a := k.Address()
	s := a.String()
	if !strings.HasPrefix(s, "T") || len(s) != 34 {
		t.Fatalf("address %q: want 34 characters starting with T", s)
	}
	b, err := ParseAddress(s)
	if err != nil || b != a {
		t.Fatalf("ParseAddress(%q) = %v, %v; want %v", s, b, err, a)
	}
	h, err := ParseHexAddress("0x" + a.Hex())
	if err != nil || h != a {
		t.Fatalf("ParseHexAddress = %v, %v", h, err)
	}
	if a.Hex()[:2] != "41" {
		t.Fatalf("hex form %s does not start with 41", a.Hex())
	}
}

// base58check encodes arbitrary bytes with a valid checksum, to build
// addresses that are wrong in exactly one way.
func base58check(b []byte) string {
	sum := checksum(b)
	return encodeBase58(append(append([]byte(nil), b...), sum[:]...))
}

func TestParseAddressErrors(t *testing.T) {
	good := "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
	body := make([]byte, 21)
	body[0] = 0x41
	wrongPrefix := append([]byte{0xa0}, body[1:]...)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrAddressLength},
		{"not base58", "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYd0", ErrAddressEncoding},
		{"changed character", "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdJ", ErrAddressChecksum},
		{"truncated", good[:30], ErrAddressLength},
		{"too long text", good + good, ErrAddressLength},
		{"20-byte body", base58check(body[:20]), ErrAddressLength},
		{"22-byte body", base58check(append(body, 0)), ErrAddressLength},
		{"ethereum-style prefix", base58check(wrongPrefix), ErrAddressPrefix},
	} {
		_, err := ParseAddress(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseAddress(%q) = %v, want %v", tc.name, tc.in, err, tc.want)
		}
	}
	if _, err := ParseAddress(base58check(body)); err != nil {
		t.Errorf("a well-formed all-zero hash address should parse: %v", err)
	}
	for in, want := range map[string]error{
		"41" + strings.Repeat("00", 19):   ErrAddressLength,
		"42" + strings.Repeat("00", 20):   ErrAddressPrefix,
		"41" + strings.Repeat("zz", 20):   ErrAddressEncoding,
		"0x41" + strings.Repeat("ab", 20): nil,
	} {
		if _, err := ParseHexAddress(in); !errors.Is(err, want) {
			t.Errorf("ParseHexAddress(%q) = %v, want %v", in, err, want)
		}
	}
}

func TestBIP39Vectors(t *testing.T) {
	// From the BIP39 reference vectors (passphrase "TREZOR").
	for _, tc := range []struct{ entropy, phrase, seed string }{
		{"00000000000000000000000000000000", abandonAbout,
			"c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"},
		{"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "legal winner thank year wave sausage worth useful legal winner thank yellow",
			"2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607"},
		{"0000000000000000000000000000000000000000000000000000000000000000",
			strings.Repeat("abandon ", 23) + "art",
			"bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"},
	} {
		m, err := MnemonicFromEntropy(mustHex(t, tc.entropy))
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != tc.phrase {
			t.Errorf("entropy %s: phrase %q, want %q", tc.entropy, m, tc.phrase)
		}
		p, err := ParseMnemonic(strings.ToUpper("  " + strings.ReplaceAll(tc.phrase, " ", " \t\n ")))
		if err != nil {
			t.Fatalf("ParseMnemonic: %v", err)
		}
		if p.String() != tc.phrase || hex.EncodeToString(p.Entropy()) != tc.entropy {
			t.Errorf("parse of %q gave %q / %x", tc.phrase, p, p.Entropy())
		}
		if got := hex.EncodeToString(p.Seed("TREZOR")); got != tc.seed {
			t.Errorf("seed of %q = %s, want %s", tc.phrase, got, tc.seed)
		}
	}
}

func TestParseMnemonicErrors(t *testing.T) {
	words := strings.Fields(abandonAbout)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrPhraseLength},
		{"eleven words", strings.Join(words[:11], " "), ErrPhraseLength},
		{"thirteen words", abandonAbout + " about", ErrPhraseLength},
		{"unknown word", strings.Replace(abandonAbout, "about", "aboot", 1), ErrPhraseWord},
		{"checksum", strings.Replace(abandonAbout, "about", "above", 1), ErrPhraseChecksum},
		{"swapped words", "about " + strings.Join(words[:11], " "), ErrPhraseChecksum},
		{"huge input", strings.Repeat("abandon ", 1000), ErrPhraseLength},
	} {
		if _, err := ParseMnemonic(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestNewMnemonic(t *testing.T) {
	for _, n := range []int{12, 24} {
		m, err := NewMnemonic(n)
		if err != nil {
			t.Fatal(err)
		}
		if m.Words() != n {
			t.Fatalf("NewMnemonic(%d) has %d words", n, m.Words())
		}
		p, err := ParseMnemonic(m.String())
		if err != nil || p.String() != m.String() {
			t.Fatalf("new phrase does not parse back: %v", err)
		}
	}
	a, _ := NewMnemonic(12)
	b, _ := NewMnemonic(12)
	if a.String() == b.String() {
		t.Fatal("two new phrases are equal")
	}
	if _, err := NewMnemonic(13); err == nil {
		t.Fatal("NewMnemonic(13) succeeded")
	}
}

func TestPassphraseAndIndexChangeKey(t *testing.T) {
	m, _ := ParseMnemonic(abandonAbout)
	k0, _ := m.DeriveKey("", 0)
	kp, _ := m.DeriveKey("secret", 0)
	k5, _ := m.DeriveKey("", 5)
	if k0.Address() == kp.Address() || k0.Address() == k5.Address() || kp.Address() == k5.Address() {
		t.Fatal("passphrase or index did not change the derived key")
	}
	if _, err := m.DeriveKey("", 1<<31); !errors.Is(err, ErrIndexRange) {
		t.Fatalf("index 2^31: %v", err)
	}
}

func TestMessageSignatureMatchesTronWeb(t *testing.T) {
	// TronWeb 6.5.1: Trx.signMessageV2("hello", key of abandon...about index 1).
	// RFC 6979 nonces make the signature deterministic on both sides.
	const want = "0x697fc2ee24e291aa696271274ce78b38e45b357bd59a0b33179645d0efbe65e54f2c650b5e495581abac479445516be72952c7bb44104524b8c80db6ef6d6f941c"
	k, err := PrivateKeyFromHex("edb728e259afca2ddcc428459e7681b8414668649aedbc8d25c0872da219b2e6")
	if err != nil {
		t.Fatal(err)
	}
	sig := k.SignMessage([]byte("hello"))
	if sig.Hex() != want {
		t.Fatalf("signature %s, want %s", sig.Hex(), want)
	}
	if err := VerifyMessage(k.Address(), []byte("hello"), sig); err != nil {
		t.Fatal(err)
	}
	if err := VerifyMessage(k.Address(), []byte("hellO"), sig); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("changed message: %v", err)
	}
}

func TestSignaturesAreBoundToTheirPurpose(t *testing.T) {
	k, _ := GenerateKey()
	a := k.Address()
	payload := []byte("channel 7 sequence 3 amount 100")
	const transfer, state Domain = "btspeed/test/transfer/v1", "btspeed/test/state/v1"

	sig, err := k.Sign(transfer, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := transfer.Verify(a, payload, sig); err != nil {
		t.Fatalf("own domain: %v", err)
	}
	if err := state.Verify(a, payload, sig); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("other domain accepted: %v", err)
	}
	if err := VerifyMessage(a, payload, sig); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("domain signature accepted as a TRON message: %v", err)
	}
	if got, _ := RecoverTransaction(payload, sig); got == a {
		t.Error("domain signature accepted as a TRON transaction")
	}
	msgSig := k.SignMessage(payload)
	if err := transfer.Verify(a, payload, msgSig); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("TRON message signature accepted in a domain: %v", err)
	}
	_, txSig := k.SignTransaction(payload)
	if err := transfer.Verify(a, payload, txSig); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("transaction signature accepted in a domain: %v", err)
	}
	if got, err := RecoverTransaction(payload, txSig); err != nil || got != a {
		t.Errorf("RecoverTransaction = %v, %v", got, err)
	}
	// The length prefix keeps "a"+"bc" and "ab"+"c" apart.
	s1, _ := k.Sign("btspeed/a", []byte("bc"))
	if err := Domain("btspeed/ab").Verify(a, []byte("c"), s1); err == nil {
		t.Error("domain/payload boundary is ambiguous")
	}
	for _, d := range []Domain{"", Domain(strings.Repeat("x", 129)), "has space", "tab\t", "nul\x00"} {
		if _, err := k.Sign(d, payload); !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("Sign with domain %q: %v", d, err)
		}
	}
}

func TestMalformedSignatures(t *testing.T) {
	k, _ := GenerateKey()
	msg := []byte("m")
	sig := k.SignMessage(msg)

	// V of 0/1 is accepted (TRON transaction style), anything else is not.
	alt := sig
	alt[64] -= 27
	if err := VerifyMessage(k.Address(), msg, alt); err != nil {
		t.Errorf("V=%d rejected: %v", alt[64], err)
	}
	for _, v := range []byte{2, 26, 29, 255} {
		bad := sig
		bad[64] = v
		if err := VerifyMessage(k.Address(), msg, bad); !errors.Is(err, ErrMalformedSignature) {
			t.Errorf("V=%d: %v", v, err)
		}
	}
	// The high-S twin of a valid signature is malleable and refused.
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:64])
	hi := sig
	new(big.Int).Sub(n, s).FillBytes(hi[32:64])
	hi[64] ^= 1
	if err := VerifyMessage(k.Address(), msg, hi); !errors.Is(err, ErrMalformedSignature) {
		t.Errorf("high S: %v", err)
	}
	var zero Signature
	if err := VerifyMessage(k.Address(), msg, zero); !errors.Is(err, ErrMalformedSignature) {
		t.Errorf("zero signature: %v", err)
	}
	for _, in := range []string{"", "0x", "0x" + strings.Repeat("ab", 64), strings.Repeat("zz", 65)} {
		if _, err := ParseSignature(in); !errors.Is(err, ErrMalformedSignature) {
			t.Errorf("ParseSignature(%q): %v", in, err)
		}
	}
	p, err := ParseSignature(sig.Hex())
	if err != nil || p != sig {
		t.Fatalf("ParseSignature round trip: %v", err)
	}
}

func TestPrivateKeyValidation(t *testing.T) {
	n := crypto.S256().Params().N.Bytes()
	for name, b := range map[string][]byte{
		"zero":  make([]byte, 32),
		"order": n,
		"short": {1, 2, 3},
	} {
		if _, err := PrivateKeyFromBytes(b); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	k, _ := GenerateKey()
	k2, err := PrivateKeyFromBytes(k.Bytes())
	if err != nil || !bytes.Equal(k2.Bytes(), k.Bytes()) {
		t.Fatal("key bytes do not round-trip")
	}
	pub, err := ParsePublicKey(k.Public().Bytes())
	if err != nil || pub.Address() != k.Address() {
		t.Fatalf("public key round trip: %v", err)
	}
}
