package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	actracker "github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"github.com/anacrolix/torrent/types/infohash"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm/redistest"
	"github.com/gorilla/websocket"
)

// relayProc is a dist/relay process.
type relayProc struct{ *ledgertest.Process }

func (p relayProc) ws() string { return "ws" + strings.TrimPrefix(p.URL, "http") }

// relayBinary builds dist/relay once per test process.
func relayBinary(t *testing.T) string {
	t.Helper()
	return ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")
}

// startClusterProcess runs dist/relay with $BTSPEED_REDIS set to redisURL,
// no DHT, no TRON and a ledger elsewhere (the tracker needs none of them),
// plus args.
func startClusterProcess(t *testing.T, redisURL string, args ...string) relayProc {
	t.Helper()
	return relayProc{ledgertest.StartWith(t, ledgertest.Options{Binary: relayBinary(t), Env: []string{"BTSPEED_REDIS=" + redisURL}},
		append([]string{"-data", t.TempDir(), "-dht", "off", "-tron", "off", "-ledger", "http://127.0.0.1:9", "-rtc-ip", "127.0.0.1"}, args...)...)}
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
	a, b, c := startClusterProcess(t, redis.URL), startClusterProcess(t, redis.URL), startClusterProcess(t, redis.URL)

	var ih, p1, p2 [20]byte
	rand.Read(ih[:])
	rand.Read(p1[:])
	rand.Read(p2[:])
	httpAnnounce(t, a.URL, ih, p1, 6881)
	if r := httpAnnounce(t, b.URL, ih, p2, 6882); len(r.Peers) != 1 || r.Peers[0].Port != 6881 {
		t.Fatalf("B's HTTP announce answer: %+v, want the peer announced on A", r)
	}
	sc, err := actracker.NewClient(c.URL+"/announce", actracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if files, err := sc.Scrape(context.Background(), []infohash.T{ih}); err != nil || len(files) != 1 || files[0].Seeders != 2 {
		t.Fatalf("C's scrape: %+v %v, want the 2 seeds announced on A and B", files, err)
	}

	redistest.Failover{WS: [3]string{a.ws(), b.ws(), c.ws()}, StopA: a.Kill}.Run(t) // SIGKILL: no goodbye to Redis
}

// A browser may list classic peers through relay A's /bridge/peers (A
// discovers them in the torrent's tracker) and open its bridge to one on
// relay B: B's check that the address was discovered for the torrent
// finds A's discovery in Redis, and B dials it (the peer receives the
// BitTorrent handshake). An address nobody discovered is still refused.
func TestBridgeDiscoveredOnAnotherRelay(t *testing.T) {
	redis := redistest.Start(t)
	a, b := startClusterProcess(t, redis.URL, "-bridge-private"), startClusterProcess(t, redis.URL, "-bridge-private")
	peer, other := startFakeService(t), startFakeService(t)
	ih := outsiderInfoHash()
	waitBridgePeer(t, a.URL, ih, peer.addr(), outsiderTracker(t, peer.addr()))

	bridgeURL := "ws" + strings.TrimPrefix(b.URL, "http") + "/bridge?info_hash=" + hex.EncodeToString(ih[:]) + "&peer="
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
