package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/wallet"
)

// apiCode is a ledger error code (insufficient_funds): for the cause line.
var apiCode = regexp.MustCompile(`\b[a-z]+_[a-z_]+\b`)

// Errors for people from a real relay with the embedded TRON devnet: each
// says on its first line what went wrong and what to do, with the
// technical cause (the ledger's code, the Go error chain) only on the
// second, "cause: ...". The faucet's grant brings test TRX for TRON's
// fees, and says so. Every command that signs says how to make a missing
// wallet.
func TestCLIErrorsForPeople(t *testing.T) {
	relay := startRelay(t, "-tron", "devnet", "-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms")
	dir := t.TempDir()
	env := map[string]string{envWallet: filepath.Join(dir, "wallet.json"), envPassword: "a good password", envRelay: relay}
	if r := btspeed(t, env, "", "wallet", "init"); r.code != 0 {
		t.Fatalf("wallet init: %d %q", r.code, r.err)
	}
	r := btspeed(t, env, "", "faucet")
	if r.code != 0 || !strings.HasPrefix(r.out, "Received 100.000000 BTT of test money") || !strings.Contains(r.out, "\nAlso 10.000000 test TRX on the TRON devnet at T") {
		t.Fatalf("faucet: %d %q %q", r.code, r.out, r.err)
	}
	// lines splits stderr into its first line and the rest, checking that
	// the first is for people: no error code, no package prefix.
	lines := func(what string, r result) (string, string) {
		t.Helper()
		first, rest, _ := strings.Cut(r.err, "\n")
		if r.code != exitFailure || strings.Contains(first, "ledger: ") || apiCode.MatchString(first) || strings.Contains(first, "sun") {
			t.Fatalf("%s: %d %q", what, r.code, r.err)
		}
		return first, rest
	}

	first, rest := lines("a second claim", btspeed(t, env, "", "faucet"))
	if !strings.HasPrefix(first, "btspeed: T") || !strings.Contains(first, "already claimed today's test BTT") || !strings.Contains(first, "the next grant opens at") ||
		!strings.HasPrefix(rest, "cause: ledger: faucet_claimed: ") {
		t.Fatalf("a second claim: %q / %q", first, rest)
	}
	first, rest = lines("an overdraft", btspeed(t, env, "", "ledger", "withdraw", "150"))
	if !strings.HasPrefix(first, "btspeed: your ledger balance is too low for this: ask for less, claim test BTT with 'btspeed faucet'") ||
		!strings.HasPrefix(rest, "cause: withdrawal refused: ledger: insufficient_funds: ") {
		t.Fatalf("an overdraft: %q / %q", first, rest)
	}
	wrong := map[string]string{envWallet: env[envWallet], envPassword: "not the password", envRelay: relay}
	first, rest = lines("a wrong password", btspeed(t, wrong, "", "faucet"))
	if !strings.HasPrefix(first, "btspeed: wrong password for the wallet: try again") || !strings.Contains(rest, "cause: ") || !strings.Contains(rest, "wrong password") {
		t.Fatalf("a wrong password: %q / %q", first, rest)
	}
	first, rest = lines("no relay", btspeed(t, env, "", "ledger", "balance", "--relay", "http://127.0.0.1:1"))
	if !strings.HasPrefix(first, "btspeed: cannot reach the relay or its ledger (is it running?") || !strings.Contains(rest, "cause: ledger at http://127.0.0.1:1/ledger: ") {
		t.Fatalf("no relay: %q / %q", first, rest)
	}
	none := map[string]string{envWallet: filepath.Join(dir, "none.json"), envPassword: "a good password", envRelay: relay}
	other, _ := wallet.GenerateKey()
	for _, args := range [][]string{{"faucet"}, {"ledger", "transfer", "1", "--to", other.Address().String()}, {"store", "get", "0123456789abcdef", "-o", filepath.Join(dir, "got")}} {
		first, rest = lines("no wallet", btspeed(t, none, "", args...))
		if first != "btspeed: there is no wallet at "+none[envWallet]+" yet: make one with 'btspeed wallet init' (or name another with --wallet PATH)" || !strings.Contains(rest, "no such file") {
			t.Fatalf("no wallet, %s: %q / %q", strings.Join(args, " "), first, rest)
		}
	}
	bad := filepath.Join(dir, "bad.torrent")
	if err := os.WriteFile(bad, []byte("this is not bencode"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, rest = lines("a bad torrent file", btspeed(t, env, "", "get", bad, "--speed", "off", "--out", dir))
	if first != "btspeed: "+bad+" is not a torrent file: give a .torrent file, a magnet link or a URL of one" || !strings.HasPrefix(rest, "cause: ") {
		t.Fatalf("a bad torrent file: %q / %q", first, rest)
	}
}
