//go:build !js

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "the browser peer runs in a browser: build it with GOOS=js GOARCH=wasm (./build.sh does)")
	os.Exit(2)
}
