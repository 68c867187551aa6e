// Package svcmsg is the payload layout of the paid services' messages
// (docs/speed-protocol.md section 11.2, and section 12 for storage): a
// bencoded dictionary, then raw bytes (a chunk, a proof) when the message
// carries any. A Codec holds one service's caps and sentinel errors, so that
// each service's errors stay its own (proxy.ErrTooLarge, store.ErrMalformed)
// while the sizes are checked in one place, before anything is parsed. A
// Service adds the service's conversion between its messages and its dict,
// so Encode and Decode are written once for every service.
package svcmsg

import (
	"errors"
	"fmt"

	"github.com/anacrolix/torrent/bencode"
)

// Codec encodes and decodes one service's payloads.
type Codec struct {
	Name       string // the service, first in errors: "proxy", "store"
	MaxPayload int    // a whole payload, dict and raw bytes
	MaxDict    int    // the bencoded dict
	TooLarge   error  // wrapped when a cap is passed
	Malformed  error  // wrapped when the dict does not parse
}

// Encode returns dict bencoded, then raw; msg names the message in errors.
func (c Codec) Encode(msg, dict any, raw []byte) ([]byte, error) {
	b, err := bencode.Marshal(dict)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding %T: %w", c.Name, msg, err)
	}
	if len(b) > c.MaxDict || len(b)+len(raw) > c.MaxPayload {
		return nil, fmt.Errorf("%s: encoding %T: %w", c.Name, msg, c.TooLarge)
	}
	return append(b, raw...), nil
}

// Decode parses payload's dict into dict (a pointer) and returns the raw
// bytes after it, which alias payload.
func (c Codec) Decode(payload []byte, dict any) (raw []byte, err error) {
	if len(payload) > c.MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes", c.TooLarge, len(payload))
	}
	err = bencode.Unmarshal(payload, dict)
	var trailing bencode.ErrUnusedTrailingBytes
	if errors.As(err, &trailing) {
		raw, err = payload[len(payload)-trailing.NumUnusedBytes:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", c.Malformed, err)
	}
	if n := len(payload) - len(raw); n > c.MaxDict {
		return nil, fmt.Errorf("%w: a dict of %d bytes", c.TooLarge, n)
	}
	return raw, nil
}

// Service is one service's Codec with its messages' conversion to and from
// W, the bencoded dict every message type of the service shares.
type Service[M, W any] struct {
	Codec
	// ToWire gives a message's dict and raw bytes.
	ToWire func(M) (W, []byte)
	// FromWire checks a dict and raw bytes against the service's rules and
	// returns the message they make.
	FromWire func(W, []byte) (M, error)
}

// Encode returns the payload of m: its dict bencoded, then its raw bytes.
// It refuses messages a receiver would reject (FromWire), so a bug shows
// up at the sender.
func (s Service[M, W]) Encode(m M) ([]byte, error) {
	w, raw := s.ToWire(m)
	if _, err := s.FromWire(w, raw); err != nil {
		return nil, fmt.Errorf("%s: encoding %T: %w", s.Name, m, err)
	}
	return s.Codec.Encode(m, w, raw)
}

// Decode parses a payload: sizes are checked before anything is parsed,
// then FromWire makes the message. Raw bytes alias payload.
func (s Service[M, W]) Decode(payload []byte) (M, error) {
	var w W
	raw, err := s.Codec.Decode(payload, &w)
	if err != nil {
		var zero M
		return zero, err
	}
	return s.FromWire(w, raw)
}
