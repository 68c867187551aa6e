package relay_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/provider"
	"github.com/btspeed/btspeed/shared/speed/proxy/requester"
	"github.com/btspeed/btspeed/shared/speed/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

var fixedTime = time.Unix(1_700_000_000, 0)

// memSink keeps a fetch's chunks in memory.
type memSink struct{ data []byte }

func (s *memSink) WriteChunk(off uint64, b []byte) error {
	s.data = append(s.data[:off], b...)
	return nil
}
func (s *memSink) Checkpoint(requester.Progress) error { return nil }

// proxyRelay starts a relay with an embedded ledger and the paid proxy on
// (loopback origins allowed, as tests need), and an origin serving data;
// it returns the relay too.
func proxyRelay(t *testing.T, perAddr int, data []byte) (relayURL, origin string, lc *client.Client, rl *relay.Relay) {
	t.Helper()
	l, err := server.Open(context.Background(), server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	opKey, _ := wallet.GenerateKey()
	rl, err = relay.New(relay.Config{Ledger: l, Key: opKey, LedgerRate: 1000, Proxy: relay.ProxyConfig{Listen: "127.0.0.1:0", WSPerAddr: perAddr,
		Provider: provider.Config{Rate: 1 << 20, AllowLoopback: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	org := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, req, "f.bin", fixedTime, bytes.NewReader(data))
	}))
	t.Cleanup(org.Close)
	return srv.URL, org.URL, client.New(srv.URL+"/ledger", nil), rl
}

// dialProxyWS opens GET /proxy/ws as a net.Conn.
func dialProxyWS(relayURL string) (net.Conn, *http.Response, error) {
	return dialServiceWS(relayURL, "/proxy/ws")
}

// dialServiceWS opens a service's WebSocket at path as a net.Conn.
func dialServiceWS(relayURL, path string) (net.Conn, *http.Response, error) {
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(relayURL, "http")+path, nil)
	if err != nil {
		return nil, resp, err
	}
	return bridge.NetConn(ws), resp, nil
}

// The paid proxy over the relay's WebSocket transport: a requester fetches
// a file from a local origin through GET /proxy/ws, gets it byte for byte
// and pays exactly its chunks' price on the ledger.
func TestProxyOverWebSocket(t *testing.T) {
	data := make([]byte, 3*proxy.DefaultChunk+1234)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	relayURL, origin, lc, _ := proxyRelay(t, 0, data)
	key, _ := wallet.GenerateKey()
	ctx := context.Background()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{key.Address()}, 50_000_000); err != nil {
		t.Fatal(err)
	}
	nc, _, err := dialProxyWS(relayURL)
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	cfg := requester.Config{Key: key, Ledger: lc, LedgerID: "btspeed-devnet", MaxRate: 1 << 20, Budget: 50_000_000}
	res, err := requester.Fetch(ctx, nc, cfg, requester.Progress{URL: origin + "/f.bin"}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sink.data, data) {
		t.Fatalf("got %d bytes, not the origin's %d", len(sink.data), len(data))
	}
	if want := requester.Cost(res.Progress.Pin, 1<<20, 0); res.Chunks != 4 || res.Spent != want || want != uint64(len(data)) {
		t.Fatalf("%d chunks for %d base units, want 4 for %d", res.Chunks, res.Spent, want)
	}
}

// The WebSocket transport's caps: a second connection from an address at
// its cap is refused before the upgrade, and allowed once the first
// closes; a relay without the proxy has no /proxy/ws, one without storage
// no /store/ws or /store.
func TestProxyWebSocketCaps(t *testing.T) {
	relayURL, _, _, rl := proxyRelay(t, 1, []byte("x"))
	released := rl.ProxyWSReleases()
	first, _, err := dialProxyWS(relayURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, err := dialProxyWS(relayURL); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second connection at the cap: %v (%v)", resp, err)
	}
	first.Close()
	// The provider sees the close and releases the address's slot: a new
	// connection is let in.
	select {
	case <-released:
	case <-time.After(30 * time.Second):
		t.Fatal("the first connection closed, but its slot was never released")
	}
	c, resp, err := dialProxyWS(relayURL)
	if err != nil {
		t.Fatalf("after the first closed: %v (%v)", resp, err)
	}
	c.Close()

	l, err := server.Open(context.Background(), server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	off, err := relay.New(relay.Config{Ledger: l})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	srv := httptest.NewServer(off)
	defer srv.Close()
	if _, resp, err := dialProxyWS(srv.URL); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a relay without the proxy: %v (%v)", resp, err)
	}
	if _, resp, err := dialServiceWS(srv.URL, "/store/ws"); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a relay without storage: %v (%v)", resp, err)
	}
	if resp, _ := get(t, srv.URL+"/store"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /store without storage: %s", resp.Status)
	}
}

// Paid storage over the relay's WebSocket transport: with a provider
// serving the relay's StoreWS, a requester stores a file through GET
// /store/ws, gets it back identical on a second connection and pays the
// retrieval's price per chunk.
func TestStoreOverWebSocket(t *testing.T) {
	ctx := context.Background()
	l, err := server.Open(ctx, server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	opKey, _ := wallet.GenerateKey()
	prov, err := store.NewProvider(store.ProviderConfig{Key: opKey, Ledger: l, LedgerID: l.ID(), Dir: t.TempDir(), Quota: 64 << 20, Rate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ws := relay.NewWSListener(&net.TCPAddr{})
	sctx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { defer close(served); prov.Serve(sctx, ws) }()
	defer func() { stop(); <-served }()
	rl, err := relay.New(relay.Config{Ledger: l, LedgerRate: 1000, StoreWS: ws})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	srv := httptest.NewServer(rl)
	defer srv.Close()
	if resp, body := get(t, srv.URL+"/store"); resp.StatusCode != http.StatusOK || body != `{"ws":"/store/ws"}` {
		t.Fatalf("GET /store: %s %s", resp.Status, body)
	}
	lc := client.New(srv.URL+"/ledger", nil)
	key, _ := wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, lc, []wallet.Address{key.Address()}, 50_000_000); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2*store.PlainChunkSize+999)
	r := rand.New(rand.NewPCG(9, 10))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	dial := func() *store.Client {
		nc, _, err := dialServiceWS(srv.URL, "/store/ws")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := store.NewClient(nc, key, lc, "btspeed-devnet")
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl := dial()
	ct, err := cl.Put(bytes.NewReader(data), uint64(len(data)), store.Offer{Period: store.MinPeriod, Periods: 2, Rate: 1 << 20})
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	cl = dial()
	defer cl.Close()
	var got bytes.Buffer
	paid, err := cl.Get(ctx, ct, &got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got back %d bytes, not the %d stored", got.Len(), len(data))
	}
	if paid != ct.Terms.Length { // 1 BTT per MiB: a base unit per byte of ciphertext
		t.Fatalf("paid %d for %d bytes of ciphertext", paid, ct.Terms.Length)
	}
}
