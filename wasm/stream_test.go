//go:build !js

package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
)

// Streaming reads come first: reading the start of a file (what a
// <video> asks for through sw.js) answers with the right bytes long
// before the torrent is done, because the pieces it needs (and a
// read-ahead window) are requested before the rest.
func TestBrowserReadsBeforeTheDownloadIsDone(t *testing.T) {
	_, url, b := nsBrowser(t)
	seeder := b.NewPage(t, url+"/blank.html")
	viewer := b.NewPage(t, url+"/blank.html")
	for _, p := range []*browsertest.Page{seeder, viewer} {
		p.Eval(t, `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return null })()`, nil)
	}
	var magnet string
	seeder.Eval(t, `(async () => {
		const data = new Uint8Array(48 * 1024 * 1024)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		window.data = data
		return (await client.seed(new File([data], 'movie.bin'))).magnetURI
	})()`, &magnet)
	var want []int
	seeder.Eval(t, `Array.from(data.subarray(1000000, 1000064))`, &want)
	var got struct {
		Bytes    []int
		Progress float64
	}
	viewer.Eval(t, `(async () => {
		const t = await client.add(`+jsString(magnet)+`)
		while (!t.files.length) await new Promise(r => setTimeout(r, 20))
		// What sw.js asks for a media element's range request: 64 KiB at 1 MB, with an 8 MiB read-ahead.
		const bytes = await client._go.read(t.infoHash, 0, 1000000, 65536, 8 << 20)
		const status = JSON.parse(await client._go.torrents())[0]
		return { bytes: Array.from(bytes.subarray(0, 64)), progress: status.progress }
	})()`, &got)
	if len(got.Bytes) != len(want) {
		t.Fatalf("read %d bytes, want %d", len(got.Bytes), len(want))
	}
	for i := range want {
		if got.Bytes[i] != want[i] {
			t.Fatalf("byte %d read %d, want %d", 1000000+i, got.Bytes[i], want[i])
		}
	}
	t.Logf("the read answered at %.1f%% of the download", got.Progress*100)
	if got.Progress >= 0.5 {
		t.Fatalf("the read waited for %.0f%% of the torrent; streaming reads should come first", got.Progress*100)
	}
	viewer.WaitForFunction(t, `client.torrents[0] && client.torrents[0].done`, 120*time.Second)
}

// A seek reads there first: a viewer streams a 48 MiB file through the
// service worker (sw.js, as a <video> does): a range request at the start,
// then one at 36 MiB (a seek). The seek's bytes are the seed's, and when
// they arrive the file's buffered ranges (torrent.buffered) hold the pieces
// at 36 MiB while the 20 MiB before them (12..32 MiB, outside both
// read-ahead windows) are mostly still missing: the pieces at the new
// position came first.
func TestBrowserSeekReadsThereFirst(t *testing.T) {
	_, url, b := nsBrowser(t)
	seeder := b.NewPage(t, url+"/blank.html")
	viewer := b.NewPage(t, url+"/blank.html")
	seeder.Eval(t, `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return null })()`, nil)
	viewer.Eval(t, `(async () => { window.client = await BTSpeed.start({relay: location.origin, stream: true}); return null })()`, nil)
	const size, seek, n = 48 << 20, 36 << 20, 64 << 10
	var magnet string
	seeder.Eval(t, fmt.Sprintf(`(async () => {
		const data = new Uint8Array(%d)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		window.data = data
		return (await client.seed(new File([data], 'movie.bin'))).magnetURI
	})()`, size), &magnet)
	var want []int
	seeder.Eval(t, fmt.Sprintf(`Array.from(data.subarray(%d, %d))`, seek, seek+64), &want)
	var got struct {
		Start, Seek []int
		Buffered    [][2]int64
		Progress    float64
	}
	viewer.Eval(t, fmt.Sprintf(`(async () => {
		const t = await client.add(%s)
		while (!t.files.length) await new Promise(r => setTimeout(r, 20))
		await client._streaming()
		const url = 'btspeed-stream/' + t.infoHash + '/0/movie.bin'
		const get = async (from, to) => {
			const r = await fetch(url, {headers: {Range: 'bytes=' + from + '-' + to}})
			if (r.status !== 206) throw new Error('status ' + r.status)
			return new Uint8Array(await r.arrayBuffer())
		}
		const start = await get(0, %d)
		const seek = await get(%d, %d)
		const buffered = await t.buffered(0)
		const progress = JSON.parse(await client._go.torrents())[0].progress
		return {start: Array.from(start.subarray(0, 64)), seek: Array.from(seek.subarray(0, 64)), buffered, progress}
	})()`, jsString(magnet), n-1, seek, seek+n-1), &got)
	if !slices.Equal(got.Seek, want) || len(got.Start) != 64 {
		t.Fatalf("the seek read %v, want the seed's %v", got.Seek, want)
	}
	covered := func(from, to int64) int64 {
		var c int64
		for _, r := range got.Buffered {
			c += max(0, min(r[1], to)-max(r[0], from))
		}
		return c
	}
	if c := covered(seek, seek+n); c != n {
		t.Fatalf("the seek's range is not buffered: %v", got.Buffered)
	}
	const gapFrom, gapTo = 12 << 20, 32 << 20
	gap := covered(gapFrom, gapTo)
	t.Logf("at the seek's answer: %.1f%% downloaded, %.1f%% of 12..32 MiB; %d buffered ranges", got.Progress*100, float64(gap)*100/(gapTo-gapFrom), len(got.Buffered))
	if gap > (gapTo-gapFrom)/4 {
		t.Fatalf("%d of the 20 MiB before the seek were downloaded first (ranges %v): the pieces at the new position did not come first", gap, got.Buffered)
	}
	viewer.WaitForFunction(t, `client.torrents[0] && client.torrents[0].done`, 120*time.Second)
	var all [][2]int64
	viewer.Eval(t, `client.torrents[0].buffered(0)`, &all)
	if len(all) != 1 || all[0] != [2]int64{0, size} {
		t.Fatalf("the finished file's buffered ranges: %v", all)
	}
}
