// Package svcmsg is the payload layout of the paid services' messages
// (docs/speed-protocol.md section 11.2, and section 12 for storage): a
// bencoded dictionary, then raw bytes (a chunk, a proof) when the message
// carries any. A Codec holds one service's caps and sentinel errors, so that
// each service's errors stay its own (proxy.ErrTooLarge, store.ErrMalformed)
// while the sizes are checked in one place, before anything is parsed.
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
