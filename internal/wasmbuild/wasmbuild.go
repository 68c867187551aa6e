// Package wasmbuild holds what every build of the browser peer (./wasm, GOOS=js GOARCH=wasm) shares: its build
// tags, and BlankTable, run on what was linked. build.sh, the wasm size tool, the browser tests and the
// benchmarks do both, so that what is measured and tested is what the relay serves; build.sh writes the same
// tags in WASM_TAGS and runs BlankTable as internal/tools/wasmblank (TestBuildShAgrees).
package wasmbuild

// Tags are the build tags of the browser peer, for go build's -tags.
//
// tinygo: decred's secp256k1 (the wallet's curve) then computes k*G by the generic scalar multiplication
// instead of through its precomputed table of multiples of the base point. The table is decompressed and
// unpacked on first use, which took 0.5 to 0.9 s in wasm under Node (the first key a page makes or unlocks);
// without it a signature costs about 3.5 to 5 ms instead of 0.5 to 2 ms (BenchmarkSign under Node), and Speed
// signs once per paid piece (not per block), so paying for 40 pieces a second costs about 0.1 s of a core more.
// Only decred looks at this tag in the peer's dependency graph (curve_embedded.go / curve_precompute.go;
// check with `go list -deps` with and without it, TestOnlyDecredReadsTheTags). The table's data stays linked
// (an init of decred refers to it); BlankTable zeroes it after the build: docs/wasm-size.md.
const Tags = "tinygo"

// Args returns the -tags arguments of go build, go vet or go test for the browser peer.
func Args() []string { return []string{"-tags", Tags} }

// EmbedTag selects the embed build of the browser peer: the smaller wasm the player of <bt-speed> loads
// (dist/web/btspeed-embed.wasm), without the wallet's TRON side, client.fetch and client.store (files of
// ./wasm and webpeer behind it; docs/wasm-size.md, "The embed build"). build.sh writes Tags and it in
// WASM_EMBED_TAGS.
const EmbedTag = "btspeed_embed"

// EmbedArgs returns the -tags arguments of go build, go vet or go test for the embed build.
func EmbedArgs() []string { return []string{"-tags", Tags + "," + EmbedTag} }
