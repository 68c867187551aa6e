package wallet

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The two test vectors of the Web3 Secret Storage definition: password
// "testpassword", key 7a28b5ba...fe9d.
const (
	web3ScryptVector = `{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"83dbcc02d8ccb40e466191a123791e0e"},"ciphertext":"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c","kdf":"scrypt","kdfparams":{"dklen":32,"n":262144,"r":1,"p":8,"salt":"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},"mac":"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}`
	web3PBKDF2Vector = `{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2","kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}`
	web3VectorKey    = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
)

func TestKeystoreSpecVectors(t *testing.T) {
	for name, v := range map[string]string{"scrypt": web3ScryptVector, "pbkdf2": web3PBKDF2Vector} {
		k, err := DecryptKeystore([]byte(v), []byte("testpassword"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := strings.ToLower(string(hexOf(k.Bytes()))); got != web3VectorKey {
			t.Errorf("%s: key %s, want %s", name, got, web3VectorKey)
		}
		if _, err := DecryptKeystore([]byte(v), []byte("testpassworD")); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("%s with a wrong password: %v", name, err)
		}
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return out
}

func TestKeystoreRoundTrip(t *testing.T) {
	k, _ := GenerateKey()
	data, err := EncryptKeystore(k, []byte("correct horse"), LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["address"] != k.Address().Hex() || fields["version"] != float64(3) {
		t.Fatalf("address/version fields: %v %v", fields["address"], fields["version"])
	}
	a, err := KeystoreAddress(data)
	if err != nil || a != k.Address() {
		t.Fatalf("KeystoreAddress = %v, %v", a, err)
	}
	got, err := DecryptKeystore(data, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Address() != k.Address() {
		t.Fatal("decrypted a different key")
	}
	if _, err := DecryptKeystore(data, []byte("Correct horse")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	// Same key twice: different salt, IV and id each time.
	again, _ := EncryptKeystore(k, []byte("correct horse"), LightScrypt)
	if string(again) == string(data) {
		t.Fatal("two encryptions are identical")
	}
}

// edit returns data with one JSON field changed by f.
func edit(t *testing.T, data []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKeystoreDamage(t *testing.T) {
	k, _ := GenerateKey()
	pw := []byte("pw")
	data, _ := EncryptKeystore(k, pw, ScryptParams{N: 1 << 10, R: 8, P: 1})
	other, _ := GenerateKey()
	cryptoField := func(f func(c map[string]any)) func(m map[string]any) {
		return func(m map[string]any) { f(m["crypto"].(map[string]any)) }
	}
	kdf := func(f func(p map[string]any)) func(m map[string]any) {
		return cryptoField(func(c map[string]any) { f(c["kdfparams"].(map[string]any)) })
	}
	cases := map[string][]byte{
		"empty":            nil,
		"truncated":        data[:len(data)/2],
		"not json":         []byte("hello"),
		"json array":       []byte("[1,2,3]"),
		"version 2":        edit(t, data, func(m map[string]any) { m["version"] = 2 }),
		"other cipher":     edit(t, data, cryptoField(func(c map[string]any) { c["cipher"] = "aes-256-gcm" })),
		"short iv":         edit(t, data, cryptoField(func(c map[string]any) { c["cipherparams"] = map[string]any{"iv": "00"} })),
		"bad mac hex":      edit(t, data, cryptoField(func(c map[string]any) { c["mac"] = "zz" })),
		"short ciphertext": edit(t, data, cryptoField(func(c map[string]any) { c["ciphertext"] = "00ff" })),
		"unknown kdf":      edit(t, data, cryptoField(func(c map[string]any) { c["kdf"] = "argon2" })),
		"huge n":           edit(t, data, kdf(func(p map[string]any) { p["n"] = 1 << 30 })),
		"huge r":           edit(t, data, kdf(func(p map[string]any) { p["r"] = 1 << 40 })),
		"n not pow2":       edit(t, data, kdf(func(p map[string]any) { p["n"] = 1000 })),
		"huge p":           edit(t, data, kdf(func(p map[string]any) { p["p"] = 1000 })),
		"512 MiB":          edit(t, data, kdf(func(p map[string]any) { p["n"] = 1 << 19 })),
		"two standard":     edit(t, data, kdf(func(p map[string]any) { p["n"], p["p"] = 1<<18, 2 })),
		"dklen 16":         edit(t, data, kdf(func(p map[string]any) { p["dklen"] = 16 })),
		"no salt":          edit(t, data, kdf(func(p map[string]any) { delete(p, "salt") })),
		"n as string":      edit(t, data, kdf(func(p map[string]any) { p["n"] = "4096" })),
		"wrong address":    edit(t, data, func(m map[string]any) { m["address"] = other.Address().Hex() }),
		"garbage address":  edit(t, data, func(m map[string]any) { m["address"] = "nope" }),
		"too big":          append(data, make([]byte, MaxKeystoreSize)...),
	}
	for name, in := range cases {
		_, err := DecryptKeystore(in, pw)
		if !errors.Is(err, ErrKeystoreInvalid) {
			t.Errorf("%s: got %v, want ErrKeystoreInvalid", name, err)
		}
	}
	// A flipped ciphertext bit is caught by the MAC, which cannot tell it
	// from a wrong password; either way no wrong key comes out.
	flipped := edit(t, data, cryptoField(func(c map[string]any) {
		s := []byte(c["ciphertext"].(string))
		if s[0] == '0' {
			s[0] = '1'
		} else {
			s[0] = '0'
		}
		c["ciphertext"] = string(s)
	}))
	if _, err := DecryptKeystore(flipped, pw); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("flipped ciphertext: %v", err)
	}
	// Ethereum's 20-byte address form and a missing address both read.
	for name, in := range map[string][]byte{
		"eth address": edit(t, data, func(m map[string]any) { m["address"] = k.Address().Hex()[2:] }),
		"no address":  edit(t, data, func(m map[string]any) { delete(m, "address") }),
		"base58":      edit(t, data, func(m map[string]any) { m["address"] = k.Address().String() }),
	} {
		if got, err := DecryptKeystore(in, pw); err != nil || got.Address() != k.Address() {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Which keystores are cheaper to attack than LightScrypt, and so get
// re-encrypted when the browser wallet unlocks them. Only the parameters
// count (nothing is decrypted), so the files are one cheap keystore with
// its kdfparams edited.
func TestKeystoreWeakerThan(t *testing.T) {
	k, _ := GenerateKey()
	data, err := EncryptKeystore(k, []byte("pw"), ScryptParams{N: 2, R: 1, P: 1})
	if err != nil {
		t.Fatal(err)
	}
	withParams := func(p ScryptParams) []byte {
		return edit(t, data, func(m map[string]any) {
			kp := m["crypto"].(map[string]any)["kdfparams"].(map[string]any)
			kp["n"], kp["r"], kp["p"] = p.N, p.R, p.P
		})
	}
	for _, c := range []struct {
		name   string
		data   []byte
		weaker bool
	}{
		{"geth light (the old browser default)", withParams(ScryptParams{N: 1 << 12, R: 8, P: 6}), true},
		{"light", withParams(LightScrypt), false},
		{"standard", withParams(StandardScrypt), false},
		{"less memory, more passes", withParams(ScryptParams{N: 1 << 15, R: 8, P: 4}), true},
		{"as much memory, more passes", withParams(ScryptParams{N: 1 << 16, R: 8, P: 2}), false},
		{"pbkdf2", []byte(web3PBKDF2Vector), true},
		{"web3 scrypt vector (r=1: 32 MiB)", []byte(web3ScryptVector), true},
	} {
		got, err := KeystoreWeakerThan(c.data, LightScrypt)
		if err != nil || got != c.weaker {
			t.Errorf("%s: weaker %v (%v), want %v", c.name, got, err, c.weaker)
		}
	}
	for name, bad := range map[string][]byte{
		"n=2^30":      withParams(ScryptParams{N: 1 << 30, R: 8, P: 1}),
		"unknown kdf": edit(t, data, func(m map[string]any) { m["crypto"].(map[string]any)["kdf"] = "argon2" }),
		"not json":    []byte("{"),
	} {
		if _, err := KeystoreWeakerThan(bad, LightScrypt); !errors.Is(err, ErrKeystoreInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckNewPassword(t *testing.T) {
	for pw, ok := range map[string]bool{"": false, "123456789": false, "1234567890": true, "pässwörter": true, "ключ-ключ": false, "🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑": true} {
		err := CheckNewPassword([]byte(pw))
		if (err == nil) != ok || (err != nil && (!errors.Is(err, ErrShortPassword) || !strings.Contains(err.Error(), "at least 10 characters"))) {
			t.Errorf("%q: %v", pw, err)
		}
	}
}

func TestCreateKeystoreFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.json")
	if err := CreateKeystoreFile(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := CreateKeystoreFile(path, []byte("second")); !errors.Is(err, ErrKeystoreExists) {
		t.Fatalf("overwrite: %v", err)
	}
	got, err := ReadKeystoreFile(path)
	if err != nil || string(got) != "first" {
		t.Fatalf("content %q, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := CreateKeystoreFile(filepath.Join(dir, "missing", "k.json"), []byte("x")); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, MaxKeystoreSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeystoreFile(big); !errors.Is(err, ErrKeystoreInvalid) {
		t.Fatalf("oversized file: %v", err)
	}
}
