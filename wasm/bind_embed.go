//go:build js && btspeed_embed

package main

// build names this wasm for btspeed.js: "embed", the smaller build the
// player of <bt-speed> loads (docs/wasm-size.md, "The embed build"). It
// has no wallet TRON side (deposits, withdrawals, TRON balances), no
// client.fetch and no client.store: btspeed.js says so when a page calls
// them.
const build = "embed"

// bindApp adds nothing in the embed build.
func (b binding) bindApp(map[string]func(args) any) {}
