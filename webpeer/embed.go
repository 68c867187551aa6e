//go:build btspeed_embed

package webpeer

import "github.com/btspeed/btspeed/shared/fetch"

// The embed build (tag btspeed_embed, the wasm that <bt-speed>'s player
// loads: docs/wasm-size.md) leaves out what only the app uses: the
// wallet's TRON side (tron.go, tronapi.go: deposits, withdrawals, TRON
// balances), the paid proxy's client (proxyfetch.go) and the storage
// client (store.go).

// tronState is empty in the embed build: it has no TRON side.
type tronState struct{}

// newTronState is nil in the embed build.
func newTronState(string, fetch.Doer) *tronState { return nil }
