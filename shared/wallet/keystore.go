package wallet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/scrypt"
)

// Keystore errors. ErrWrongPassword is the only error a correct file with a
// wrong password produces; every defect of the file itself wraps
// ErrKeystoreInvalid with what is wrong.
var (
	ErrWrongPassword   = errors.New("wallet: wrong password")
	ErrKeystoreInvalid = errors.New("wallet: keystore file is damaged or not a keystore")
)

// MaxKeystoreSize is the largest keystore file DecryptKeystore reads; real
// ones are about 500 bytes.
const MaxKeystoreSize = 64 << 10

// Limits on the key derivation parameters a keystore file may ask for, so a
// hostile file cannot make decryption take unbounded memory or time.
const (
	maxScryptMemory = 256 << 20 // 128*r*N bytes; geth's standard N=2^18, r=8 is exactly this
	maxScryptWork   = 256 << 20 // 128*r*N*p: no file may cost more than a standard unlock
	maxScryptP      = 16
	maxPBKDF2Rounds = 10_000_000
	maxSaltLen      = 1024
)

// ScryptParams are the cost parameters of a new keystore.
type ScryptParams struct {
	N, R, P int
}

var (
	// StandardScrypt is what geth and gotron-sdk use by default: 256 MiB
	// and about a second of CPU per unlock.
	StandardScrypt = ScryptParams{N: 1 << 18, R: 8, P: 1}
	// LightScrypt costs 64 MiB and about a second in a mid-range phone's
	// browser (docs/wallet.md has the measurements): the browser wallet's
	// keystore, and `btspeed wallet keystore export --light`. It was
	// geth's light setting (N=2^12, p=6: 4 MiB) before; such keystores
	// still open, and the browser wallet re-encrypts them on unlock.
	LightScrypt = ScryptParams{N: 1 << 16, R: 8, P: 1}
)

// MinPasswordLen is the fewest characters (Unicode code points) the
// password of a new keystore may have: whoever copies the file can try
// passwords offline as fast as the key derivation allows.
const MinPasswordLen = 10

// ErrShortPassword is CheckNewPassword's answer to a password shorter than
// MinPasswordLen.
var ErrShortPassword = fmt.Errorf("wallet: the password is too short: choose one of at least %d characters", MinPasswordLen)

// CheckNewPassword returns ErrShortPassword when password is too short for
// a new keystore. Existing keystores open with any password.
func CheckNewPassword(password []byte) error {
	if utf8.RuneCount(password) < MinPasswordLen {
		return ErrShortPassword
	}
	return nil
}

func (p ScryptParams) validate() error {
	switch {
	case p.N < 2 || p.N&(p.N-1) != 0:
		return fmt.Errorf("scrypt n=%d is not a power of two >= 2", p.N)
	case p.R < 1 || p.P < 1 || p.P > maxScryptP:
		return fmt.Errorf("scrypt r=%d p=%d out of range", p.R, p.P)
	}
	hi, lo := bits.Mul64(uint64(128*p.R), uint64(p.N))
	if hi != 0 || lo > maxScryptMemory || p.R > maxScryptMemory/128 {
		return fmt.Errorf("scrypt n=%d r=%d needs more than %d MiB", p.N, p.R, maxScryptMemory>>20)
	}
	if lo*uint64(p.P) > maxScryptWork {
		return fmt.Errorf("scrypt n=%d r=%d p=%d costs more than a standard unlock", p.N, p.R, p.P)
	}
	return nil
}

// keystoreJSON is Web3 Secret Storage v3. encoding/json matches field names
// case-insensitively, so old geth files with "Crypto" read too.
type keystoreJSON struct {
	Address string         `json:"address"`
	Crypto  keystoreCrypto `json:"crypto"`
	ID      string         `json:"id"`
	Version int            `json:"version"`
}

type keystoreCrypto struct {
	Cipher       string `json:"cipher"`
	CipherText   string `json:"ciphertext"`
	CipherParams struct {
		IV string `json:"iv"`
	} `json:"cipherparams"`
	KDF       string          `json:"kdf"`
	KDFParams json.RawMessage `json:"kdfparams"`
	MAC       string          `json:"mac"`
}

type scryptJSON struct {
	DKLen int    `json:"dklen"`
	N     int    `json:"n"`
	R     int    `json:"r"`
	P     int    `json:"p"`
	Salt  string `json:"salt"`
}

type pbkdf2JSON struct {
	DKLen int    `json:"dklen"`
	C     int    `json:"c"`
	PRF   string `json:"prf"`
	Salt  string `json:"salt"`
}

// EncryptKeystore returns k encrypted with password as Web3 Secret Storage v3
// JSON. The address field is TRON's hex form ("41..."), as gotron-sdk writes.
func EncryptKeystore(k *PrivateKey, password []byte, params ScryptParams) ([]byte, error) {
	if err := params.validate(); err != nil {
		return nil, fmt.Errorf("wallet: keystore parameters: %w", err)
	}
	var salt [32]byte
	var iv [aes.BlockSize]byte
	var id [16]byte
	for _, b := range [][]byte{salt[:], iv[:], id[:]} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("wallet: keystore randomness: %w", err)
		}
	}
	dk, err := scrypt.Key(password, salt[:], params.N, params.R, params.P, 32)
	if err != nil {
		return nil, fmt.Errorf("wallet: keystore scrypt: %w", err)
	}
	ct := aesCTR(dk[:16], iv[:], k.Bytes())
	sp, err := json.Marshal(scryptJSON{DKLen: 32, N: params.N, R: params.R, P: params.P, Salt: hex.EncodeToString(salt[:])})
	if err != nil {
		return nil, fmt.Errorf("wallet: keystore: %w", err)
	}
	ks := keystoreJSON{
		Address: k.Address().Hex(),
		ID:      uuidString(id),
		Version: 3,
	}
	ks.Crypto = keystoreCrypto{
		Cipher:     "aes-128-ctr",
		CipherText: hex.EncodeToString(ct),
		KDF:        "scrypt",
		KDFParams:  sp,
		MAC:        hex.EncodeToString(keccak256(dk[16:32], ct)),
	}
	ks.Crypto.CipherParams.IV = hex.EncodeToString(iv[:])
	out, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("wallet: keystore: %w", err)
	}
	return append(out, '\n'), nil
}

// KeystoreAddress returns the address a keystore file claims to hold without
// decrypting it. The claim is only checked by DecryptKeystore.
func KeystoreAddress(data []byte) (Address, error) {
	ks, err := parseKeystore(data)
	if err != nil {
		return Address{}, err
	}
	a, ok := parseKeystoreAddress(ks.Address)
	if !ok {
		return Address{}, fmt.Errorf("%w: address field %q", ErrKeystoreInvalid, truncate(ks.Address, 50))
	}
	return a, nil
}

// DecryptKeystore decrypts a Web3 Secret Storage v3 file (scrypt or
// PBKDF2-HMAC-SHA256, AES-128-CTR). It returns ErrWrongPassword when the MAC
// does not match and an error wrapping ErrKeystoreInvalid for anything wrong
// with the file.
func DecryptKeystore(data, password []byte) (*PrivateKey, error) {
	ks, err := parseKeystore(data)
	if err != nil {
		return nil, err
	}
	c := ks.Crypto
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrKeystoreInvalid, fmt.Sprintf(format, args...))
	}
	if !strings.EqualFold(c.Cipher, "aes-128-ctr") {
		return nil, bad("unsupported cipher %q", truncate(c.Cipher, 32))
	}
	iv, err := hex.DecodeString(c.CipherParams.IV)
	if err != nil || len(iv) != aes.BlockSize {
		return nil, bad("iv must be %d hex-encoded bytes", aes.BlockSize)
	}
	ct, err := hex.DecodeString(c.CipherText)
	if err != nil || len(ct) != 32 {
		return nil, bad("ciphertext must be 32 hex-encoded bytes")
	}
	mac, err := hex.DecodeString(c.MAC)
	if err != nil || len(mac) != 32 {
		return nil, bad("mac must be 32 hex-encoded bytes")
	}
	dk, err := deriveKeystoreKey(c.KDF, c.KDFParams, password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeystoreInvalid, err)
	}
	if subtle.ConstantTimeCompare(keccak256(dk[16:32], ct), mac) != 1 {
		return nil, ErrWrongPassword
	}
	k, err := PrivateKeyFromBytes(aesCTR(dk[:16], iv, ct))
	if err != nil {
		return nil, bad("decrypted key: %v", err)
	}
	if ks.Address != "" {
		claimed, ok := parseKeystoreAddress(ks.Address)
		if !ok {
			return nil, bad("address field %q", truncate(ks.Address, 50))
		}
		if claimed != k.Address() {
			return nil, bad("address field %s does not match the key's address %s", claimed, k.Address())
		}
	}
	return k, nil
}

// KeystoreWeakerThan reports whether a keystore's key derivation is cheaper
// than params: scrypt with less memory (N*r) or less work (N*r*p), or
// PBKDF2 (not memory-hard at all). Such a keystore is worth re-encrypting
// with params once it has been unlocked; a stronger one is left as it is.
func KeystoreWeakerThan(data []byte, params ScryptParams) (bool, error) {
	ks, err := parseKeystore(data)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(ks.Crypto.KDF) {
	case "pbkdf2":
		return true, nil
	case "scrypt":
		var p scryptJSON
		if err := json.Unmarshal(ks.Crypto.KDFParams, &p); err != nil {
			return false, fmt.Errorf("%w: scrypt parameters: %v", ErrKeystoreInvalid, err)
		}
		if err := (ScryptParams{N: p.N, R: p.R, P: p.P}).validate(); err != nil {
			return false, fmt.Errorf("%w: %v", ErrKeystoreInvalid, err)
		}
		// validate bounds N*r*p, so none of these overflow.
		mem, want := uint64(p.N)*uint64(p.R), uint64(params.N)*uint64(params.R)
		return mem < want || mem*uint64(p.P) < want*uint64(params.P), nil
	default:
		return false, fmt.Errorf("%w: unsupported kdf %q", ErrKeystoreInvalid, truncate(ks.Crypto.KDF, 32))
	}
}

func parseKeystore(data []byte) (*keystoreJSON, error) {
	if len(data) > MaxKeystoreSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrKeystoreInvalid, len(data), MaxKeystoreSize)
	}
	var ks keystoreJSON
	if err := json.Unmarshal(data, &ks); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeystoreInvalid, err)
	}
	if ks.Version != 3 {
		return nil, fmt.Errorf("%w: version %d, want 3", ErrKeystoreInvalid, ks.Version)
	}
	return &ks, nil
}

// parseKeystoreAddress accepts TRON's 21-byte hex ("41..."), Ethereum's
// 20-byte hex (same key hash, as geth writes it) and base58check.
func parseKeystoreAddress(s string) (Address, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if strings.HasPrefix(s, "T") {
		a, err := ParseAddress(s)
		return a, err == nil
	}
	if len(s) == 40 {
		s = "41" + s
	}
	a, err := ParseHexAddress(s)
	return a, err == nil
}

func deriveKeystoreKey(kdf string, raw json.RawMessage, password []byte) ([]byte, error) {
	switch strings.ToLower(kdf) {
	case "scrypt":
		var p scryptJSON
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("scrypt parameters: %v", err)
		}
		salt, err := decodeSalt(p.Salt)
		if err != nil {
			return nil, err
		}
		if p.DKLen < 32 || p.DKLen > 64 {
			return nil, fmt.Errorf("scrypt dklen=%d, want 32..64", p.DKLen)
		}
		if err := (ScryptParams{N: p.N, R: p.R, P: p.P}).validate(); err != nil {
			return nil, err
		}
		return scrypt.Key(password, salt, p.N, p.R, p.P, p.DKLen)
	case "pbkdf2":
		var p pbkdf2JSON
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("pbkdf2 parameters: %v", err)
		}
		salt, err := decodeSalt(p.Salt)
		if err != nil {
			return nil, err
		}
		if p.PRF != "hmac-sha256" {
			return nil, fmt.Errorf("unsupported pbkdf2 prf %q", truncate(p.PRF, 32))
		}
		if p.C < 1 || p.C > maxPBKDF2Rounds || p.DKLen < 32 || p.DKLen > 64 {
			return nil, fmt.Errorf("pbkdf2 c=%d dklen=%d out of range", p.C, p.DKLen)
		}
		return pbkdf2.Key(sha256.New, string(password), salt, p.C, p.DKLen)
	default:
		return nil, fmt.Errorf("unsupported kdf %q", truncate(kdf, 32))
	}
}

func decodeSalt(s string) ([]byte, error) {
	salt, err := hex.DecodeString(s)
	if err != nil || len(salt) == 0 || len(salt) > maxSaltLen {
		return nil, fmt.Errorf("salt must be 1..%d hex-encoded bytes", maxSaltLen)
	}
	return salt, nil
}

func aesCTR(key, iv, in []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("wallet: aes: %v", err)) // key is always 16 bytes
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out
}

// uuidString formats 16 random bytes as an RFC 4122 version 4 UUID.
func uuidString(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var buf bytes.Buffer
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf.WriteByte('-')
		}
		fmt.Fprintf(&buf, "%02x", x)
	}
	return buf.String()
}
