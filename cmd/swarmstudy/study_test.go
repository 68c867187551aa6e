package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The same seed writes the same files, byte for byte (a small
// configuration: 8 swarms over 4 days); another seed writes other results.
func TestStudyReproducible(t *testing.T) {
	run := func(seed uint64) string {
		dir := t.TempDir()
		st := study{Seed: seed, Swarms: 8, Days: 4, Shares: []float64{0.5}, BudgetsBTT: []int64{10}}
		if err := st.run(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a, b, c := run(1), run(1), run(2)
	for _, name := range outputs[:len(outputs)-1] {
		da, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		db, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between two runs with seed 1", name)
		}
		if name == "results.md" {
			dc, _ := os.ReadFile(filepath.Join(c, name))
			if bytes.Equal(da, dc) {
				t.Errorf("results.md is the same for seeds 1 and 2")
			}
			if !bytes.Contains(da, []byte("| 50% Speed, 10 BTT |")) {
				t.Errorf("results.md lacks the Speed configuration:\n%s", da)
			}
		}
		if bytes.HasSuffix([]byte(name), []byte(".svg")) && !bytes.HasPrefix(da, []byte("<svg ")) {
			t.Errorf("%s is not an SVG document", name)
		}
	}
}
