package engine_test

// BenchmarkRealSeeds downloads one torrent (256 MiB by default,
// -engine.realsize) over loopback TCP from real seeds, with btspeed, with
// qBittorrent and with aria2 as the downloader, side by side in one run:
//
//	transmission/qbittorrent   a Transmission seed -> qBittorrent
//	transmission/aria2         the same seed -> aria2
//	transmission/btspeed       the same seed -> btspeed
//	transmission/btspeed-250   the same with 250 requests outstanding (the
//	                           default before it followed reqq)
//	qbittorrent/qbittorrent    a qBittorrent seed -> another qBittorrent
//	qbittorrent/aria2          the same seed -> aria2
//	qbittorrent/btspeed        the same seed -> btspeed
//
// aria2c cannot be handed a peer address: it finds the seed through a real
// tracker (opentracker) the seeds announce to; its time includes starting
// aria2c and that announce (one loopback round trip).
//
// Reported per sub-benchmark: MB/s (payload bytes per wall second, from
// handing the downloader the seed's address to the last piece verified) and
// s/op; the btspeed and aria2 ones also report x-qbittorrent, their MB/s
// over qBittorrent's from the same seed in this run. Transmission sends what
// is queued once per 500 ms, so the rate from it follows the requests kept
// outstanding (Config.MaxRequests, the peer's reqq). Each downloader dials
// from a fresh loopback address: Transmission refuses addresses it saw
// finish.
//
// Run with ./build.sh bench realseeds, or:
//
//	go test ./engine -run '^$' -bench RealSeeds -benchtime 1x

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/internal/btclientstest"
)

var realSize = flag.Int64("engine.realsize", 256<<20, "bytes BenchmarkRealSeeds moves")

func BenchmarkRealSeeds(b *testing.B) {
	btclientstest.Require(b, "transmission-daemon", "transmission-create", "qbittorrent-nox", "aria2c", "opentracker")
	dir := b.TempDir()
	path := filepath.Join(dir, "real.bin")
	btclientstest.WriteRandomFile(b, path, *realSize, 25)
	torrentFile, ih := btclientstest.MakeTorrent(b, path, 1024)
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		b.Fatal(err)
	}
	// Each seed gets the torrent with a tracker of its own (same info hash),
	// for aria2; btspeed and qBittorrent are handed the seed's address.
	tracker := btclientstest.StartOpentracker(b, ih)
	trackedFile := btclientstest.WithTracker(b, torrentFile, tracker.AnnounceURL())

	tr := btclientstest.StartTransmission(b)
	tr.Add(b, trackedFile, dir)
	tr.WaitSeeding(b, ih, 5*time.Minute)
	tracker.WaitSeeders(b, ih, 1, time.Minute)
	qbRate := 0.0
	b.Run("transmission/qbittorrent", func(b *testing.B) { qbRate = benchQbittorrentFrom(b, torrentFile, ih, tr.PeerAddr()) })
	b.Run("transmission/aria2", func(b *testing.B) { benchAria2(b, trackedFile, qbRate) })
	b.Run("transmission/btspeed", func(b *testing.B) { benchBtspeedFrom(b, mi, tr.PeerAddr(), 0, qbRate) })
	b.Run("transmission/btspeed-250", func(b *testing.B) { benchBtspeedFrom(b, mi, tr.PeerAddr(), 250, qbRate) })

	tracker = btclientstest.StartOpentracker(b, ih)
	trackedFile = btclientstest.WithTracker(b, torrentFile, tracker.AnnounceURL())
	seed := btclientstest.StartQbittorrent(b, "TCP")
	seed.Add(b, trackedFile, dir)
	seed.WaitComplete(b, ih, 5*time.Minute)
	tracker.WaitSeeders(b, ih, 1, time.Minute)
	qbRate = 0
	b.Run("qbittorrent/qbittorrent", func(b *testing.B) { qbRate = benchQbittorrentFrom(b, torrentFile, ih, seed.PeerAddr()) })
	b.Run("qbittorrent/aria2", func(b *testing.B) { benchAria2(b, trackedFile, qbRate) })
	b.Run("qbittorrent/btspeed", func(b *testing.B) { benchBtspeedFrom(b, mi, seed.PeerAddr(), 0, qbRate) })
}

// benchQbittorrentFrom downloads with a fresh qBittorrent from addr, b.N
// times, and returns its MB/s.
func benchQbittorrentFrom(b *testing.B, torrentFile string, ih metainfo.Hash, addr string) float64 {
	var wall time.Duration
	for b.Loop() {
		b.StopTimer()
		q := btclientstest.StartQbittorrent(b, "TCP")
		out := b.TempDir()
		q.Add(b, torrentFile, out)
		b.StartTimer()
		start := time.Now()
		q.AddPeers(b, ih, addr)
		for {
			p, state, err := q.Progress(ih)
			if err != nil {
				b.Fatal(err)
			}
			if p == 1 {
				break
			}
			if state == "error" || state == "missingFiles" {
				b.Fatalf("qBittorrent: %s", state)
			}
			time.Sleep(20 * time.Millisecond)
		}
		wall += time.Since(start)
		os.RemoveAll(out)
	}
	wall /= time.Duration(b.N)
	rate := float64(*realSize) / wall.Seconds() / 1e6
	b.ReportMetric(rate, "MB/s")
	b.ReportMetric(wall.Seconds(), "s/op")
	b.ReportMetric(0, "ns/op")
	return rate
}

// benchAria2 downloads with aria2c, which finds the seed through the
// torrent's tracker, b.N times, and reports its MB/s and their ratio to
// qbRate.
func benchAria2(b *testing.B, trackedFile string, qbRate float64) {
	var wall time.Duration
	for b.Loop() {
		out := b.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		start := time.Now()
		err := btclientstest.Aria2Download(ctx, b, trackedFile, out)
		wall += time.Since(start)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(out)
	}
	reportRate(b, wall, qbRate)
}

// reportRate reports MB/s and s/op for b.N downloads that took wall in all,
// and the MB/s over qbRate when it is known.
func reportRate(b *testing.B, wall time.Duration, qbRate float64) {
	wall /= time.Duration(b.N)
	rate := float64(*realSize) / wall.Seconds() / 1e6
	b.ReportMetric(rate, "MB/s")
	b.ReportMetric(wall.Seconds(), "s/op")
	b.ReportMetric(0, "ns/op")
	if qbRate > 0 {
		b.ReportMetric(rate/qbRate, "x-qbittorrent")
	}
}

// benchBtspeedFrom downloads with a fresh btspeed client (maxRequests:
// Config.MaxRequests) from addr, b.N times, and reports its MB/s and their
// ratio to qbRate.
func benchBtspeedFrom(b *testing.B, mi *metainfo.MetaInfo, addr string, maxRequests int, qbRate float64) {
	var wall time.Duration
	for b.Loop() {
		ip := btclientstest.LoopbackIP(b)
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		out := b.TempDir()
		start := time.Now()
		cl := newClient(b, engine.Config{MaxRequests: maxRequests, Transports: []engine.Transport{{Name: "tcp", Network: "tcp", Dialer: dialer}}})
		spec := engine.SpecFromMetaInfo(mi)
		spec.Storage, spec.Peers = filesStorage(out), []string{addr}
		tor := mustAdd(b, cl, spec)
		<-tor.Complete()
		wall += time.Since(start)
		if st := tor.Stats(); st.Rejected != 0 {
			b.Errorf("the seed refused %d requests", st.Rejected)
		}
		cl.Close()
		os.RemoveAll(out)
	}
	reportRate(b, wall, qbRate)
}
