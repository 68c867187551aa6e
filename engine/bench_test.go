package engine_test

// BenchmarkTransfer moves one torrent (1 GiB by default, -engine.size) over
// loopback TCP from a seed to a downloader, for several pairs side by side
// in one run:
//
//	btspeed          btspeed seed -> btspeed downloader, Speed off
//	btspeed-speed    the same with Speed on: a real ledger process, the seed
//	                 selling at a reserve price, the downloader paying per
//	                 piece
//	anacrolix        anacrolix/torrent -> anacrolix/torrent
//	transmission     a Transmission seed -> btspeed downloader (when
//	                 transmission-daemon is installed)
//
// Every pair stores data in files under the test's temporary directory.
// Reported per sub-benchmark: MB/s (payload bytes per wall second), s/op
// (wall time of one whole transfer) and peak-heap-MB (the largest Go heap in
// use during the transfer, both ends when they are in this process).
// Compare ratios within one run: the machine is shared and noisy.
//
// Run with ./build.sh bench engine, or:
//
//	go test ./engine -run '^$' -bench Transfer -benchtime 1x

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/wallet"
)

var benchSize = flag.Int64("engine.size", 1<<30, "bytes BenchmarkTransfer moves")

// peakHeap samples the Go heap until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// report records one transfer's figures.
func report(b *testing.B, size int64, wall time.Duration, peak uint64) {
	b.ReportMetric(float64(size)/wall.Seconds()/1e6, "MB/s")
	b.ReportMetric(wall.Seconds(), "s/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(0, "ns/op")
}

// benchContent writes the benchmark file once per run.
func benchContent(b *testing.B) (dir, path string) {
	b.Helper()
	dir = b.TempDir()
	path = filepath.Join(dir, "bench.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var x uint64 = 0x9e3779b97f4a7c15
	for written := int64(0); written < *benchSize; written += int64(len(buf)) {
		for i := 0; i+8 <= len(buf); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
			buf[i+4], buf[i+5], buf[i+6], buf[i+7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		}
		n := min(int64(len(buf)), *benchSize-written)
		if _, err := f.Write(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
	return dir, path
}

func BenchmarkTransfer(b *testing.B) {
	dir, path := benchContent(b)
	// 1 MiB pieces: what transmission-create and libtorrent pick for 1 GiB.
	info := metainfo.Info{PieceLength: 1 << 20}
	if err := info.BuildFromFilePath(path); err != nil {
		b.Fatal(err)
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		b.Fatal(err)
	}
	mi := &metainfo.MetaInfo{InfoBytes: infoBytes}

	b.Run("btspeed", func(b *testing.B) { benchEngines(b, mi, dir, nil) })
	b.Run("btspeed-speed", func(b *testing.B) {
		lp := ledgertest.Start(b, "-db", filepath.Join(b.TempDir(), "l.db"), "-faucet-difficulty", "0")
		lc := client.New(lp.URL, nil)
		ctx := context.Background()
		info, err := lc.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		prov, _ := wallet.GenerateKey()
		req, _ := wallet.GenerateKey()
		if err := ledgertest.Fund(ctx, lc, []wallet.Address{req.Address()}, 1_000_000_000); err != nil {
			b.Fatal(err)
		}
		benchEngines(b, mi, dir, &benchSpeed{lc: lc, id: info.Ledger, prov: prov, req: req})
	})
	b.Run("anacrolix", func(b *testing.B) { benchAnacrolix(b, mi, dir) })
	b.Run("transmission", func(b *testing.B) { benchTransmission(b, mi, dir, path) })
}

// benchSpeed is the Speed setup of btspeed-speed.
type benchSpeed struct {
	lc        *client.Client
	id        string
	prov, req *wallet.PrivateKey
}

func (s *benchSpeed) config(key *wallet.PrivateKey, set engine.SpeedSettings) engine.Config {
	if s == nil {
		return engine.Config{}
	}
	return engine.Config{Speed: &engine.SpeedConfig{Key: key, Ledger: s.lc, LedgerID: s.id, Settings: set}}
}

func benchEngines(b *testing.B, mi *metainfo.MetaInfo, dir string, sp *benchSpeed) {
	var provKey, reqKey *wallet.PrivateKey
	if sp != nil {
		provKey, reqKey = sp.prov, sp.req
	}
	seed := newClient(b, sp.config(provKey, engine.SpeedSettings{Enabled: true, Reserve: 1000}))
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = filesStorage(dir), true
	if _, err := seed.AddTorrent(spec); err != nil {
		b.Fatal(err)
	}
	addr := listen(b, seed, "127.0.0.1")
	timeDownloads(b, mi, addr, func() engine.Config {
		return sp.config(reqKey, engine.SpeedSettings{Enabled: true})
	}, func(tor *engine.Torrent) {
		if sp != nil {
			st := tor.SpeedStats()
			if st.Spent == 0 {
				b.Fatal("Speed on, but the download paid nothing")
			}
			b.ReportMetric(float64(st.Spent), "base-units-paid")
		}
	})
}

// timeDownloads downloads mi from addr into fresh directories, b.N times,
// with a btspeed client configured by cfg, and reports the figures; check
// runs on each finished torrent.
func timeDownloads(b *testing.B, mi *metainfo.MetaInfo, addr string, cfg func() engine.Config, check func(*engine.Torrent)) {
	var peak uint64
	var wall time.Duration
	for b.Loop() {
		out := b.TempDir()
		stop := peakHeap()
		start := time.Now()
		cl := newClient(b, cfg())
		spec := engine.SpecFromMetaInfo(mi)
		spec.Storage, spec.Peers = filesStorage(out), []string{addr}
		tor := mustAdd(b, cl, spec)
		<-tor.Complete()
		wall += time.Since(start)
		peak = max(peak, stop())
		check(tor)
		cl.Close()
		os.RemoveAll(out)
	}
	report(b, *benchSize, wall/time.Duration(b.N), peak)
}

func benchAnacrolix(b *testing.B, mi *metainfo.MetaInfo, dir string) {
	seed := anacrolixSeed(b, dir, mi)
	addr, _ := net.ResolveTCPAddr("tcp", seed.ListenAddrs()[0].String())
	var peak uint64
	var wall time.Duration
	for b.Loop() {
		out := b.TempDir()
		stop := peakHeap()
		start := time.Now()
		cl := newAnacrolix(b, out)
		lt, err := cl.AddTorrent(mi)
		if err != nil {
			b.Fatal(err)
		}
		lt.AddPeers([]torrent.PeerInfo{{Addr: addr, Trusted: true}})
		<-lt.GotInfo()
		lt.DownloadAll()
		for !lt.Complete().Bool() {
			time.Sleep(5 * time.Millisecond)
		}
		wall += time.Since(start)
		peak = max(peak, stop())
		cl.Close()
		os.RemoveAll(out)
	}
	report(b, *benchSize, wall/time.Duration(b.N), peak)
}

func benchTransmission(b *testing.B, mi *metainfo.MetaInfo, dir, path string) {
	btclientstest.Require(b, "transmission-daemon")
	torrentFile := filepath.Join(b.TempDir(), "bench.torrent")
	f, err := os.Create(torrentFile)
	if err != nil {
		b.Fatal(err)
	}
	if err := mi.Write(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	tr := btclientstest.StartTransmission(b)
	tr.Add(b, torrentFile, dir)
	tr.WaitSeeding(b, mi.HashInfoBytes(), 5*time.Minute)
	timeDownloads(b, mi, tr.PeerAddr(), func() engine.Config {
		ip := btclientstest.LoopbackIP(b) // Transmission refuses addresses it saw finish
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return engine.Config{Transports: []engine.Transport{{Name: "tcp", Network: "tcp", Dialer: dialer}}}
	}, func(*engine.Torrent) {})
}
