package engine_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/btspeed/btspeed/engine"
)

// Config.UploadRate caps what a seed sends, whatever the number of
// leechers: two leechers share one seed's 256 KiB/s. The test runs in a
// synctest bubble over in-memory connections, so the times it reads are the
// bubble's (virtual, exact), not the machine's.
func TestUploadRateCapsTheSeed(t *testing.T) {
	const rate = 256 << 10
	mi, data := makeContent(t, t.TempDir(), "limited.bin", 2<<20, 64<<10, 21)
	synctest.Test(t, func(t *testing.T) {
		seed := newClient(t, engine.Config{UploadRate: rate, OptimisticSlots: -1})
		st := &memStorage{data: bytes.Clone(data)}
		spec := engine.SpecFromMetaInfo(mi)
		spec.Storage, spec.Check = st.open, true
		mustSeed(t, seed, spec)

		start := time.Now()
		var leechers []*engine.Torrent
		var stores []*memStorage
		for range 2 {
			cl := newClient(t, engine.Config{})
			lst := &memStorage{}
			spec := engine.SpecFromMetaInfo(mi)
			spec.Storage = lst.open
			tor := mustAdd(t, cl, spec)
			a, b := net.Pipe()
			go seed.HandleConn(b)
			if err := tor.AddConn(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			leechers, stores = append(leechers, tor), append(stores, lst)
		}
		for i, tor := range leechers {
			<-tor.Complete()
			if !bytes.Equal(stores[i].bytes(), data) {
				t.Fatalf("leecher %d: data differs", i)
			}
		}
		took := time.Since(start)
		up := seed.Torrents()[0].Stats().Uploaded
		// The bucket starts full (at most one 128 KiB request) and then
		// lets rate bytes a second through: what was uploaded cannot have
		// gone faster, and with two leechers asking all the time it should
		// not have gone much slower.
		least := time.Duration(float64(up-engine.MaxRequestLength) / rate * float64(time.Second))
		if took < least || took > least*3/2+time.Second {
			t.Fatalf("uploaded %d bytes in %v at a limit of %d B/s: want about %v", up, took, rate, least)
		}
		if up < int64(len(data)) {
			t.Fatalf("the seed uploaded %d bytes, less than one copy (%d)", up, len(data))
		}
	})
}
