// Package speed is the BitTorrent Speed protocol as both peers run it, with
// no I/O of its own: docs/speed-protocol.md is its specification.
//
//   - Wire: the BEP 10 extension "bt_speed" (Handshake, ParseHandshake) and its
//     messages, a closed set of types (Bid, BidResponse, Payment,
//     PaymentRejected, ChannelClosing) with Encode and Decode. Payloads are
//     capped at MaxMessageSize before parsing; unknown keys are ignored and
//     unknown types reported as ErrUnknownType for the caller to skip.
//   - Money: integer base units and rates per MiB (Price, Charge); no floats.
//   - Channels: OpenRequest, State and CloseRequest with their canonical,
//     domain-separated signed encodings, and the Ledger interface the ledger
//     package serves (memledger implements it in memory for tests).
//   - State machines: RequesterSession pays for verified pieces only, opening
//     channels as needed (M14-M17, M21); ProviderSession prices what it sends,
//     serves a bounded number of unpaid pieces per requester (its exposure),
//     checks payments against
//     the ledger, chokes late payers, bans repeat offenders and closes
//     channels before their deadline (M16, M18-M20, M22). BanList keeps bans.
//
// The auction choker (M8-M13) is package choker and the auto-bidder (M3, M5,
// M6) package bidder; package sim runs all of them together in a
// deterministic swarm simulation. Package proxy holds the wire of the paid
// proxy built on the same channels (M32), with its provider and requester.
//
// Callers pass the time in (now arguments), so every timeout is tested
// without sleeping. The package builds for GOOS=js GOARCH=wasm.
package speed
