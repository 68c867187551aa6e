//go:build !js

package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/internal/netnstest"
)

// A browser peer (Chromium in a network namespace, no TCP) downloads from
// a Transmission seed on the host through the relay's bridge: the relay
// learns Transmission's address from its own HTTP tracker (the torrent's),
// lists it at /bridge/peers, and pipes the browser's WebRTC data channel
// to Transmission's TCP port. The file arrives byte-identical, every piece
// verified by the browser, and the relay's bridge counted the bytes.
func TestBrowserDownloadsFromTransmissionThroughTheBridge(t *testing.T) {
	browsertest.Require(t)
	btclientstest.Require(t, "transmission-daemon", "transmission-create")
	ns := netnstest.New(t)
	web := webDir(t)
	url := startRelay(t, netip.AddrPortFrom(ns.HostIP, 0).String(), web, rtctest.Interfaces(ns.HostIf))

	dir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(dir, "classic.bin"), 4<<20+321, 77)
	torrentFile, ih := btclientstest.MakeTorrent(t, filepath.Join(dir, "classic.bin"), 64, url+"/announce")
	ts := btclientstest.StartTransmission(t)
	ts.Add(t, torrentFile, dir)
	ts.WaitSeeding(t, ih, 30*time.Second)
	seed := ts.PeerAddr()
	waitBridgeLists(t, url, ih, seed)
	torrentBytes, err := os.ReadFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}

	b := browsertest.Start(t, ns.Command, url)
	p := b.NewPage(t, url+"/blank.html")
	p.Eval(t, `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return null })()`, nil)
	p.Eval(t, fmt.Sprintf(`(async () => {
		const b64 = %q
		const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0))
		window.tor = await client.add(bytes)
		return null
	})()`, encodeBase64(torrentBytes)), nil)
	p.WaitForFunction(t, `window.tor && window.tor.done`, 120*time.Second)
	var got string
	p.Eval(t, sha256JS(`await (await tor.files[0].blob()).arrayBuffer()`), &got)
	if want := sha256Hex(data); got != want {
		t.Fatalf("the browser's download differs: %s, want %s", got, want)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^btspeed_bridge_bytes_total (\S+)$`).FindSubmatch(metrics)
	if m == nil {
		t.Fatalf("no bridge byte count in the relay's metrics:\n%s", metrics)
	}
	if n, _ := strconv.ParseFloat(string(m[1]), 64); n < float64(len(data)) {
		t.Fatalf("the bridge piped %g bytes, less than the %d byte file", n, len(data))
	}
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
