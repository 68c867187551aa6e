// Package relay is btspeed's self-hostable server: a WebTorrent-compatible
// WebSocket tracker and signalling service, an HTTP tracker, a bridge from
// browser peers to classic TCP/uTP swarms, a Speed provider seeding the
// operator's content, gateways to the ledger and TRON, and the server of the
// web app and its WebAssembly peer.
//
// In place: relay/tracker (HTTP and WebTorrent WebSocket tracker),
// relay/bridge (WebSocket to TCP peers discovered for the torrent), the
// ledger gateway, metrics, the web server and the seeder (relay.go). The
// WebRTC side of the bridge and DHT discovery come next (issue 6).
package relay
