//go:build !js

package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/internal/wasmbuild"
	"github.com/btspeed/btspeed/ledger/ledgertest"
)

// worker is the Worker built once for the package's tests.
var (
	workerOnce sync.Once
	workerDir  string
	workerErr  error
)

// buildWorker builds the Worker the way build.sh does: the JavaScript that
// loads it from syumai/workers' workers-assets-gen, and app.wasm.
func buildWorker(t *testing.T) string {
	t.Helper()
	workerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "btspeed-edge")
		if err != nil {
			workerErr = err
			return
		}
		workerDir = filepath.Join(dir, "edge")
		gen := exec.Command("go", "run", "github.com/syumai/workers/cmd/workers-assets-gen", "-mode=go", "-o", workerDir)
		if out, err := gen.CombinedOutput(); err != nil {
			workerErr = err
			t.Logf("%s", out)
			return
		}
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(workerDir, "app.wasm"), "./worker")
		build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := build.CombinedOutput(); err != nil {
			workerErr = err
			t.Logf("%s", out)
		}
	})
	if workerErr != nil {
		t.Fatalf("building the Worker: %v", workerErr)
	}
	return workerDir
}

// miniflare returns the local Workers runtime's harness, or skips (fails
// under BTSPEED_REQUIRE_INTEROP=1) when its npm packages are missing.
func miniflare(t *testing.T) string {
	dir, _ := filepath.Abs(filepath.Join("..", "interop", "edge"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "miniflare")); err != nil {
		if os.Getenv("BTSPEED_REQUIRE_INTEROP") != "" {
			t.Fatalf("miniflare is not installed in %s (npm ci there): %v", dir, err)
		}
		t.Skipf("miniflare not installed in %s; ./build.sh test installs it and makes this a failure", dir)
	}
	return dir
}

// startEdge runs the Worker under workerd (miniflare) with assets and a
// D1 database, forwarding to origin, and returns its URL.
func startEdge(t *testing.T, assets, origin string) string {
	t.Helper()
	harness := miniflare(t)
	worker := buildWorker(t)
	cmd := exec.Command("node", filepath.Join(harness, "serve.mjs"), "--worker", worker, "--assets", assets,
		"--origin", origin, "--d1", t.TempDir(), "--interval", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urlc <- u
			}
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("miniflare stderr:\n%s", stderr.String())
		}
	})
	select {
	case u := <-urlc:
		return u
	case <-exited:
		t.Fatalf("miniflare exited: %s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("miniflare did not start: %s", stderr.String())
	}
	return ""
}

// appAssets is the web app as build.sh lays it out in dist/web: the
// repository's web/ files, Go's wasm_exec.js and the browser peer. Its
// _headers lets pages connect to origin, the test's plain-http relay (the
// policy allows https: and wss: only, as a deployed edge's origin is).
func appAssets(t *testing.T, origin string) string {
	t.Helper()
	dir := t.TempDir()
	web, _ := filepath.Abs(filepath.Join("..", "web"))
	if out, err := exec.Command("cp", "-R", web+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying web/: %v %s", err, out)
	}
	goroot, _ := exec.Command("go", "env", "GOROOT").Output()
	if out, err := exec.Command("cp", filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"), dir).CombinedOutput(); err != nil {
		t.Fatalf("wasm_exec.js: %v %s", err, out)
	}
	headers, err := os.ReadFile(filepath.Join(dir, "_headers"))
	if err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(origin, "http")
	headers = bytes.ReplaceAll(headers, []byte("connect-src 'self' https: wss:"), []byte("connect-src 'self' https: wss: "+origin+" "+ws))
	if err := os.WriteFile(filepath.Join(dir, "_headers"), headers, 0o644); err != nil {
		t.Fatal(err)
	}
	// A bare page for the browser test (the platform reads the assets
	// when the Worker starts).
	if err := os.WriteFile(filepath.Join(dir, "edge-blank.html"), []byte(`<!doctype html><script src="btspeed.js"></script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", append(append([]string{"build"}, wasmbuild.Args()...), "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "btspeed.wasm"), "../wasm")...)
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the browser peer: %v %s", err, out)
	}
	if err := wasmbuild.BlankTable(".", filepath.Join(dir, "btspeed.wasm")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// The Worker under workerd, offline: it serves the web app's files, hands
// /ledger/ and /tron/ to a real relay, and runs the HTTP tracker with its
// state in D1. Transmission seeds a torrent whose tracker is the Worker
// and scrapes it; the btspeed CLI finds Transmission through the Worker's
// tracker, downloads the file and scrapes it too.
func TestEdgeWorker(t *testing.T) {
	miniflare(t) // skip before building anything
	relay := ledgertest.StartWith(t, ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")},
		"-data", t.TempDir(), "-faucet-difficulty", "0", "-peer-listen", "127.0.0.1:0", "-dht", "off",
		"-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms")
	assets := appAssets(t, relay.URL)
	edge := startEdge(t, assets, relay.URL)

	t.Run("assets", func(t *testing.T) { edgeServesTheApp(t, edge, assets, relay.URL) })
	// The browser peer loaded from the edge takes the origin relay from
	// edge.json: its ledger is the relay's, reached from the page.
	t.Run("browser", func(t *testing.T) { edgeBrowserPeerUsesTheOrigin(t, edge, relay.URL) })
	t.Run("origin", func(t *testing.T) { edgeForwardsLedgerAndTron(t, edge, relay.URL) })
	t.Run("tracker", func(t *testing.T) { edgeTrackerServesTransmissionAndCLI(t, edge) })
}

// edgeServesTheApp checks the edge serves the web app's files from
// assets, byte for byte, with the relay's security headers, and its
// edge.json naming origin.
func edgeServesTheApp(t *testing.T, edge, assets, origin string) {
	for _, name := range []string{"index.html", "app.js", "btspeed.js", "embed.js", "wasm_exec.js", "btspeed.wasm"} {
		want, err := os.ReadFile(filepath.Join(assets, name))
		if err != nil {
			t.Fatal(err)
		}
		code, hdr, got := get(t, edge+"/"+name)
		if code != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("/%s: %d, %d bytes, want the %d of the file", name, code, len(got), len(want))
		}
		if name == "btspeed.wasm" && hdr.Get("Content-Type") != "application/wasm" {
			t.Fatalf("/btspeed.wasm served as %q", hdr.Get("Content-Type"))
		}
	}
	if code, _, got := get(t, edge+"/"); code != http.StatusOK || !bytes.Contains(got, []byte("btspeed")) {
		t.Fatalf("/: %d %.80q", code, got)
	}
	// The same security headers as from a relay (web/_headers): the
	// app may not be framed by other sites, the player may.
	for _, c := range []struct {
		path  string
		frame bool
	}{{"/", false}, {"/app.js", false}, {"/embed.html", true}} {
		_, hdr, _ := get(t, edge+c.path)
		csp := hdr.Get("Content-Security-Policy")
		if hdr.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") ||
			strings.Contains(csp, "frame-ancestors") != !c.frame || (hdr.Get("X-Frame-Options") == "DENY") != !c.frame ||
			strings.Count(csp, "default-src") != 1 {
			t.Errorf("%s at the edge: nosniff %q, X-Frame-Options %q, policy %q", c.path, hdr.Get("X-Content-Type-Options"), hdr.Get("X-Frame-Options"), csp)
		}
	}
	if code, _, _ := get(t, edge+"/_headers"); code == http.StatusOK {
		t.Error("the edge serves its _headers file")
	}
	var cfg struct{ Relay, Tracker string }
	if _, _, b := get(t, edge+"/edge.json"); json.Unmarshal(b, &cfg) != nil || cfg.Relay != origin || cfg.Tracker != "/announce" {
		t.Fatalf("/edge.json: %s", b)
	}
}

// edgeBrowserPeerUsesTheOrigin loads the browser peer from the edge: it
// takes origin from edge.json, and its ledger is the relay's.
func edgeBrowserPeerUsesTheOrigin(t *testing.T, edge, origin string) {
	browsertest.Require(t)
	b := browsertest.Start(t, nil)
	p := b.NewPage(t, edge+"/edge-blank.html")
	var got struct {
		Relay, Ledger, Balance string
	}
	p.Eval(t, `(async () => {
		const relay = await BTSpeed.defaultRelay()
		const client = await BTSpeed.start()
		await client.wallet.create('correct horse battery')
		return {relay, ledger: client.ledgerID, balance: (await client.wallet.balance()).ledger}
	})()`, &got)
	if got.Relay != origin || got.Ledger != "btspeed-devnet" || got.Balance != "0.000000" {
		t.Fatalf("the browser peer at the edge: %+v (origin %s)", got, origin)
	}
}

// edgeForwardsLedgerAndTron checks the edge hands /ledger/ (answers and
// errors alike) and /tron/ to origin.
func edgeForwardsLedgerAndTron(t *testing.T, edge, origin string) {
	_, _, direct := get(t, origin+"/ledger/v1/exchange")
	code, _, via := get(t, edge+"/ledger/v1/exchange")
	// "scanned" (the last TRON block the exchange checked) moves with every
	// devnet block between the two calls; the rest is the same answer.
	if code != http.StatusOK || !bytes.Equal(withoutScanned(t, via), withoutScanned(t, direct)) {
		t.Fatalf("/ledger/v1/exchange through the edge: %d %s, the relay says %s", code, via, direct)
	}
	resp, err := http.Post(edge+"/ledger/v1/transfers", "application/json", strings.NewReader(`{"from":`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"bad_request"`) {
		t.Fatalf("a bad transfer through the edge: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Post(edge+"/tron/wallet/getnowblock", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		BlockID string `json:"blockID"`
	}
	json.NewDecoder(resp.Body).Decode(&head)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(head.BlockID) != 64 {
		t.Fatalf("/tron/ through the edge: %d %+v", resp.StatusCode, head)
	}
}

// edgeTrackerServesTransmissionAndCLI seeds a torrent whose tracker is the
// edge from Transmission, which announces and scrapes there; the btspeed
// CLI finds Transmission through it, downloads the file and scrapes.
func edgeTrackerServesTransmissionAndCLI(t *testing.T, edge string) {
	dir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(dir, "edge.bin"), 3<<20, 9)
	torrent, ih := btclientstest.MakeTorrent(t, filepath.Join(dir, "edge.bin"), 256, edge+"/announce")
	tr := btclientstest.StartTransmission(t)
	tr.Add(t, torrent, dir)
	tr.WaitSeeding(t, ih, 60*time.Second)

	// Transmission announces, then scrapes the Worker's tracker.
	deadline := time.Now().Add(90 * time.Second)
	for {
		stats, err := tr.Trackers(ih)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) == 1 && stats[0].LastAnnounceSucceeded && stats[0].LastScrapeSucceeded && stats[0].SeederCount == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission's view of the edge tracker: %+v", stats)
		}
		time.Sleep(500 * time.Millisecond)
	}
	edgeCLIGetsAndScrapes(t, torrent, data)
}

// edgeCLIGetsAndScrapes runs the btspeed CLI on torrent: announce
// (finding Transmission), download (data), scrape.
func edgeCLIGetsAndScrapes(t *testing.T, torrent string, data []byte) {
	t.Helper()
	cli := ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/btspeed")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	getCmd := exec.CommandContext(ctx, cli, "get", torrent, "--out", out, "--speed", "off", "--listen", "127.0.0.1:0")
	getCmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if b, err := getCmd.CombinedOutput(); err != nil {
		t.Fatalf("btspeed get through the edge tracker: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, "edge.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the download differs (%d bytes, %v)", len(got), err)
	}
	scrape := exec.Command(cli, "tracker", "scrape", torrent, "--json")
	b, err := scrape.Output()
	var res struct {
		Trackers []struct {
			Tracker                          string
			Complete, Incomplete, Downloaded int
			Error                            string
		}
	}
	if err != nil || json.Unmarshal(b, &res) != nil || len(res.Trackers) != 1 || res.Trackers[0].Error != "" ||
		res.Trackers[0].Complete < 1 || res.Trackers[0].Downloaded < 1 {
		t.Fatalf("btspeed tracker scrape: %v %s", err, b)
	}
	t.Logf("scrape: %+v", res.Trackers[0])
}

// withoutScanned is a GET /v1/exchange answer without its "scanned" field,
// re-encoded (keys sorted).
func withoutScanned(t *testing.T, body []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET /v1/exchange: %v: %s", err, body)
	}
	if _, ok := m["scanned"]; !ok {
		t.Fatalf("GET /v1/exchange without its scanned field: %s", body)
	}
	delete(m, "scanned")
	b, _ := json.Marshal(m)
	return b
}
