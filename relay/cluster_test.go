package relay_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
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

// Three relays on one Redis: a seed announcing to relay A and a downloader
// announcing to relay C meet (offers and answers routed between the relays
// through Redis) and the torrent moves over WebRTC. Then relay A goes away
// (Close, in this process): the seed moves on to the next relay of its tier
// and a new downloader announcing to relay B alone downloads from it.
func TestRelaysShareSwarmsThroughRedis(t *testing.T) {
	redis := redistest.Start(t)
	a, b, c := startClusterRelay(t, redis.URL), startClusterRelay(t, redis.URL), startClusterRelay(t, redis.URL)

	redistest.Failover{WS: [3]string{a.ws, b.ws, c.ws}, StopA: a.stop, Met: func(t *testing.T) {
		if sa, sc := a.rl.TrackerStats(), c.rl.TrackerStats(); sc.RoutedOut == 0 || sa.RoutedIn == 0 || b.rl.TrackerStats().Peers != 0 {
			t.Fatalf("the seed on A and the downloader on C did not meet through Redis: A %+v, C %+v", sa, sc)
		}
	}}.Run(t)
}
