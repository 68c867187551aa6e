//go:build !js

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// kept is what the page has: its torrents (complete, paused, digest of
// the first file) and what Speed spent in all.
type kept struct {
	Torrents []struct {
		InfoHash, Name, Sha string
		Done, Paused        bool
	}
	Spent string
	Used  int64
}

// keptNow reads kept from the app's page once its torrents are listed.
const keptNow = `(async () => {
	const c = btspeedApp.client
	while (c.torrents.some(t => t.checking)) await new Promise(resolve => setTimeout(resolve, 100)) // the kept data hash-checked
	const out = { torrents: [], spent: (await c.totals()).spent, used: (await c.storage()).used }
	for (const t of c.torrents) {
		let sha = ''
		if (!t.paused) {
			const blob = await t.files[0].blob()
			sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))).map(b => b.toString(16).padStart(2, '0')).join('')
		}
		out.torrents.push({ infoHash: t.infoHash, name: t.name, sha, done: t.done, paused: t.paused })
	}
	return out
})()`

// chunksOf counts the IndexedDB chunks of a torrent.
func chunksOf(ih string) string {
	return `new Promise((resolve, reject) => {
	const open = indexedDB.open('btspeed-storage')
	open.onerror = () => reject(open.error)
	open.onsuccess = () => {
		const db = open.result
		const range = IDBKeyRange.bound(['` + ih + `', 0], ['` + ih + `', 2 ** 53])
		const req = db.transaction('chunks').objectStore('chunks').count(range)
		req.onsuccess = () => { db.close(); resolve(req.result) }
		req.onerror = () => reject(req.error)
	}
})`
}

// A download paid with Speed and a seeded file survive a reload of the
// tab and a restart of Chromium on the same profile: listed, complete
// (their data hash-checked), readable byte for byte, with what Speed spent
// in all. A client that keeps nothing (the player) and a second tab leave
// them be. Pause stops a torrent (no peers) and resume carries on to the
// end; removing a torrent deletes its data from IndexedDB and the storage
// figure drops. Screenshots of the restored list, wide and narrow.
func TestBrowserTorrentsSurviveARestart(t *testing.T) {
	browsertest.Require(t)
	if os.Getenv("BTSPEED_SCREENSHOTS") == "" {
		t.Setenv("BTSPEED_SCREENSHOTS", t.TempDir()) // one directory for every shot
	}
	b, url, data := relayWithFilm(t)
	profile := t.TempDir()
	open := func() *browsertest.Page {
		p := b.NewProfilePage(t, url+"/", profile)
		p.WaitForFunction(t, `document.body.dataset.ready === 'true'`, 60*time.Second)
		return p
	}
	p := open()
	before := fillProfile(t, p, url)
	if len(before.Torrents) != 2 || !before.Torrents[0].Done || !before.Torrents[1].Done || before.Torrents[0].Sha != sha256Hex(data) {
		t.Fatalf("before the reload: %+v", before)
	}
	p.Reload(t)
	p.WaitForFunction(t, `document.body.dataset.ready === 'true'`, 60*time.Second)
	checkKept(t, p, before, "a reload")

	// Chromium stops and starts again on the same profile.
	p.Close(t)
	p = open()
	checkKept(t, p, before, "a browser restart")
	othersLeaveThemBe(t, p, url)
	checkKept(t, p, before, "another client and a second tab came and went")

	unlockAndShoot(t, p, before.Torrents[1].InfoHash)
	removeFreesStorage(t, p, before, len(data))
}

// relayWithFilm starts a relay seeding a 2 MiB file with Speed, and a
// Chromium in a network namespace.
func relayWithFilm(t *testing.T) (*browsertest.Browser, string, []byte) {
	ns := netnstest.New(t)
	seedPath := filepath.Join(t.TempDir(), "relay-film.bin")
	data := writeRandomFile(t, seedPath, 2<<20+321, 3)
	relayKey, _ := wallet.GenerateKey()
	url := startSeedingRelay(t, ns, webDir(t), seedPath, relayKey, 1000)
	return browsertest.Start(t, ns.Command, url), url, data
}

// fillProfile makes a wallet with test BTT, downloads the relay's file
// with Speed (paused as it starts, then resumed to the end), seeds a file
// of the user's, and waits until what was spent is saved.
func fillProfile(t *testing.T, p *browsertest.Page, url string) kept {
	p.Eval(t, `(async () => { const w = btspeedApp.client.wallet; await w.create('password123'); await w.faucet(); return null })()`, nil)
	var paused struct {
		Paused bool
		Peers  int
	}
	p.Eval(t, `(async () => {
		window.dl = await btspeedApp.client.add(`+jsString(relayMagnet(t, url))+`)
		await dl.pause()
		return { paused: dl.paused, peers: dl.numPeers }
	})()`, &paused)
	if !paused.Paused || paused.Peers != 0 {
		t.Fatalf("paused: %+v", paused)
	}
	p.Eval(t, `dl.resume()`, nil)
	p.WaitForFunction(t, `dl.done && !dl.paused && dl.spent !== '0'`, 120*time.Second)
	// Paused and resumed once complete, its payment channels are closed:
	// what it spent is final.
	p.Eval(t, `(async () => { await dl.pause(); await dl.resume(); return null })()`, nil)
	p.Eval(t, `(async () => {
		const mine = new Uint8Array(700000)
		for (let i = 0; i < mine.length; i += 65536) crypto.getRandomValues(mine.subarray(i, Math.min(i + 65536, mine.length)))
		window.mine = await btspeedApp.client.seed(new File([mine], 'mine.bin'))
		return null
	})()`, nil)
	// Everything spent is saved (every 2 s) before the page goes.
	p.WaitForFunction(t, `(async () => { const s = JSON.parse(localStorage.getItem('btspeed.history') || '{}'); return s.spent > 0 && bttUnits((await btspeedApp.client.totals()).spent) === BigInt(s.spent) && bttUnits(dl.spent) === BigInt(s.spent) })()`, 30*time.Second)
	var k kept
	p.Eval(t, keptNow, &k)
	return k
}

// checkKept fails unless the page has what it had before.
func checkKept(t *testing.T, p *browsertest.Page, before kept, when string) {
	t.Helper()
	var now kept
	p.Eval(t, keptNow, &now)
	if len(now.Torrents) != 2 || now.Spent != before.Spent || now.Used != before.Used {
		t.Fatalf("after %s: %+v, want %+v", when, now, before)
	}
	for i, tor := range now.Torrents {
		if was := before.Torrents[i]; tor != was {
			t.Fatalf("after %s torrent %d is %+v, was %+v", when, i, tor, was)
		}
	}
}

// othersLeaveThemBe: a client that keeps nothing (the embedded player) in
// the same profile lists none of the kept torrents; a second tab lists
// them paused, saying the first tab has them, and cannot resume them.
func othersLeaveThemBe(t *testing.T, p *browsertest.Page, url string) {
	var others int
	p.Eval(t, `(async () => {
		const c = await BTSpeed.start({ relay: location.origin, keep: false })
		const n = c.torrents.length
		await c.destroy()
		return n
	})()`, &others)
	if others != 0 {
		t.Fatalf("a client keeping nothing lists %d torrents", others)
	}
	tab := p.NewTab(t, url+"/")
	tab.WaitForFunction(t, `document.body.dataset.ready === 'true' && !btspeedApp.client.torrents.some(t => t.checking)`, 60*time.Second)
	var second []struct {
		Paused bool
		Error  string
	}
	tab.Eval(t, `btspeedApp.client.torrents.map(t => ({ paused: t.paused, error: t.error }))`, &second)
	if len(second) != 2 || !second[0].Paused || !strings.Contains(second[1].Error, "open in another tab") {
		t.Fatalf("a second tab lists %+v", second)
	}
	var refused string
	tab.Eval(t, `btspeedApp.client.torrents[0].resume().then(() => '', e => e.message)`, &refused)
	if !strings.Contains(refused, "open in another tab") {
		t.Fatalf("resuming in a second tab: %q", refused)
	}
	tab.Close(t)
	p.Reload(t)
	p.WaitForFunction(t, `document.body.dataset.ready === 'true'`, 60*time.Second)
}

// unlockAndShoot unlocks the app, which lists the torrents kept and the
// storage they take, pauses the seeded one (ih) with its row's button, and
// takes the screenshots.
func unlockAndShoot(t *testing.T, p *browsertest.Page, ih string) {
	p.Fill(t, "#unlock-password", "password123")
	p.Click(t, "#unlock-submit")
	p.WaitFor(t, "#screen-app:not([hidden])", 60*time.Second)
	p.WaitFor(t, ".torrent.is-done", 30*time.Second)
	p.WaitFor(t, "#storage-use:not([hidden])", 30*time.Second)
	if s := p.Text(t, "#storage-use"); !strings.Contains(s, "of 2.00 GiB used by 2 torrents") {
		t.Fatalf("storage line %q", s)
	}
	row := `.torrent[data-infohash="` + ih + `"]`
	p.Click(t, row+` .pause-toggle`)
	p.WaitForFunction(t, `(() => { const r = document.querySelector('`+row+`'); return r.querySelector('.state').textContent === 'Paused' && r.querySelector('.pause-toggle').textContent === 'Resume' })()`, 30*time.Second)
	p.Eval(t, `new Promise(r => setTimeout(r, 1200))`, nil) // one more render
	p.Screenshot(t, screenshotPath(t, "persist-torrents.png"), true)
	p.SetViewport(t, 390, 844)
	p.Screenshot(t, screenshotPath(t, "persist-torrents-phone.png"), true)
	p.SetViewport(t, 1280, 800)
	for _, f := range []string{"persist-torrents.png", "persist-torrents-phone.png"} {
		if st, err := os.Stat(screenshotPath(t, f)); err != nil || st.Size() < 5000 {
			t.Fatalf("screenshot %s: %v", f, err)
		}
	}
}

// removeFreesStorage removes the download: its chunks leave IndexedDB and
// the storage figure drops by its size.
func removeFreesStorage(t *testing.T, p *browsertest.Page, before kept, size int) {
	ih := before.Torrents[0].InfoHash
	var n int
	p.Eval(t, chunksOf(ih), &n)
	if n != (size+16<<10-1)/(16<<10) {
		t.Fatalf("%d chunks of the download in IndexedDB", n)
	}
	p.Eval(t, `(async () => { await btspeedApp.client.torrents.find(t => t.infoHash === '`+ih+`').remove(); return null })()`, nil)
	p.Eval(t, chunksOf(ih), &n)
	var used int64
	p.Eval(t, `btspeedApp.client.storage().then(s => s.used)`, &used)
	if n != 0 || used != before.Used-int64(size) {
		t.Fatalf("after removing: %d chunks left, %d bytes used (was %d)", n, used, before.Used)
	}
	p.WaitForFunction(t, `/used by 1 torrent,/.test(document.getElementById('storage-use').textContent)`, 10*time.Second)
}
