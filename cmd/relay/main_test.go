package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/gorilla/websocket"
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
		"-faucet-difficulty", "0", "-peer-listen", "127.0.0.1:0", "-dht", "off", "-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms",
		"-banner", "-tracker-sockets", "2")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := bannerNamesWhatIsBound(t, stdout)
	// Nothing leaves the machine: no DHT node, and WebRTC without multicast
	// DNS (it would query the LAN for browsers' .local candidates).
	ports := waitUDPPorts(t, cmd.Process.Pid, 3)
	for _, p := range ports {
		if p == 5353 || p == 6881 {
			t.Fatalf("the relay listens on UDP port %d (all: %v)", p, ports)
		}
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
	for _, ws := range trackerSocketsCapped(t, url) {
		defer ws.Close()
	}
	devnetBehindTron(t, url)
	exchangeWatchesTheDevnet(t, url)
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

// bannerNamesWhatIsBound reads the relay's stdout up to its address and
// the seed's magnet link, and checks the banner (./build.sh run) names the
// ports actually bound, and says the DHT is off. It returns the address.
func bannerNamesWhatIsBound(t *testing.T, stdout io.Reader) string {
	t.Helper()
	lines := bufio.NewScanner(stdout)
	var url, magnet, grpcAddr string
	var banner []string
	for (url == "" || magnet == "") && lines.Scan() {
		l := lines.Text()
		banner = append(banner, l)
		if a, ok := strings.CutPrefix(l, "tron devnet gRPC on "); ok {
			grpcAddr = a
		}
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
	// The banner (./build.sh run) names the ports actually bound, and says
	// the DHT is off.
	all := strings.Join(banner, "\n")
	for _, want := range []string{"  relay    " + url + " ", "gRPC " + grpcAddr + "\n", "  dht      off", "genesis dev, ", "--node grpc://" + grpcAddr, "Open " + url + "/ in a browser"} {
		if grpcAddr == "" || strings.HasSuffix(grpcAddr, ":50051") || !strings.Contains(all, want) {
			t.Fatalf("banner lacks %q (devnet gRPC on %q):\n%s", want, grpcAddr, all)
		}
	}
	return url
}

// trackerSocketsCapped checks -tracker-sockets 2: a third WebSocket from
// one address (not the seeder's own, 127.0.0.1) is refused. It returns the
// two accepted, for the caller to close.
func trackerSocketsCapped(t *testing.T, url string) []*websocket.Conn {
	t.Helper()
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	wd := &websocket.Dialer{NetDialContext: nd.DialContext}
	var open []*websocket.Conn
	for i := range 3 {
		ws, resp, err := wd.Dial("ws"+strings.TrimPrefix(url, "http"), nil)
		if i < 2 {
			if err != nil {
				t.Fatalf("WebSocket %d: %v", i+1, err)
			}
			open = append(open, ws)
		} else if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a third WebSocket with -tracker-sockets 2: %v", err)
		}
	}
	return open
}

// devnetBehindTron checks the TRON devnet behind /tron/: TRON's HTTP API,
// blocks coming, BTT there.
func devnetBehindTron(t *testing.T, url string) {
	t.Helper()
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
}

// exchangeWatchesTheDevnet checks the embedded ledger's exchange watches
// the devnet: the development exchange address, and the invariant with
// its reserve.
func exchangeWatchesTheDevnet(t *testing.T, url string) {
	t.Helper()
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
}

// waitUDPPorts waits until process pid has at least n UDP sockets (its uTP
// sockets, then the seeder's WebRTC offers) and they stopped changing for
// half a second, and returns their local ports.
func waitUDPPorts(t *testing.T, pid, n int) []int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []int
	stable := time.Now()
	for time.Now().Before(deadline) {
		ports := udpPorts(t, pid)
		if !slices.Equal(ports, last) {
			last, stable = ports, time.Now()
		}
		if len(last) >= n && time.Since(stable) >= 500*time.Millisecond {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the relay's UDP sockets: %v, want at least %d, settled", last, n)
	return nil
}

// udpPorts lists the local ports of process pid's UDP sockets, from /proc.
func udpPorts(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil {
			if in, ok := strings.CutPrefix(l, "socket:["); ok {
				inodes[strings.TrimSuffix(in, "]")] = true
			}
		}
	}
	var ports []int
	for _, table := range []string{"udp", "udp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			_, port, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(port, 16, 32); err == nil {
				ports = append(ports, int(p))
			}
		}
	}
	return ports
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

// A relay whose embedded ledger's exchange talks to a TRON node over gRPC
// (a devnet process standing in for Nile or mainnet) refuses the public
// development exchange key and the development genesis, naming the flag;
// with its own key and no -genesis its ledger starts empty (supply 0).
func TestRelayDevGenesisOnlyOnTheDevnet(t *testing.T) {
	dir := t.TempDir()
	ex, _ := wallet.GenerateKey()
	data, err := wallet.EncryptKeystore(ex, []byte("exchange password"), wallet.LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	keystore := filepath.Join(dir, "exchange.json")
	if err := os.WriteFile(keystore, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tron := ledgertest.StartWith(t, ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/tron-devnet")},
		"-data", filepath.Join(dir, "tron"), "-grpc", "127.0.0.1:0", "-block", "100ms", "-fund", ex.Address().String()+":1000:0")
	o := ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay"), Env: []string{"BTSPEED_EXCHANGE_PASSWORD=exchange password"}}
	args := func(data string, extra ...string) []string {
		return append([]string{"-data", filepath.Join(dir, data), "-faucet-difficulty", "0", "-peer-listen", "127.0.0.1:0", "-dht", "off",
			"-tron", "grpc://" + tron.Printed("tron devnet gRPC on "), "-tron-confirmations", "2"}, extra...)
	}
	if err := os.Mkdir(filepath.Join(dir, "refused"), 0o700); err != nil {
		t.Fatal(err)
	}
	if stderr := ledgertest.Refuses(t, o, args("refused", "-exchange-key", "dev")...); !strings.Contains(stderr, "-exchange-key") {
		t.Errorf("the refusal of -exchange-key dev does not name the flag: %s", stderr)
	}
	if stderr := ledgertest.Refuses(t, o, args("refused", "-exchange-key", keystore, "-genesis", "dev")...); !strings.Contains(stderr, "set -genesis none") {
		t.Errorf("the refusal of -genesis dev does not name the flag: %s", stderr)
	}
	p := ledgertest.StartWith(t, o, args("relay", "-exchange-key", keystore)...) // -data not made yet
	var info api.Info
	getJSON(t, p.URL+"/ledger/v1/info", &info)
	var exInfo api.ExchangeInfo
	getJSON(t, p.URL+"/ledger/v1/exchange", &exInfo)
	var inv api.Invariant
	getJSON(t, p.URL+"/ledger/v1/invariant", &inv)
	if info.Supply != 0 || exInfo.Address != ex.Address() || exInfo.Available != 0 || !inv.OK || inv.DevGenesis {
		t.Fatalf("info %+v, exchange %+v, invariant %+v", info, exInfo, inv)
	}
}

// In proxy mode (-tron http(s)://NODE) /tron/ forwards to the node, with
// the operator's API key, only the documented calls of TRON's HTTP API and
// their methods; anything else gets a JSON error and never reaches the
// node.
func TestRelayTronGatewayForwardsOnlyDocumentedCalls(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" key="+r.Header.Get("TRON-PRO-API-KEY"))
		mu.Unlock()
		io.WriteString(w, `{}`)
	}))
	defer node.Close()
	p := ledgertest.StartWith(t, ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")},
		"-data", t.TempDir(), "-faucet-difficulty", "0", "-peer-listen", "127.0.0.1:0", "-dht", "off",
		"-tron", node.URL, "-tron-api-key", "operator-key")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var want []string
	for _, c := range []struct {
		method, path string
		status       int // 0: anything but 200, and not forwarded
	}{
		{"POST", "/wallet/getaccount", 200},
		{"GET", "/wallet/getnowblock", 200},
		{"POST", "/walletsolidity/gettransactioninfobyid", 200},
		{"POST", "/wallet/transferasset", 200},
		{"POST", "/wallet/broadcasttransaction", 200},
		{"POST", "/wallet/easytransferbyprivate", 404},
		{"POST", "/wallet/gettransactionsign", 404},
		{"POST", "/walletsolidity/broadcasttransaction", 404},
		{"POST", "/jsonrpc", 404},
		{"POST", "/wallet%2feasytransferbyprivate", 404},
		{"POST", "/wallet%2fgetaccount", 404},
		{"POST", "/wallet/getaccount/../easytransferbyprivate", 0},
		{"POST", "//wallet/easytransferbyprivate", 0},
		{"GET", "/wallet/broadcasttransaction", 405},
		{"DELETE", "/wallet/getaccount", 405},
	} {
		req, _ := http.NewRequest(c.method, p.URL+"/tron"+c.path, strings.NewReader(`{}`))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error string }
		switch {
		case c.status == 200 && resp.StatusCode == 200:
			want = append(want, c.method+" "+c.path+" key=operator-key")
		case c.status == 0 && resp.StatusCode != 200:
		case resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Error == "":
			t.Errorf("%s /tron%s: %s %s, want %d and a JSON error", c.method, c.path, resp.Status, body, c.status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the node received:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
