package redisswarm_test

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm/redistest"
	"github.com/btspeed/btspeed/shared/httptracker"
)

// BenchmarkAnnounce measures WebSocket announces through Redis (one script
// run each: prune, store, count, pick 5), from 8 goroutines, into swarms
// of 100 or 1,000 peers. Each relay's announces take one such call.
func BenchmarkAnnounce(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(map[int]string{100: "swarm100", 1000: "swarm1000"}[size], func(b *testing.B) {
			srv := redistest.Start(b)
			c, err := redisswarm.New(redisswarm.Config{URL: srv.URL})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			ih := id20()
			ids := make([][20]byte, size)
			for i := range ids {
				ids[i] = id20()
				e := &tracker.Entry{Key: hex.EncodeToString(ids[i][:]), ID: ids[i], Relay: c.ID()}
				if _, _, err := c.Announce(ctx, ih, tracker.WebSocketPeer, e, httptracker.Started, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					id := ids[i%size]
					i++
					e := &tracker.Entry{Key: hex.EncodeToString(id[:]), ID: id, Relay: c.ID()}
					if ps, _, err := c.Announce(ctx, ih, tracker.WebSocketPeer, e, httptracker.Update, 5); err != nil || len(ps) == 0 {
						b.Error(err, len(ps))
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "announces/s")
		})
	}
}
