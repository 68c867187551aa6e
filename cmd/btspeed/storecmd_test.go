package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// storeRig is a ledger process, a provider process ('btspeed store serve')
// and a funded requester wallet whose commands run through run().
type storeRig struct {
	lc       *client.Client
	env      map[string]string
	provider wallet.Address
	dir      string // the provider's data
}

func startStoreRig(t *testing.T) *storeRig {
	t.Helper()
	dir := t.TempDir()
	lp := ledgertest.Start(t, "-db", filepath.Join(dir, "l.db"), "-faucet-difficulty", "0")
	pk, pkeystore := keystoreFile(t, dir, "provider.json")
	r := &storeRig{provider: pk.Address(), dir: filepath.Join(dir, "provider")}
	cmd := exec.Command(buildBinary(t), "store", "serve", "--listen", "127.0.0.1:0", "--dir", r.dir,
		"--quota-mib", "8", "--account-quota-mib", "4", "--price", "0.01", "--rate", "0.1")
	cmd.Env = append(os.Environ(), envLedger+"="+lp.URL, envWallet+"="+pkeystore, envPassword+"=password123")
	// "storage provider on ADDR for ACCOUNT on ledger ID, data in DIR"
	lines := startProcess(t, cmd, func(l string) bool { return strings.HasPrefix(l, "storage provider on ") })
	r.fund(t, dir, lp.URL, strings.Fields(lines[len(lines)-1])[3])
	return r
}

// fund gives the rig a requester wallet with 10 BTT on the ledger at url
// and names the provider at addr.
func (r *storeRig) fund(t *testing.T, dir, url, addr string) {
	t.Helper()
	k, keystore := keystoreFile(t, dir, "requester.json")
	r.lc = client.New(url, nil)
	if err := ledgertest.Fund(context.Background(), r.lc, []wallet.Address{k.Address()}, 10_000_000); err != nil {
		t.Fatal(err)
	}
	r.env = map[string]string{envLedger: url, envWallet: keystore, envPassword: "password123",
		envStoreState: filepath.Join(dir, "store.json"), "provider": addr}
}

// startProcess starts cmd, reads its standard output until ready says a
// line is the last one it waits for, and stops it with SIGTERM at the end
// of the test, which it must survive cleanly.
func startProcess(t *testing.T, cmd *exec.Cmd, ready func(string) bool) []string {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s: %v\n%s", cmd.Path, err, stderr.String())
		}
	})
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if ready(sc.Text()) {
			go io.Copy(io.Discard, stdout)
			return lines
		}
	}
	t.Fatalf("%s printed %q\n%s", cmd.Path, lines, stderr.String())
	return nil
}

func (r *storeRig) balance(t *testing.T) uint64 {
	t.Helper()
	b, err := r.lc.Balance(context.Background(), r.provider)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// put stores a file of n random bytes with a marker and returns it and its
// record.
func (r *storeRig) put(t *testing.T, n int, args ...string) ([]byte, store.Record) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	copy(data[1000:], "PLAINTEXT-MARKER")
	file := filepath.Join(t.TempDir(), "photo.raw")
	os.WriteFile(file, data, 0o600)
	res := btspeed(t, r.env, "", append([]string{"store", "put", file, "--provider", r.env["provider"]}, args...)...)
	if res.code != 0 || !strings.HasPrefix(res.out, "stored photo.raw ("+strconv.Itoa(n)+" bytes, encrypted) with "+r.provider.String()) {
		t.Fatalf("put: %d %q %q", res.code, res.out, res.err)
	}
	res = btspeed(t, r.env, "", "store", "status", "--json")
	var recs []store.Record
	if err := json.Unmarshal([]byte(res.out), &recs); err != nil || len(recs) == 0 {
		t.Fatalf("status --json: %v %q", err, res.out)
	}
	return data, recs[len(recs)-1]
}

// A file stored with a provider process comes back bytes-identical, each
// chunk paid at the rate after it verified; the provider's disk never held
// the plaintext; a chunk damaged on the provider's disk is refused and not
// paid.
func TestStorePutGetPaysPerChunk(t *testing.T) {
	r := startStoreRig(t)
	data, rec := r.put(t, 700_000, "--period", "1h", "--periods", "4", "--price", "0.5", "--rate", "0.1")
	id := rec.Contract.Obj.String()
	out := filepath.Join(t.TempDir(), "back.raw")
	res := btspeed(t, r.env, "", "store", "get", id[:12], "-o", out)
	// 700,000 bytes make 3 chunks: 2 of 256 KiB at 0.1 BTT per MiB (25,000
	// base units each) and the rest.
	want := uint64(2*25_000 + (rec.Contract.Terms.Length-2*store.ChunkSize)*100_000/(1<<20))
	if res.code != 0 || !strings.Contains(res.out, "paid 0.0") {
		t.Fatalf("get: %d %q %q", res.code, res.out, res.err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("the file came back different")
	}
	if b := r.balance(t); b != want {
		t.Fatalf("the provider earned %d, want %d for 3 chunks", b, want)
	}
	wantChannelService(t, r.lc, r.provider, speed.ServiceStorage, "channel-payout")
	filepath.Walk(r.dir, func(path string, fi os.FileInfo, _ error) error {
		if b, _ := os.ReadFile(path); fi != nil && !fi.IsDir() && bytes.Contains(b, []byte("PLAINTEXT-MARKER")) {
			t.Errorf("the provider's %s holds plaintext", path)
		}
		return nil
	})

	damage(t, r.dir, id, store.ChunkSize+100) // chunk 1
	res = btspeed(t, r.env, "", "store", "get", id[:12], "-o", out+"2")
	if res.code != exitFailure || !strings.Contains(res.err, "the provider sent data that is not what you stored; that chunk was not paid") {
		t.Fatalf("get of a damaged object: %d %q %q", res.code, res.out, res.err)
	}
	if b := r.balance(t); b != want+25_000 {
		t.Fatalf("after the damaged get the provider has %d, want %d (chunk 0 only)", b, want+25_000)
	}
	if _, err := os.Stat(out + "2"); err == nil {
		t.Fatal("a damaged get left a file")
	}
	res = btspeed(t, r.env, "", "store", "end", id[:12])
	if paths, _ := filepath.Glob(filepath.Join(r.dir, "*", id+".*")); res.code != 0 || len(paths) != 0 {
		t.Fatalf("end: %d %q %q; the provider keeps %v", res.code, res.out, res.err, paths)
	}
	if res = btspeed(t, r.env, "", "store", "status"); !strings.Contains(res.out, "ended: no more periods are paid") {
		t.Fatalf("status after end:\n%s", res.out)
	}
}

// The "Must show" and the exposure bound of section 12.5, with the
// clock passed in: periods 0 and 1 prove and are paid; the provider then
// zeroes the object's data right after period 1's challenges passed; its
// next challenge fails, the failure is recorded and shown, and the ledger
// shows exactly two periods paid however long the requester keeps checking:
// at most one period (period 1) paid for data not held.
func TestStoreFailedProofStopsPayment(t *testing.T) {
	r := startStoreRig(t)
	_, rec := r.put(t, 300_000, "--period", "1h", "--periods", "6", "--price", "0.5", "--rate", "0.1")
	start := int64(rec.Contract.Start)
	check := func(hours float64, wantPeriods uint64) string {
		t.Helper()
		r.env[envStoreNow] = strconv.FormatInt(start+int64(hours*3600), 10)
		res := btspeed(t, r.env, "", "store", "check")
		if res.code != 0 {
			t.Fatalf("check at %.2f h: %d %q %q", hours, res.code, res.out, res.err)
		}
		if b := r.balance(t); b != wantPeriods*500_000 {
			t.Fatalf("at %.2f h the provider has %d, want %d periods of 500,000", hours, b, wantPeriods)
		}
		return res.out + res.err
	}
	check(0.99, 0) // period 0's challenges run; nothing is paid before the period ends
	out := check(1.99, 1)
	if !strings.Contains(out, "paid: 1 of 6 periods, 0.500000 BTT") {
		t.Fatalf("status after period 0:\n%s", out)
	}
	damage(t, r.dir, rec.Contract.Obj.String(), -1)
	out = check(3, 2)
	if !strings.Contains(out, "FAILED: at ") || !strings.Contains(out, "the provider did not prove it still holds this object (period 2)") ||
		!strings.Contains(out, "Payment has stopped for good") || !strings.Contains(out, "the provider failed a challenge and is paid no more") {
		t.Fatalf("status after the failure:\n%s", out)
	}
	check(6, 2)
	res := btspeed(t, r.env, "", "store", "status")
	if !strings.Contains(res.out, "paid: 2 of 6 periods, 1.000000 BTT") || !strings.Contains(res.out, "FAILED") {
		t.Fatalf("status:\n%s", res.out)
	}
}

// damage flips a byte of object id's data at off on the provider's disk, or
// with off < 0 zeroes all of it. (Zeroing half would let a challenge pass
// when every segment it samples is intact, one time in 2^DefaultK: what a
// challenge catches of partial damage is shared/speed/store's
// TestChallengeProof, with a fixed nonce.)
func damage(t *testing.T, dir, id string, off int) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*", id+".dat"))
	if len(paths) != 1 {
		t.Fatalf("object files %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if off >= 0 {
		b[off] ^= 1
	}
	if off < 0 {
		clear(b)
	}
	if err := os.WriteFile(paths[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The relay as a storage provider (-store-listen, with a disk quota): a file
// over its quota is refused with words for people; a smaller one is stored
// and comes back identical, the retrieval paid to the relay's wallet.
func TestStoreWithTheRelay(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "relay")
	if out, err := exec.Command("go", "build", "-o", bin, "../relay").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pk, pkeystore := keystoreFile(t, dir, "relay.json")
	r := &storeRig{provider: pk.Address(), dir: filepath.Join(dir, "data", "storage")}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"), "-faucet-difficulty", "0",
		"-peer-listen", "127.0.0.1:0", "-dht", "off", "-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms",
		"-wallet", pkeystore, "-store-listen", "127.0.0.1:0", "-store-quota-mib", "1", "-store-rate", "0.1")
	cmd.Env = append(os.Environ(), envPassword+"=password123")
	var url, addr string
	startProcess(t, cmd, func(l string) bool {
		if u, ok := strings.CutPrefix(l, "listening on "); ok {
			url = u
		}
		if a, ok := strings.CutPrefix(l, "storage provider on "); ok {
			addr = strings.Fields(a)[0]
		}
		return url != "" && addr != ""
	})
	r.fund(t, dir, url+"/ledger", addr)
	before := r.balance(t)

	big := filepath.Join(dir, "big.bin")
	os.WriteFile(big, make([]byte, 1_100_000), 0o600)
	res := btspeed(t, r.env, "", "store", "put", big, "--provider", addr, "--rate", "0.1")
	if res.code != exitFailure || !strings.HasPrefix(res.err, "btspeed: the provider has no room for this file") {
		t.Fatalf("a file over the quota: %d %q %q", res.code, res.out, res.err)
	}
	data, rec := r.put(t, 400_000, "--rate", "0.1")
	out := filepath.Join(dir, "back.bin")
	if res := btspeed(t, r.env, "", "store", "get", rec.Contract.Obj.String(), "-o", out); res.code != 0 {
		t.Fatalf("get: %d %q %q", res.code, res.out, res.err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("the file came back different")
	}
	want := uint64(25_000 + (rec.Contract.Terms.Length-store.ChunkSize)*100_000/(1<<20))
	if got := r.balance(t) - before; got != want {
		t.Fatalf("the relay earned %d, want %d for 2 chunks", got, want)
	}
}
