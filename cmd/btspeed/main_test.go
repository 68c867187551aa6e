package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/wallet"
)

const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

type result struct {
	code     int
	out, err string
}

// btspeed runs the command in-process with the given environment and stdin.
func btspeed(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, stdio{in: strings.NewReader(stdin), out: &out, err: &errOut}, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

func TestAddressFromEveryPhraseSource(t *testing.T) {
	const want = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH\n"
	for name, r := range map[string]result{
		"flag":  btspeed(t, nil, "", "wallet", "address", "--mnemonic", abandonAbout),
		"stdin": btspeed(t, nil, "  "+abandonAbout+"\n", "wallet", "address", "--mnemonic", "-"),
		"env":   btspeed(t, map[string]string{envMnemonic: abandonAbout}, "", "wallet", "address"),
	} {
		if r.code != 0 || r.out != want {
			t.Errorf("%s: code %d out %q err %q", name, r.code, r.out, r.err)
		}
	}
	r := btspeed(t, nil, "", "wallet", "address", "--mnemonic", abandonAbout, "--index", "1")
	if r.out != "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK\n" {
		t.Errorf("index 1: %q", r.out)
	}
}

func TestErrorsExitTwoOnStderr(t *testing.T) {
	for name, args := range map[string][]string{
		"no command":      {},
		"unknown command": {"frobnicate"},
		"bad checksum":    {"wallet", "address", "--mnemonic", strings.Replace(abandonAbout, "about", "above", 1)},
		"unknown word":    {"wallet", "address", "--mnemonic", strings.Replace(abandonAbout, "about", "aboot", 1)},
		"no phrase":       {"wallet", "address"},
		"bad flag":        {"wallet", "address", "--nope"},
		"stray argument":  {"wallet", "address", "--mnemonic", "abandon", "abandon"},
		"bad words":       {"wallet", "new", "--words", "13"},
		"index too big":   {"wallet", "address", "--mnemonic", abandonAbout, "--index", "2147483648"},
		"no message":      {"wallet", "sign-message", "--mnemonic", abandonAbout},
	} {
		r := btspeed(t, nil, "", args...)
		if r.code != exitFailure || r.err == "" {
			t.Errorf("%s: code %d, stderr %q", name, r.code, r.err)
		}
		if name != "no command" && r.out != "" {
			t.Errorf("%s: wrote to stdout: %q", name, r.out)
		}
	}
}

func TestSignAndVerifyMessage(t *testing.T) {
	sign := btspeed(t, nil, "", "wallet", "sign-message", "--mnemonic", abandonAbout, "--index", "1", "--message", "hello")
	// TronWeb 6.5.1 produces exactly this signature for the same key and message.
	const want = "0x697fc2ee24e291aa696271274ce78b38e45b357bd59a0b33179645d0efbe65e54f2c650b5e495581abac479445516be72952c7bb44104524b8c80db6ef6d6f941c"
	if sign.code != 0 || strings.TrimSpace(sign.out) != want {
		t.Fatalf("sign-message: %+v", sign)
	}
	verify := func(addr, msg, sig string) int {
		return btspeed(t, nil, "", "wallet", "verify-message", "--address", addr, "--message", msg, "--signature", sig).code
	}
	const addr = "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK"
	for _, tc := range []struct {
		name, addr, msg, sig string
		want                 int
	}{
		{"valid", addr, "hello", want, 0},
		{"other message", addr, "hello!", want, 1},
		{"other address", "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH", "hello", want, 1},
		{"bad V", addr, "hello", want[:130] + "05", 1},
		{"short signature", addr, "hello", want[:100], 2},
		{"not hex", addr, "hello", "0x" + strings.Repeat("zz", 65), 2},
		{"bad address", "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZZ", "hello", want, 2},
	} {
		if got := verify(tc.addr, tc.msg, tc.sig); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
	if r := btspeed(t, nil, "", "wallet", "verify-message", "--address", addr, "--signature", want); r.code != 2 {
		t.Errorf("missing --message: exit %d", r.code)
	}
	// An empty message is a message.
	empty := btspeed(t, nil, "", "wallet", "sign-message", "--mnemonic", abandonAbout, "--message", "")
	if empty.code != 0 || verify("TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH", "", strings.TrimSpace(empty.out)) != 0 {
		t.Errorf("empty message: %+v", empty)
	}
}

func TestNewJSON(t *testing.T) {
	r := btspeed(t, nil, "", "wallet", "new", "--words", "24", "--json")
	var v struct{ Mnemonic, Address, Path string }
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatalf("%v: %q", err, r.out)
	}
	if len(strings.Fields(v.Mnemonic)) != 24 || v.Path != "m/44'/195'/0'/0/0" {
		t.Fatalf("unexpected %+v", v)
	}
	a := btspeed(t, nil, "", "wallet", "address", "--mnemonic", v.Mnemonic)
	if strings.TrimSpace(a.out) != v.Address {
		t.Fatalf("new printed %s, address says %s", v.Address, a.out)
	}
	text := btspeed(t, nil, "", "wallet", "new")
	if text.code != 0 || !strings.Contains(text.out, "Address: T") {
		t.Fatalf("text output: %q", text.out)
	}
}

// The keystore commands: export (a phrase's key to a keystore file that
// unlocks and signs like the phrase), unlock and import; refused, with
// nothing written: an export over an existing file, a wrong or too short
// password, a damaged file, a keystore too costly to open.
func TestKeystoreCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k.json")
	env := map[string]string{envPassword: "hunter2hunter2"}

	exp := btspeed(t, env, "", "wallet", "keystore", "export", "--file", file, "--mnemonic", abandonAbout, "--index", "3", "--light")
	if exp.code != 0 {
		t.Fatalf("export: %+v", exp)
	}
	want := btspeed(t, nil, "", "wallet", "address", "--mnemonic", abandonAbout, "--index", "3").out
	if exp.out != want {
		t.Fatalf("export printed %q, want %q", exp.out, want)
	}
	if r := btspeed(t, env, "", "wallet", "keystore", "unlock", "--file", file); r.code != 0 || r.out != want {
		t.Fatalf("unlock: %+v", r)
	}
	// The keystore signs like the phrase it came from.
	s1 := btspeed(t, env, "", "wallet", "sign-message", "--keystore", file, "--message", "m")
	s2 := btspeed(t, nil, "", "wallet", "sign-message", "--mnemonic", abandonAbout, "--index", "3", "--message", "m")
	if s1.code != 0 || s1.out != s2.out {
		t.Fatalf("keystore signature %q, phrase signature %q (%s)", s1.out, s2.out, s1.err)
	}

	before, _ := os.ReadFile(file)
	if r := btspeed(t, env, "", "wallet", "keystore", "export", "--file", file, "--mnemonic", abandonAbout); r.code != 2 || !strings.Contains(r.err, "already exists") {
		t.Fatalf("export over an existing file: %+v", r)
	}
	after, _ := os.ReadFile(file)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused export changed the existing keystore")
	}

	wrong := btspeed(t, map[string]string{envPassword: "wrong password"}, "", "wallet", "keystore", "unlock", "--file", file)
	if wrong.code != 2 || !strings.Contains(wrong.err, "wrong password") {
		t.Fatalf("wrong password: %+v", wrong)
	}
	if r := btspeed(t, map[string]string{envPassword: "123456789"}, "", "wallet", "keystore", "export", "--file", filepath.Join(dir, "x.json"), "--mnemonic", abandonAbout); r.code != 2 || !strings.Contains(r.err, "at least 10 characters") {
		t.Fatalf("a 9-character password: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.json")); !os.IsNotExist(err) {
		t.Fatal("a refused export left a file")
	}

	damaged := filepath.Join(dir, "damaged.json")
	os.WriteFile(damaged, before[:len(before)/2], 0o600)
	if r := btspeed(t, env, "", "wallet", "keystore", "unlock", "--file", damaged); r.code != 2 || !strings.Contains(r.err, "damaged") {
		t.Fatalf("damaged file: %+v", r)
	}

	keystoreScryptBounds(t, dir, env, before)

	// import installs the file as the wallet, which export then reads.
	walletPath := filepath.Join(dir, "cfg", "btspeed", "wallet.json")
	env[envWallet] = walletPath
	if r := btspeed(t, env, "", "wallet", "keystore", "import", "--file", file); r.code != 0 || !strings.HasPrefix(r.out, want) {
		t.Fatalf("import: %+v", r)
	}
	if r := btspeed(t, env, "", "wallet", "keystore", "import", "--file", file); r.code != 2 {
		t.Fatalf("second import over the installed wallet: %+v", r)
	}
	copyFile := filepath.Join(dir, "copy.json")
	if r := btspeed(t, env, "", "wallet", "keystore", "export", "--file", copyFile, "--light"); r.code != 0 || r.out != want {
		t.Fatalf("export of the installed wallet: %+v", r)
	}
	data, _ := os.ReadFile(copyFile)
	k, err := wallet.DecryptKeystore(data, []byte(env[envPassword]))
	if err != nil || k.Address().String()+"\n" != want {
		t.Fatalf("exported copy: %v", err)
	}
}

// keystoreScryptBounds checks a keystore asking for more scrypt memory
// than any standard one (n=2^20: 1 GiB), made from the keystore before, is
// refused before any is allocated, and not installed; an older, cheaper
// one (geth's light n=4096, p=6, what the web app wrote before) is
// accepted. Its files go in dir; env holds the password for before.
func keystoreScryptBounds(t *testing.T, dir string, env map[string]string, before []byte) {
	t.Helper()
	var ks map[string]any
	json.Unmarshal(before, &ks)
	ks["crypto"].(map[string]any)["kdfparams"].(map[string]any)["n"] = 1 << 20
	huge, _ := json.Marshal(ks)
	hugeFile := filepath.Join(dir, "huge.json")
	os.WriteFile(hugeFile, huge, 0o600)
	hugeWallet := filepath.Join(dir, "huge-wallet.json")
	if r := btspeed(t, env, "", "wallet", "keystore", "import", "--file", hugeFile, "--wallet", hugeWallet); r.code != 2 || !strings.Contains(r.err, "more than 256 MiB") {
		t.Fatalf("import of a keystore with n=2^20: %+v", r)
	}
	if _, err := os.Stat(hugeWallet); !os.IsNotExist(err) {
		t.Fatal("a refused import installed the file")
	}
	k3, _ := wallet.GenerateKey()
	oldLight, _ := wallet.EncryptKeystore(k3, []byte("8chars!!"), wallet.ScryptParams{N: 1 << 12, R: 8, P: 6})
	oldFile := filepath.Join(dir, "old-light.json")
	os.WriteFile(oldFile, oldLight, 0o600)
	if r := btspeed(t, map[string]string{envPassword: "8chars!!"}, "", "wallet", "keystore", "unlock", "--file", oldFile); r.code != 0 || r.out != k3.Address().String()+"\n" {
		t.Fatalf("an old light keystore with an 8-character password: %+v", r)
	}
}
