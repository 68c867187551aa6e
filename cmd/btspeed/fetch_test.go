package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/wallet"
)

// originFile is one file of the test origin. A file with a gate sends its
// first gateAt bytes of a whole-file request, then waits for the gate: the
// proxy's provider, which reads a chunk at a time, stalls there.
type originFile struct {
	data   []byte
	etag   string
	gateAt int
	gate   chan struct{}
}

// testOrigin is a local HTTP server (the origin the proxy fetches from).
type testOrigin struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]*originFile
}

var originTime = time.Unix(1_700_000_000, 0)

func newTestOrigin(t *testing.T) *testOrigin {
	o := &testOrigin{files: make(map[string]*originFile)}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) set(path string, f *originFile) {
	o.mu.Lock()
	o.files[path] = f
	o.mu.Unlock()
}

func (o *testOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	f := o.files[r.URL.Path]
	o.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", f.etag)
	if f.gate == nil || r.Header.Get("Range") != "" {
		http.ServeContent(w, r, "", originTime, bytes.NewReader(f.data))
		return
	}
	w.Header().Set("Last-Modified", originTime.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	w.Write(f.data[:f.gateAt])
	w.(http.Flusher).Flush()
	select {
	case <-f.gate:
		w.Write(f.data[f.gateAt:])
	case <-r.Context().Done():
	}
}

// proxyRelay runs cmd/relay as a paid proxy provider paid to wallet, on the
// ledger at ledgerURL, with args; it returns the provider's address and
// the relay's URL.
func proxyRelay(t *testing.T, relayBin, ledgerURL, walletFile string, args ...string) (cmd *exec.Cmd, addr, relayURL string) {
	t.Helper()
	cmd = exec.Command(relayBin, append([]string{"-listen", "127.0.0.1:0", "-data", t.TempDir(), "-dht", "off", "-tron", "off",
		"-ledger", ledgerURL, "-wallet", walletFile, "-proxy-listen", "127.0.0.1:0", "-proxy-rate", "0.04"}, args...)...)
	cmd.Env = append(os.Environ(), "BTSPEED_PASSWORD=password123")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			relayURL = u
		}
		if a, ok := strings.CutPrefix(lines.Text(), "paid proxy on "); ok {
			go io.Copy(io.Discard, stdout)
			return cmd, a, relayURL
		}
	}
	t.Fatal("the relay did not print its proxy address")
	return nil, "", ""
}

// stopRelay stops a relay as an operator does (SIGINT): it closes the
// channels that pay it first.
func stopRelay(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}
}

func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relay")
	if out, err := exec.Command("go", "build", "-o", bin, "../relay").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run2 runs btspeed and returns its exit code and standard error.
func run2(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), errOut.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, errOut.String()
}

// killAfter starts btspeed fetch and kills it (SIGKILL) once its progress
// file counts chunks whole chunks.
func killAfter(t *testing.T, bin string, env []string, out string, chunks uint64, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		var p struct{ Next uint64 }
		if b, err := os.ReadFile(out + ".btspeed-fetch"); err == nil && json.Unmarshal(b, &p) == nil && p.Next >= chunks {
			break
		}
		select {
		case <-exited:
			t.Fatalf("btspeed fetch ended before %d chunks", chunks)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd.Process.Kill()
	<-exited
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// The must-show of issue 22 (proxy), with real processes: a local origin
// serves a file; btspeed fetch downloads it through a relay acting as paid
// proxy provider, is killed mid-way, resumes through a second relay, and
// the bytes are the file's; the ledger paid each provider exactly the
// chunks it delivered whole, none twice. A file that changes at its origin
// between two runs is reported and nothing of the new version is paid; a
// relay with default settings refuses loopback, private and metadata URLs.
func TestFetchThroughProxyRelays(t *testing.T) {
	bin, relayBin := buildBinary(t), buildRelay(t)
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx := context.Background()
	lc := client.New(lp.URL, nil)
	dir := t.TempDir()
	prov1, prov1Wallet := keystoreFile(t, dir, "prov1.json")
	prov2, prov2Wallet := keystoreFile(t, dir, "prov2.json")
	req, reqWallet := keystoreFile(t, dir, "req.json")
	const funded = 50_000_000
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{req.Address()}, funded); err != nil {
		t.Fatal(err)
	}
	const chunk = proxy.DefaultChunk
	data := randomData(5*chunk+777, 22)
	o := newTestOrigin(t)
	gate := make(chan struct{})
	defer close(gate)
	o.set("/file.bin", &originFile{data: data, etag: `"v1"`, gateAt: 3*chunk + 100, gate: gate})
	r1, addr1, _ := proxyRelay(t, relayBin, lp.URL, prov1Wallet, "-proxy-allow-loopback")
	r2, _, relay2 := proxyRelay(t, relayBin, lp.URL, prov2Wallet, "-proxy-allow-loopback")
	env := []string{"BTSPEED_PASSWORD=password123", "BTSPEED_LEDGER=" + lp.URL, "BTSPEED_WALLET=" + reqWallet}
	// A wallet with nothing on the ledger is told so before anything is
	// asked of a provider.
	_, emptyWallet := keystoreFile(t, dir, "empty.json")
	emptyEnv := []string{"BTSPEED_PASSWORD=password123", "BTSPEED_LEDGER=" + lp.URL, "BTSPEED_WALLET=" + emptyWallet}
	if code, stderr := run2(t, bin, emptyEnv, "fetch", o.URL+"/file.bin", "-o", filepath.Join(dir, "empty.bin"), "--provider", addr1); code == 0 ||
		!strings.Contains(stderr, "your ledger balance is 0.000000 BTT, so a paid fetch has no budget") {
		t.Fatalf("a fetch from an empty wallet: exit %d, %q", code, stderr)
	}
	out := filepath.Join(dir, "file.bin")
	fetch := []string{"fetch", o.URL + "/file.bin", "-o", out, "--budget", "10"}
	// Provider 1 (named) stalls at chunk 3, the origin's gate; the resumed
	// run finds provider 2 through its relay's GET /proxy.
	killAfter(t, bin, env, out, 3, append(fetch, "--provider", addr1)...)
	code, stderr := run2(t, bin, env, append(fetch, "--relay", relay2)...)
	t.Logf("resumed: %s", stderr)
	if code != 0 || !strings.Contains(stderr, "from chunk 3") {
		t.Fatalf("resumed fetch: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, data) {
		t.Fatal("the fetched file differs from the origin's")
	}
	if _, err := os.Stat(out + ".btspeed-fetch"); !os.IsNotExist(err) {
		t.Fatalf("the progress file is still there: %v", err)
	}
	stopRelay(t, r1)
	stopRelay(t, r2)
	// 0.04 BTT per MiB: 10,000 base units a chunk of 256 KiB, 29 for the
	// last 777 bytes.
	full, last := speed.Price(40_000, chunk), speed.Price(40_000, 777)
	want := map[string][2]uint64{"provider 1": {balance(t, lc, prov1.Address()), 3 * full}, "provider 2": {balance(t, lc, prov2.Address()), 2*full + last},
		"requester": {balance(t, lc, req.Address()), funded - 5*full - last}}
	for who, got := range want {
		if got[0] != got[1] {
			t.Errorf("%s has %d base units, want %d", who, got[0], got[1])
		}
	}

	wantChannelService(t, lc, req.Address(), speed.ServiceProxy, "channel-deposit")
	wantChannelService(t, lc, prov1.Address(), speed.ServiceProxy, "channel-payout")

	fetchChangedFile(t, proxyRig{bin, relayBin, lp.URL, lc, env, o, prov1Wallet, req.Address()}, data)
	refusedByDefault(t, proxyRig{bin, relayBin, lp.URL, lc, env, o, prov2Wallet, req.Address()})
}

// proxyRig is what the proxy's process tests share.
type proxyRig struct {
	bin, relayBin, ledgerURL string
	lc                       *client.Client
	env                      []string
	origin                   *testOrigin
	provWallet               string
	requester                wallet.Address
}

// fetchChangedFile: the file changes at its origin between two runs of
// btspeed fetch. The second says so, keeps the chunk held and pays nothing
// of the new version.
func fetchChangedFile(t *testing.T, r proxyRig, data []byte) {
	const chunk = proxy.DefaultChunk
	o, lc := r.origin, r.lc
	before := balance(t, lc, r.requester)
	gate := make(chan struct{})
	defer close(gate)
	o.set("/changing.bin", &originFile{data: data, etag: `"v1"`, gateAt: chunk + 100, gate: gate})
	relay, addr, _ := proxyRelay(t, r.relayBin, r.ledgerURL, r.provWallet, "-proxy-allow-loopback")
	out := filepath.Join(t.TempDir(), "changing.bin")
	args := []string{"fetch", o.URL + "/changing.bin", "-o", out, "--provider", addr, "--budget", "10"}
	killAfter(t, r.bin, r.env, out, 1, args...)
	o.set("/changing.bin", &originFile{data: randomData(len(data), 23), etag: `"v2"`})
	code, stderr := run2(t, r.bin, r.env, args...)
	t.Logf("changed: %s", stderr)
	if code != 2 || !strings.Contains(stderr, "the file changed at its origin after 1 of 6 chunks: start the download again") {
		t.Fatalf("fetch of a changed file: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b[:chunk], data[:chunk]) {
		t.Fatal("the chunk held of the old version was overwritten")
	}
	stopRelay(t, relay)
	if paid := before - balance(t, lc, r.requester); paid != speed.Price(40_000, chunk) {
		t.Fatalf("the requester paid %d base units for one chunk of the old version and none of the new", paid)
	}
}

// refusedByDefault: a relay with default settings fetches nothing but
// public addresses.
func refusedByDefault(t *testing.T, r proxyRig) {
	_, strict, _ := proxyRelay(t, r.relayBin, r.ledgerURL, r.provWallet)
	for _, u := range []string{r.origin.URL + "/file.bin", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"} {
		code, stderr := run2(t, r.bin, r.env, "fetch", u, "-o", filepath.Join(t.TempDir(), "x"), "--provider", strict, "--budget", "1")
		if code != 2 || !strings.Contains(stderr, "not on the public Internet") {
			t.Errorf("fetch %s from a default relay: exit %d: %s", u, code, stderr)
		}
	}
}

// wantChannelService checks that a's history has an entry of kind and that
// all its channel entries name service.
func wantChannelService(t *testing.T, lc *client.Client, a wallet.Address, service, kind string) {
	t.Helper()
	h, err := lc.History(context.Background(), a, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range h {
		if strings.HasPrefix(e.Kind, "channel-") && e.Service != service {
			t.Errorf("%s's %s entry of channel %s names service %q, want %q", a, e.Kind, e.Ref, e.Service, service)
		}
		found = found || e.Kind == kind
	}
	if !found {
		t.Errorf("%s's history has no %s entry: %+v", a, kind, h)
	}
}

func balance(t *testing.T, lc *client.Client, a wallet.Address) uint64 {
	t.Helper()
	b, err := lc.Balance(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// btspeed fetch refuses, in words and before it asks for the wallet, a URL
// it cannot fetch, an output file that is not its own and a progress file
// of another URL.
func TestFetchRefusesBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	taken := filepath.Join(dir, "taken.bin")
	os.WriteFile(taken, []byte("mine"), 0o644)
	other := filepath.Join(dir, "other.bin")
	os.WriteFile(other+".btspeed-fetch", []byte(`{"url":"https://example.org/a","next":1}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fetch", "ftp://example.org/f"}, "is not a URL the proxy fetches"},
		{[]string{"fetch", "https://user:pw@example.org/f"}, "no user name"},
		{[]string{"fetch", "https://example.org/f", "-o", taken}, "taken.bin already exists: choose another file with -o"},
		{[]string{"fetch", "https://example.org/b", "-o", other}, "is a partial download of https://example.org/a, not of this URL"},
	} {
		r := btspeed(t, map[string]string{"BTSPEED_WALLET": filepath.Join(dir, "none.json")}, "", tc.args...)
		if r.code != exitFailure || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, r.code, r.err, tc.want)
		}
	}
	if b, _ := os.ReadFile(taken); string(b) != "mine" {
		t.Fatal("an existing file was overwritten")
	}
}
