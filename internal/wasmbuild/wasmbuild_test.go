package wasmbuild

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestBuildShAgrees checks that build.sh builds the browser peer with Tags: WASM_TAGS holds them, and every
// js/wasm build of ./wasm in build.sh passes it.
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
	}
}

// TestOnlyDecredReadsTheTags lists the browser peer's packages and their files with and without Tags: only
// decred's secp256k1 may change, or the tags do more than this package's comment says.
func TestOnlyDecredReadsTheTags(t *testing.T) {
	list := func(args ...string) map[string]string {
		t.Helper()
		cmd := exec.Command("go", append(append([]string{"list"}, args...), "-deps", "-f", "{{.ImportPath}} {{.GoFiles}} {{.EmbedFiles}}", "../../wasm")...)
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
