package tracker_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/relay/tracker"
)

// A real client (aria2) finds a btspeed seed through this tracker and
// downloads from it; both announced over HTTP, the seed from its own
// loopback address.
func TestAria2FindsSeedThroughTracker(t *testing.T) {
	btclientstest.Require(t, "aria2c", "transmission-create")
	s, srv := serve(t, tracker.Config{})
	announceURL := srv.URL + "/announce"

	dir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(dir, "t.bin"), 2<<20+3, 31)
	torrentFile, _ := btclientstest.MakeTorrent(t, filepath.Join(dir, "t.bin"), 32, announceURL)
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}

	ip := btclientstest.LoopbackIP(t)
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := engine.New(engine.Config{
		ListenPort:    ln.Addr().(*net.TCPAddr).Port,
		TrackerDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go cl.Serve(ln)
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, info) }
	spec.Check = true
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the seed's announce.
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Peers == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the seed never announced")
		}
		time.Sleep(20 * time.Millisecond)
	}

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := btclientstest.Aria2Download(ctx, t, torrentFile, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "t.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("aria2's copy differs (%v)", err)
	}
	if up := tor.Stats().Uploaded; up < int64(len(data)) {
		t.Fatalf("the seed uploaded %d bytes", up)
	}
}
