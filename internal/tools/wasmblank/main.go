// Command wasmblank blanks decred secp256k1's precomputed table in a browser peer built with
// internal/wasmbuild.Tags (wasmbuild.BlankTable says why that is safe); build.sh runs it after building
// dist/web/btspeed.wasm.
//
// Usage, from the repository root:
//
//	go run ./internal/tools/wasmblank FILE.wasm
package main

import (
	"fmt"
	"os"

	"github.com/btspeed/btspeed/internal/wasmbuild"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wasmblank FILE.wasm (a browser peer built with the tags of internal/wasmbuild)")
		os.Exit(2)
	}
	if err := wasmbuild.BlankTable(".", os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "wasmblank:", err)
		os.Exit(1)
	}
}
