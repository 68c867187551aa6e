package relay_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
	"github.com/btspeed/btspeed/relay"
)

// jsString quotes s for JavaScript source.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// WebTorrent's own browser bundle (in Chromium, in a network namespace)
// and a native btspeed peer (on the host side of the namespace's link)
// find each other through the relay's WebSocket tracker and exchange a
// torrent over WebRTC both ways: WebTorrent downloads what btspeed seeds,
// btspeed downloads what WebTorrent seeds; every piece verified.
func TestWebTorrentAndBTSpeedThroughTheRelay(t *testing.T) {
	browsertest.Require(t)
	ns := netnstest.New(t)
	ln := browsertest.Listen(t, netip.AddrPortFrom(ns.HostIP, 0).String())
	rl, err := relay.New(relay.Config{PublicURL: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	browsertest.Serve(t, ln, rl)
	trackerURL := "ws://" + ln.Addr().String()

	wtURL := browsertest.ServeWebTorrent(t, netip.AddrPortFrom(ns.HostIP, 0).String())
	b := browsertest.Start(t, ns.Command, strings.TrimSuffix(wtURL, "/webtorrent.html"))
	wt := b.NewPage(t, wtURL)
	wt.Eval(t, `(async () => {
		for (let i = 0; i < 200 && !window.wtReady; i++) await new Promise(r => setTimeout(r, 50))
		window.wt = new WebTorrent({ tracker: { rtcConfig: { iceServers: [] } } })
		wt.on('error', e => console.error('webtorrent: ' + e.message))
		return null
	})()`, nil)

	cl, err := engine.New(engine.Config{
		PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: rtctest.Interfaces(ns.HostIf)})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	btspeedSeedsWebTorrentDownloads(t, cl, wt, trackerURL)
	webTorrentSeedsBTSpeedDownloads(t, cl, wt, trackerURL)
}

// btspeedSeedsWebTorrentDownloads seeds a file on cl, announced to
// trackerURL; WebTorrent on page wt downloads it whole.
func btspeedSeedsWebTorrentDownloads(t *testing.T, cl *engine.Client, wt *browsertest.Page, trackerURL string) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 2<<20+4321)
	r := rand.New(rand.NewPCG(11, 12))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	content := filepath.Join(dir, "from-btspeed.bin")
	if err := os.WriteFile(content, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := engine.CreateTorrent(content, engine.CreateOptions{Trackers: []string{trackerURL}})
	if err != nil {
		t.Fatal(err)
	}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, i) }
	spec.Check = true
	seeded, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-seeded.Complete():
	case <-time.After(30 * time.Second):
		t.Fatal("the seed did not verify its data")
	}
	var got []byte
	wt.Eval(t, `new Promise((resolve, reject) => {
		const t = wt.add('magnet:?xt=urn:btih:`+mi.HashInfoBytes().HexString()+`', { announce: [`+jsString(trackerURL)+`] })
		t.on('error', reject)
		t.on('done', async () => {
			const buf = new Uint8Array(await (await t.files[0].blob()).arrayBuffer())
			let s = ''
			for (let i = 0; i < buf.length; i += 32768) s += String.fromCharCode.apply(null, buf.subarray(i, i + 32768))
			resolve(btoa(s))
		})
	})`, &got)
	if !bytes.Equal(got, data) {
		t.Fatalf("WebTorrent downloaded %d bytes from btspeed, not the %d seeded", len(got), len(data))
	}
	if seeded.Stats().Uploaded < int64(len(data)) {
		t.Fatalf("btspeed uploaded %d bytes, want at least %d", seeded.Stats().Uploaded, len(data))
	}
}

// webTorrentSeedsBTSpeedDownloads seeds a file from WebTorrent on page
// wt, announced to trackerURL; cl downloads it whole, over WebRTC.
func webTorrentSeedsBTSpeedDownloads(t *testing.T, cl *engine.Client, wt *browsertest.Page, trackerURL string) {
	t.Helper()
	var seed struct {
		Magnet string
		Data   []byte
	}
	wt.Eval(t, `new Promise(resolve => {
		const data = new Uint8Array(3 * 1024 * 1024 + 99)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		wt.seed(new File([data], 'from-webtorrent.bin'), { announce: [`+jsString(trackerURL)+`] }, t => {
			let s = ''
			for (let i = 0; i < data.length; i += 32768) s += String.fromCharCode.apply(null, data.subarray(i, i + 32768))
			resolve({ magnet: t.magnetURI, data: btoa(s) })
		})
	})`, &seed)
	dl, err := engine.SpecFromMagnet(seed.Magnet)
	if err != nil {
		t.Fatal(err)
	}
	down, got := downloadAll(t, cl, dl, "btspeed's download from WebTorrent")
	if !bytes.Equal(got, seed.Data) || down.Stats().Connections["webrtc"] == 0 {
		t.Fatalf("btspeed's download from WebTorrent: equal %v, connections %v", bytes.Equal(got, seed.Data), down.Stats().Connections)
	}
}
