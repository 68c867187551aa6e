// Package relay is btspeed's self-hostable server: a WebTorrent-compatible
// WebSocket tracker and signalling service, an HTTP tracker, a bridge from
// browser peers to classic TCP/uTP swarms, a Speed provider seeding the
// operator's content, optionally a paid proxy provider (Config.Proxy,
// shared/speed/proxy/provider), gateways to the ledger and TRON, and the
// server of the web app and its WebAssembly peer.
//
// Packages: relay/tracker (HTTP and WebTorrent WebSocket tracker),
// relay/tracker/redisswarm (its swarms shared with other relays through
// Redis, Config.Redis),
// relay/bridge (a browser peer's WebRTC data channel or WebSocket carried to
// a TCP or uTP peer, only one the relay found for that torrent),
// relay/discover (finding those peers in the torrents' trackers and, when
// the relay runs a DHT node, the DHT). relay.go assembles them with the
// ledger and TRON gateways, metrics, the web server and the seeder.
package relay
