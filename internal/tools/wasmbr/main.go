// Command wasmbr writes FILE.br next to each FILE given, compressed by internal/wasmbuild.Brotli (quality 11,
// about 37 s a build on one core), the files in parallel: build.sh runs it on the browser peer's two builds,
// which the relay serves with Content-Encoding: br to browsers that accept it (docs/wasm-size.md).
//
// With -cache DIR it keeps each result in DIR under the SHA-256 of its input and reuses it, so rebuilding an
// unchanged peer (./build.sh run again) costs no compression; entries this run did not use are removed.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/btspeed/btspeed/internal/wasmbuild"
)

func main() {
	cache := flag.String("cache", "", "directory of earlier results, by the SHA-256 of their input")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: wasmbr [-cache DIR] FILE...")
		os.Exit(2)
	}
	files := flag.Args()
	errs := make([]error, len(files))
	used := make([]string, len(files))
	var wg sync.WaitGroup
	for i, path := range files {
		wg.Go(func() { used[i], errs[i] = compress(path, *cache) })
	}
	wg.Wait()
	failed := false
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "wasmbr:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
	if *cache != "" {
		prune(*cache, used)
	}
}

// compress writes path+".br", from cache when it holds the result for the same input, and returns the cache
// entry it used or made ("" without a cache).
func compress(path, cache string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if cache == "" {
		return "", os.WriteFile(path+".br", wasmbuild.Brotli(raw), 0o644)
	}
	sum := sha256.Sum256(raw)
	entry := filepath.Join(cache, hex.EncodeToString(sum[:])+".br")
	br, err := os.ReadFile(entry)
	if err != nil {
		br = wasmbuild.Brotli(raw)
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(entry, br, 0o644); err != nil {
			return "", err
		}
	}
	return entry, os.WriteFile(path+".br", br, 0o644)
}

// prune removes the cache's entries other than keep.
func prune(cache string, keep []string) {
	old, _ := filepath.Glob(filepath.Join(cache, "*.br"))
	for _, e := range old {
		kept := false
		for _, k := range keep {
			kept = kept || e == k
		}
		if !kept {
			os.Remove(e)
		}
	}
}
