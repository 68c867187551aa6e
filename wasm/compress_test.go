//go:build !js

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/internal/browsertest"
)

// Chromium downloads the browser peer in brotli from the relay (NAME.br,
// Content-Encoding: br; docs/wasm-size.md), and the peer starts from it:
// what crossed the network is the compressed copy's size, what Chromium
// decoded the wasm's. Chromium asks for br from HTTPS origins and from
// localhost only (not from plain http on a namespace's address, where the
// other browser tests run), so this relay is on 127.0.0.1.
func TestBrowserLoadsTheWasmInBrotli(t *testing.T) {
	browsertest.Require(t)
	web := webDir(t)
	url := startRelay(t, "127.0.0.1:0", web, rtctest.Loopback())
	b := browsertest.Start(t, nil)
	for _, tc := range []struct{ name, opts string }{{"btspeed.wasm", "{}"}, {"btspeed-embed.wasm", "{embed: true}"}} {
		p := b.NewPage(t, url+"/blank.html")
		var got struct {
			Build               string
			Transfer, Raw, Body int
		}
		p.Eval(t, `(async () => {
			const client = await BTSpeed.start(Object.assign({relay: location.origin}, `+tc.opts+`))
			const e = performance.getEntriesByType('resource').find(e => e.name.endsWith('/`+tc.name+`'))
			return {build: client.build, transfer: e ? e.transferSize : -1, raw: e ? e.decodedBodySize : -1, body: e ? e.encodedBodySize : -1}
		})()`, &got)
		br, err := os.Stat(filepath.Join(web, tc.name+".br"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.Stat(filepath.Join(web, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if got.Body != int(br.Size()) || got.Raw != int(raw.Size()) {
			t.Fatalf("%s (%s build): Chromium received %d bytes and decoded %d; want the brotli copy's %d and the wasm's %d",
				tc.name, got.Build, got.Body, got.Raw, br.Size(), raw.Size())
		}
		t.Logf("%s (%s build): %d bytes over the network (%d with headers), %d decoded", tc.name, got.Build, got.Body, got.Transfer, got.Raw)
	}
}
