//go:build !js

package wstracker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/gorilla/websocket"
)

func newEngine(t *testing.T) *engine.Client {
	t.Helper()
	cl, err := engine.New(engine.Config{
		PeerFinders:   []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtctest.Loopback()})},
		ChokeInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func memStorage(info *metainfo.Info) (engine.Storage, error) { return storage.NewMemory(info, 1<<30) }

// TestTwoEnginesMeetOverWebRTC: a seed and a downloader that know only a
// WebSocket tracker URL find each other through our tracker, open a WebRTC
// data channel and move the whole torrent over it.
func TestTwoEnginesMeetOverWebRTC(t *testing.T) {
	srv := httptest.NewServer(tracker.New(tracker.Config{}))
	defer srv.Close()
	trackerURL := "ws" + strings.TrimPrefix(srv.URL, "http")

	dir := t.TempDir()
	path := filepath.Join(dir, "data.bin")
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := engine.CreateTorrent(path, engine.CreateOptions{PieceLength: 256 << 10, Trackers: []string{trackerURL}})
	if err != nil {
		t.Fatal(err)
	}
	seedSpec := engine.SpecFromMetaInfo(mi)
	seedSpec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, info) }
	seedSpec.Check = true
	seeder := newEngine(t)
	st, err := seeder.AddTorrent(seedSpec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.Complete():
	case <-time.After(30 * time.Second):
		t.Fatal("seed never verified its data")
	}

	// The downloader starts from a magnet link: metadata comes over the
	// data channel too (BEP 9).
	m, err := metainfo.ParseMagnetUri(mi.Magnet(nil, nil).String())
	if err != nil {
		t.Fatal(err)
	}
	m.Trackers = []string{trackerURL}
	spec, err := engine.SpecFromMagnet(m.String())
	if err != nil {
		t.Fatal(err)
	}
	var got *storage.Memory
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) {
		s, err := storage.NewMemory(info, 1<<30)
		got = s
		return s, err
	}
	leecher := newEngine(t)
	lt, err := leecher.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	select {
	case <-lt.Complete():
	case <-ctx.Done():
		t.Fatalf("download did not finish: %+v", lt.Stats())
	}
	buf := make([]byte, len(data))
	if _, err := got.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, data) {
		t.Fatal("downloaded bytes differ")
	}
	if n := lt.Stats().Connections["webrtc"]; n == 0 {
		t.Fatalf("no webrtc connection in %v", lt.Stats().Connections)
	}
}

// A torrent that still needs data and has no peer announces again within
// seconds (its offers may have failed, or its seed may come later), not
// after the tracker's two-minute interval; the tracker here answers every
// announce with no peers.
func TestReannouncesSoonWithoutPeers(t *testing.T) {
	var mu sync.Mutex
	var announces []time.Time
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Action   string `json:"action"`
				InfoHash string `json:"info_hash"`
			}
			if json.Unmarshal(msg, &m) != nil || m.Action != "announce" {
				continue
			}
			mu.Lock()
			announces = append(announces, time.Now())
			mu.Unlock()
			ws.WriteJSON(map[string]any{"action": "announce", "info_hash": m.InfoHash, "interval": 120, "complete": 0, "incomplete": 1})
		}
	}))
	defer srv.Close()
	spec, err := engine.SpecFromMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=" + url.QueryEscape("ws"+strings.TrimPrefix(srv.URL, "http")))
	if err != nil {
		t.Fatal(err)
	}
	spec.Storage = memStorage
	if _, err := newEngine(t).AddTorrent(spec); err != nil {
		t.Fatal(err)
	}
	// Three announces come at about 0, 5 and 15 s; the tracker's interval
	// would put the second at 120 s. The deadline sits between the two, far
	// from both, so a loaded machine cannot fail it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(announces)
		mu.Unlock()
		if n >= 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d announces in 60 s without peers, want 3 (at about 0, 5 and 15 s, not the tracker's 120 s)", n)
		}
		time.Sleep(100 * time.Millisecond) // polling the announces against the deadline
	}
}
