//go:build !js

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/internal/browsertest"
)

// A torrent's state in the web app, in Chromium against a relay: a .torrent
// nobody seeds says it looks for peers and where, then (after ?stallAfter=4
// seconds, not 30) that it stalled, with the hint; the relay's file shows
// the relay in the peers table, with its client name and transport (WebRTC,
// or the relay's bridge), in the page and in torrent.peerList. Screenshots at 1280 and 390 px.
func TestWebAppStatusAndPeers(t *testing.T) {
	ns, web := appEnv(t)
	dir := t.TempDir()
	seedPath := filepath.Join(dir, "relay-demo.bin")
	writeRandomFile(t, seedPath, 3<<20+321, 7)
	url := startSeedingRelay(t, ns, web, seedPath, nil, 0)
	// The .torrent of a file only this test has.
	lonely := filepath.Join(dir, "lonely.bin")
	writeRandomFile(t, lonely, 1<<20, 8)
	mi, err := engine.CreateTorrent(lonely, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	torrentFile := filepath.Join(dir, "lonely.torrent")
	f, err := os.Create(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b := browsertest.Start(t, ns.Command, url)
	p := b.NewPage(t, url+"/?stallAfter=4")
	shot := func(name string) { p.Screenshot(t, screenshotPath(t, "status-"+name+".png"), true) }
	p.WaitFor(t, "#screen-welcome:not([hidden])", 60*time.Second)
	p.Click(t, "#go-nowallet")
	p.WaitFor(t, "#screen-app:not([hidden])", 10*time.Second)

	p.SetFiles(t, "#add-file", torrentFile)
	row := `document.querySelector('.torrent[data-infohash="` + mi.HashInfoBytes().HexString() + `"]')`
	p.WaitForFunction(t, row+` && `+row+`.querySelector('.state').textContent === 'Looking for peers'`, 30*time.Second)
	if hint := p.Text(t, ".torrent .hint"); !strings.HasPrefix(hint, "Trying WebRTC via ") || !strings.Contains(hint, "the relay bridge") {
		t.Fatalf("looking for peers, the row says %q; want what it tries", hint)
	}
	p.WaitForFunction(t, row+`.querySelector('.state').textContent === 'Stalled at 0%'`, 60*time.Second)
	const hint = "No one is sharing this torrent right now. Keep the tab open; it will start when a seeder appears."
	var api struct{ State, Hint string }
	p.Eval(t, `(() => { const t = btspeedApp.client.torrents[0]; return { state: t.state, hint: t.hint } })()`, &api)
	if got := p.Text(t, ".torrent .hint"); got != hint || api.State != "stalled" || api.Hint != hint {
		t.Fatalf("stalled: the row says %q, the API %+v; want %q", got, api, hint)
	}
	shot("stalled")
	p.SetViewport(t, 390, 844)
	shot("stalled-phone")
	p.SetViewport(t, 1280, 800)

	// The relay's file: the relay shows in the peers table.
	p.WaitFor(t, "#featured-list button", 10*time.Second)
	p.Click(t, "#featured-list button")
	peerRow := `Array.from(document.querySelectorAll('.torrent tr.peer')).find(tr => tr.querySelector('.client').textContent.startsWith('btspeed-relay/'))`
	p.WaitForFunction(t, `!!`+peerRow, 120*time.Second)
	var seen struct{ Transport, Addr, Client, APIClient, APITransport string }
	p.Eval(t, `(() => {
		const tr = `+peerRow+`
		const pl = btspeedApp.client.torrents.flatMap(t => t.peerList).find(p => p.client.startsWith('btspeed-relay/'))
		document.querySelector('.torrent:not([data-infohash="`+mi.HashInfoBytes().HexString()+`"]) details').open = true
		return { transport: tr.querySelector('.transport').textContent, addr: tr.querySelector('.peer-addr').textContent, client: tr.querySelector('.client').textContent,
			apiClient: pl.client, apiTransport: pl.transport }
	})()`, &seen)
	// The relay is met through its WebSocket tracker (WebRTC) or its
	// bridge to its own classic peer, whichever connects first.
	okTransport := map[string]bool{"WebRTC": true, "bridge (WebRTC)": true, "bridge (WebSocket)": true}
	if !okTransport[seen.Transport] || seen.Addr == "" || seen.APIClient != seen.Client || seen.APITransport != seen.Transport {
		t.Fatalf("the relay's peer row: %+v; want its client and a browser transport, the same in peerList", seen)
	}
	t.Logf("peer row: %+v", seen)
	p.WaitFor(t, ".torrent.is-done", 120*time.Second)
	shot("peers")
	p.SetViewport(t, 390, 844)
	shot("peers-phone")
}
