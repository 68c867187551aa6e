// Package layers holds TestLayers, which checks the repository's import
// rules on what `go list` reports, natively and for js/wasm.
package layers

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/btspeed/btspeed/"

// rule forbids packages under from (non-test files) to import packages
// under any of to.
type rule struct {
	from string
	to   []string
}

var rules = []rule{
	// The protocol core and the engine know nothing of servers or front ends:
	// the engine pays through speed.Ledger, which its user hands it.
	{"shared/", []string{"engine", "ledger", "relay", "server", "cmd", "webpeer", "wasm", "edge", "tron"}},
	{"engine", []string{"ledger", "relay", "server", "cmd", "webpeer", "wasm", "edge", "tron"}},
	// The ledger is a library the servers assemble, never the other way.
	{"ledger", []string{"relay", "server", "cmd", "webpeer", "wasm", "edge", "engine"}},
	{"tron", []string{"ledger", "relay", "server", "cmd", "webpeer", "wasm", "edge", "engine"}},
	{"webpeer", []string{"relay", "server", "cmd", "wasm", "edge"}},
	{"relay", []string{"cmd", "webpeer", "wasm", "edge"}},
}

// under reports whether the module-relative package p is dir or inside it
// (dir ending in "/" matches only inside).
func under(p, dir string) bool {
	if strings.HasSuffix(dir, "/") {
		return strings.HasPrefix(p, dir)
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// isRig reports whether p is a test rig: its last element ends in "test".
func isRig(p string) bool { return strings.HasSuffix(path.Base(p), "test") }

func TestLayers(t *testing.T) {
	for _, env := range [][]string{nil, {"GOOS=js", "GOARCH=wasm"}} {
		cmd := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("go list %v: %v", env, err)
		}
		n := 0
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 || !strings.HasPrefix(f[0], module) {
				continue
			}
			n++
			checkImports(t, strings.TrimPrefix(f[0], module), f[1:], env)
		}
		if n < 50 {
			t.Fatalf("go list %v listed %d packages; expected the whole module", env, n)
		}
	}
}

func checkImports(t *testing.T, pkg string, imports []string, env []string) {
	t.Helper()
	for _, imp := range imports {
		if !strings.HasPrefix(imp, module) {
			continue
		}
		dep := strings.TrimPrefix(imp, module)
		if isRig(dep) && !isRig(pkg) {
			t.Errorf("%s (%v) imports the test rig %s outside its tests", pkg, env, dep)
		}
		for _, r := range rules {
			if isRig(pkg) || !under(pkg, r.from) { // a rig assembles whatever its tests need
				continue
			}
			for _, to := range r.to {
				if under(dep, to) {
					t.Errorf("%s (%v) imports %s: %s may not import %s", pkg, env, dep, r.from, to)
				}
			}
		}
	}
}
