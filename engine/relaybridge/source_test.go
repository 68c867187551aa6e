//go:build !js

package relaybridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/relay/bridge"
)

// A downloader whose only way to peers is a relay's bridge (as a browser's)
// lists the bridgeable peers, connects over WebRTC and downloads; the
// relay lists only what it will dial.
func TestSourceDownloadsThroughTheBridge(t *testing.T) {
	data := make([]byte, 2<<20+999)
	rand.Read(data)
	infoBytes, ih := torrentInfo(t, "s.bin", data)

	seed, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go seed.Serve(ln)
	seedAddr := netip.MustParseAddrPort(ln.Addr().String())
	if _, err := seed.AddTorrent(engine.TorrentSpec{InfoHash: ih, InfoBytes: infoBytes, Check: true,
		Storage: func(i *metainfo.Info) (engine.Storage, error) {
			m, err := storage.NewMemory(i, 1<<30)
			if err == nil {
				_, err = m.WriteAt(data, 0)
			}
			return m, err
		}}); err != nil {
		t.Fatal(err)
	}

	var gotTrackers []string
	br := bridge.New(bridge.Config{
		Discovered: func(h [20]byte, a netip.AddrPort) bool { return h == ih && a == seedAddr },
		Peers: func(h [20]byte, trackers []string) []netip.AddrPort {
			gotTrackers = trackers
			// One the bridge would refuse is never listed.
			return []netip.AddrPort{seedAddr, netip.MustParseAddrPort("127.0.0.1:1")}
		},
		AllowPrivate: true,
		RTC:          rtctest.Loopback(),
	})
	defer br.Close()
	mux := http.NewServeMux()
	mux.Handle("/bridge", br)
	mux.HandleFunc("/bridge/peers", br.ServePeers)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := relaybridge.Config{Relay: srv.URL, RTC: rtctest.Loopback()}

	list, err := relaybridge.ListPeers(context.Background(), cfg, ih, []string{"udp://tracker.invalid:80", "ws://browser-only.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Peers) != 1 || list.Peers[0] != seedAddr.String() {
		t.Fatalf("listed %v, want only %s", list.Peers, seedAddr)
	}
	if len(gotTrackers) != 1 || gotTrackers[0] != "udp://tracker.invalid:80" {
		t.Fatalf("trackers passed on: %v", gotTrackers)
	}

	downloadOnlyThroughTheBridge(t, cfg, ih, infoBytes, data)
}

// torrentInfo is the bencoded info of a one-file torrent of data called
// name, in 256 KiB pieces, and its info hash.
func torrentInfo(t *testing.T, name string, data []byte) ([]byte, metainfo.Hash) {
	t.Helper()
	info := metainfo.Info{Name: name, PieceLength: 256 << 10, Length: int64(len(data))}
	if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }); err != nil {
		t.Fatal(err)
	}
	infoBytes, _ := bencode.Marshal(info)
	return infoBytes, metainfo.HashBytes(infoBytes)
}

// downloadOnlyThroughTheBridge downloads torrent ih with a client whose
// only peer source is the relay's bridge (cfg): data, over one bridged
// WebRTC connection.
func downloadOnlyThroughTheBridge(t *testing.T, cfg relaybridge.Config, ih metainfo.Hash, infoBytes, data []byte) {
	t.Helper()
	cl, err := engine.New(engine.Config{PeerSources: []engine.PeerSource{&relaybridge.Source{Config: cfg}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out *storage.Memory
	tor, err := cl.AddTorrent(engine.TorrentSpec{InfoHash: ih, InfoBytes: infoBytes,
		Storage: func(i *metainfo.Info) (engine.Storage, error) {
			m, err := storage.NewMemory(i, 1<<30)
			out = m
			return m, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete():
	case <-time.After(60 * time.Second):
		t.Fatalf("incomplete: %+v", tor.Stats())
	}
	got := make([]byte, len(data))
	out.ReadAt(got, 0)
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if c := tor.Stats().Connections; c["webrtc"] != 1 {
		t.Fatalf("connections %v, want one bridged over WebRTC", c)
	}
}
