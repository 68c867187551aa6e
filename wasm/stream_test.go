//go:build !js

package main

import (
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
