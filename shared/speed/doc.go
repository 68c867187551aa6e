// Package speed is the BitTorrent Speed protocol as both peers run it: the
// BEP 10 extension messages (bid, bid response, payment, payment rejected),
// the requester's auto-bidder, the provider's auction choker, and the payment
// channel state machines of requester and provider, written against a Ledger
// interface (mechanics M3-M22). docs/speed-protocol.md is its wire spec.
//
// It knows no sockets, HTTP or ledger code: only interfaces, an injected
// clock, and shared/wallet for signatures. It builds for GOOS=js GOARCH=wasm.
//
// The protocol lands with issue 3; this file marks the package's place.
package speed
