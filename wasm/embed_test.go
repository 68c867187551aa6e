//go:build !js

package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
)

// servePublisher serves a publisher's pages on addr (host:0), another
// origin than the relay's: /player.html?src=S[&file=F][&csp=1] is a page
// with embed.js from the relay and a literal <bt-speed src=S autoplay
// muted> (csp: a Content-Security-Policy that blocks frames),
// and /publisher.html is web/example/publisher.html with its relay address
// replaced by the test's (and its publisher.js beside it).
func servePublisher(t testing.TB, addr, relayURL string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	exampleDir := filepath.Join(filepath.Dir(file), "..", "web", "example")
	example, err := os.ReadFile(filepath.Join(exampleDir, "publisher.html"))
	if err != nil {
		t.Fatal(err)
	}
	examplePage := strings.ReplaceAll(string(example), "http://127.0.0.1:8080", relayURL)
	mux := http.NewServeMux()
	mux.HandleFunc("/player.html", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		attrs := `src="` + html.EscapeString(q.Get("src")) + `"`
		if q.Has("file") {
			attrs += ` file="` + html.EscapeString(q.Get("file")) + `"`
		}
		if q.Has("csp") {
			// A publisher whose policy forgot the relay's frames.
			w.Header().Set("Content-Security-Policy", "frame-src 'none'")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A publisher</title>
<script src="%s/embed.js"></script>
<style>body { margin: 24px; font: 16px system-ui, sans-serif; background: #f4f4f4 }</style></head>
<body><h1>A page on another site</h1>
<bt-speed id="player" %s autoplay muted></bt-speed>
<script>
window.events = []
for (const type of ['ready', 'metadata', 'progress', 'playing', 'timeupdate', 'pause', 'ended', 'done', 'startup', 'error']) {
	player.addEventListener('btspeed-' + type, e => { if (window.events.length < 5000) window.events.push({type, detail: e.detail}) })
}
</script></body></html>`, html.EscapeString(relayURL), attrs)
	})
	mux.HandleFunc("/publisher.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(examplePage))
	})
	mux.HandleFunc("/publisher.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(exampleDir, "publisher.js"))
	})
	return browsertest.Serve(t, browsertest.Listen(t, addr), mux).URL
}

// screenshotPath is where a test's screenshot goes: $BTSPEED_SCREENSHOTS,
// else the test's temporary directory.
func screenshotPath(t testing.TB, name string) string {
	dir := os.Getenv("BTSPEED_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// recordClip makes a real WebM video in the page (a canvas animation
// recorded by MediaRecorder for about four seconds) and seeds it as
// clip.webm; it resolves to {magnet, size}.
const recordClip = `(async () => {
	window.client = await BTSpeed.start({relay: location.origin})
	const canvas = document.createElement('canvas')
	canvas.width = 640
	canvas.height = 360
	document.body.append(canvas)
	const ctx = canvas.getContext('2d')
	let frame = 0
	const draw = () => {
		const f = frame++
		const g = ctx.createLinearGradient(0, 0, 640, 360)
		g.addColorStop(0, 'hsl(' + (f * 4 % 360) + ', 70%, 45%)')
		g.addColorStop(1, 'hsl(' + ((f * 4 + 180) % 360) + ', 70%, 22%)')
		ctx.fillStyle = g
		ctx.fillRect(0, 0, 640, 360)
		for (let i = 0; i < 150; i++) {
			ctx.fillStyle = 'hsl(' + Math.floor(Math.random() * 360) + ', 80%, ' + Math.floor(30 + Math.random() * 50) + '%)'
			ctx.fillRect(Math.random() * 640, Math.random() * 360, 18, 18)
		}
		ctx.fillStyle = '#fff'
		ctx.font = 'bold 56px sans-serif'
		ctx.fillText('btspeed ' + (f / 30).toFixed(1) + ' s', 60, 200)
	}
	draw()
	const rec = new MediaRecorder(canvas.captureStream(30), {mimeType: 'video/webm;codecs=vp8', videoBitsPerSecond: 3000000})
	const chunks = []
	rec.ondataavailable = e => { if (e.data.size) chunks.push(e.data) }
	const timer = setInterval(draw, 33)
	rec.start(250)
	await new Promise(r => setTimeout(r, 4000))
	await new Promise(r => { rec.onstop = r; rec.stop() })
	clearInterval(timer)
	const blob = new Blob(chunks, {type: 'video/webm'})
	window.tor = await client.seed(new File([blob], 'clip.webm'))
	return {magnet: tor.magnetURI, size: blob.size}
})()`

type embedEvent struct {
	Type   string          `json:"type"`
	Detail json.RawMessage `json:"detail"`
}

// The embed tag plays a video from a page on another origin: a browser
// peer on the relay's origin records a WebM clip and seeds it; a
// publisher's page on another origin has embed.js from the relay and
// <bt-speed src=MAGNET>; the element's player (an iframe of the relay's
// embed.html) downloads the clip over WebRTC and streams it into its
// <video>, which plays: the element re-dispatches the player's events,
// checked for where they came from. A bad src, or a file the torrent does
// not have, shows an error in the element and fires btspeed-error.
func TestEmbed(t *testing.T) {
	browsertest.Require(t)
	ns := netnstest.New(t)
	web := webDir(t)
	relayURL := startRelay(t, netip.AddrPortFrom(ns.HostIP, 0).String(), web, rtctest.Interfaces(ns.HostIf))
	pubURL := servePublisher(t, netip.AddrPortFrom(ns.HostIP, 0).String(), relayURL)
	if relayURL == pubURL {
		t.Fatal("the publisher must be another origin")
	}
	// The player's frame is a secure context (service worker, crypto) only
	// if the page around it is one too.
	b := browsertest.Start(t, ns.Command, relayURL, pubURL)

	// A page whose Content-Security-Policy blocks the player's frame: the
	// element says so itself after 20 s (checked with the other errors).
	csp := b.NewPage(t, pubURL+"/player.html?csp=1&src="+url.QueryEscape("magnet:?xt=urn:btih:"+strings.Repeat("ab", 20)))

	seeder := b.NewPage(t, relayURL+"/blank.html")
	var clip embedClip
	seeder.Eval(t, recordClip, &clip)
	if clip.Size < 200_000 || !strings.HasPrefix(clip.Magnet, "magnet:?") {
		t.Fatalf("the recorded clip: %d bytes, magnet %q", clip.Size, clip.Magnet)
	}
	t.Logf("seeding a %d byte WebM clip", clip.Size)

	t.Run("plays a video from a page on another origin", func(t *testing.T) {
		embedPlaysClip(t, b, pubURL, clip)
	})
	t.Run("a file that is not media is offered for download", func(t *testing.T) {
		embedOffersDownload(t, b, seeder, relayURL, pubURL)
	})
	t.Run("a bad src shows an error", func(t *testing.T) {
		embedBadSrcErrors(t, b, pubURL, clip)
		embedBlockedFrameSaysSo(t, csp)
		embedExampleWithoutSrc(t, b, pubURL)
	})
}

// embedClip is the WebM clip the seeder page recorded and seeds.
type embedClip struct {
	Magnet string
	Size   int
}

// embedPlaysClip opens the publisher's page with the clip in its element:
// the video plays, streamed through the relay's service worker, and the
// element re-dispatches the player's events (and only the player's). It
// saves embed-publisher.png.
func embedPlaysClip(t *testing.T, b *browsertest.Browser, pubURL string, clip embedClip) {
	start := time.Now()
	pub := b.NewPage(t, pubURL+"/player.html?src="+url.QueryEscape(clip.Magnet))
	pub.WaitForFunction(t, `window.events.some(e => (e.type === 'timeupdate' || e.type === 'playing') &&
		e.detail.currentTime > 0.5 && !e.detail.paused && e.detail.readyState >= 2) || window.events.some(e => e.type === 'error')`, 60*time.Second)
	var events []embedEvent
	pub.Eval(t, `window.events`, &events)
	seen := map[string]json.RawMessage{}
	for _, e := range events {
		seen[e.Type] = e.Detail
	}
	if d, ok := seen["error"]; ok {
		t.Fatalf("the player failed: %s\nconsole: %v", d, pub.Logs(t))
	}
	var meta struct {
		Name, Kind string
		File       int
		Files      []struct{ Length int }
	}
	json.Unmarshal(seen["metadata"], &meta)
	if meta.Name != "clip.webm" || meta.Kind != "video" || meta.File != 0 || len(meta.Files) != 1 || meta.Files[0].Length != clip.Size {
		t.Fatalf("metadata %s", seen["metadata"])
	}
	var playing struct{ Streaming bool }
	json.Unmarshal(seen["timeupdate"], &playing)
	if !playing.Streaming {
		t.Fatalf("the video plays from a Blob, not streamed through the relay's service worker: %s", seen["timeupdate"])
	}
	if _, ok := seen["ready"]; !ok {
		t.Fatalf("no btspeed-ready among %d events", len(events))
	}
	embedElementPlaying(t, pub)
	t.Logf("playing %.1f s after the publisher's page opened", time.Since(start).Seconds())
	// Let the screenshot show a few seconds of video and the progress bar.
	pub.WaitForFunction(t, `window.events.some(e => e.type === 'timeupdate' && e.detail.currentTime > 1.5)`, 20*time.Second)
	shot := screenshotPath(t, "embed-publisher.png")
	pub.Screenshot(t, shot, true)
	t.Logf("screenshot %s", shot)
}

// embedElementPlaying checks the playing element on pub: its state, its
// frame's title and permissions; that it ignores messages from anyone but
// the player's frame; and that the frame's policy blocked nothing.
func embedElementPlaying(t *testing.T, pub *browsertest.Page) {
	t.Helper()
	var state struct {
		State string
		Attr  string
		Title string
		Allow string
	}
	pub.Eval(t, `(() => {
		const p = document.getElementById('player'), f = p.shadowRoot.querySelector('iframe')
		return {state: p.state, attr: p.getAttribute('state'), title: f.title, allow: f.getAttribute('allow')}
	})()`, &state)
	if state.State != "playing" || state.Attr != "playing" || !strings.Contains(state.Title, "clip.webm") || !strings.Contains(state.Allow, "autoplay") {
		t.Fatalf("the element: %+v", state)
	}
	// Messages from anyone but the player's frame are ignored.
	var forged int
	pub.Eval(t, `(async () => {
		const n = window.events.length
		window.postMessage({btspeed: 'player', type: 'error', n: 1, detail: {message: 'forged'}}, '*')
		await new Promise(r => setTimeout(r, 300))
		return window.events.slice(n).filter(e => e.type === 'error').length
	})()`, &forged)
	if forged != 0 {
		t.Fatal("the element took a message from the page itself for the player's")
	}
	// The player's frame ran under the relay's policy and it blocked
	// nothing (the publisher's page has none).
	if v := pub.CSPViolations(t); len(v) > 0 {
		t.Fatalf("the player's Content-Security-Policy blocked what it does:\n%s", strings.Join(v, "\n"))
	}
}

// embedOffersDownload seeds a text file: the element offers it for
// download (embed-download.png), and the player as a page of its own
// fetches and saves it.
func embedOffersDownload(t *testing.T, b *browsertest.Browser, seeder *browsertest.Page, relayURL, pubURL string) {
	var magnet string
	seeder.Eval(t, `(async () => {
		window.notes = await client.seed(new File(['Notes for the film.\n'.repeat(5000)], 'notes.txt'))
		return notes.magnetURI
	})()`, &magnet)
	p := b.NewPage(t, pubURL+"/player.html?src="+url.QueryEscape(magnet))
	p.WaitForFunction(t, `window.events.some(e => e.type === 'metadata' || e.type === 'error')`, 30*time.Second)
	var meta struct{ Kind, Name string }
	p.Eval(t, `(window.events.find(e => e.type === 'metadata') || {detail: window.events.find(e => e.type === 'error').detail}).detail`, &meta)
	if meta.Kind != "download" || meta.Name != "notes.txt" {
		t.Fatalf("metadata %+v", meta)
	}
	p.Screenshot(t, screenshotPath(t, "embed-download.png"), true)
	p.Close(t)
	// The player is a page of its own too: its Download button fetches
	// the file and saves it.
	own := b.NewPage(t, relayURL+"/embed.html?src="+url.QueryEscape(magnet))
	own.WaitFor(t, "button[aria-label^='Download notes.txt']", 30*time.Second)
	own.Click(t, "button[aria-label^='Download notes.txt']")
	own.WaitForFunction(t, `document.querySelector('.card button').textContent === 'Save notes.txt'`, 30*time.Second)
	noCSPViolations(t, own)
	embedBuildLeavesOut(t, own, seeder)
	own.Close(t)
}

// embedBadSrcErrors opens elements with a src that is not a magnet link,
// one that cannot be opened and a file the torrent does not have: each
// shows an error and fires it (embed-error.png).
func embedBadSrcErrors(t *testing.T, b *browsertest.Browser, pubURL string, clip embedClip) {
	cases := []struct {
		page, code, says string
	}{
		{"/player.html?src=" + url.QueryEscape("not a magnet"), "bad-src", "is not a magnet link"},
		{"/player.html?src=" + url.QueryEscape("magnet:?xt=urn:btih:nothex"), "bad-src", "magnet link cannot be opened"},
		{"/player.html?file=missing.mp4&src=" + url.QueryEscape(clip.Magnet), "no-file", "no file “missing.mp4”"},
	}
	pages := make([]*browsertest.Page, len(cases))
	for i, c := range cases {
		pages[i] = b.NewPage(t, pubURL+c.page)
	}
	for i, c := range cases {
		p := pages[i]
		p.WaitForFunction(t, `window.events.some(e => e.type === 'error')`, 30*time.Second)
		var got struct{ Code, Message, State, Error string }
		p.Eval(t, `(() => {
			const e = window.events.find(e => e.type === 'error'), p = document.getElementById('player')
			return {code: e.detail.code, message: e.detail.message, state: p.getAttribute('state'), error: p.error}
		})()`, &got)
		if got.Code != c.code || !strings.Contains(got.Message, c.says) || got.State != "error" || got.Error != got.Message {
			t.Errorf("%s: %+v, want code %s saying %q", c.page, got, c.code, c.says)
		}
		if c.code == "bad-src" && strings.Contains(c.page, "nothex") {
			p.Screenshot(t, screenshotPath(t, "embed-error.png"), true)
		}
		p.Close(t)
	}
}

// embedBlockedFrameSaysSo checks the page whose Content-Security-Policy
// blocks the player's frame: the element says so (embed-blocked.png).
func embedBlockedFrameSaysSo(t *testing.T, csp *browsertest.Page) {
	csp.WaitForFunction(t, `window.events.some(e => e.type === 'error')`, 30*time.Second)
	var blocked struct{ Code, Notice string }
	csp.Eval(t, `(() => {
		const e = window.events.find(e => e.type === 'error'), p = document.getElementById('player')
		const n = p.shadowRoot.querySelector('.notice')
		return {code: e.detail.code, notice: getComputedStyle(n).display !== 'none' ? n.textContent : ''}
	})()`, &blocked)
	if blocked.Code != "load" || !strings.Contains(blocked.Notice, "Content-Security-Policy") {
		t.Errorf("a page that blocks the frame: %+v", blocked)
	}
	csp.Screenshot(t, screenshotPath(t, "embed-blocked.png"), true)
}

// embedExampleWithoutSrc opens the example page: without a src the player
// says there is nothing to play (embed-example.png); with ?src= its script
// sets the attribute, the player reloads with it, and only the new load's
// events count.
func embedExampleWithoutSrc(t *testing.T, b *browsertest.Browser, pubURL string) {
	ex := b.NewPage(t, pubURL+"/publisher.html")
	ex.WaitForFunction(t, `window.btspeedEvents.some(e => e.type === 'btspeed-error')`, 30*time.Second)
	var msg string
	ex.Eval(t, `window.btspeedEvents.find(e => e.type === 'btspeed-error').detail.message`, &msg)
	if !strings.Contains(msg, "needs a src attribute") {
		t.Errorf("the example without a src: %q", msg)
	}
	ex.Screenshot(t, screenshotPath(t, "embed-example.png"), true)
	// With ?src= its script sets the attribute: the player reloads with
	// it, and only the new load's events count.
	ex.Goto(t, pubURL+"/publisher.html?src="+url.QueryEscape("not a magnet"))
	ex.WaitForFunction(t, `window.btspeedEvents.some(e => e.type === 'btspeed-error')`, 30*time.Second)
	var msgs []string
	ex.Eval(t, `new Promise(r => setTimeout(r, 500)).then(() => window.btspeedEvents.filter(e => e.type === 'btspeed-error').map(e => e.detail.message))`, &msgs)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "“not a magnet” is not a magnet link") {
		t.Errorf("the example with ?src=not a magnet: %q", msgs)
	}
	if v := ex.CSPViolations(t); len(v) > 0 {
		t.Errorf("the example page's player: its Content-Security-Policy blocked\n%s", strings.Join(v, "\n"))
	}
}

// appOnlyCalls calls, in a page's client, what the embed build leaves out (client.fetch, client.store, the
// wallet's TRON side) and resolves to how each failed: {call: {code, message}} ({} when it did not fail).
const appOnlyCalls = `(async () => {
	const calls = {
		'client.fetch': () => client.fetch('https://example.com/'),
		'client.store.list': () => client.store.list(),
		'client.wallet.deposit': () => client.wallet.deposit('1'),
		'client.wallet.tronBalance': () => client.wallet.tronBalance(),
	}
	const out = {build: client.build}
	for (const [name, call] of Object.entries(calls)) {
		try { await call(); out[name] = {} } catch (e) { out[name] = {code: e.code || '', message: e.message} }
	}
	return out
})()`

// embedBuildLeavesOut checks that the player (embed.html, page player) runs the embed build, whose app-only calls
// fail saying so, and that a client started without {embed: true} (page app) runs the whole one, where they do
// not fail that way.
func embedBuildLeavesOut(t *testing.T, player, app *browsertest.Page) {
	t.Helper()
	var embed, full map[string]json.RawMessage
	player.Eval(t, appOnlyCalls, &embed)
	app.Eval(t, appOnlyCalls, &full)
	if string(embed["build"]) != `"embed"` || string(full["build"]) != `"app"` {
		t.Fatalf("the player runs the %s build, the app's page the %s build; want embed and app", embed["build"], full["build"])
	}
	for name := range embed {
		if name == "build" {
			continue
		}
		var e, f struct{ Code, Message string }
		json.Unmarshal(embed[name], &e)
		json.Unmarshal(full[name], &f)
		want := name + " is not in the embed build; load btspeed.js without {embed: true}"
		if e.Code != "embed_build" || e.Message != want {
			t.Errorf("%s in the embed build: code %q, %q; want embed_build, %q", name, e.Code, e.Message, want)
		}
		if f.Code == "embed_build" {
			t.Errorf("%s in the app's build: %q", name, f.Message)
		}
		t.Logf("%s: embed build %q; app build %q", name, e.Message, f.Message)
	}
}
