package browsertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A profile's samples become self and total time per function: a sample
// lasts until the next one, a function on the stack twice counts once, and
// grouping adds up self time.
func TestProfileFuncs(t *testing.T) {
	// (root) -> run -> hash -> hash (recursive); run -> write.
	const src = `{
		"nodes": [
			{"id": 1, "callFrame": {"functionName": "(root)"}, "children": [2, 5]},
			{"id": 2, "callFrame": {"functionName": "$engine.run"}, "children": [3, 6]},
			{"id": 3, "callFrame": {"functionName": "$crypto/sha1.block"}, "children": [4]},
			{"id": 4, "callFrame": {"functionName": "$crypto/sha1.block"}},
			{"id": 5, "callFrame": {"functionName": "(idle)"}},
			{"id": 6, "callFrame": {"functionName": "", "url": "http://x/btspeed.js"}}
		],
		"startTime": 1000, "endTime": 11000,
		"samples":    [5, 3, 4, 6, 5],
		"timeDeltas": [0, 1000, 2000, 3000, 4000]
	}`
	path := filepath.Join(t.TempDir(), "p.cpuprofile")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prof, err := ReadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if prof.Duration() != 10*time.Millisecond {
		t.Fatalf("duration %v", prof.Duration())
	}
	got := map[string]FuncTime{}
	for _, f := range prof.Funcs() {
		got[f.Name] = f
	}
	ms := time.Millisecond
	want := map[string]FuncTime{
		"(idle)":                 {Name: "(idle)", Self: 1 * ms, Total: 1 * ms}, // the last sample has no end
		"$crypto/sha1.block":     {Name: "$crypto/sha1.block", Self: 5 * ms, Total: 5 * ms},
		"(anonymous) btspeed.js": {Name: "(anonymous) btspeed.js", Self: 4 * ms, Total: 4 * ms},
		"$engine.run":            {Name: "$engine.run", Total: 9 * ms},
		"(root)":                 {Name: "(root)", Total: 10 * ms},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
	groups := Group(prof.Funcs(), func(n string) string {
		if strings.Contains(n, "sha1") {
			return "hash"
		}
		return "rest"
	})
	b, _ := json.Marshal(groups)
	if len(groups) != 2 || groups[0].Name != "hash" || groups[0].Self != 5*ms || groups[1].Self != 5*ms {
		t.Fatalf("groups %s", b)
	}
}
