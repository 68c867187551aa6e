package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/tronsetup"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/genesis"
)

// dist/relay as an operator runs it: it prints its address and the seed's
// magnet link, answers /healthz and the ledger gateway, and stops cleanly
// on SIGTERM.
func TestRelayProcess(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "relay")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	content := filepath.Join(dir, "demo.bin")
	os.WriteFile(content, []byte(strings.Repeat("btspeed relay demo\n", 5000)), 0o644)
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"), "-seed", content,
		"-faucet-difficulty", "0", "-peer-listen", "127.0.0.1:0", "-dht", "off", "-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	var url, magnet string
	for (url == "" || magnet == "") && lines.Scan() {
		l := lines.Text()
		if u, ok := strings.CutPrefix(l, "listening on "); ok {
			url = u
		}
		if i := strings.Index(l, "magnet:?"); strings.HasPrefix(l, "seeding ") && i > 0 {
			magnet = l[i:]
		}
	}
	if url == "" || !strings.Contains(magnet, "xt=urn:btih:") {
		t.Fatalf("printed url %q, magnet %q", url, magnet)
	}
	for path, want := range map[string]string{"/healthz": `"ok":true`, "/ledger/v1/info": `"ledger":"btspeed-devnet"`} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s: %s", path, b)
		}
	}
	// The TRON devnet behind /tron/: TRON's HTTP API, blocks coming.
	var head struct {
		BlockID string `json:"blockID"`
		Header  struct {
			Raw struct{ Number int64 } `json:"raw_data"`
		} `json:"block_header"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for head.Header.Raw.Number < 2 {
		resp, err := http.Post(url+"/tron/wallet/getnowblock", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&head)
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the devnet made no blocks: %+v", head)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Post(url+"/tron/wallet/getassetissuebyid", "application/json", strings.NewReader(`{"value":"1002000"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"precision":6`) || len(head.BlockID) != 64 {
		t.Fatalf("devnet: head %+v, asset %s", head, b)
	}
	// The embedded ledger's exchange watches the devnet: the development
	// exchange address, and the invariant with its reserve.
	dev, _ := genesis.DevExchangeKey()
	var ex api.ExchangeInfo
	getJSON(t, url+"/ledger/v1/exchange", &ex)
	if ex.Address != dev.Address() || ex.Token != "1002000" || ex.Confirmations != 2 || ex.Available != tronsetup.DevBacking {
		t.Fatalf("exchange: %+v", ex)
	}
	var inv api.Invariant
	getJSON(t, url+"/ledger/v1/invariant", &inv)
	if !inv.OK || inv.Reserve == nil || !inv.Reserve.OK || inv.Reserve.Balance != tronsetup.DevBacking {
		t.Fatalf("invariant: %+v, reserve %+v", inv, inv.Reserve)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the relay did not stop on SIGTERM")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %v", url, resp.Status, err)
	}
}
