package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger/ledgertest"
)

// startRelay runs dist/relay as ./build.sh run does, without TRON (or
// with the TRON flags given), and returns its URL.
func startRelay(t *testing.T, tron ...string) string {
	t.Helper()
	bin := ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")
	dir := t.TempDir()
	if len(tron) == 0 {
		tron = []string{"-tron", "off"}
	}
	return ledgertest.StartWith(t, ledgertest.Options{Binary: bin},
		append([]string{"-data", dir, "-faucet-difficulty", "8", "-dht", "off", "-peer-listen", "127.0.0.1:0"}, tron...)...).URL
}

// A newcomer's CLI: one command makes and installs the wallet, one claims
// test BTT through the relay (--relay or $BTSPEED_RELAY names the ledger),
// and the faucet says what happened the second time.
func TestWalletInitFaucetAndRelay(t *testing.T) {
	relay := startRelay(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "cfg", "wallet.json")
	env := map[string]string{envWallet: path, envPassword: "a good password"}

	r := btspeed(t, env, "", "wallet", "init")
	if r.code != 0 || !strings.Contains(r.out, "Recovery phrase") || !strings.Contains(r.out, "Installed as "+path) {
		t.Fatalf("wallet init: %d %q %q", r.code, r.out, r.err)
	}
	before, _ := os.ReadFile(path)
	if r := btspeed(t, env, "", "wallet", "init"); r.code != 2 || !strings.Contains(r.err, "already installed") {
		t.Fatalf("a second init: %d %q", r.code, r.err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a second init changed the installed wallet")
	}
	restored := filepath.Join(dir, "restored.json")
	r = btspeed(t, map[string]string{envWallet: restored, envPassword: "a good password"}, abandonAbout+"\n", "wallet", "init", "--restore", "--mnemonic", "-")
	if r.code != 0 || !strings.Contains(r.out, "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH") || strings.Contains(r.out, "abandon") {
		t.Fatalf("wallet init --restore: %d %q %q", r.code, r.out, r.err)
	}
	if r := btspeed(t, map[string]string{envWallet: filepath.Join(dir, "short.json"), envPassword: "short"}, "", "wallet", "init"); r.code != 2 || !strings.Contains(r.err, "at least") {
		t.Fatalf("a short password: %d %q", r.code, r.err)
	}

	r = btspeed(t, env, "", "faucet", "--relay", relay)
	if r.code != 0 || !strings.HasPrefix(r.out, "Received 100.000000 BTT of test money") {
		t.Fatalf("faucet: %d %q %q", r.code, r.out, r.err)
	}
	r = btspeed(t, env, "", "faucet", "--relay", relay)
	if r.code != 2 || !strings.Contains(r.err, "already claimed") || !strings.Contains(r.err, "next grant opens at") {
		t.Fatalf("a second claim: %d %q %q", r.code, r.out, r.err)
	}
	env[envRelay] = relay
	if r := btspeed(t, env, "", "ledger", "balance"); r.code != 0 || r.out != "100.000000 BTT\n" {
		t.Fatalf("ledger balance through $BTSPEED_RELAY: %d %q %q", r.code, r.out, r.err)
	}
	// No relay answering there: the error names the ledger it tried.
	if r := btspeed(t, env, "", "ledger", "balance", "--relay", "http://127.0.0.1:1"); r.code != 2 || !strings.Contains(r.err, "http://127.0.0.1:1/ledger") {
		t.Fatalf("a relay that is not there: %d %q", r.code, r.err)
	}
	// A relay elsewhere has no devnet here: tron balance (of the installed
	// wallet) asks which node.
	if r := btspeed(t, env, "", "tron", "balance", "--relay", "https://relay.example.org"); r.code != 2 || !strings.Contains(r.err, "--node") {
		t.Fatalf("tron balance with a remote relay: %d %q", r.code, r.err)
	}
}
