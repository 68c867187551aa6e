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
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
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

var _ = context.Background
