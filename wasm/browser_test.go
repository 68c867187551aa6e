//go:build !js

package main

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
	"github.com/btspeed/btspeed/internal/wasmbuild"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// webDir builds the browser peer and assembles what the relay serves:
// web/, Go's wasm_exec.js, btspeed.wasm and btspeed-embed.wasm (their tags, decred's table blanked), as build.sh
// does, and a brotli copy of each (NAME.br, at brotli's fastest quality here: build.sh's is 11), which the relay
// serves to Chromium (it accepts br).
func webDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	buildWasm(t, root, filepath.Join(dir, "btspeed.wasm"), wasmbuild.Args())
	buildWasm(t, root, filepath.Join(dir, "btspeed-embed.wasm"), wasmbuild.EmbedArgs())
	for _, name := range []string{"btspeed.wasm", "btspeed-embed.wasm"} {
		writeBrotli(t, filepath.Join(dir, name))
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"), filepath.Join(dir, "wasm_exec.js"))
	entries, err := os.ReadDir(filepath.Join(root, "web"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			copyFile(t, filepath.Join(root, "web", e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	os.WriteFile(filepath.Join(dir, "blank.html"), []byte("<!doctype html><meta charset=utf-8><title>t</title><script src=\"btspeed.js\"></script>"), 0o644)
	return dir
}

// buildWasm builds ./wasm of root with tags (wasmbuild.Args or EmbedArgs) to out and blanks decred's table.
func buildWasm(t testing.TB, root, out string, tags []string) {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"build"}, tags...), "-o", out, "./wasm")...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", filepath.Base(out), err, msg)
	}
	if err := wasmbuild.BlankTable(root, out); err != nil {
		t.Fatal(err)
	}
}

// writeBrotli writes path+".br" at brotli's fastest quality (0.13 s for 11 MB).
func writeBrotli(t testing.TB, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".br", wasmbuild.BrotliAt(raw, brotli.BestSpeed), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startRelay serves web with an embedded ledger on addr (host:0).
func startRelay(t testing.TB, addr, web string, rtcCfg rtc.Config) string {
	return startRelayWith(t, addr, web, rtcCfg, nil)
}

// startRelayWith is startRelay with more configuration: edit, when set,
// changes the relay's before it starts.
func startRelayWith(t testing.TB, addr, web string, rtcCfg rtc.Config, edit func(*relay.Config)) string {
	t.Helper()
	l, err := server.Open(context.Background(), server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev", FaucetBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ln := browsertest.Listen(t, addr)
	cfg := relay.Config{Ledger: l, WebDir: web, PublicURL: "http://" + ln.Addr().String(), RTC: rtcCfg, LedgerRate: 1000, BridgeAllowPrivate: true}
	if edit != nil {
		edit(&cfg)
	}
	rl, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() }) // after the server's close (cleanups run last first)
	return browsertest.Serve(t, ln, rl).URL
}

// appEnv prepares a test of the web app in Chromium: it needs Chromium,
// keeps the test's screenshots in one directory ($BTSPEED_SCREENSHOTS, a
// temporary one when unset), and returns a new network namespace and the
// web directory (webDir).
func appEnv(t *testing.T) (ns *netnstest.NS, web string) {
	t.Helper()
	browsertest.Require(t)
	if os.Getenv("BTSPEED_SCREENSHOTS") == "" {
		t.Setenv("BTSPEED_SCREENSHOTS", t.TempDir())
	}
	return netnstest.New(t), webDir(t)
}

// startSeedingRelay starts a relay serving web on the namespace's host
// address that seeds the file at seedPath there, with Speed earning for
// key at reserve base units when key is set, and returns its URL.
func startSeedingRelay(t *testing.T, ns *netnstest.NS, web, seedPath string, key *wallet.PrivateKey, reserve uint64) string {
	t.Helper()
	return startRelayWith(t, netip.AddrPortFrom(ns.HostIP, 0).String(), web, rtctest.Interfaces(ns.HostIf), func(c *relay.Config) {
		c.Seed, c.Key, c.Reserve, c.PeerListen = []string{seedPath}, key, reserve, netip.AddrPortFrom(ns.HostIP, 0).String()
	})
}

// writeRandomFile writes n pseudo-random bytes (the same for the same
// seed) to path and returns them.
func writeRandomFile(t testing.TB, path string, n int, seed uint64) []byte {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// nsBrowser starts a relay serving the browser peer on a new network
// namespace's host address and a Chromium inside the namespace.
func nsBrowser(t *testing.T) (ns *netnstest.NS, url string, b *browsertest.Browser) {
	t.Helper()
	browsertest.Require(t)
	ns = netnstest.New(t)
	url = startRelay(t, netip.AddrPortFrom(ns.HostIP, 0).String(), webDir(t), rtctest.Interfaces(ns.HostIf))
	return ns, url, browsertest.Start(t, ns.Command, url)
}

// The wallet in a real Chromium: create, reload, unlock; a wrong password
// is refused with a clear message and changes nothing; restoring the
// phrase in another browser profile gives the same address.
func TestBrowserWallet(t *testing.T) {
	browsertest.Require(t)
	web := webDir(t)
	url := startRelay(t, "127.0.0.1:0", web, rtc.Config{})
	b := browsertest.Start(t, nil)
	p := b.NewPage(t, url+"/blank.html")
	var created struct{ Phrase, Address, State string }
	p.Eval(t, `(async () => {
		window.client = await BTSpeed.start({relay: location.origin})
		const w = await client.wallet.create('correct horse battery')
		return {phrase: w.phrase, address: w.address, state: client.wallet.state}
	})()`, &created)
	if created.State != "unlocked" || !strings.HasPrefix(created.Address, "T") || len(strings.Fields(created.Phrase)) != 12 {
		t.Fatalf("created %+v", created)
	}
	p.Reload(t)
	var after struct{ State, Address, Wrong, Unlocked string }
	p.Eval(t, `(async () => {
		window.client = await BTSpeed.start({relay: location.origin})
		const out = {state: client.wallet.state, address: client.wallet.address}
		try { await client.wallet.unlock('not the password') } catch (e) { out.wrong = e.message }
		out.unlocked = client.wallet.state
		await client.wallet.unlock('correct horse battery')
		out.unlocked += '/' + client.wallet.state
		return out
	})()`, &after)
	if after.State != "locked" || after.Address != created.Address || after.Wrong != "wrong password" || after.Unlocked != "locked/unlocked" {
		t.Fatalf("after reload: %+v", after)
	}
	other := b.NewPage(t, url+"/blank.html")
	var restored string
	other.Eval(t, `(async () => {
		const c = await BTSpeed.start({relay: location.origin})
		return (await c.wallet.restore(`+jsString(created.Phrase)+`, 'another password')).address
	})()`, &restored)
	if restored != created.Address {
		t.Fatalf("restored %s, want %s", restored, created.Address)
	}

	newKeystoresUseLightScrypt(t, other)
	oldKeystoreUpgradesOnUnlock(t, b, url)
}

// newKeystoresUseLightScrypt checks, on a page with a restored wallet,
// that new keystores use LightScrypt and new passwords need 10 characters.
func newKeystoresUseLightScrypt(t *testing.T, other *browsertest.Page) {
	t.Helper()
	var made struct {
		N     int
		Short string
	}
	other.Eval(t, `(async () => {
		const out = {n: JSON.parse(localStorage.getItem('btspeed.keystore')).crypto.kdfparams.n}
		try { await BTSpeed.start({relay: location.origin}).then(c => c.wallet.create('123456789')) } catch (e) { out.short = e.message }
		return out
	})()`, &made)
	if made.N != wallet.LightScrypt.N || !strings.Contains(made.Short, "at least 10 characters") {
		t.Fatalf("the restored keystore's scrypt n=%d (want %d); a 9-character password: %q", made.N, wallet.LightScrypt.N, made.Short)
	}
}

// oldKeystoreUpgradesOnUnlock stores a keystore as the app stored them
// before (geth's light scrypt, N=4096, and an 8-character password): it
// unlocks, and is re-encrypted with LightScrypt; the stored one then opens
// with the same password to the same address, also after a reload.
func oldKeystoreUpgradesOnUnlock(t *testing.T, b *browsertest.Browser, url string) {
	t.Helper()
	k, _ := wallet.GenerateKey()
	old, err := wallet.EncryptKeystore(k, []byte("8chars!!"), wallet.ScryptParams{N: 1 << 12, R: 8, P: 6})
	if err != nil {
		t.Fatal(err)
	}
	legacy := b.NewPage(t, url+"/blank.html")
	legacy.Eval(t, `localStorage.setItem('btspeed.keystore', `+jsString(string(old))+`)`, nil)
	var upgraded struct {
		State, Address, Stored string
		Ms                     float64
	}
	unlock := `(async () => {
		window.client = await BTSpeed.start({relay: location.origin})
		const t0 = performance.now()
		await client.wallet.unlock('8chars!!')
		return {state: client.wallet.state, address: client.wallet.address, stored: localStorage.getItem('btspeed.keystore'), ms: performance.now() - t0}
	})()`
	legacy.Eval(t, unlock, &upgraded)
	t.Logf("unlocking (and upgrading) the N=4096 keystore took %.0f ms", upgraded.Ms)
	if upgraded.State != "unlocked" || upgraded.Address != k.Address().String() || upgraded.Stored == string(old) {
		t.Fatalf("unlocking the old keystore: %s %s, stored keystore changed: %v", upgraded.State, upgraded.Address, upgraded.Stored != string(old))
	}
	if weaker, err := wallet.KeystoreWeakerThan([]byte(upgraded.Stored), wallet.LightScrypt); err != nil || weaker {
		t.Fatalf("the stored keystore after the unlock is still weaker than LightScrypt (%v): %s", err, upgraded.Stored)
	}
	if got, err := wallet.DecryptKeystore([]byte(upgraded.Stored), []byte("8chars!!")); err != nil || got.Address() != k.Address() {
		t.Fatalf("the upgraded keystore with the same password: %v", err)
	}
	legacy.Reload(t)
	legacy.Eval(t, unlock, &upgraded)
	t.Logf("unlocking the upgraded keystore took %.0f ms", upgraded.Ms)
	if upgraded.State != "unlocked" || upgraded.Address != k.Address().String() {
		t.Fatalf("unlocking the upgraded keystore after a reload: %+v", upgraded)
	}
}

// jsString quotes s for JavaScript source.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// Two browser peers in one Chromium (two profiles), inside a network
// namespace: one seeds a file, the other downloads it over WebRTC with
// Speed on, paying per piece through the relay's ledger gateway; once both
// stop, the ledger balances moved by exactly what one spent and the other
// earned, and the file is byte-identical.
func TestBrowserPeersPayOverWebRTC(t *testing.T) {
	_, url, b := nsBrowser(t)
	seeder := b.NewPage(t, url+"/blank.html")
	buyer := b.NewPage(t, url+"/blank.html")
	start := `(async () => {
		window.client = await BTSpeed.start({relay: location.origin})
		await client.wallet.create('password1234')
		await client.wallet.faucet({})
		return (await client.wallet.balance()).ledger
	})()`
	var before [2]string
	seeder.Eval(t, start, &before[0])
	buyer.Eval(t, start, &before[1])
	seeder.Eval(t, `client.settings.set({reserve: '0.05'})`, nil)
	var magnet string
	seeder.Eval(t, `(async () => {
		const data = new Uint8Array(3 * 1024 * 1024 + 4321)
		for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
		window.data = data
		window.tor = await client.seed(new File([data], 'movie.bin'))
		await new Promise(r => setTimeout(r, 600))
		return tor.magnetURI
	})()`, &magnet)
	buyer.Eval(t, `(async () => { window.tor = await client.add(`+jsString(magnet)+`); return null })()`, nil)
	buyer.WaitForFunction(t, `window.tor && window.tor.done`, 90*time.Second)
	var digest [2]string
	seeder.Eval(t, `(async () => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', data))).map(b => b.toString(16).padStart(2, '0')).join(''))()`, &digest[0])
	buyer.Eval(t, `(async () => {
		const blob = await tor.files[0].blob()
		return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))).map(b => b.toString(16).padStart(2, '0')).join('')
	})()`, &digest[1])
	if digest[0] != digest[1] {
		t.Fatalf("the downloaded file differs: %s vs %s", digest[1], digest[0])
	}
	var conns map[string]int
	buyer.Eval(t, `tor.connections`, &conns)
	if conns["webrtc"] == 0 {
		t.Fatalf("connections %v: want WebRTC", conns)
	}
	var spent, earned, buyerAddr, seederAddr string
	buyer.Eval(t, `tor.spent`, &spent)
	// The last payment leaves as the last piece is verified: the seeder has
	// it before either side stops.
	seeder.WaitForFunction(t, `tor.earned === `+jsString(spent), 15*time.Second)
	buyer.Eval(t, `client.wallet.address`, &buyerAddr)
	seeder.Eval(t, `client.wallet.address`, &seederAddr)
	// Stopping closes the channels: the ledger settles.
	buyer.Eval(t, `client.destroy()`, nil)
	seeder.Eval(t, `(async () => { await new Promise(r => setTimeout(r, 500)); return tor.earned })()`, &earned)
	seeder.Eval(t, `client.destroy()`, nil)
	if spent == "0.000000" || spent != earned {
		t.Fatalf("buyer spent %s, seeder earned %s", spent, earned)
	}
	paid, _ := speed.ParseBTT(spent)
	was := [2]uint64{}
	for i, s := range before {
		was[i], _ = speed.ParseBTT(s)
	}
	lc := client.New(url+"/ledger", nil)
	want := map[string]uint64{seederAddr: was[0] + paid, buyerAddr: was[1] - paid}
	deadline := time.Now().Add(30 * time.Second)
	for addr, w := range want {
		a, _ := wallet.ParseAddress(addr)
		for {
			got, err := lc.Balance(context.Background(), a)
			if err == nil && got == w {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ledger balance of %s: %d (%v), want %d", addr, got, err, w)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// wtStart makes a WebTorrent client in a page of ServeWebTorrent with no
// STUN servers (nothing off the machine); its only tracker is the relay's.
const wtStart = `(async () => {
	for (let i = 0; i < 200 && !window.wtReady; i++) await new Promise(r => setTimeout(r, 50))
	window.wt = new WebTorrent({ tracker: { rtcConfig: { iceServers: [] } } })
	wt.on('error', e => console.error('webtorrent: ' + e.message))
	return null
})()`

// sha256JS is the hex SHA-256 of the bytes expression (an ArrayBuffer or
// a typed array) in a page.
func sha256JS(bytes string) string {
	return `(async () => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', ` + bytes + `))).map(b => b.toString(16).padStart(2, '0')).join(''))()`
}

// A btspeed browser peer and WebTorrent's own browser bundle meet through
// the relay's WebSocket tracker and exchange a torrent both ways over
// WebRTC: WebTorrent downloads what btspeed seeds, then btspeed downloads
// what WebTorrent seeds; both files byte-identical.
func TestBrowserWebTorrentBothWays(t *testing.T) {
	browsertest.Require(t)
	ns := netnstest.New(t)
	web := webDir(t)
	url := startRelay(t, netip.AddrPortFrom(ns.HostIP, 0).String(), web, rtctest.Interfaces(ns.HostIf))
	wtURL := browsertest.ServeWebTorrent(t, netip.AddrPortFrom(ns.HostIP, 0).String())
	tracker := "ws" + strings.TrimPrefix(url, "http")
	b := browsertest.Start(t, ns.Command, url, strings.TrimSuffix(wtURL, "/webtorrent.html"))
	bt := b.NewPage(t, url+"/blank.html")
	wt := b.NewPage(t, wtURL)
	bt.Eval(t, `(async () => { window.client = await BTSpeed.start({relay: location.origin}); return null })()`, nil)
	wt.Eval(t, wtStart, nil)
	randomFile := `(size, name) => {
		const data = new Uint8Array(size)
		for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, size)))
		return new File([data], name)
	}`

	// btspeed seeds, WebTorrent downloads.
	var magnet, want, got string
	bt.Eval(t, `(async () => {
		window.file = (`+randomFile+`)(2 * 1024 * 1024 + 777, 'from-btspeed.bin')
		window.tor = await client.seed(file)
		return tor.magnetURI
	})()`, &magnet)
	bt.Eval(t, sha256JS(`await file.arrayBuffer()`), &want)
	wt.Eval(t, `new Promise((resolve, reject) => {
		const t = wt.add(`+jsString(magnet)+`, { announce: [`+jsString(tracker)+`] })
		t.on('error', reject)
		t.on('done', () => resolve(null))
	})`, nil)
	wt.Eval(t, sha256JS(`await (await wt.torrents[0].files[0].blob()).arrayBuffer()`), &got)
	if got != want {
		t.Fatalf("WebTorrent's download from btspeed differs: %s vs %s", got, want)
	}

	// WebTorrent seeds, btspeed downloads.
	wt.Eval(t, `new Promise((resolve, reject) => {
		window.file = (`+randomFile+`)(3 * 1024 * 1024 + 99, 'from-webtorrent.bin')
		wt.seed(file, { announce: [`+jsString(tracker)+`] }, t => resolve(t.magnetURI))
	})`, &magnet)
	wt.Eval(t, sha256JS(`await file.arrayBuffer()`), &want)
	bt.Eval(t, `(async () => { window.down = await client.add(`+jsString(magnet)+`); return null })()`, nil)
	bt.WaitForFunction(t, `window.down && window.down.done`, 90*time.Second)
	bt.Eval(t, sha256JS(`await (await down.files[0].blob()).arrayBuffer()`), &got)
	if got != want {
		t.Fatalf("btspeed's download from WebTorrent differs: %s vs %s", got, want)
	}
	var conns map[string]int
	bt.Eval(t, `down.connections`, &conns)
	if conns["webrtc"] == 0 {
		t.Fatalf("btspeed's connections %v: want WebRTC", conns)
	}
}
