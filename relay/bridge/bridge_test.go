package bridge_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/internal/btclients"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/gorilla/websocket"
)

// A peer that can only speak WebSocket (as a browser) downloads from a
// Transmission seed through the bridge: Transmission announced itself to
// the relay's tracker, so its address counts as discovered; every byte
// verified. An address nobody announced is refused, and nothing is dialled.
func TestBridgeToTransmission(t *testing.T) {
	btclients.Require(t, "transmission-daemon", "transmission-create")
	tr := tracker.New(tracker.Config{})
	br := bridge.New(bridge.Config{
		Discovered:   tr.Knows,
		AllowPrivate: true, // everything here is on loopback
	})
	mux := http.NewServeMux()
	mux.Handle("/announce", tr)
	mux.Handle("/bridge", br)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer tr.Close()

	dir := t.TempDir()
	data := btclients.WriteRandomFile(t, filepath.Join(dir, "b.bin"), 3<<20+17, 41)
	torrentFile, ih := btclients.MakeTorrent(t, filepath.Join(dir, "b.bin"), 64, srv.URL+"/announce")
	ts := btclients.StartTransmission(t)
	ts.Add(t, torrentFile, dir)
	ts.WaitSeeding(t, ih, 30*time.Second)
	seedAddr := netip.MustParseAddrPort(ts.PeerAddr())
	deadline := time.Now().Add(30 * time.Second)
	for !tr.Knows(ih, seedAddr) {
		if time.Now().After(deadline) {
			t.Fatalf("Transmission never announced %s to the relay's tracker (%+v)", seedAddr, tr.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}

	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/bridge?info_hash=" + ih.HexString() + "&peer="
	// Not discovered: refused before any dial.
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL+"127.0.0.1:9", nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("undiscovered address: %v %v", resp, err)
	}
	if _, _, refused := br.Stats(); refused != 1 {
		t.Fatalf("refusals: %d", refused)
	}

	ws, _, err := websocket.DefaultDialer.Dial(wsURL+seedAddr.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Trackers = nil
	out := t.TempDir()
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(out, info) }
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.AddConn(context.Background(), bridge.NetConn(ws), ih); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete():
	case <-time.After(60 * time.Second):
		t.Fatalf("download through the bridge incomplete: %+v", tor.Stats())
	}
	got, err := os.ReadFile(filepath.Join(out, "b.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs (%v)", err)
	}
	if c := tor.Stats().Connections; c["websocket"] != 1 {
		t.Fatalf("connections %v, want one over the bridge's WebSocket", c)
	}
	if bridged, _, _ := br.Stats(); bridged < uint64(len(data)) {
		t.Fatalf("bridge piped %d bytes", bridged)
	}
}

// A handshake for another torrent is cut off.
func TestBridgeChecksTheHandshake(t *testing.T) {
	var ih [20]byte
	ih[0] = 1
	br := bridge.New(bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }, AllowPrivate: true})
	srv := httptest.NewServer(br)
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"?info_hash="+strings.Repeat("01", 20)+"&peer=127.0.0.1:9", nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := append([]byte("\x13BitTorrent protocol"), make([]byte, 48)...) // names the zero info hash
	ws.WriteMessage(websocket.BinaryMessage, hs)
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("a handshake for another torrent was bridged")
	}
	// Public-only by default.
	strict := bridge.New(bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }})
	if err := strict.Check(ih, netip.MustParseAddrPort("127.0.0.1:6881")); err == nil {
		t.Fatal("loopback allowed without AllowPrivate")
	}
	if err := strict.Check(ih, netip.MustParseAddrPort("192.168.1.2:6881")); err == nil {
		t.Fatal("a private address allowed without AllowPrivate")
	}
	if err := strict.Check(ih, netip.MustParseAddrPort("8.8.8.8:6881")); err != nil {
		t.Fatalf("a public discovered address refused: %v", err)
	}
}
