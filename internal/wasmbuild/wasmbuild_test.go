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

// TestBuildShAgrees checks that build.sh builds the browser peer with Tags (WASM_TAGS holds them, and every
// js/wasm build of ./wasm in build.sh passes it) and blanks decred's table in what it built.
func TestBuildShAgrees(t *testing.T) {
	b, err := os.ReadFile("../../build.sh")
	if err != nil {
		t.Fatal(err)
	}
	sh := string(b)
	if !strings.Contains(sh, "\nWASM_TAGS="+Tags+"\n") {
		t.Errorf("build.sh does not set WASM_TAGS=%s", Tags)
	}
	builds := regexp.MustCompile(`(?m)^.*GOOS=js GOARCH=wasm go build .*\./wasm$`).FindAllString(sh, -1)
	if len(builds) == 0 {
		t.Fatal("build.sh builds no ./wasm for js/wasm")
	}
	for _, line := range builds {
		if !strings.Contains(line, `-tags "$WASM_TAGS"`) {
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
	list := func(args ...string) map[string]string {
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
	plain, tagged := list(), list(Args()...)
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
