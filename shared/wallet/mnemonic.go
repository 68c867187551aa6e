package wallet

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/fbsobreira/gotron-sdk/pkg/keys/hd"
)

// Errors returned by ParseMnemonic, each for one way a phrase can be wrong.
var (
	// ErrPhraseLength: not 12, 15, 18, 21 or 24 words.
	ErrPhraseLength = errors.New("wallet: recovery phrase must have 12, 15, 18, 21 or 24 words")
	// ErrPhraseWord: a word that is not in the BIP39 English list.
	ErrPhraseWord = errors.New("wallet: recovery phrase has a word that is not in the BIP39 English list")
	// ErrPhraseChecksum: every word is valid but the phrase's checksum does
	// not match, so a word is wrong or out of order.
	ErrPhraseChecksum = errors.New("wallet: recovery phrase checksum does not match (a word is wrong or out of order)")
	// ErrIndexRange: an address index of 2^31 or more.
	ErrIndexRange = errors.New("wallet: address index must be below 2^31")
)

// maxPhraseText bounds the input ParseMnemonic reads: 24 words of at most 8
// letters and generous whitespace fit easily.
const maxPhraseText = 1024

// TronPathPrefix is the BIP44 path of TRON accounts (coin type 195), below
// which address index i lives at .../0/i.
const TronPathPrefix = "m/44'/195'/0'/0"

// TronPath returns the derivation path of address index i.
func TronPath(i uint32) string { return fmt.Sprintf("%s/%d", TronPathPrefix, i) }

var wordIndex = func() map[string]int {
	m := make(map[string]int, len(englishWords))
	for i, w := range englishWords {
		m[w] = i
	}
	return m
}()

// Mnemonic is a validated BIP39 recovery phrase. Its String is the
// normalized phrase: lowercase words separated by single spaces.
type Mnemonic struct {
	words []string
}

// String returns the normalized phrase.
func (m Mnemonic) String() string { return strings.Join(m.words, " ") }

// Words returns the number of words in the phrase.
func (m Mnemonic) Words() int { return len(m.words) }

// NewMnemonic returns a new random phrase of 12 or 24 words (128 or 256 bits
// of entropy from the operating system's CSPRNG).
func NewMnemonic(words int) (Mnemonic, error) {
	if words != 12 && words != 24 {
		return Mnemonic{}, fmt.Errorf("wallet: a new phrase has 12 or 24 words, not %d", words)
	}
	entropy := make([]byte, words*4/3)
	if _, err := rand.Read(entropy); err != nil {
		return Mnemonic{}, fmt.Errorf("wallet: reading entropy: %w", err)
	}
	return MnemonicFromEntropy(entropy)
}

// MnemonicFromEntropy encodes 16, 20, 24, 28 or 32 bytes of entropy as a
// phrase (BIP39: the entropy, then the first len/4 bits of its sha256, in
// groups of 11 bits).
func MnemonicFromEntropy(entropy []byte) (Mnemonic, error) {
	switch len(entropy) {
	case 16, 20, 24, 28, 32:
	default:
		return Mnemonic{}, fmt.Errorf("wallet: entropy is %d bytes; BIP39 takes 16, 20, 24, 28 or 32", len(entropy))
	}
	sum := sha256.Sum256(entropy)
	bits := append(append([]byte(nil), entropy...), sum[0])
	n := (len(entropy)*8 + len(entropy)/4) / 11
	words := make([]string, n)
	for i := range n {
		words[i] = englishWords[bitsAt(bits, i*11, 11)]
	}
	return Mnemonic{words: words}, nil
}

// ParseMnemonic validates a phrase: it splits on any whitespace, ignores
// case, and checks the word count, each word and the checksum. Errors name
// the first word at fault.
func ParseMnemonic(phrase string) (Mnemonic, error) {
	if len(phrase) > maxPhraseText {
		return Mnemonic{}, fmt.Errorf("%w: input is %d bytes", ErrPhraseLength, len(phrase))
	}
	words := strings.FieldsFunc(nfkd(phrase), unicode.IsSpace)
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return Mnemonic{}, fmt.Errorf("%w: got %d", ErrPhraseLength, len(words))
	}
	bits := make([]byte, (len(words)*11+7)/8)
	for i, w := range words {
		w = strings.ToLower(w)
		words[i] = w
		idx, ok := wordIndex[w]
		if !ok {
			return Mnemonic{}, fmt.Errorf("%w: word %d %q", ErrPhraseWord, i+1, truncate(w, 16))
		}
		putBits(bits, i*11, 11, idx)
	}
	entBytes := len(words) * 4 / 3
	csBits := entBytes / 4
	sum := sha256.Sum256(bits[:entBytes])
	if bitsAt(bits, entBytes*8, csBits) != bitsAt(sum[:], 0, csBits) {
		return Mnemonic{}, ErrPhraseChecksum
	}
	return Mnemonic{words: words}, nil
}

// Entropy returns the entropy the phrase encodes.
func (m Mnemonic) Entropy() []byte {
	bits := make([]byte, (len(m.words)*11+7)/8)
	for i, w := range m.words {
		putBits(bits, i*11, 11, wordIndex[w])
	}
	return bits[:len(m.words)*4/3]
}

// Seed returns the 64-byte BIP39 seed: PBKDF2-HMAC-SHA512 of the phrase with
// salt "mnemonic" + passphrase, 2048 rounds, both NFKD-normalized.
func (m Mnemonic) Seed(passphrase string) []byte {
	seed, err := pbkdf2.Key(sha512.New, nfkd(m.String()),
		[]byte("mnemonic"+nfkd(passphrase)), 2048, 64)
	if err != nil {
		// pbkdf2.Key fails only for invalid parameters (or a FIPS-only
		// policy on short passwords), none of which apply.
		panic(fmt.Sprintf("wallet: bip39 seed: %v", err))
	}
	return seed
}

// DeriveKey returns the key at m/44'/195'/0'/0/index for the phrase and an
// optional passphrase (empty for none), as TronLink and TronWeb derive it.
func (m Mnemonic) DeriveKey(passphrase string, index uint32) (*PrivateKey, error) {
	if index >= 1<<31 {
		return nil, fmt.Errorf("%w: %d", ErrIndexRange, index)
	}
	master, chain := hd.ComputeMastersFromSeed(m.Seed(passphrase), []byte("Bitcoin seed"))
	path := strings.TrimPrefix(TronPath(index), "m/")
	k, err := hd.DerivePrivateKeyForPath(s256(), master, chain, path)
	if err != nil {
		return nil, fmt.Errorf("wallet: deriving %s: %w", TronPath(index), err)
	}
	return PrivateKeyFromBytes(k[:])
}

// bitsAt reads n (<= 11) bits starting at bit offset off, most significant
// bit first.
func bitsAt(b []byte, off, n int) int {
	v := 0
	for i := range n {
		bit := off + i
		v = v<<1 | int(b[bit/8]>>(7-bit%8)&1)
	}
	return v
}

// putBits writes the low n bits of v at bit offset off.
func putBits(b []byte, off, n, v int) {
	for i := range n {
		bit := off + i
		if v>>(n-1-i)&1 == 1 {
			b[bit/8] |= 1 << (7 - bit%8)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
