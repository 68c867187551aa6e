package relay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/shared/wallet"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

// The relay with its embedded ledger: it seeds a file with Speed; a
// btspeed peer downloads it, paying through the relay's /ledger/ gateway;
// /healthz, /metrics, the tracker and the web files answer.
func TestRelayServesSeedsAndGateways(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := server.Open(ctx, server.Config{ID: "btspeed-devnet", DB: filepath.Join(dir, "ledger.db"), Genesis: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() }) // after the relay's close
	web := filepath.Join(dir, "web")
	os.MkdirAll(web, 0o755)
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	os.WriteFile(filepath.Join(web, "btspeed.wasm"), wasm, 0o644)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(wasm)
	zw.Close()
	os.WriteFile(filepath.Join(web, "btspeed.wasm.gz"), gz.Bytes(), 0o644)
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<!doctype html><title>btspeed</title>"), 0o644)
	content := filepath.Join(dir, "demo.bin")
	data := make([]byte, 1<<20+77)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(content, data, 0o644)
	opKey, _ := wallet.GenerateKey()

	rl, srv := serveRelay(t, relay.Config{Ledger: l, WebDir: web, Seed: []string{content}, Key: opKey, Reserve: 100_000,
		PeerListen: "127.0.0.1:0", RTC: rtctest.Loopback()})

	if resp, body := get(t, srv.URL+"/healthz"); resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, srv.URL+"/seeds"); resp.StatusCode != 200 || !strings.Contains(body, `"magnet":"magnet:?xt=urn:btih:`) || !strings.Contains(body, `"name":"`) {
		t.Fatalf("seeds: %d %s", resp.StatusCode, body)
	}
	resp, _ := get(t, srv.URL+"/btspeed.wasm")
	if ct := resp.Header.Get("Content-Type"); ct != "application/wasm" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wasm served as %q, CORS %q", ct, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// A browser that accepts gzip gets the compressed copy, typed as the original.
	req, _ := http.NewRequest("GET", srv.URL+"/btspeed.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	gzResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(gzResp.Body)
	if err != nil {
		t.Fatalf("gzipped wasm: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	gzResp.Body.Close()
	if gzResp.Header.Get("Content-Encoding") != "gzip" || gzResp.Header.Get("Content-Type") != "application/wasm" || !bytes.Equal(plain, wasm) {
		t.Fatalf("gzipped wasm: encoding %q, type %q, body %q", gzResp.Header.Get("Content-Encoding"), gzResp.Header.Get("Content-Type"), plain)
	}
	if resp, body := get(t, srv.URL+"/ledger/v1/info"); resp.StatusCode != 200 || !strings.Contains(body, "btspeed-devnet") {
		t.Fatalf("ledger gateway: %d %s", resp.StatusCode, body)
	}

	// A Speed peer pays the relay through the gateway.
	lc := client.New(srv.URL+"/ledger", nil)
	buyer, _ := wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{buyer.Address()}, 50_000_000); err != nil {
		t.Fatal(err)
	}
	seeds := rl.Seeds()
	if len(seeds) != 1 || !strings.Contains(seeds[0].Magnet, "x.pe=") {
		t.Fatalf("seeds: %+v", seeds)
	}
	cl, err := engine.New(engine.Config{ChokeInterval: 2 * time.Second, Speed: &engine.SpeedConfig{Key: buyer, Ledger: lc, LedgerID: "btspeed-devnet",
		Settings: engine.SpeedSettings{Enabled: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	spec, err := engine.SpecFromMagnet(seeds[0].Magnet)
	if err != nil {
		t.Fatal(err)
	}
	spec.Trackers = nil // the peer address is in the magnet
	tor, got := downloadAll(t, cl, spec, "download")
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	deadline := time.Now().Add(10 * time.Second)
	for seeds[0].Torrent.SpeedStats().Earned == 0 || seeds[0].Torrent.SpeedStats().Earned < tor.SpeedStats().Spent {
		if time.Now().After(deadline) {
			t.Fatalf("relay earned %d, buyer spent %d", seeds[0].Torrent.SpeedStats().Earned, tor.SpeedStats().Spent)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A browser-like peer that knows only the relay's WebSocket tracker
	// (no address) reaches the seed over WebRTC and pays too.
	buyer2, _ := wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{buyer2.Address()}, 50_000_000); err != nil {
		t.Fatal(err)
	}
	cl2, err := engine.New(engine.Config{ChokeInterval: 2 * time.Second,
		PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtctest.Loopback()})},
		Speed:       &engine.SpeedConfig{Key: buyer2, Ledger: lc, LedgerID: "btspeed-devnet", Settings: engine.SpeedSettings{Enabled: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	spec2, err := engine.SpecFromMagnet(seeds[0].Magnet)
	if err != nil {
		t.Fatal(err)
	}
	spec2.Peers = nil
	spec2.Trackers = [][]string{{"ws://" + srv.Listener.Addr().String()}}
	tor2, got2 := downloadAll(t, cl2, spec2, "WebRTC download")
	if !bytes.Equal(got2, data) || tor2.Stats().Connections["webrtc"] != 1 {
		t.Fatalf("WebRTC download: data equal %v, connections %v", bytes.Equal(got2, data), tor2.Stats().Connections)
	}
	deadline = time.Now().Add(10 * time.Second)
	for tor2.SpeedStats().Spent == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the WebRTC peer paid nothing: %+v", tor2.SpeedStats())
		}
		time.Sleep(50 * time.Millisecond)
	}

	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{"btspeed_ledger_gateway_seconds_count ", "btspeed_seeder_earned_base_units_total ", "btspeed_tracker_peers ", "btspeed_tracker_rate_limited_total ", "btspeed_relay_http_requests_total ", "btspeed_bridge_bytes_total "} {
		if !strings.Contains(body, want) {
			t.Fatalf("metrics lack %s:\n%s", want, body)
		}
	}
}

// serveRelay starts a relay with cfg, its PublicURL set to a new loopback
// port's, and serves it there until t ends.
func serveRelay(t *testing.T, cfg relay.Config) (*relay.Relay, *httptest.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	rl, err := relay.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		rl.Close()
	})
	return rl, srv
}

// downloadAll adds spec to cl with in-memory storage, waits for the torrent
// to complete (what names the download when it does not) and returns it
// with the bytes it downloaded.
func downloadAll(t *testing.T, cl *engine.Client, spec engine.TorrentSpec, what string) (*engine.Torrent, []byte) {
	t.Helper()
	out := &memStore{}
	spec.Storage = out.open
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete():
	case <-time.After(90 * time.Second):
		t.Fatalf("%s incomplete: %+v", what, tor.Stats())
	}
	return tor, out.data
}

// memStore is a byte-slice storage for the downloader.
type memStore struct{ data []byte }

func (m *memStore) open(info *metainfo.Info) (engine.Storage, error) {
	m.data = make([]byte, info.TotalLength())
	return m, nil
}
func (m *memStore) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m.data[off:]), nil }
func (m *memStore) WriteAt(p []byte, off int64) (int, error) { return copy(m.data[off:], p), nil }
func (m *memStore) Flush() error                             { return nil }
func (m *memStore) Close() error                             { return nil }

// The relay finds classic peers through a torrent's own tracker (one it
// is not) and offers them to a browser peer, which downloads through the
// bridge over WebRTC: the path a browser takes to the TCP swarm.
func TestRelayBridgesPeersFromTheTorrentsTracker(t *testing.T) {
	// The torrent's tracker, elsewhere.
	other := tracker.New(tracker.Config{})
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	defer other.Close()

	dir := t.TempDir()
	content := filepath.Join(dir, "swarm.bin")
	data := make([]byte, 1<<20+999)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(content, data, 0o644)
	mi, err := engine.CreateTorrent(content, engine.CreateOptions{Trackers: []string{otherSrv.URL + "/announce"}})
	if err != nil {
		t.Fatal(err)
	}
	// A classic seed announces to that tracker.
	seedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := engine.New(engine.Config{ListenPort: seedLn.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	go seed.Serve(seedLn)
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, i) }
	spec.Check = true
	if _, err := seed.AddTorrent(spec); err != nil {
		t.Fatal(err)
	}
	// The relay looks a torrent up at most once a minute: its first lookup
	// must find the seed, so the seed's announce comes first.
	for deadline := time.Now().Add(30 * time.Second); len(other.HTTPPeers(mi.HashInfoBytes(), 1)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the seed never announced to its tracker")
		}
	}

	_, srv := serveRelay(t, relay.Config{RTC: rtctest.Loopback(), BridgeAllowPrivate: true})

	// A browser-like peer: it cannot dial TCP; only the relay's bridge.
	cl, err := engine.New(engine.Config{Transports: []engine.Transport{{Name: "none", Network: "tcp", Dialer: noDial{}}}, PeerSources: []engine.PeerSource{&relaybridge.Source{
		Config: relaybridge.Config{Relay: srv.URL, RTC: rtctest.Loopback()}, Transport: relaybridge.WebRTC, Poll: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dl := engine.SpecFromMetaInfo(mi) // its tracker list names the other tracker
	dl.Trackers = [][]string{{otherSrv.URL + "/announce"}}
	tor, got := downloadAll(t, cl, dl, "bridged download")
	if c := tor.Stats().Connections; !bytes.Equal(got, data) || c["webrtc"] == 0 || len(c) != 1 {
		t.Fatalf("data equal %v, connections %v: want only bridged WebRTC ones", bytes.Equal(got, data), c)
	}
	_, body := get(t, srv.URL+"/metrics")
	if !strings.Contains(body, "btspeed_discover_peers 1") {
		t.Fatalf("metrics: %s", body)
	}
}

// noDial fails every dial, as a browser cannot open TCP connections.
type noDial struct{}

func (noDial) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("a browser cannot dial TCP")
}
