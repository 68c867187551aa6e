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
	web, wasm := writeWebDir(t, dir)
	content := filepath.Join(dir, "demo.bin")
	data := writeRandomFile(content, 1<<20+77, 3, 4)
	opKey, _ := wallet.GenerateKey()

	rl, srv := serveRelay(t, relay.Config{Ledger: l, WebDir: web, Seed: []string{content}, Key: opKey, Reserve: 100_000,
		PeerListen: "127.0.0.1:0", RTC: rtctest.Loopback()})
	relayAnswersHealthSeedsWasmAndLedger(t, srv.URL, wasm)

	// A Speed peer pays the relay through the gateway.
	lc := client.New(srv.URL+"/ledger", nil)
	buyer := fundedKey(t, ctx, lc)
	seeds := rl.Seeds()
	if len(seeds) != 1 || !strings.Contains(seeds[0].Magnet, "x.pe=") {
		t.Fatalf("seeds: %+v", seeds)
	}
	cl := speedClient(t, buyer, lc)
	defer cl.Close()
	peerDownloadsPayingTheSeed(t, cl, seeds[0], data)

	// A browser-like peer that knows only the relay's WebSocket tracker
	// (no address) reaches the seed over WebRTC and pays too.
	buyer2 := fundedKey(t, ctx, lc)
	cl2 := speedClient(t, buyer2, lc, wstracker.New(wstracker.Config{RTC: rtctest.Loopback()}))
	defer cl2.Close()
	webRTCPeerDownloadsAndPays(t, cl2, seeds[0].Magnet, "ws://"+srv.Listener.Addr().String(), data)

	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{"btspeed_ledger_gateway_seconds_count ", "btspeed_seeder_earned_base_units_total ", "btspeed_tracker_peers ", "btspeed_tracker_rate_limited_total ", "btspeed_relay_http_requests_total ", "btspeed_bridge_bytes_total "} {
		if !strings.Contains(body, want) {
			t.Fatalf("metrics lack %s:\n%s", want, body)
		}
	}
}

// writeWebDir writes, under dir/web, the web files a relay serves: a
// stand-in btspeed.wasm, its gzipped copy and an index.html. It returns
// the directory and the wasm's bytes.
func writeWebDir(t *testing.T, dir string) (string, []byte) {
	t.Helper()
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
	return web, wasm
}

// writeRandomFile writes n bytes drawn from a PCG seeded with (s1, s2) to
// path and returns them.
func writeRandomFile(path string, n int, s1, s2 uint64) []byte {
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(s1, s2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(path, data, 0o644)
	return data
}

// relayAnswersHealthSeedsWasmAndLedger checks the relay at url: /healthz,
// /seeds, the wasm (typed, open to every origin, gzipped for a browser
// that accepts it) and the ledger gateway.
func relayAnswersHealthSeedsWasmAndLedger(t *testing.T, url string, wasm []byte) {
	t.Helper()
	if resp, body := get(t, url+"/healthz"); resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, url+"/seeds"); resp.StatusCode != 200 || !strings.Contains(body, `"magnet":"magnet:?xt=urn:btih:`) || !strings.Contains(body, `"name":"`) {
		t.Fatalf("seeds: %d %s", resp.StatusCode, body)
	}
	resp, _ := get(t, url+"/btspeed.wasm")
	if ct := resp.Header.Get("Content-Type"); ct != "application/wasm" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wasm served as %q, CORS %q", ct, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// A browser that accepts gzip gets the compressed copy, typed as the original.
	req, _ := http.NewRequest("GET", url+"/btspeed.wasm", nil)
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
	if resp, body := get(t, url+"/ledger/v1/info"); resp.StatusCode != 200 || !strings.Contains(body, "btspeed-devnet") {
		t.Fatalf("ledger gateway: %d %s", resp.StatusCode, body)
	}
}

// fundedKey is a new key with 50 BTT on the ledger behind lc.
func fundedKey(t *testing.T, ctx context.Context, lc *client.Client) *wallet.PrivateKey {
	t.Helper()
	k, _ := wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{k.Address()}, 50_000_000); err != nil {
		t.Fatal(err)
	}
	return k
}

// speedClient is an engine with Speed on, paying from key through lc,
// finding peers with finders; the caller closes it.
func speedClient(t *testing.T, key *wallet.PrivateKey, lc *client.Client, finders ...engine.PeerFinder) *engine.Client {
	t.Helper()
	cl, err := engine.New(engine.Config{ChokeInterval: 2 * time.Second, PeerFinders: finders,
		Speed: &engine.SpeedConfig{Key: key, Ledger: lc, LedgerID: "btspeed-devnet", Settings: engine.SpeedSettings{Enabled: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// peerDownloadsPayingTheSeed downloads the seed on cl from the peer
// address in its magnet, and waits until the seed earned what cl spent.
func peerDownloadsPayingTheSeed(t *testing.T, cl *engine.Client, seed relay.Seeded, data []byte) {
	t.Helper()
	spec, err := engine.SpecFromMagnet(seed.Magnet)
	if err != nil {
		t.Fatal(err)
	}
	spec.Trackers = nil // the peer address is in the magnet
	tor, got := downloadAll(t, cl, spec, "download")
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	deadline := time.Now().Add(10 * time.Second)
	for seed.Torrent.SpeedStats().Earned == 0 || seed.Torrent.SpeedStats().Earned < tor.SpeedStats().Spent {
		if time.Now().After(deadline) {
			t.Fatalf("relay earned %d, buyer spent %d", seed.Torrent.SpeedStats().Earned, tor.SpeedStats().Spent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webRTCPeerDownloadsAndPays downloads magnet on cl knowing only the
// WebSocket tracker (no peer address): over one WebRTC connection, paying.
func webRTCPeerDownloadsAndPays(t *testing.T, cl *engine.Client, magnet, tracker string, data []byte) {
	t.Helper()
	spec, err := engine.SpecFromMagnet(magnet)
	if err != nil {
		t.Fatal(err)
	}
	spec.Peers = nil
	spec.Trackers = [][]string{{tracker}}
	tor, got := downloadAll(t, cl, spec, "WebRTC download")
	if !bytes.Equal(got, data) || tor.Stats().Connections["webrtc"] != 1 {
		t.Fatalf("WebRTC download: data equal %v, connections %v", bytes.Equal(got, data), tor.Stats().Connections)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tor.SpeedStats().Spent == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the WebRTC peer paid nothing: %+v", tor.SpeedStats())
		}
		time.Sleep(50 * time.Millisecond)
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
	data := writeRandomFile(content, 1<<20+999, 5, 6)
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
	waitAnnounced(t, other, mi.HashInfoBytes())

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

// waitAnnounced waits up to 30 s for a peer to announce torrent ih to tr
// over HTTP.
func waitAnnounced(t *testing.T, tr *tracker.Server, ih metainfo.Hash) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); len(tr.HTTPPeers(ih, 1)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the seed never announced to its tracker")
		}
	}
}

// noDial fails every dial, as a browser cannot open TCP connections.
type noDial struct{}

func (noDial) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("a browser cannot dial TCP")
}
