//go:build !js

package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
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

// countTransactions makes a page count the IndexedDB transactions it
// opens, by mode, in window.txs (reset with resetTransactions), and its
// calls of the browser's SHA-1 in window.sha1s.
const (
	countTransactions = `(() => {
		const open = IDBDatabase.prototype.transaction
		window.txs = {readonly: 0, readwrite: 0}
		window.batches = []
		IDBDatabase.prototype.transaction = function (names, mode, ...rest) {
			window.txs[mode || 'readonly']++
			const tx = open.call(this, names, mode, ...rest)
			if (mode === 'readwrite') {
				const batch = {puts: 0}
				window.batches.push(batch)
				const store = tx.objectStore
				tx.objectStore = function (name) {
					const st = store.call(this, name)
					const put = st.put
					st.put = function (...args) { batch.puts++; return put.apply(this, args) }
					return st
				}
			}
			return tx
		}
		const digest = SubtleCrypto.prototype.digest
		window.sha1s = 0
		SubtleCrypto.prototype.digest = function (alg, data) {
			if (alg === 'SHA-1') window.sha1s++
			return digest.call(this, alg, data)
		}
		return null
	})()`
	resetTransactions = `(() => { const t = window.txs; window.txs = {readonly: 0, readwrite: 0}; window.batches = []; return t })()`
	// batchSizes is how many chunks each readwrite transaction since the
	// last reset put.
	batchSizes = `window.batches.filter(b => b.puts > 0).map(b => b.puts)`
)

// The browser peer's storage batches its IndexedDB transactions
// (docs/browser-performance.md): seeding a file of n blocks stores it in
// a few readwrite transactions, not n, downloading it stores it in
// batches of 64 blocks, and serving it reads a batch of
// the downloader's requests in one readonly transaction, not one a block;
// the downloader checks every piece with the browser's SHA-1
// (crypto.subtle.digest, off the page's main thread). The download is
// byte-identical.
func TestBrowserDownloadDataPath(t *testing.T) {
	_, url, b := nsBrowser(t)
	seeder := b.NewPage(t, url+"/blank.html")
	buyer := b.NewPage(t, url+"/blank.html")
	for _, p := range []*browsertest.Page{seeder, buyer} {
		p.Eval(t, countTransactions, nil)
		p.Eval(t, `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return null })()`, nil)
	}
	const size = 4<<20 + 777
	const blocks = (size + 16<<10 - 1) / (16 << 10)
	type counts struct{ Readonly, Readwrite int }
	var seeded counts
	seeder.Eval(t, resetTransactions, nil)
	var magnet, want string
	seeder.Eval(t, `(async () => {
		const data = new Uint8Array(`+itoa(size)+`)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		window.file = new File([data], 'batched.bin')
		return (await client.seed(file)).magnetURI
	})()`, &magnet)
	seeder.Eval(t, resetTransactions, &seeded)
	seeder.Eval(t, sha256JS(`await file.arrayBuffer()`), &want)
	t.Logf("seeding %d blocks: %+v transactions", blocks, seeded)
	if seeded.Readwrite == 0 || seeded.Readwrite > blocks/8 {
		t.Errorf("seeding %d blocks took %d readwrite transactions, want at most %d (batched)", blocks, seeded.Readwrite, blocks/8)
	}

	buyer.Eval(t, resetTransactions, nil)
	buyer.Eval(t, `(async () => { window.tor = await client.add(`+jsString(magnet)+`); return null })()`, nil)
	buyer.WaitForFunction(t, `window.tor && window.tor.done`, 90*time.Second)
	var served, got counts
	var batches []int
	buyer.Eval(t, batchSizes, &batches)
	seeder.Eval(t, resetTransactions, &served)
	buyer.Eval(t, resetTransactions, &got)
	t.Logf("serving %d blocks: %+v transactions; downloading them: %+v, chunks each %v", blocks, served, got, batches)
	if served.Readonly == 0 || served.Readonly > blocks/2 {
		t.Errorf("serving %d blocks took %d readonly transactions, want at most %d (a batch of requests in one)", blocks, served.Readonly, blocks/2)
	}
	// The downloader's writer stores 64 chunks a transaction, and a smaller
	// batch only when the download pauses for 200 ms or ends: 6 here, as
	// [1 64 64 64 64 1]. Taking what was queued each time, it made 6 to 12
	// (as [1 4 28 28 32 52 36 64 13]); a bridged download of 64 MiB, 516
	// transactions before and 64 after (docs/browser-performance.md).
	if got.Readwrite == 0 || got.Readwrite > blocks/32 {
		t.Errorf("downloading %d blocks took %d readwrite transactions (of %v chunks), want at most %d (batches of 64)", blocks, got.Readwrite, batches, blocks/32)
	}
	var sha1s int
	buyer.Eval(t, `window.sha1s`, &sha1s)
	if sha1s < blocks { // a piece is a block here (16 KiB pieces)
		t.Errorf("the downloader called the browser's SHA-1 %d times for %d pieces", sha1s, blocks)
	}
	var sha string
	buyer.Eval(t, sha256JS(`await (await tor.files[0].blob()).arrayBuffer()`), &sha)
	if sha != want {
		t.Fatalf("downloaded %s, want %s", sha, want)
	}
}
