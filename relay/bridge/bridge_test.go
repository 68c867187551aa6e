package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"net"
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
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/internal/btclients"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/gorilla/websocket"
)

// A browser-like peer (engine/relaybridge, the code the browser runs)
// downloads from a Transmission seed through the bridge, over a WebRTC data
// channel (the relay dialling Transmission by TCP, then by uTP) and over
// the WebSocket fallback: Transmission announced itself to the relay's
// tracker, so its address counts as discovered; every byte verified. An
// address nobody announced is refused, and nothing is dialled.
func TestBridgeToTransmission(t *testing.T) {
	btclients.Require(t, "transmission-daemon", "transmission-create")
	tr := tracker.New(tracker.Config{})
	trSrv := httptest.NewServer(tr)
	defer trSrv.Close()
	defer tr.Close()

	dir := t.TempDir()
	data := btclients.WriteRandomFile(t, filepath.Join(dir, "b.bin"), 3<<20+17, 41)
	torrentFile, ih := btclients.MakeTorrent(t, filepath.Join(dir, "b.bin"), 64, trSrv.URL+"/announce")
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
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ transport, network string }{
		{relaybridge.WebRTC, "tcp"},
		{relaybridge.WebRTC, "utp"},
		{relaybridge.WebSocket, "tcp"},
	} {
		t.Run(c.transport+"-"+c.network, func(t *testing.T) {
			// Each bridge dials from its own loopback address:
			// Transmission will not take a second download from an
			// address it saw finish.
			local := netip.MustParseAddr(btclients.LoopbackIP(t))
			dials := 0
			cfg := bridge.Config{
				Discovered:   tr.Knows,
				AllowPrivate: true, // everything here is on loopback
				RTC:          rtctest.Loopback(),
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials++
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IP(local.AsSlice())}}
					return d.DialContext(ctx, network, addr)
				},
			}
			if c.network == "utp" {
				sock, err := engine.ListenUTP(netip.AddrPortFrom(local, 0).String())
				if err != nil {
					t.Fatal(err)
				}
				defer sock.Close()
				cfg.DialUTP = func(ctx context.Context, addr string) (net.Conn, error) {
					dials++
					tp := sock.Transport()
					return tp.Dialer.DialContext(ctx, tp.Network, addr)
				}
			}
			br := bridge.New(cfg)
			defer br.Close()
			srv := httptest.NewServer(br)
			defer srv.Close()
			rb := relaybridge.Config{Relay: srv.URL, RTC: rtctest.Loopback()}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// Not discovered: refused before any dial.
			_, err := relaybridge.Dial(ctx, rb, c.transport, ih, "127.0.0.1:9", c.network)
			var refused *relaybridge.RefusedError
			if c.transport == relaybridge.WebRTC && (!errors.As(err, &refused) || refused.Status != http.StatusForbidden) {
				t.Fatalf("undiscovered address: %v", err)
			}
			if err == nil {
				t.Fatal("undiscovered address bridged")
			}
			if _, _, n := br.Stats(); n != 1 || dials != 0 {
				t.Fatalf("refusals %d, dials %d", n, dials)
			}

			conn, err := relaybridge.Dial(ctx, rb, c.transport, ih, seedAddr.String(), c.network)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := engine.New(engine.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			spec := engine.SpecFromMetaInfo(mi)
			spec.Trackers = nil
			out := t.TempDir()
			spec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(out, info) }
			tor, err := cl.AddTorrent(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.AddConn(ctx, conn, ih); err != nil {
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
			if conns := tor.Stats().Connections; conns[c.transport] != 1 {
				t.Fatalf("connections %v, want one over the bridge's %s", conns, c.transport)
			}
			if bridged, _, _ := br.Stats(); bridged < uint64(len(data)) {
				t.Fatalf("bridge piped %d bytes", bridged)
			}
			if dials != 1 {
				t.Fatalf("%d dials", dials)
			}
		})
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
