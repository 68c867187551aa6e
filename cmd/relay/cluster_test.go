package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	actracker "github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"github.com/anacrolix/torrent/types/infohash"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm/redistest"
	"github.com/gorilla/websocket"
)

// relayProc is a dist/relay process.
type relayProc struct {
	cmd *exec.Cmd
	url string // http://127.0.0.1:PORT
}

func (p *relayProc) ws() string { return "ws" + strings.TrimPrefix(p.url, "http") }

// buildRelay builds dist/relay into dir.
func buildRelay(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "relay")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startClusterProcess runs bin with $BTSPEED_REDIS set to redisURL, no
// DHT, no TRON and a ledger elsewhere (the tracker needs none of them),
// plus args.
func startClusterProcess(t *testing.T, bin, redisURL string, args ...string) *relayProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0", "-data", t.TempDir(), "-dht", "off", "-tron", "off",
		"-ledger", "http://127.0.0.1:9", "-rtc-ip", "127.0.0.1"}, args...)...)
	cmd.Env = append(os.Environ(), "BTSPEED_REDIS="+redisURL)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			go io.Copy(io.Discard, stdout)
			return &relayProc{cmd: cmd, url: u}
		}
	}
	t.Fatal("the relay did not print its address")
	return nil
}

// nativePeer is an engine with the WebSocket tracker client, on loopback.
func nativePeer(t *testing.T) *engine.Client {
	t.Helper()
	cl, err := engine.New(engine.Config{PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtctest.Loopback()})}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// fetchOverWebRTC downloads mi announcing to tier and checks every byte.
func fetchOverWebRTC(t *testing.T, cl *engine.Client, mi *metainfo.MetaInfo, tier []string, data []byte) {
	t.Helper()
	spec := engine.SpecFromMetaInfo(mi)
	spec.Trackers = [][]string{tier}
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
	buf := make([]byte, len(data))
	if _, err := got.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data) || tor.Stats().Connections["webrtc"] == 0 {
		t.Fatalf("download through %v: %v, equal %v, connections %v", tier, err, bytes.Equal(buf, data), tor.Stats().Connections)
	}
}

// httpAnnounce announces a classic peer with anacrolix's tracker client.
func httpAnnounce(t *testing.T, base string, ih, id [20]byte, port uint16) actracker.AnnounceResponse {
	t.Helper()
	cl, err := actracker.NewClient(base+"/announce", actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := cl.Announce(context.Background(), actracker.AnnounceRequest{InfoHash: ih, PeerId: id, Port: port, Left: 0, Event: actracker.Started, NumWant: 50}, trHttp.AnnounceOpt{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Three dist/relay processes on one private Redis. Over HTTP, a peer
// announced on A is returned by B's announce and counted in C's scrape.
// Over WebRTC, a seed whose tier is [A, B, C] (so it announces to A) and a
// downloader announcing to C alone complete a download; then A is killed
// (SIGKILL: no goodbye to Redis), the seed fails over to B, and a new
// downloader announcing to B alone downloads the whole torrent from it.
func TestRelayProcessesShareSwarmsThroughRedis(t *testing.T) {
	redis := redistest.Start(t)
	dir := t.TempDir()
	bin := buildRelay(t, dir)
	a, b, c := startClusterProcess(t, bin, redis.URL), startClusterProcess(t, bin, redis.URL), startClusterProcess(t, bin, redis.URL)

	var ih, p1, p2 [20]byte
	rand.Read(ih[:])
	rand.Read(p1[:])
	rand.Read(p2[:])
	httpAnnounce(t, a.url, ih, p1, 6881)
	if r := httpAnnounce(t, b.url, ih, p2, 6882); len(r.Peers) != 1 || r.Peers[0].Port != 6881 {
		t.Fatalf("B's HTTP announce answer: %+v, want the peer announced on A", r)
	}
	sc, err := actracker.NewClient(c.url+"/announce", actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if files, err := sc.Scrape(context.Background(), []infohash.T{ih}); err != nil || len(files) != 1 || files[0].Seeders != 2 {
		t.Fatalf("C's scrape: %+v %v, want the 2 seeds announced on A and B", files, err)
	}

	data := make([]byte, 1<<20+4321)
	rand.Read(data)
	content := filepath.Join(dir, "shared.bin")
	if err := os.WriteFile(content, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := engine.CreateTorrent(content, engine.CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Trackers = [][]string{{a.ws(), b.ws(), c.ws()}}
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, i) }
	spec.Check = true
	seed, err := nativePeer(t).AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-seed.Complete()
	first := nativePeer(t)
	fetchOverWebRTC(t, first, mi, []string{c.ws()}, data)
	first.Close() // the seed is the only source left
	before := seed.Stats().Uploaded

	a.cmd.Process.Kill()
	a.cmd.Wait()
	fetchOverWebRTC(t, nativePeer(t), mi, []string{b.ws()}, data)
	if up := seed.Stats().Uploaded - before; up < int64(len(data)) {
		t.Fatalf("the seed uploaded %d bytes after relay A was killed, want the whole %d", up, len(data))
	}
}

// A browser may list classic peers through relay A's /bridge/peers (A
// discovers them in the torrent's tracker) and open its bridge to one on
// relay B: B's check that the address was discovered for the torrent
// finds A's discovery in Redis, and B dials it (the peer receives the
// BitTorrent handshake). An address nobody discovered is still refused.
func TestBridgeDiscoveredOnAnotherRelay(t *testing.T) {
	redis := redistest.Start(t)
	bin := buildRelay(t, t.TempDir())
	a, b := startClusterProcess(t, bin, redis.URL, "-bridge-private"), startClusterProcess(t, bin, redis.URL, "-bridge-private")
	peer, other := startFakeService(t), startFakeService(t)
	ih := outsiderInfoHash()
	waitBridgePeer(t, a.url, ih, peer.addr(), outsiderTracker(t, peer.addr()))

	bridgeURL := "ws" + strings.TrimPrefix(b.url, "http") + "/bridge?info_hash=" + hex.EncodeToString(ih[:]) + "&peer="
	if ws, _, err := websocket.DefaultDialer.Dial(bridgeURL+other.addr().String(), nil); err == nil {
		ws.Close()
		t.Fatal("B bridged to an address nobody discovered")
	}
	ws, resp, err := websocket.DefaultDialer.Dial(bridgeURL+peer.addr().String(), nil)
	if err != nil {
		t.Fatalf("B refused the bridge to a peer A discovered: %v %v", err, resp)
	}
	hs := outsiderHandshake(ih)
	ws.WriteMessage(websocket.BinaryMessage, hs)
	ws.Close()
	if got := <-peer.received; !bytes.HasPrefix(hs, got) || len(got) == 0 {
		t.Fatalf("the peer received %q through B's bridge, want the handshake", got)
	}
}
