//go:build !js

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm/redistest"
)

// BTSpeed.start({relays: [A, B]}) in Chromium, two relays sharing swarms
// through a private Redis: the page seeds, announcing to A (first of the
// tier); a native peer announcing to B alone downloads it over WebRTC.
// Then relay A goes away (Close, in this process): the page's tracker
// fails over to B, and another native peer on B downloads it again.
func TestBrowserRelaysFailOver(t *testing.T) {
	browsertest.Require(t)
	ns := netnstest.New(t)
	redisURL := redistest.Start(t).URL
	web := webDir(t)
	addr := netip.AddrPortFrom(ns.HostIP, 0).String()
	rtcCfg := rtctest.Interfaces(ns.HostIf)
	l, err := server.Open(context.Background(), server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev", FaucetBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	start := func() (*relay.Relay, *httptest.Server) {
		ln := browsertest.Listen(t, addr)
		rl, err := relay.New(relay.Config{Ledger: l, WebDir: web, PublicURL: "http://" + ln.Addr().String(), RTC: rtcCfg, LedgerRate: 1000, Redis: redisURL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rl.Close() })
		return rl, browsertest.Serve(t, ln, rl)
	}
	relayA, srvA := start()
	_, srvB := start()
	wsB := "ws" + strings.TrimPrefix(srvB.URL, "http")

	b := browsertest.Start(t, ns.Command, srvA.URL, srvB.URL)
	page := b.NewPage(t, srvA.URL+"/blank.html")
	var seeded struct{ Magnet, Sum string }
	page.Eval(t, `(async () => {
		window.client = await BTSpeed.start({ relays: [`+jsString(srvA.URL)+`, `+jsString(srvB.URL)+`] })
		const data = new Uint8Array(1024 * 1024 + 4321)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		const tor = await client.seed(new File([data], 'shared.bin'))
		const sum = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', data))).map(b => b.toString(16).padStart(2, '0')).join('')
		return { magnet: tor.magnetURI, sum }
	})()`, &seeded)

	fetchFromBrowser(t, seeded.Magnet, wsB, seeded.Sum, rtcCfg)
	if st := relayA.TrackerStats(); st.Peers == 0 || st.RoutedIn == 0 {
		t.Fatalf("the page did not announce to relay A, or met the peer on B otherwise: %+v", st)
	}
	srvA.CloseClientConnections()
	relayA.Close()
	srvA.Close()
	fetchFromBrowser(t, seeded.Magnet, wsB, seeded.Sum, rtcCfg)
}

// fetchFromBrowser downloads magnet with a native peer announcing to
// tracker alone, and checks its SHA-256.
func fetchFromBrowser(t *testing.T, magnet, tracker, sum string, rtcCfg rtc.Config) {
	t.Helper()
	cl, err := engine.New(engine.Config{PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtcCfg})}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	spec, err := engine.SpecFromMagnet(magnet)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(redistest.Download(t, cl, spec, tracker)); hex.EncodeToString(h[:]) != sum {
		t.Fatalf("downloaded through %s: sha256 %x, want %s", tracker, h, sum)
	}
}
