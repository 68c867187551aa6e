// Package proxy is the wire of the paid proxy (M32): the BEP 10 extension
// "bt_proxy" that docs/speed-protocol.md section 11 specifies. A requester
// asks a provider to fetch a URL (Fetch); the provider answers with the
// content's pin and price (Head), sends it in chunks of blocks (Data), is
// paid per whole chunk received with a Speed channel state (Pay), and says
// why when it will not (Refused); the requester may Cancel.
//
// Messages are a closed set of types with Encode and Decode. A payload is a
// bencoded dictionary of at most MaxDictSize bytes, followed only in Data by
// at most MaxBlock raw bytes; sizes are checked before anything is parsed,
// unknown keys are ignored and unknown types reported as ErrUnknownType for
// the caller to skip. Payments reuse package speed's channel states and
// signatures.
//
// Conn is the connection they travel on (section 11.1), package svcconn's
// for this service: a BitTorrent handshake on ServiceHash and a BEP 10
// handshake naming bt_speed (the peer's account and ledger) and bt_proxy,
// then length-prefixed extended messages, capped before they are read. Package provider serves fetches
// and package requester makes them.
package proxy
