//go:build !js

package main

import (
	"strconv"
	"testing"
	"time"
)

// countChunks counts the records in the browser peer's IndexedDB store.
const countChunks = `new Promise((resolve, reject) => {
	const open = indexedDB.open('btspeed-storage')
	open.onerror = () => reject(open.error)
	open.onsuccess = () => {
		const db = open.result
		if (!db.objectStoreNames.contains('chunks')) { db.close(); resolve(0); return }
		const req = db.transaction('chunks').objectStore('chunks').count()
		req.onsuccess = () => { db.close(); resolve(req.result) }
		req.onerror = () => reject(req.error)
	}
})`

// Every torrent is kept in IndexedDB: a large one downloads
// byte-identical, its chunks are in the database while it runs and gone
// once it is removed. A page that goes away keeps its torrents' data (the
// next page resumes them, TestBrowserTorrentsSurviveARestart); data no
// kept torrent needs is deleted when the next page starts.
func TestBrowserLargeTorrentInIndexedDB(t *testing.T) {
	_, url, b := nsBrowser(t)
	seeder := b.NewPage(t, url+"/blank.html")
	buyer := b.NewPage(t, url+"/blank.html")
	start := `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return null })()`
	seeder.Eval(t, start, nil)
	buyer.Eval(t, start, nil)
	seed := func(name string, size int) (magnet, sha string) {
		seeder.Eval(t, `(async () => {
			const data = new Uint8Array(`+itoa(size)+`)
			for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
			window.file = new File([data], `+jsString(name)+`)
			return (await client.seed(file)).magnetURI
		})()`, &magnet)
		seeder.Eval(t, sha256JS(`await file.arrayBuffer()`), &sha)
		return magnet, sha
	}
	download := func(magnet, want string) {
		t.Helper()
		buyer.Eval(t, `(async () => { window.tor = await client.add(`+jsString(magnet)+`); return null })()`, nil)
		buyer.WaitForFunction(t, `window.tor && window.tor.done`, 90*time.Second)
		var got string
		buyer.Eval(t, sha256JS(`await (await tor.files[0].blob()).arrayBuffer()`), &got)
		if got != want {
			t.Fatalf("downloaded %s, want %s", got, want)
		}
	}

	const size = 3<<20 + 5000
	chunks := (size + 16<<10 - 1) / (16 << 10)
	magnet, sha := seed("big.bin", size)
	download(magnet, sha)
	var n int
	buyer.Eval(t, countChunks, &n)
	if n != chunks {
		t.Fatalf("%d chunks in IndexedDB while the torrent runs, want %d", n, chunks)
	}
	buyer.Eval(t, `tor.remove()`, nil)
	buyer.Eval(t, countChunks, &n)
	if n != 0 {
		t.Fatalf("%d chunks left after removing the torrent", n)
	}

	// Data no kept torrent needs (its record gone, as when a page went
	// away after storing data but before recording the torrent) is deleted
	// when the next page starts; the kept torrent's stays.
	magnet, sha = seed("big2.bin", size)
	download(magnet, sha)
	buyer.Eval(t, `(async () => {
		const ih = tor.infoHash
		await client.destroy()
		localStorage.removeItem('btspeed.torrent.' + ih)
		return null
	})()`, nil)
	buyer.Reload(t)
	buyer.Eval(t, countChunks, &n)
	if n != chunks {
		t.Fatalf("%d chunks after the page went away, want its %d still there", n, chunks)
	}
	buyer.Eval(t, start, nil)
	buyer.Eval(t, countChunks, &n)
	if n != 0 {
		t.Fatalf("%d chunks of a torrent no longer kept after a new page started", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
