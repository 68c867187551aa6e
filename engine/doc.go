// Package engine is btspeed's BitTorrent peer: one engine for the browser
// peer, the relay and the btspeed command. It speaks the BitTorrent wire
// protocol over any net.Conn (TCP, uTP, WebRTC data channels, WebSockets)
// and runs BitTorrent Speed (docs/speed-protocol.md) beside it.
//
// Implemented:
//
//   - BEP 3: the peer wire protocol, choking, rarest-first piece picking
//     with an endgame, SHA-1 piece verification, request pipelining.
//   - BEP 6: the fast extension (have all/none, reject, allowed fast,
//     suggest).
//   - BEP 9: metadata exchange (ut_metadata), so magnet links work.
//   - BEP 10: the extension protocol, with ut_metadata, ut_pex and bt_speed.
//   - BEP 11: peer exchange (ut_pex), off for private torrents.
//   - BEP 19: web seeds (engine/webseed).
//   - BEP 27: private torrents: peers only from trackers and the user.
//
// The wire codecs are anacrolix/torrent's (peer_protocol, bencode,
// metainfo); this package owns what anacrolix's Client hard-codes: choking,
// which goes through shared/speed's auction choker, and the Speed session
// machines that price and pay for pieces.
//
// # Concurrency
//
// A Client owns its Torrents; a Torrent owns its peer connections. Each
// Torrent has one mutex (Torrent.mu) that guards its state and the state of
// its connections. Each connection has two goroutines, a reader and a
// writer; a connection with Speed has a third, its Speed worker, which runs
// the ledger work of both Speed sides in arrival order (speedworker.go). All
// are owned by the Torrent and waited for in Torrent.Close; storage reads,
// writes, hashing and ledger calls happen outside the lock. The provider
// side's session has its own mutex, taken after Torrent.mu, never before
// (speed.go says who owns what).
//
// # Limits
//
// Nothing a peer sends can make the engine allocate without bound: wire
// messages are capped at MaxMessageLength before they are read, a peer's
// queued requests at Config.MaxPeerRequests, metadata at MaxMetadataSize,
// peer addresses learnt from PEX at maxCandidates per torrent. A peer that
// breaks the protocol loses its connection; the process never panics on
// peer input.
package engine
