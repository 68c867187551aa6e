//go:build !js

package wstracker_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/relay/tracker"
)

// A tier of WebSocket trackers is used one at a time, BEP 12 style: a seed
// whose tier is [T1, T2] announces to T1 only; when T1 dies it moves on to
// T2, where a downloader that knows only T2 finds it and downloads the
// whole torrent over WebRTC.
func TestTierFailsOverToTheNextTracker(t *testing.T) {
	// T1 tells when the seed's first announce reaches it (Allow sees
	// every announce; only the seed uses T1).
	announced := make(chan struct{})
	var once sync.Once
	t1 := tracker.New(tracker.Config{Allow: func([20]byte) bool { once.Do(func() { close(announced) }); return true }})
	t2 := tracker.New(tracker.Config{})
	// T2 notes a connection that came while T1 was up.
	var t1Down, early atomic.Bool
	s1 := httptest.NewServer(t1)
	s2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t1Down.Load() {
			early.Store(true)
		}
		t2.ServeHTTP(w, r)
	}))
	defer s2.Close()
	defer t2.Close()
	u1, u2 := "ws"+strings.TrimPrefix(s1.URL, "http"), "ws"+strings.TrimPrefix(s2.URL, "http")

	dir := t.TempDir()
	path := filepath.Join(dir, "data.bin")
	data := make([]byte, 1<<20+333)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := engine.CreateTorrent(path, engine.CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	seedSpec := engine.SpecFromMetaInfo(mi)
	seedSpec.Trackers = [][]string{{u1, u2}}
	seedSpec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, info) }
	seedSpec.Check = true
	st, err := newEngine(t).AddTorrent(seedSpec)
	if err != nil {
		t.Fatal(err)
	}
	<-st.Complete()
	select {
	case <-announced:
	case <-time.After(30 * time.Second):
		t.Fatal("the seed never announced to T1, first in its tier")
	}
	t1Down.Store(true)
	s1.CloseClientConnections()
	t1.Close()
	s1.Close()

	dlSpec := engine.SpecFromMetaInfo(mi)
	dlSpec.Trackers = [][]string{{u2}}
	var got *storage.Memory
	dlSpec.Storage = func(info *metainfo.Info) (engine.Storage, error) {
		s, err := storage.NewMemory(info, 1<<30)
		got = s
		return s, err
	}
	lt, err := newEngine(t).AddTorrent(dlSpec)
	if err != nil {
		t.Fatal(err)
	}
	<-lt.Complete()
	buf := make([]byte, len(data))
	if _, err := got.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("downloaded bytes differ (%v)", err)
	}
	if n := lt.Stats().Connections["webrtc"]; n == 0 {
		t.Fatalf("no webrtc connection in %v", lt.Stats().Connections)
	}
	if early.Load() {
		t.Fatal("the seed connected to T2 while T1, first in its tier, was up")
	}
}
