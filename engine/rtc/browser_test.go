//go:build linux

package rtc

import (
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netns"
)

// testPage runs the package's js test binary (rtc.test.wasm) in the page
// with the flags in ?run=, exposes its Go instance as window.goInstance
// (TestJSOpenCloseLeaksNothing counts the references Go holds) and sets
// window.result to its exit code and output.
const testPage = `<!doctype html><meta charset=utf-8><title>rtc tests</title>
<script src="wasm_exec.js"></script>
<script>
window.result = (async () => {
	const out = []
	const log = console.log
	console.log = (...a) => { out.push(a.join(' ')); log(...a) }
	const go = new Go()
	window.goInstance = go
	go.argv = ['rtc.test', '-test.v', '-test.run', new URLSearchParams(location.search).get('run')]
	let code = -1
	go.exit = c => { code = c }
	const { instance } = await WebAssembly.instantiateStreaming(fetch('rtc.test.wasm'), go.importObject)
	await go.run(instance)
	return { code, out: out.join('\n') }
})()
</script>`

// TestInChromium builds the package's js tests (rtc_js_test.go: the
// browser backend on Chromium's own RTCPeerConnection, both ends in one
// page) and runs them in headless Chromium, in a network namespace so
// that Chromium gathers candidates.
// testRun selects the js tests to run.
const testRun = "^TestJS"

func TestInChromium(t *testing.T) {
	browsertest.Require(t)
	ns := netns.New(t)
	dir := t.TempDir()
	cmd := exec.Command("go", "test", "-c", "-o", filepath.Join(dir, "rtc.test.wasm"), ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the js tests: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	wasmExec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "wasm_exec.js"), wasmExec, 0o644)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(testPage), 0o644)
	srv := browsertest.Serve(t, browsertest.Listen(t, netip.AddrPortFrom(ns.HostIP, 0).String()), http.FileServer(http.Dir(dir)))
	b := browsertest.Start(t, ns.Command, srv.URL)
	p := b.NewPage(t, srv.URL+"/index.html?run="+testRun)
	p.Timeout = 5 * time.Minute
	var res struct {
		Code int    `json:"code"`
		Out  string `json:"out"`
	}
	p.Eval(t, `window.result`, &res)
	t.Logf("in Chromium:\n%s", res.Out)
	if res.Code != 0 {
		t.Fatalf("the js tests exited with %d", res.Code)
	}
	for _, name := range []string{"TestJSStreamBothWays", "TestJSNetConn", "TestJSOverflow", "TestJSRejectsWrongDescriptions", "TestJSOpenCloseLeaksNothing"} {
		if !strings.Contains(res.Out, "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in Chromium", name)
		}
	}
}
