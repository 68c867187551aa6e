package redistest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
)

// Failover is what relays sharing swarms through one Redis must do, as
// relay's in-process servers and cmd/relay's processes both show: a seed
// whose tier is [A, B, C] (so it announces to A) and a downloader announcing
// to C alone meet through Redis and the torrent moves over WebRTC; then A
// goes away, the seed moves on to B, and a new downloader announcing to B
// alone downloads the whole torrent from it.
type Failover struct {
	WS    [3]string          // the WebSocket trackers of relays A, B and C
	StopA func()             // takes relay A away: a kill, or Close in process
	Met   func(t *testing.T) // when set, checks the relays after the first download
}

// Run runs the scenario with engines on loopback WebRTC.
func (f Failover) Run(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 1<<20+4321)
	r := rand.New(rand.NewPCG(21, 22))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	content := filepath.Join(dir, "shared.bin")
	if err := os.WriteFile(content, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := engine.CreateTorrent(content, engine.CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Trackers = [][]string{f.WS[:]}
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, i) }
	spec.Check = true
	seed, err := rtcEngine(t).AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-seed.Complete()

	download := func(cl *engine.Client, tracker string) {
		t.Helper()
		if got := Download(t, cl, engine.SpecFromMetaInfo(mi), tracker); !bytes.Equal(got, data) {
			t.Fatalf("the %d bytes downloaded through %s differ from the seed's %d", len(got), tracker, len(data))
		}
	}
	first := rtcEngine(t)
	download(first, f.WS[2])
	if f.Met != nil {
		f.Met(t)
	}
	first.Close() // the seed is the only source left
	uploaded := seed.Stats().Uploaded

	f.StopA()
	download(rtcEngine(t), f.WS[1])
	if up := seed.Stats().Uploaded - uploaded; up < int64(len(data)) {
		t.Fatalf("the seed uploaded %d bytes after relay A went away, want the whole %d", up, len(data))
	}
}

// rtcEngine is an engine with the WebSocket tracker client, on loopback
// WebRTC, closed when t ends.
func rtcEngine(t *testing.T) *engine.Client {
	t.Helper()
	cl, err := engine.New(engine.Config{PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtctest.Loopback()})}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Download fetches spec with cl announcing to tracker alone, checks that
// the torrent came over WebRTC, and returns its bytes for the caller to
// check against what was seeded.
func Download(t *testing.T, cl *engine.Client, spec engine.TorrentSpec, tracker string) []byte {
	t.Helper()
	spec.Trackers = [][]string{{tracker}}
	var got *storage.Memory
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) {
		s, err := storage.NewMemory(info, 1<<30)
		got = s
		return s, err
	}
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-tor.Complete()
	buf := make([]byte, tor.Stats().Length)
	if _, err := got.ReadAt(buf, 0); err != nil {
		t.Fatalf("reading the download through %s: %v", tracker, err)
	}
	if c := tor.Stats().Connections; c["webrtc"] == 0 {
		t.Fatalf("the download through %s came over no WebRTC connection: %v", tracker, c)
	}
	return buf
}
