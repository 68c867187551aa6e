package browsertest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Profile is a V8 sampling CPU profile of one page's main thread, as the
// Chrome DevTools Protocol's Profiler.stop returns it (and DevTools loads as
// a .cpuprofile): a call tree of nodes, and which node was on top at each
// sample. The Go wasm runs on that thread, so its functions appear by the
// names in the wasm's name section (a build without -s keeps them).
type Profile struct {
	Nodes      []ProfileNode `json:"nodes"`
	StartTime  int64         `json:"startTime"` // microseconds
	EndTime    int64         `json:"endTime"`
	Samples    []int         `json:"samples"`    // node ids
	TimeDeltas []int64       `json:"timeDeltas"` // microseconds since the sample before
}

// ProfileNode is one call-tree node: a function called from its parent.
type ProfileNode struct {
	ID        int `json:"id"`
	CallFrame struct {
		FunctionName string `json:"functionName"`
		URL          string `json:"url"`
	} `json:"callFrame"`
	Children []int `json:"children"`
}

// FuncTime is the time a function spent: on top of the stack (Self), or
// anywhere on it (Total).
type FuncTime struct {
	Name        string
	Self, Total time.Duration
}

// StartProfile starts V8's CPU profiler on the page, one sample every
// interval.
func (p *Page) StartProfile(t testing.TB, interval time.Duration) {
	t.Helper()
	p.Do(t, map[string]any{"op": "profileStart", "interval": interval.Microseconds()})
}

// StopProfile stops the page's profiler, saves the profile to path (a
// .cpuprofile DevTools opens) and returns it.
func (p *Page) StopProfile(t testing.TB, path string) *Profile {
	t.Helper()
	p.Do(t, map[string]any{"op": "profileStop", "path": path})
	prof, err := ReadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	return prof
}

// ReadProfile reads a .cpuprofile.
func ReadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the profile: %w", err)
	}
	var prof Profile
	if err := json.Unmarshal(b, &prof); err != nil {
		return nil, fmt.Errorf("decoding the profile %s: %w", path, err)
	}
	return &prof, nil
}

// Duration is the time the profile covers.
func (prof *Profile) Duration() time.Duration {
	return time.Duration(prof.EndTime-prof.StartTime) * time.Microsecond
}

// Funcs returns each function's self and total time, most self time
// first. A function's name is its call frame's, or "(anonymous) URL" for
// anonymous JavaScript; a recursive function counts once per sample.
func (prof *Profile) Funcs() []FuncTime {
	byID := make(map[int]*ProfileNode, len(prof.Nodes))
	parent := make(map[int]int, len(prof.Nodes))
	for i := range prof.Nodes {
		n := &prof.Nodes[i]
		byID[n.ID] = n
		for _, c := range n.Children {
			parent[c] = n.ID
		}
	}
	times := map[string]*FuncTime{}
	get := func(name string) *FuncTime {
		ft := times[name]
		if ft == nil {
			ft = &FuncTime{Name: name}
			times[name] = ft
		}
		return ft
	}
	for i, id := range prof.Samples {
		if i+1 >= len(prof.TimeDeltas) {
			break
		}
		// A sample lasts until the next one.
		d := time.Duration(prof.TimeDeltas[i+1]) * time.Microsecond
		n := byID[id]
		if n == nil {
			continue
		}
		get(nodeName(n)).Self += d
		seen := map[string]bool{}
		for ok := true; ok; id, ok = parent[id] {
			name := nodeName(byID[id])
			if !seen[name] {
				seen[name] = true
				get(name).Total += d
			}
		}
	}
	out := make([]FuncTime, 0, len(times))
	for _, ft := range times {
		out = append(out, *ft)
	}
	slices.SortFunc(out, func(a, b FuncTime) int {
		return cmp.Or(cmp.Compare(b.Self, a.Self), strings.Compare(a.Name, b.Name))
	})
	return out
}

// nodeName names a node's function: its name, "(anonymous)" when it has
// none, and for JavaScript the file it is in ("loadValue wasm_exec.js").
// Browser built-ins (IndexedDB's put, RTCDataChannel's send) have no file;
// wasm functions keep their name alone (Go's, with "/" written "_").
func nodeName(n *ProfileNode) string {
	name := n.CallFrame.FunctionName
	if name == "" {
		name = "(anonymous)"
	}
	if u := n.CallFrame.URL; u != "" && !strings.HasSuffix(u, ".wasm") {
		name += " " + u[strings.LastIndexByte(u, '/')+1:]
	}
	return name
}

// Group adds up the self time of the functions in funcs by the group
// classify puts each in, most time first.
func Group(funcs []FuncTime, classify func(name string) string) []FuncTime {
	sums := map[string]time.Duration{}
	for _, f := range funcs {
		sums[classify(f.Name)] += f.Self
	}
	out := make([]FuncTime, 0, len(sums))
	for name, d := range sums {
		out = append(out, FuncTime{Name: name, Self: d, Total: d})
	}
	slices.SortFunc(out, func(a, b FuncTime) int {
		return cmp.Or(cmp.Compare(b.Self, a.Self), strings.Compare(a.Name, b.Name))
	})
	return out
}
