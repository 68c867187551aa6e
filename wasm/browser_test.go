//go:build !js

package main

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
)

// webDir builds the browser peer and assembles what the relay serves:
// web/, Go's wasm_exec.js and btspeed.wasm, as build.sh does.
func webDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "btspeed.wasm"), "./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm: %v\n%s", err, out)
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
	t.Helper()
	l, err := server.Open(context.Background(), server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev", FaucetBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{Ledger: l, WebDir: web, PublicURL: "http://" + ln.Addr().String(), RTC: rtcCfg, LedgerRate: 1000, BridgeAllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); rl.Close() })
	return srv.URL
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
}

// jsString quotes s for JavaScript source.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
