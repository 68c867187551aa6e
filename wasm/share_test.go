//go:build !js

package main

import (
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
)

// Sharing as instant.io does, in two Chromium profiles in a network
// namespace: files dropped on the app (a real drop event carrying File
// objects) are seeded, two loose files under the name typed for them; the
// row shows the magnet and the app's link to it, each with Copy; the app
// link opened by a second peer asks first (the confirm card), then
// downloads the files byte for byte, each with a visible Save; Play opens
// the player in the torrent's row, one at a time; a dropped folder's
// files keep their paths under the folder's name. At 390 px nothing is
// wider than the screen. Every main screen is saved at 1280 and 390 px.
func TestWebAppShare(t *testing.T) {
	_, url, b := nsBrowser(t)
	if os.Getenv("BTSPEED_SCREENSHOTS") == "" {
		t.Setenv("BTSPEED_SCREENSHOTS", t.TempDir())
	}
	shots := func(p *browsertest.Page, name string) { shareShots(t, p, name) }

	// The seeder makes a wallet (the wallet tab has something to show).
	a := b.NewPage(t, url+"/")
	a.WaitFor(t, visible("screen-welcome"), 60*time.Second)
	shots(a, "welcome")
	createWallet(t, a)
	a.WaitFor(t, visible("screen-app"), 10*time.Second)
	a.Click(t, "#tab-wallet")
	a.WaitForFunction(t, `document.getElementById('wallet-balance').textContent !== '…'`, 30*time.Second)
	shots(a, "wallet")
	a.Click(t, "#tab-torrents")

	seeded := seedByDrop(t, a, url)

	c := openShareLink(t, b, seeded)
	shots(c, "torrents")

	embedPhone(t, b, url, seeded.Magnet)
	c.Click(t, "#tab-speed")
	shots(c, "speed")
	c.Click(t, "#tab-settings")
	shots(c, "settings")

	playerInRow(t, a, seeded.InfoHash)

	// One file: Save on its row. A folder's files (with the fullPath a drop
	// gives them): the folder's name, their paths under it.
	a.Eval(t, `dropFiles([new File(['just one file'], 'single.txt')])`, nil)
	a.WaitForFunction(t, `Array.from(document.querySelectorAll('.torrent')).some(r => r.querySelector('.name').textContent === 'single.txt' &&
		Array.from(r.querySelectorAll('.actions button')).some(b => b.textContent === 'Save' && b.offsetParent !== null))`, 60*time.Second)
	a.Eval(t, `(() => {
		const f = (path, text) => Object.assign(new File([text], path.split('/').pop()), { fullPath: '/' + path })
		window.seedPicked([f('Album/one.txt', 'one'), f('Album/disc 2/two.txt', 'two')])
		return null
	})()`, nil)
	var folder []string
	a.WaitForFunction(t, `btspeedApp.client.torrents.some(t => t.name === 'Album')`, 60*time.Second)
	a.Eval(t, `btspeedApp.client.torrents.find(t => t.name === 'Album').files.map(f => f.path)`, &folder)
	if strings.Join(folder, "|") != "Album/one.txt|Album/disc 2/two.txt" {
		t.Fatalf("a folder's files seed as %q", folder)
	}
	a.Eval(t, `Array.from(document.querySelectorAll('.torrent[data-infohash="`+seeded.InfoHash+`"] .filelist button')).find(b => b.textContent === 'Play').click()`, nil)
	shots(a, "torrents-seeding")
	noCSPViolations(t, a)
}

// shared is what the seeder's page shows of a torrent it seeds.
type shared struct {
	Files          []string
	Magnet, Link   string
	Saves, Copies  int
	InDetails      bool
	InfoHash, Sums string
}

// shareShots saves p's screen at 1280 and 390 px wide, checking at 390
// that nothing is wider than the screen.
func shareShots(t *testing.T, p *browsertest.Page, name string) {
	t.Helper()
	for _, w := range []int{1280, 390} {
		p.SetViewport(t, w, 844)
		p.Eval(t, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))`, nil)
		if w == 390 {
			fitsPhone(t, p, name)
		}
		p.Screenshot(t, screenshotPath(t, fmt.Sprintf("share-%s-%d.png", name, w)), true)
	}
	p.SetViewport(t, 1280, 844)
}

// seedByDrop drops two files on the app in a (a real drop event carrying
// File objects), names their torrent "Holiday" when asked, and checks its
// row: the files with Save in view, the magnet and the app link with Copy.
func seedByDrop(t *testing.T, a *browsertest.Page, url string) shared {
	t.Helper()
	// Dragging files over the page shows the drop zone; dropping two loose
	// files asks for the torrent's name.
	a.Eval(t, `(() => {
		const data = (seed, n) => { const d = new Uint8Array(n); let x = seed; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; d[i] = x >>> 24 } return d }
		window.dropData = { 'notes.txt': data(1, 300000), 'clip.webm': data(2, 700000) }
		window.dropFiles = files => {
			const dt = new DataTransfer()
			for (const f of files) dt.items.add(f)
			document.body.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }))
			document.body.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }))
			const zone = !document.getElementById('dropzone').hidden
			document.body.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }))
			return zone && document.getElementById('dropzone').hidden
		}
		return null
	})()`, nil)
	var zoneShown bool
	a.Eval(t, `dropFiles(Object.entries(dropData).map(([n, d]) => new File([d], n)))`, &zoneShown)
	if !zoneShown {
		t.Fatal("the drop zone did not show while files were dragged over the page, or stayed after the drop")
	}
	a.WaitFor(t, visible("seed-name-form"), 10*time.Second)
	if what := a.Text(t, "#seed-name-what"); !strings.HasPrefix(what, "2 files") {
		t.Fatalf("the name form asks about %q", what)
	}
	a.Click(t, "#seed-name-go") // no name: refused with a message
	if msg := a.Text(t, "#seed-name-error"); !strings.Contains(msg, "Give the torrent a name") {
		t.Fatalf("seeding without a name: %q", msg)
	}
	a.Fill(t, "#seed-name", "Holiday")
	a.Click(t, "#seed-name-go")
	a.WaitForFunction(t, `Array.from(document.querySelectorAll('.torrent .name')).some(n => n.textContent === 'Holiday')`, 60*time.Second)
	var seeded shared
	a.Eval(t, `(async () => {
		const t = btspeedApp.client.torrents.find(t => t.name === 'Holiday')
		const row = document.querySelector('.torrent[data-infohash="' + t.infoHash + '"]')
		const shown = b => b.offsetParent !== null
		const saves = Array.from(row.querySelectorAll('button')).filter(b => b.textContent === 'Save' && shown(b))
		const sums = []
		for (const f of t.files) sums.push(f.path + '=' + Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', dropData[f.name]))).map(b => b.toString(16).padStart(2, '0')).join(''))
		return { files: t.files.map(f => f.path), magnet: row.querySelector('.share-magnet').value, link: row.querySelector('.share-app').value,
			saves: saves.length, inDetails: saves.some(b => b.closest('details')), infoHash: t.infoHash, sums: sums.join(' '),
			copies: Array.from(row.querySelectorAll('.share-field button')).filter(b => b.textContent === 'Copy' && shown(b)).length }
	})()`, &seeded)
	if strings.Join(seeded.Files, " ") != "Holiday/notes.txt Holiday/clip.webm" || seeded.Saves != 2 || seeded.InDetails {
		t.Fatalf("the dropped files seed as %q with %d Save buttons in view (in the collapsed section: %v)", seeded.Files, seeded.Saves, seeded.InDetails)
	}
	if !strings.HasPrefix(seeded.Magnet, "magnet:?xt=urn:btih:"+seeded.InfoHash) || !strings.Contains(seeded.Magnet, "dn=Holiday") ||
		seeded.Link != url+"/#"+seeded.Magnet || seeded.Copies != 2 {
		t.Fatalf("share fields: magnet %q, app link %q, %d Copy buttons (relay %s)", seeded.Magnet, seeded.Link, seeded.Copies, url)
	}

	return seeded
}

// openShareLink opens the app link of s in another browser profile: the
// app asks first (nothing starts before), then downloads the files byte for
// byte, each with Save in view. It returns that page.
func openShareLink(t *testing.T, b *browsertest.Browser, s shared) *browsertest.Page {
	t.Helper()
	c := b.NewPage(t, s.Link)
	c.WaitFor(t, visible("screen-welcome"), 60*time.Second)
	if p := c.Text(t, "#screen-welcome [data-pending]"); !strings.Contains(p, "Holiday") {
		t.Fatalf("the welcome screen says %q about the link", p)
	}
	c.Click(t, "#go-nowallet")
	c.WaitFor(t, visible("confirm-add"), 10*time.Second)
	if n := c.Text(t, "#confirm-add-name"); n != "Holiday" {
		t.Fatalf("the confirm card asks about %q", n)
	}
	var before int
	c.Eval(t, `btspeedApp.client.torrents.length`, &before)
	if before != 0 {
		t.Fatalf("%d torrents before the user said yes", before)
	}
	c.Click(t, "#confirm-add-yes")
	c.WaitFor(t, ".torrent.is-done", 120*time.Second)
	var got struct {
		Sums  string
		Saves int
	}
	c.Eval(t, `(async () => {
		await new Promise(r => setTimeout(r, 1200)) // a render with the finished state
		const t = btspeedApp.client.torrents[0]
		const sums = []
		for (const f of t.files) sums.push(f.path + '=' + Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await (await f.blob()).arrayBuffer()))).map(b => b.toString(16).padStart(2, '0')).join(''))
		const saves = Array.from(document.querySelectorAll('.torrent button')).filter(b => b.textContent === 'Save' && b.offsetParent !== null && !b.closest('details'))
		return { sums: sums.join(' '), saves: saves.length }
	})()`, &got)
	if got.Sums != s.Sums || got.Saves != 2 {
		t.Fatalf("downloaded %s with %d Save buttons in view; seeded %s", got.Sums, got.Saves, s.Sums)
	}
	return c
}

// playerInRow clicks Play in the row of the torrent ih twice: the player
// opens in the row, one on the page; Close takes it away.
func playerInRow(t *testing.T, a *browsertest.Page, ih string) {
	t.Helper()
	// Play opens the player in the row; a second Play replaces it.
	var player struct{ InRow, Count int }
	for i := 0; i < 2; i++ {
		a.Eval(t, `(async () => {
			const row = document.querySelector('.torrent[data-infohash="`+ih+`"]')
			Array.from(row.querySelectorAll('.filelist button')).find(b => b.textContent === 'Play').click()
			await new Promise(r => setTimeout(r, 300))
			return { inRow: row.querySelectorAll('.player video').length, count: document.querySelectorAll('video').length }
		})()`, &player)
		if player.InRow != 1 || player.Count != 1 {
			t.Fatalf("after Play %d: %d players in the row, %d on the page", i+1, player.InRow, player.Count)
		}
	}
	a.Click(t, ".player-head button")
	a.Eval(t, `document.querySelectorAll('video').length`, &player.Count)
	if player.Count != 0 {
		t.Fatalf("%d players after Close", player.Count)
	}

}

// embedPhone opens the embedded player for a file of magnet at 390 px:
// sizes in binary units as in the app, nothing past the frame's edge.
func embedPhone(t *testing.T, b *browsertest.Browser, url, magnet string) {
	t.Helper()
	// The embedded player at phone width: sizes in binary units as in the
	// app, nothing past the frame's edge.
	e := b.NewPage(t, url+"/embed.html?src="+neturl.QueryEscape(magnet)+"&file=notes.txt")
	e.SetViewport(t, 390, 360)
	e.WaitFor(t, "#stage .card button", 60*time.Second)
	var embed struct {
		Size string
		Out  []string
	}
	e.Eval(t, `(() => {
		const out = []
		for (const el of document.querySelectorAll('body *')) {
			const r = el.getBoundingClientRect()
			if (el.offsetParent !== null && r.width > 0 && (r.left < -0.5 || r.right > 390.5)) out.push(el.tagName.toLowerCase() + '.' + el.className + ' spans ' + Math.round(r.left) + '..' + Math.round(r.right))
		}
		return { size: document.querySelector('.card p').textContent, out }
	})()`, &embed)
	if embed.Size != "293 KiB" || len(embed.Out) > 0 {
		t.Fatalf("the embed at 390 px says %q; wider than the frame: %q", embed.Size, embed.Out)
	}
	e.Screenshot(t, screenshotPath(t, "share-embed-390.png"), true)
}

// fitsPhone fails t if anything on p's screen is wider than the viewport
// (390 px): the page scrolls sideways, or a key element pokes out.
func fitsPhone(t *testing.T, p *browsertest.Page, screen string) {
	t.Helper()
	var out []string
	p.Eval(t, `(() => {
		const w = document.documentElement.clientWidth, bad = []
		if (document.documentElement.scrollWidth > w) bad.push('page scrolls to ' + document.documentElement.scrollWidth + ' px')
		for (const e of document.querySelectorAll('.top, .top *, .tabs, [role=tab], .card, .card input, .card button, .torrent, .torrent *, .share-field, form, table, .stats, .chart svg')) {
			if (e.offsetParent === null || e.closest('[hidden]')) continue
			const r = e.getBoundingClientRect()
			if (r.width > 0 && (r.left < -0.5 || r.right > w + 0.5)) bad.push((e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + e.className) + ' spans ' + Math.round(r.left) + '..' + Math.round(r.right))
		}
		const tabs = document.querySelector('.tabs')
		if (tabs && tabs.offsetParent !== null && tabs.scrollWidth > tabs.clientWidth) bad.push('the tabs are clipped: ' + tabs.scrollWidth + ' px in ' + tabs.clientWidth)
		return bad.slice(0, 12)
	})()`, &out)
	if len(out) > 0 {
		t.Fatalf("%s at 390 px:\n%s", screen, strings.Join(out, "\n"))
	}
}
