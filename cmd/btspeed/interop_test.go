//go:build !js

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/address"
	"github.com/fbsobreira/gotron-sdk/pkg/keystore"
)

// These tests run the real btspeed binary and check what it prints against
// TRON's own JavaScript SDK (TronWeb, in interop/tronweb) and against
// gotron-sdk's keystore.

// envRequireInterop makes a missing TronWeb a failure instead of a skip;
// ./build.sh test sets it, after installing TronWeb.
const envRequireInterop = "BTSPEED_REQUIRE_INTEROP"

var oracleDir = filepath.Join("..", "..", "interop", "tronweb")

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "btspeed")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func exe(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Logf("%v: exit %d: %s", args, code, errOut.String())
	}
	return strings.TrimSpace(out.String()), code
}

type oracleRequest struct {
	Op         string `json:"op"`
	Mnemonic   string `json:"mnemonic,omitempty"`
	Index      uint32 `json:"index"`
	Message    string `json:"message"`
	Signature  string `json:"signature,omitempty"`
	PrivateKey string `json:"privateKey,omitempty"`
}

type oracleAnswer struct {
	Address    string `json:"address"`
	PrivateKey string `json:"privateKey"`
	Signature  string `json:"signature"`
	Error      string `json:"error"`
}

// askTronWeb sends a batch of requests to oracle.mjs.
func askTronWeb(t *testing.T, reqs []oracleRequest) []oracleAnswer {
	t.Helper()
	if _, err := os.Stat(filepath.Join(oracleDir, "node_modules", "tronweb")); err != nil {
		if os.Getenv(envRequireInterop) != "" {
			t.Fatalf("TronWeb is not installed in %s (run npm ci there): %v", oracleDir, err)
		}
		t.Skipf("TronWeb not installed in %s; ./build.sh test installs it and makes this a failure", oracleDir)
	}
	in, _ := json.Marshal(reqs)
	cmd := exec.Command("node", "oracle.mjs")
	cmd.Dir = oracleDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node oracle.mjs: %v\n%s", err, stderr.String())
	}
	var answers []oracleAnswer
	if err := json.Unmarshal(out, &answers); err != nil || len(answers) != len(reqs) {
		t.Fatalf("oracle answered %q: %v", out, err)
	}
	return answers
}

func randIndex(t *testing.T, max int64) uint32 {
	n, err := rand.Int(rand.Reader, big.NewInt(max))
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n.Int64())
}

func TestAgainstTronWeb(t *testing.T) {
	bin := buildBinary(t)
	type sample struct {
		phrase  string
		index   uint32
		address string
		message string
		sig     string
	}
	var samples []sample
	for i := range 16 {
		words := "12"
		if i%2 == 1 {
			words = "24"
		}
		out, code := exe(t, bin, nil, "wallet", "new", "--json", "--words", words)
		if code != 0 {
			t.Fatal("wallet new failed")
		}
		var n struct{ Mnemonic string }
		if err := json.Unmarshal([]byte(out), &n); err != nil {
			t.Fatal(err)
		}
		s := sample{phrase: n.Mnemonic, index: randIndex(t, 1<<31)}
		if i < 4 {
			s.index = uint32(i)
		}
		s.message = []string{"hello", "", "ünïcödé ✓", strings.Repeat("long message ", 100)}[i%4]
		idx := strings.TrimSpace(big.NewInt(int64(s.index)).String())
		s.address, _ = exe(t, bin, []string{envMnemonic + "=" + s.phrase}, "wallet", "address", "--index", idx)
		s.sig, code = exe(t, bin, []string{envMnemonic + "=" + s.phrase}, "wallet", "sign-message", "--index", idx, "--message", s.message)
		if code != 0 {
			t.Fatal("sign-message failed")
		}
		samples = append(samples, s)
	}
	var reqs []oracleRequest
	for _, s := range samples {
		reqs = append(reqs,
			oracleRequest{Op: "fromMnemonic", Mnemonic: s.phrase, Index: s.index},
			oracleRequest{Op: "verifyMessageV2", Message: s.message, Signature: s.sig})
	}
	answers := askTronWeb(t, reqs)
	for i, s := range samples {
		derived, verified := answers[2*i], answers[2*i+1]
		if derived.Error != "" || derived.Address != s.address {
			t.Errorf("phrase %q index %d: btspeed says %s, TronWeb fromMnemonic says %s %s", s.phrase, s.index, s.address, derived.Address, derived.Error)
		}
		if verified.Error != "" || verified.Address != s.address {
			t.Errorf("message %q signed by %s: TronWeb verifyMessageV2 recovers %s %s", s.message, s.address, verified.Address, verified.Error)
		}
	}

	// And the other way: TronWeb signs, btspeed verifies.
	k, _ := wallet.GenerateKey()
	signed := askTronWeb(t, []oracleRequest{{Op: "signMessageV2", Message: "from tronweb", PrivateKey: strings.TrimPrefix(bytesHex(k.Bytes()), "0x")}})
	if _, code := exe(t, bin, nil, "wallet", "verify-message", "--address", k.Address().String(), "--message", "from tronweb", "--signature", signed[0].Signature); code != 0 {
		t.Errorf("btspeed rejects TronWeb's signature %s: exit %d", signed[0].Signature, code)
	}
	if _, code := exe(t, bin, nil, "wallet", "verify-message", "--address", k.Address().String(), "--message", "from tronweB", "--signature", signed[0].Signature); code != 1 {
		t.Errorf("btspeed accepts TronWeb's signature for another message: exit %d", code)
	}
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, x := range b {
		sb.WriteByte(digits[x>>4])
		sb.WriteByte(digits[x&15])
	}
	return sb.String()
}

func TestKeystoreFilesMoveToAndFromGotron(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	pw := "a long password"
	env := []string{envPassword + "=" + pw}

	// btspeed writes, gotron-sdk reads.
	ours := filepath.Join(dir, "ours.json")
	addr, code := exe(t, bin, append(env, envMnemonic+"="+abandonAbout), "wallet", "keystore", "export", "--file", ours, "--index", "7")
	if code != 0 {
		t.Fatal("export failed")
	}
	data, _ := os.ReadFile(ours)
	key, err := keystore.DecryptKey(data, pw)
	if err != nil {
		t.Fatalf("gotron-sdk cannot read btspeed's keystore: %v", err)
	}
	if key.Address.String() != addr {
		t.Fatalf("gotron-sdk reads %s, btspeed wrote %s", key.Address, addr)
	}

	// gotron-sdk writes, btspeed reads.
	priv, _ := crypto.GenerateKey()
	theirs := &keystore.Key{Address: address.PubkeyToAddress(priv.PublicKey), PrivateKey: priv}
	blob, err := keystore.EncryptKey(theirs, pw, keystore.StandardScryptN, keystore.StandardScryptP)
	if err != nil {
		t.Fatal(err)
	}
	theirFile := filepath.Join(dir, "theirs.json")
	os.WriteFile(theirFile, blob, 0o600)
	got, code := exe(t, bin, env, "wallet", "keystore", "unlock", "--file", theirFile)
	if code != 0 || got != theirs.Address.String() {
		t.Fatalf("btspeed unlock of gotron-sdk's keystore: %q exit %d, want %s", got, code, theirs.Address)
	}
	if _, code := exe(t, bin, []string{envPassword + "=nope"}, "wallet", "keystore", "unlock", "--file", theirFile); code != 2 {
		t.Fatalf("wrong password: exit %d", code)
	}
}
