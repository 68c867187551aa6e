// Command hello is a small js/wasm program for wasmsize's test.
package main

import (
	"net/url"
	"os"
)

func main() {
	u, err := url.Parse(os.Args[0])
	if err != nil {
		os.Exit(1)
	}
	println(u.Path)
}
