package main

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// keystoreFile writes a new key's keystore (password "password123").
func keystoreFile(t *testing.T, dir, name string) (*wallet.PrivateKey, string) {
	t.Helper()
	k, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	data, err := wallet.EncryptKeystore(k, []byte("password123"), wallet.LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return k, path
}

// seedProcess runs btspeed seed and returns its magnet link and address.
func seedProcess(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"seed"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	magnet := make(chan string, 1)
	addr := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			magnet <- s.Text()
		}
	}()
	go func() {
		defer close(exited)
		s := bufio.NewScanner(stderr)
		s.Split(scanCRLF)
		for s.Scan() {
			line := s.Text()
			t.Logf("seed: %s", line)
			if i := strings.Index(line, " on "); strings.HasPrefix(line, "seeding ") && i > 0 {
				addr <- strings.Fields(line[i+4:])[0]
			}
		}
	}()
	var m, a string
	for m == "" || a == "" {
		select {
		case m = <-magnet:
		case a = <-addr:
			a = strings.TrimSuffix(a, ";")
		case <-exited:
			t.Fatal("btspeed seed ended before printing its magnet link and address")
		case <-time.After(60 * time.Second):
			t.Fatal("btspeed seed printed no magnet link and address")
		}
	}
	return cmd, m, a
}

// scanCRLF splits on \n and \r, so progress lines come one by one.
func scanCRLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// btspeed seed and btspeed get, as the processes a user runs: a paid
// download through a real ledger (Speed on, wallets from keystore files),
// a free one with --speed off, and a clean Ctrl-C of the seed that closes
// its channel so the ledger pays it.
func TestSeedAndGet(t *testing.T) {
	bin := buildBinary(t)
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx := context.Background()
	lc := client.New(lp.URL, nil)
	dir := t.TempDir()
	prov, provWallet := keystoreFile(t, dir, "prov.json")
	req, reqWallet := keystoreFile(t, dir, "req.json")
	const funded = 50_000_000
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{req.Address()}, funded); err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "content", "movie.bin")
	os.MkdirAll(filepath.Dir(content), 0o755)
	data := make([]byte, 3<<20+1234)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(content, data, 0o644)
	env := []string{"BTSPEED_PASSWORD=password123", "BTSPEED_LEDGER=" + lp.URL, "BTSPEED_WALLET=" + filepath.Join(dir, "none.json")}

	seed, magnet, addr := seedProcess(t, bin, env, content, "--listen", "127.0.0.1:0", "--wallet", provWallet, "--reserve", "0.05")
	if !strings.HasPrefix(magnet, "magnet:?xt=urn:btih:") {
		t.Fatalf("seed printed %q", magnet)
	}

	out := t.TempDir()
	got, code := exe(t, bin, env, "get", magnet, "--peer", addr, "--out", out, "--listen", "127.0.0.1:0", "--wallet", reqWallet, "--budget", "10")
	if code != 0 || got != filepath.Join(out, "movie.bin") {
		t.Fatalf("get: exit %d, printed %q", code, got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "movie.bin")); !bytes.Equal(b, data) {
		t.Fatal("downloaded file differs")
	}
	afterPaid, err := lc.Balance(ctx, req.Address())
	if err != nil {
		t.Fatal(err)
	}

	// Speed off: a legacy download, served free.
	free := t.TempDir()
	if _, code := exe(t, bin, env, "get", magnet, "--peer", addr, "--out", free, "--listen", "127.0.0.1:0", "--speed", "off"); code != 0 {
		t.Fatalf("get --speed off: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(free, "movie.bin")); !bytes.Equal(b, data) {
		t.Fatal("free download differs")
	}

	// Ctrl-C: the seed closes the channel; the ledger pays it what the
	// requester's balance lost.
	seed.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- seed.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("seed exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("seed did not stop on SIGINT")
	}
	earned, err := lc.Balance(ctx, prov.Address())
	if err != nil {
		t.Fatal(err)
	}
	left, err := lc.Balance(ctx, req.Address())
	if err != nil {
		t.Fatal(err)
	}
	// 3 MiB at 0.05 BTT/MiB: 150,058 base units, less what came free before
	// the provider's first auction round priced the requester.
	if earned == 0 || earned+left != funded || left < afterPaid { // the free download cost nothing
		t.Fatalf("provider earned %d, requester has %d of %d (after the paid download: %d)", earned, left, funded, afterPaid)
	}
	if earned < 100_000 || earned > 150_058 {
		t.Fatalf("provider earned %d base units for 3 MiB at 50,000 per MiB", earned)
	}
}

// The must-show of issue 17, as a user runs it: a seed asking 6,000 BTT per
// MiB, and a requester holding 100 BTT with default settings downloading a
// 64 KiB file with --speed on, once fresh and once resumed with every piece
// but the last on disk (where the M5 formula alone bids 6,400 BTT per MiB
// for the last 16 KiB). Each run spends at most 1 BTT, counting any deposit
// still locked in an open channel: the default max price keeps the bid far
// below the reserve, so the seed serves the requester free, by throughput.
func TestGetWithDefaultsNeverOverpays(t *testing.T) {
	bin := buildBinary(t)
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx := context.Background()
	lc := client.New(lp.URL, nil)
	dir := t.TempDir()
	_, provWallet := keystoreFile(t, dir, "prov.json")
	req, reqWallet := keystoreFile(t, dir, "req.json")
	const funded = 100_000_000 // 100 BTT
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{req.Address()}, funded); err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "content", "small.bin")
	os.MkdirAll(filepath.Dir(content), 0o755)
	data := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(17, 17))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(content, data, 0o644)
	env := []string{"BTSPEED_PASSWORD=password123", "BTSPEED_LEDGER=" + lp.URL, "BTSPEED_WALLET=" + filepath.Join(dir, "none.json")}
	// A .torrent, so the requester knows the pieces and bids from the
	// first message on (from a magnet link it bids only once it fetched the
	// info, by when a free slot may have served it).
	torrentFile := filepath.Join(dir, "small.torrent")
	_, _, addr := seedProcess(t, bin, env, content, "--listen", "127.0.0.1:0", "--wallet", provWallet, "--reserve", "6000", "--torrent-out", torrentFile)

	pieceLen := int(engine.AutoPieceLength(int64(len(data))))
	if pieceLen >= len(data) {
		t.Fatalf("piece length %d: the file has one piece, nothing to resume", pieceLen)
	}
	for _, resumed := range []bool{false, true} {
		before, err := lc.Balance(ctx, req.Address())
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if resumed {
			partial := bytes.Clone(data)
			last := (len(data) - 1) / pieceLen * pieceLen
			clear(partial[last:])
			os.WriteFile(filepath.Join(out, "small.bin"), partial, 0o644)
		}
		got, code := exe(t, bin, env, "get", torrentFile, "--peer", addr, "--out", out, "--listen", "127.0.0.1:0", "--wallet", reqWallet, "--speed", "on")
		if code != 0 || got != filepath.Join(out, "small.bin") {
			t.Fatalf("get (resumed %v): exit %d, printed %q", resumed, code, got)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "small.bin")); !bytes.Equal(b, data) {
			t.Fatalf("downloaded file differs (resumed %v)", resumed)
		}
		// The balance right after: what was paid and what is still locked
		// in an open channel are both gone from it.
		after, err := lc.Balance(ctx, req.Address())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("resumed %v: %d base units spent or locked", resumed, before-after)
		if gone := before - after; gone > 1_000_000 {
			t.Fatalf("resumed %v: the download cost %d base units (%d BTT); at most 1 BTT with default settings", resumed, gone, gone/1_000_000)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "500KiB": 500 << 10, "2MiB/s": 2 << 20, "3 MB": 3_000_000, "1GiB": 1 << 30} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-1", "1.5MiB", "2TiB", "99999999999999999999", "9000000000GiB"} {
		if _, err := parseRate(bad); err == nil || !strings.Contains(err.Error(), "500KiB") {
			t.Errorf("parseRate(%q): %v, want a clear error", bad, err)
		}
	}
}
