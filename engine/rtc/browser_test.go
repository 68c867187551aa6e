//go:build linux

package rtc

import (
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
)

// testPage runs the package's js test binary (rtc.test.wasm) in the page
// with the flags in ?args= (space-separated), exposes its Go instance as window.goInstance
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
	go.argv = ['rtc.test', '-test.v', ...new URLSearchParams(location.search).get('args').split(' ')]
	let code = -1
	go.exit = c => { code = c }
	const { instance } = await WebAssembly.instantiateStreaming(fetch('rtc.test.wasm'), go.importObject)
	await go.run(instance)
	return { code, out: out.join('\n') }
})()
</script>`

// TestInChromium builds the package's js tests (rtc_js_test.go: the
// browser backend on Chromium's own RTCPeerConnection, both ends in one
// page) and runs them in headless Chromium.
func TestInChromium(t *testing.T) {
	out := runInChromium(t, "-test.run=^TestJS")
	for _, name := range []string{"TestJSStreamBothWays", "TestJSNetConn", "TestJSOverflow", "TestJSRejectsWrongDescriptions", "TestJSOpenCloseLeaksNothing", "TestJSICEServerJSON"} {
		if !strings.Contains(out, "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in Chromium", name)
		}
	}
}

// BenchmarkInChromium runs BenchmarkJSOneWay in headless Chromium and
// reports its MB/s and, per 4 MiB, the Go heap's bytes and allocations.
func BenchmarkInChromium(b *testing.B) {
	out := runInChromium(b, "-test.run=^$", "-test.bench=^BenchmarkJSOneWay$", "-test.benchtime=24x")
	units := map[string]string{"MB/s": "js-MB/s", "B/op": "js-B/op", "allocs/op": "js-allocs/op"}
	found := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "BenchmarkJSOneWay") {
			continue
		}
		for i := 1; i < len(f); i++ {
			if unit, ok := units[f[i]]; ok {
				v, err := strconv.ParseFloat(f[i-1], 64)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(v, unit)
				found++
			}
		}
	}
	if found != len(units) {
		b.Fatalf("BenchmarkJSOneWay's figures missing from the output")
	}
}

// runInChromium builds the package's js tests and runs them with args in
// headless Chromium, in a network namespace so that Chromium gathers
// candidates; it fails tb unless they pass, and returns their output.
func runInChromium(tb testing.TB, args ...string) string {
	tb.Helper()
	browsertest.Require(tb)
	ns := netnstest.New(tb)
	dir := tb.TempDir()
	cmd := exec.Command("go", "test", "-c", "-o", filepath.Join(dir, "rtc.test.wasm"), ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the js tests: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		tb.Fatal(err)
	}
	wasmExec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		tb.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "wasm_exec.js"), wasmExec, 0o644)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(testPage), 0o644)
	srv := browsertest.Serve(tb, browsertest.Listen(tb, netip.AddrPortFrom(ns.HostIP, 0).String()), http.FileServer(http.Dir(dir)))
	b := browsertest.Start(tb, ns.Command, srv.URL)
	p := b.NewPage(tb, srv.URL+"/index.html?args="+url.QueryEscape(strings.Join(args, " ")))
	p.Timeout = 5 * time.Minute
	var res struct {
		Code int    `json:"code"`
		Out  string `json:"out"`
	}
	p.Eval(tb, `window.result`, &res)
	tb.Logf("in Chromium:\n%s", res.Out)
	if res.Code != 0 {
		tb.Fatalf("the js tests exited with %d", res.Code)
	}
	return res.Out
}
