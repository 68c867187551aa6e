//go:build !js

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
)

// benchProfile profiles a btspeed seeder's and downloader's pages over one
// download (BTSPEED_BENCH_PROFILE=DIR): it saves each page's CPU profile
// in DIR (seed.cpuprofile, get.cpuprofile: open them in DevTools'
// Performance panel) and logs where each page's main thread spent the
// download, by kind of work and by function. docs/browser-performance.md
// has what it found.
type benchProfile struct {
	dir       string
	seed, get *browsertest.Page
}

// newBenchProfile returns nil unless BTSPEED_BENCH_PROFILE names a
// directory; a nil *benchProfile does nothing.
func newBenchProfile(b *testing.B, seed, get *browsertest.Page) *benchProfile {
	dir := os.Getenv("BTSPEED_BENCH_PROFILE")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return &benchProfile{dir: dir, seed: seed, get: get}
}

func (bp *benchProfile) start(b *testing.B) {
	if bp == nil {
		return
	}
	bp.seed.StartProfile(b, time.Millisecond)
	bp.get.StartProfile(b, time.Millisecond)
}

func (bp *benchProfile) stop(b *testing.B) {
	if bp == nil {
		return
	}
	b.StopTimer()
	defer b.StartTimer()
	for _, pg := range []struct {
		name string
		p    *browsertest.Page
	}{{"get", bp.get}, {"seed", bp.seed}} {
		path, err := filepath.Abs(filepath.Join(bp.dir, pg.name+".cpuprofile"))
		if err != nil {
			b.Fatal(err)
		}
		prof := pg.p.StopProfile(b, path)
		b.Logf("%s page: %s", pg.name, profileSummary(prof, 25))
	}
}

// profileSummary says where a page's main thread spent the profile's
// time: by kind of work (profileKind), then the top functions by self
// time with their total (inclusive) time.
func profileSummary(prof *browsertest.Profile, top int) string {
	var sb strings.Builder
	total := prof.Duration()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / max(total.Seconds(), 1e-9) }
	fmt.Fprintf(&sb, "%.2f s profiled\n  by kind (self time):\n", total.Seconds())
	funcs := prof.Funcs()
	for _, g := range browsertest.Group(funcs, profileKind) {
		fmt.Fprintf(&sb, "    %5.1f%%  %8.0f ms  %s\n", pct(g.Self), g.Self.Seconds()*1000, g.Name)
	}
	fmt.Fprintf(&sb, "  top functions (self%%, total%%):\n")
	for _, f := range funcs[:min(top, len(funcs))] {
		fmt.Fprintf(&sb, "    %5.1f%% %5.1f%%  %s\n", pct(f.Self), pct(f.Total), f.Name)
	}
	return sb.String()
}

// profileKind classifies a function of a page's profile by the work it
// does: idle, browser-native work and built-ins, JavaScript and Go runtime
// overheads, or the package it belongs to. Wasm function names are Go's
// with "/" written "_" ("crypto_sha1.blockGeneric").
func profileKind(name string) string {
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(name, s) {
				return true
			}
		}
		return false
	}
	switch name {
	case "(idle)":
		return "idle"
	case "(program)":
		return "browser native (not JS or wasm)"
	case "(garbage collector)":
		return "JavaScript GC"
	case "transaction", "put", "get", "getAll", "objectStore", "count", "delete":
		return "IndexedDB calls (transaction, put, get)"
	case "send":
		return "RTCDataChannel.send"
	case "digest":
		return "SHA-1 (the browser's, crypto.subtle.digest)"
	case "decode", "encode":
		return "TextDecoder/TextEncoder (Go strings to and from JS)"
	}
	switch {
	case has("crypto_sha1", "sha1."):
		return "SHA-1 (Go)"
	case has("runtime.memmove", "runtime.memclr"):
		return "Go memmove/memclr (copies)"
	case has("wasm_exec.js", "syscall_js.", "syscall/js.", "wasm-to-js", "js-to-wasm"):
		return "syscall/js glue (JS<->Go calls, copies)"
	case has("runtime.mallocgc", "runtime.gc", "runtime.scanobject", "runtime.markroot", "runtime.sweep", "runtime.greyobject",
		"runtime.findObject", "runtime.__mspan", "runtime.__mheap", "runtime.__mcentral", "runtime.__mcache", "runtime.__gcWork",
		"runtime.scanblock", "runtime.bgsweep", "runtime.wbBuf", "runtime.heapBits", "runtime.typePointers", "runtime.addspecial",
		"runtime.SetFinalizer", "runtime.newobject", "runtime.growslice", "runtime.__fixalloc", "runtime.makeslice"):
		return "Go allocation and GC"
	case has("runtime."):
		return "Go runtime (scheduler, channels, timers, other)"
	case has("webpeer_idbstore"):
		return "IndexedDB storage (webpeer/idbstore)"
	case has("pion_", "engine_rtc"):
		return "WebRTC (pion, engine/rtc)"
	case has("btspeed_engine"):
		return "engine"
	case has("btspeed_"):
		return "other btspeed Go"
	case has("anacrolix_"):
		return "anacrolix (peer protocol, bencode)"
	case has(".js"):
		return "JavaScript (page, btspeed.js)"
	case !strings.Contains(name, " ") && strings.Contains(name, "."):
		return "Go standard library (other)"
	}
	return "other"
}
