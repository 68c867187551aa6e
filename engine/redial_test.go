package engine_test

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/btspeed/btspeed/engine"
)

// resettingDialer is a transport to a seed that is still checking its data:
// every connection is reset before the BitTorrent handshake completes. It
// records on the bubble's clock when each dial happened.
type resettingDialer struct{ dials chan time.Time }

func (d resettingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	mine, theirs := net.Pipe()
	theirs.Close() // the seed resets the connection
	select {
	case d.dials <- time.Now():
	default: // the test has seen enough
	}
	return mine, nil
}

// An address whose connections are reset is dialed again after 1 s, 2 s,
// 4 s, 8 s, then 10 s, 20 s (a seed that was still checking is soon
// ready), on the bubble's virtual clock.
func TestRedialBackoffAfterReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := resettingDialer{dials: make(chan time.Time, 16)}
		cl := newClient(t, engine.Config{
			Logger:     testLogger(t),
			Transports: []engine.Transport{{Name: "tcp", Network: "tcp", Dialer: d}},
		})
		mi, _ := makeContent(t, t.TempDir(), "r.bin", 64<<10, 16<<10, 5)
		spec := engine.SpecFromMetaInfo(mi)
		spec.Storage, spec.Peers = (&memStorage{}).open, []string{"127.0.0.1:6881"}
		mustAdd(t, cl, spec)
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 20 * time.Second}
		last := <-d.dials
		for i, w := range want {
			at := <-d.dials
			if got := at.Sub(last); got != w {
				t.Fatalf("redial %d came %v after the reset, want %v", i+1, got, w)
			}
			last = at
		}
	})
}
