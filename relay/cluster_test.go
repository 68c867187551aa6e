package relay_test

import (
	"bytes"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm/redistest"
)

// clusterRelay is one relay of a cluster, served on loopback.
type clusterRelay struct {
	rl  *relay.Relay
	srv *httptest.Server
	ws  string // its WebSocket tracker
}

// stop closes the relay and its server (in process: Close, not a kill).
func (c *clusterRelay) stop() {
	c.srv.CloseClientConnections()
	c.rl.Close()
	c.srv.Close()
}

func startClusterRelay(t *testing.T, redisURL string) *clusterRelay {
	t.Helper()
	rl, err := relay.New(relay.Config{Redis: redisURL, RTC: rtctest.Loopback(), PeerListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	c := &clusterRelay{rl: rl, srv: srv, ws: "ws" + strings.TrimPrefix(srv.URL, "http")}
	t.Cleanup(c.stop)
	return c
}

func rtcEngine(t *testing.T) *engine.Client {
	t.Helper()
	cl, err := engine.New(engine.Config{PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtctest.Loopback()})}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// download fetches mi over WebRTC announcing to tier only, and checks every
// byte.
func download(t *testing.T, cl *engine.Client, mi *metainfo.MetaInfo, tier []string, data []byte) *engine.Torrent {
	t.Helper()
	spec := engine.SpecFromMetaInfo(mi)
	spec.Trackers = [][]string{tier}
	out := &memStore{}
	spec.Storage = out.open
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-tor.Complete()
	if !bytes.Equal(out.data, data) || tor.Stats().Connections["webrtc"] == 0 {
		t.Fatalf("download through %v: equal %v, connections %v", tier, bytes.Equal(out.data, data), tor.Stats().Connections)
	}
	return tor
}

// Three relays on one Redis: a seed announcing to relay A and a downloader
// announcing to relay C meet (offers and answers routed between the relays
// through Redis) and the torrent moves over WebRTC. Then relay A goes away
// (Close, in this process): the seed moves on to the next relay of its tier
// and a new downloader announcing to relay B alone downloads from it.
func TestRelaysShareSwarmsThroughRedis(t *testing.T) {
	redis := redistest.Start(t)
	a, b, c := startClusterRelay(t, redis.URL), startClusterRelay(t, redis.URL), startClusterRelay(t, redis.URL)

	dir := t.TempDir()
	data := make([]byte, 1<<20+999)
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
	spec.Trackers = [][]string{{a.ws, b.ws, c.ws}}
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, i) }
	spec.Check = true
	seed, err := rtcEngine(t).AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-seed.Complete()

	first := rtcEngine(t)
	download(t, first, mi, []string{c.ws}, data)
	if sa, sc := a.rl.TrackerStats(), c.rl.TrackerStats(); sc.RoutedOut == 0 || sa.RoutedIn == 0 || b.rl.TrackerStats().Peers != 0 {
		t.Fatalf("the seed on A and the downloader on C did not meet through Redis: A %+v, C %+v", sa, sc)
	}
	first.Close() // the seed is the only source left
	uploaded := seed.Stats().Uploaded

	a.stop()
	download(t, rtcEngine(t), mi, []string{b.ws}, data)
	if up := seed.Stats().Uploaded - uploaded; up < int64(len(data)) {
		t.Fatalf("the seed uploaded %d bytes after relay A went away, want the whole %d", up, len(data))
	}
}
