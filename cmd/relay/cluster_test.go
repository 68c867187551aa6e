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

	actracker "github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"github.com/anacrolix/torrent/types/infohash"
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

	redistest.Failover{WS: [3]string{a.ws(), b.ws(), c.ws()}, StopA: func() {
		a.cmd.Process.Kill() // SIGKILL: no goodbye to Redis
		a.cmd.Wait()
	}}.Run(t)
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
