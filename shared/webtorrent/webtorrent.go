// Package webtorrent holds what both ends of WebTorrent's tracker protocol
// (bittorrent-tracker's WebSocket wire format) share: JSON text messages in
// which info hashes, peer ids and offer ids are 20-character "binary
// strings", one character per byte (code points 0-255).
//
//	client: {"action":"announce","info_hash":IH,"peer_id":ID,"numwant":N,"left":L,"event":E,
//	         "offers":[{"offer":{"type":"offer","sdp":...},"offer_id":OID},...]}
//	server: {"action":"announce","interval":S,"info_hash":IH,"complete":C,"incomplete":I}
//	server, to up to len(offers) other WebSocket peers of the swarm, one offer each:
//	        {"action":"announce","offer":...,"offer_id":OID,"peer_id":ID,"info_hash":IH}
//	client: {"action":"announce","info_hash":IH,"peer_id":ID2,"to_peer_id":ID,"answer":{...},"offer_id":OID}
//	server, to ID: {"action":"announce","answer":...,"offer_id":OID,"peer_id":ID2,"info_hash":IH}
//	client: {"action":"scrape","info_hash":IH or [IH,...]}
//	server: {"action":"scrape","files":{IH:{"complete":C,"incomplete":I,"downloaded":D}}}
//	errors: {"action":A,"failure reason":"...","info_hash":IH}
//
// Message is every one of these, read and written by the relay's tracker
// (relay/tracker) and the engine's client (engine/wstracker) alike;
// FuzzMessage checks that what one end writes the other reads back the
// same.
package webtorrent

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// BinString encodes bytes as a binary string.
func BinString(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// FromBinString decodes a binary string of exactly n characters.
func FromBinString(s string, n int) ([]byte, error) {
	if c := utf8.RuneCountInString(s); c != n {
		return nil, fmt.Errorf("want %d characters, got %d", n, c)
	}
	out := make([]byte, 0, n)
	for _, r := range s {
		if r > 0xff {
			return nil, errors.New("character above U+00FF in a binary string")
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// ID20 decodes a 20-byte id (info hash, peer id, offer id).
func ID20(s string) (id [20]byte, err error) {
	b, err := FromBinString(s, 20)
	if err != nil {
		return id, err
	}
	copy(id[:], b)
	return id, nil
}
