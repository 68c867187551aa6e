//go:build !js

package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netns"
)

// BenchmarkBrowserWasmSize builds the browser peer as build.sh does and
// reports its size raw and gzipped (level 9; the relay serves it
// gzipped). Target: at most 4 MB gzipped. Each op gzips it once.
func BenchmarkBrowserWasmSize(b *testing.B) {
	_, file, _, _ := runtime.Caller(0)
	out := filepath.Join(b.TempDir(), "btspeed.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the wasm: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	var gz int
	b.ResetTimer()
	for range b.N {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		w.Write(raw)
		w.Close()
		gz = buf.Len()
	}
	b.ReportMetric(float64(len(raw))/1e6, "raw-MB")
	b.ReportMetric(float64(gz)/1e6, "gzip-MB")
}

// BenchmarkBrowserToBrowser downloads the same size of file from one
// browser page to another over WebRTC through the relay's tracker, with
// btspeed (Speed off: the protocol and engine, not the payments) and with
// WebTorrent's own bundle, alternately in one Chromium in a network
// namespace. It reports both rates and btspeed's ratio to WebTorrent's
// (target at least 1.0), and the time from page load to a ready btspeed
// client.
func BenchmarkBrowserToBrowser(b *testing.B) {
	browsertest.Require(b)
	ns := netns.New(b)
	web := webDir(b)
	url := startRelay(b, netip.AddrPortFrom(ns.HostIP, 0).String(), web, rtctest.Interfaces(ns.HostIf))
	wtURL := browsertest.ServeWebTorrent(b, netip.AddrPortFrom(ns.HostIP, 0).String())
	tracker := "ws" + strings.TrimPrefix(url, "http")
	br := browsertest.Start(b, ns.Command, url, strings.TrimSuffix(wtURL, "/webtorrent.html"))
	const size = 32 << 20

	// Pages: a btspeed seeder and downloader, a WebTorrent seeder and downloader.
	var ready [2]float64
	btSeed, btGet := br.NewPage(b, url+"/blank.html"), br.NewPage(b, url+"/blank.html")
	for i, p := range []*browsertest.Page{btSeed, btGet} {
		p.Timeout = 5 * time.Minute
		p.Eval(b, `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return performance.now() })()`, &ready[i])
	}
	wtSeed, wtGet := br.NewPage(b, wtURL), br.NewPage(b, wtURL)
	for _, p := range []*browsertest.Page{wtSeed, wtGet} {
		p.Timeout = 5 * time.Minute
		p.Eval(b, wtStart, nil)
	}
	makeFile := fmt.Sprintf(`(name) => {
		const data = new Uint8Array(%d)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		return new File([data], name)
	}`, size)

	// settle pauses (timer stopped) so that a new seed's announce reaches
	// the tracker before its download is timed: both clients are then
	// timed from adding the magnet link, through meeting the seed, to done.
	settle := func() {
		b.StopTimer()
		time.Sleep(1500 * time.Millisecond)
		b.StartTimer()
	}
	var btTotal, wtTotal time.Duration
	b.ResetTimer()
	for i := range b.N {
		// btspeed: seed, then time the download (polling the peer every 20 ms).
		var magnet string
		btSeed.Eval(b, `(async () => { window.tor = await client.seed((`+makeFile+`)('bt-`+fmt.Sprint(i)+`.bin')); return tor.magnetURI })()`, &magnet)
		settle() // the seed announces before the clock starts
		var ms float64
		btGet.Eval(b, `(async () => {
			const t0 = performance.now()
			const t = await client.add(`+jsString(magnet)+`)
			while (!t.done) { await client._poll(); if (t.done) break; await new Promise(r => setTimeout(r, 20)) }
			const ms = performance.now() - t0
			console.log('bench: btspeed connections ' + JSON.stringify(t.connections) + ' peers ' + t.numPeers)
			await t.remove()
			return ms
		})()`, &ms)
		btSeed.Eval(b, `tor.remove()`, nil)
		time.Sleep(time.Second)
		btTotal += time.Duration(ms * float64(time.Millisecond))

		// WebTorrent: the same size.
		wtSeed.Eval(b, `new Promise(resolve => {
			wt.seed((`+makeFile+`)('wt-`+fmt.Sprint(i)+`.bin'), { announce: [`+jsString(tracker)+`] }, t => { window.tor = t; resolve(t.magnetURI) })
		})`, &magnet)
		settle()
		wtGet.Eval(b, `new Promise((resolve, reject) => {
			const t0 = performance.now()
			const t = wt.add(`+jsString(magnet)+`, { announce: [`+jsString(tracker)+`] })
			t.on('error', reject)
			t.on('done', () => { const ms = performance.now() - t0; wt.remove(t, { destroyStore: true }, () => resolve(ms)) })
		})`, &ms)
		wtSeed.Eval(b, `new Promise(r => wt.remove(tor, { destroyStore: true }, () => r(null)))`, nil)
		wtTotal += time.Duration(ms * float64(time.Millisecond))
	}
	b.StopTimer()
	if os.Getenv("BTSPEED_BENCH_LOGS") != "" {
		b.Log(strings.Join(btGet.Logs(b), "\n"))
	}
	bt := float64(size) * float64(b.N) / btTotal.Seconds() / 1e6
	wt := float64(size) * float64(b.N) / wtTotal.Seconds() / 1e6
	b.ReportMetric(bt, "btspeed-MB/s")
	b.ReportMetric(wt, "webtorrent-MB/s")
	b.ReportMetric(bt/wt, "ratio")
	b.ReportMetric((ready[0]+ready[1])/2, "ready-ms")
}
