package wasmbuild

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBuildShAgrees checks that build.sh builds the browser peer with Tags (WASM_TAGS holds them, WASM_EMBED_TAGS
// them and EmbedTag, and every js/wasm build of ./wasm in build.sh passes one) and blanks decred's table in what
// it built.
func TestBuildShAgrees(t *testing.T) {
	b, err := os.ReadFile("../../build.sh")
	if err != nil {
		t.Fatal(err)
	}
	sh := string(b)
	if !strings.Contains(sh, "\nWASM_TAGS="+Tags+"\n") {
		t.Errorf("build.sh does not set WASM_TAGS=%s", Tags)
	}
	if embed := EmbedArgs()[1]; !strings.Contains(sh, "\nWASM_EMBED_TAGS="+embed+"\n") {
		t.Errorf("build.sh does not set WASM_EMBED_TAGS=%s", embed)
	}
	builds := regexp.MustCompile(`(?m)^.*GOOS=js GOARCH=wasm go build .*\./wasm$`).FindAllString(sh, -1)
	if len(builds) == 0 {
		t.Fatal("build.sh builds no ./wasm for js/wasm")
	}
	for _, line := range builds {
		if !strings.Contains(line, `-tags "$WASM_TAGS"`) && !strings.Contains(line, `-tags "$WASM_EMBED_TAGS"`) {
			t.Errorf("build.sh builds the peer without its tags: %s", strings.TrimSpace(line))
		}
		out := regexp.MustCompile(`-o (\S+) `).FindStringSubmatch(line)
		if out == nil || !strings.Contains(sh, "go run ./internal/tools/wasmblank "+out[1]+"\n") {
			t.Errorf("build.sh does not run wasmblank on the peer it builds: %s", strings.TrimSpace(line))
		}
	}
}

// TestOnlyDecredReadsTheTags lists the browser peer's packages and their files with and without Tags: only
// decred's secp256k1 may change, or the tags do more than this package's comment says.
func TestOnlyDecredReadsTheTags(t *testing.T) {
	plain, tagged := listDeps(t), listDeps(t, Args()...)
	const decred = "github.com/decred/dcrd/dcrec/secp256k1/v4"
	if plain[decred] == tagged[decred] {
		t.Errorf("the tags change nothing in %s: %s", decred, plain[decred])
	}
	for path, files := range tagged {
		if path != decred && plain[path] != files {
			t.Errorf("the tags change %s: %s without, %s with", path, plain[path], files)
		}
	}
	if len(plain) != len(tagged) {
		t.Errorf("%d packages without the tags, %d with", len(plain), len(tagged))
	}
}

// TestEmbedTagLeavesOut lists the embed build's packages: EmbedTag changes the files of ./wasm and webpeer only,
// and leaves out the app's packages (the TRON side, the proxy's requester, the storage client).
func TestEmbedTagLeavesOut(t *testing.T) {
	full, embed := listDeps(t, Args()...), listDeps(t, EmbedArgs()...)
	const mod = "github.com/btspeed/btspeed/"
	changes := map[string]bool{mod + "wasm": true, mod + "webpeer": true}
	for path, files := range embed {
		if _, ok := full[path]; !ok {
			t.Errorf("the embed build has %s, the full build does not", path)
		} else if !changes[path] && full[path] != files {
			t.Errorf("the embed tag changes %s: %s without, %s with", path, full[path], files)
		}
	}
	for path := range changes {
		if full[path] == embed[path] {
			t.Errorf("the embed tag changes nothing in %s", path)
		}
	}
	for _, gone := range []string{"tron/txcheck", "tron/deposit", "shared/speed/proxy/requester", "shared/speed/store"} {
		if _, ok := embed[mod+gone]; ok {
			t.Errorf("the embed build still has %s", gone)
		}
	}
}

// listDeps returns the browser peer's packages, built with args, and their files.
func listDeps(t *testing.T, args ...string) map[string]string {
	t.Helper()
	args = append(append([]string{"list"}, args...), "-deps", "-f", "{{.ImportPath}} {{.GoFiles}} {{.EmbedFiles}}", "../../wasm")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, files, _ := strings.Cut(line, " ")
		m[path] = files
	}
	return m
}

// TestBlankTable builds a program that derives a key and signs with it, as the browser peer is built, blanks
// decred's table in it, and runs it under Node: the table is gone, the gzipped file is smaller by most of its
// 0.5 MB, and the key and signature are still right. Built without Tags, the blanked program fails.
func TestBlankTable(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("the test runs the wasm under Node: install nodejs")
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execJS := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "go_js_wasm_exec")
	table, err := decredTable(".")
	if err != nil {
		t.Fatal(err)
	}
	const want = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH\n"
	for _, tags := range []string{Tags, ""} {
		out := filepath.Join(t.TempDir(), "sign.wasm")
		build := exec.Command("go", "build", "-tags", tags, "-trimpath", "-ldflags", "-s -w", "-o", out, "./testdata/sign")
		build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if msg, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building: %v\n%s", err, msg)
		}
		before := gzipSize(t, out)
		if err := BlankTable(".", out); err != nil {
			t.Fatal(err)
		}
		wasm, _ := os.ReadFile(out)
		if bytes.Contains(wasm, table[:1024]) {
			t.Errorf("tags %q: the table is still in the wasm", tags)
		}
		if err := BlankTable(".", out); !errors.Is(err, ErrTableNotFound) {
			t.Errorf("tags %q: blanking twice: %v, want ErrTableNotFound", tags, err)
		}
		after := gzipSize(t, out)
		t.Logf("tags %q: %d bytes gzipped before, %d after", tags, before, after)
		if before-after < 400_000 {
			t.Errorf("tags %q: blanking saved %d bytes gzipped, want over 400 KB", tags, before-after)
		}
		got, err := exec.Command(execJS, out).CombinedOutput()
		switch {
		case tags == Tags && (err != nil || string(got) != want):
			t.Errorf("built with %q and blanked: %v, output %q, want %q", tags, err, got, want)
		case tags == "" && err == nil:
			t.Errorf("built without tags and blanked, it still ran (%q): the table was not blanked", got)
		}
	}
}

func gzipSize(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Len()
}
