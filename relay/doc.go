// Package relay is btspeed's self-hostable server: a WebTorrent-compatible
// WebSocket tracker and signalling service, an HTTP tracker, a bridge from
// browser peers to classic TCP/uTP swarms, a Speed provider seeding the
// operator's content, gateways to the ledger and TRON, and the server of the
// web app and its WebAssembly peer.
//
// The relay lands with issue 6. Its first part is in place: relay/tracker,
// the HTTP and WebTorrent WebSocket tracker.
package relay
