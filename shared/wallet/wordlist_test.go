package wallet

import (
	"encoding/hex"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/fbsobreira/go-bip39/wordlists"
)

// TestEnglishListIsBIP39s checks the wallet's own copy of the English list
// against BIP39's english.txt checksum and against go-bip39's list.
func TestEnglishListIsBIP39s(t *testing.T) {
	if got := crc32.ChecksumIEEE([]byte(bip39English)); got != 0xc1dbd296 {
		t.Fatalf("bip39-english.txt has CRC-32 %08x, BIP39's english.txt has c1dbd296", got)
	}
	if len(englishWords) != 2048 || !slices.Equal(englishWords, wordlists.English) {
		t.Fatalf("the list has %d words and differs from go-bip39's English list", len(englishWords))
	}
}

// TestSeedNormalizesPassphrase: a passphrase with fullwidth, precomposed,
// ligature and halfwidth characters gives the seed of its NFKD form (expected
// seed from Python's unicodedata.normalize and hashlib.pbkdf2_hmac). Under
// GOOS=js it checks the browser's String.prototype.normalize path.
func TestSeedNormalizesPassphrase(t *testing.T) {
	const pass = "\uff23af\u00e9 \ufb01 \uff76" // "Ｃafé ﬁ ｶ"
	if got, want := hex.EncodeToString([]byte(nfkd(pass))), "43616665cc8120666920e382ab"; got != want {
		t.Fatalf("nfkd(%q) = %s, want %s (\"Cafe\\u0301 fi \\u30ab\")", pass, got, want)
	}
	m, err := ParseMnemonic(abandonAbout)
	if err != nil {
		t.Fatal(err)
	}
	const want = "ffc3c5903ddc2e929572f9f3f50fd5464c970b8b59ad7c46748f745451ee525c" +
		"9985eb66a41234617ed789edf0c807ce19fc41e500eac291e060a5bc383200a8"
	if got := hex.EncodeToString(m.Seed(pass)); got != want {
		t.Fatalf("seed with passphrase %q = %s, want %s", pass, got, want)
	}
}
