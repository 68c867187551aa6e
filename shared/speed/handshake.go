package speed

import (
	"fmt"

	"github.com/anacrolix/torrent/bencode"
	"github.com/btspeed/btspeed/shared/wallet"
)

// ExtensionName is the BEP 10 extension name of Speed: the key in the
// extended handshake's "m" dictionary, and the key of the Speed entry in the
// handshake itself. A peer whose handshake lacks either is a legacy peer and
// never receives Speed messages (M4).
const ExtensionName = "bt_speed"

// Version is the protocol version this package speaks. History:
//
//	1: bid, bid response, payment, payment rejected, channel closing.
//
// Peers advertise the highest version they speak and use the lower of the
// two; every later version must still speak version 1.
const Version = 1

// MaxHandshakeSize caps the extended handshake ParseHandshake reads.
const MaxHandshakeSize = 64 << 10

// Handshake is the Speed entry of a BEP 10 extended handshake:
//
//	"bt_speed": {"v": <version>, "acct": <21-byte ledger account>, "ledger": <ledger id>}
type Handshake struct {
	Version int
	Account wallet.Address // the peer's ledger account, payer K1 or payee K2
	Ledger  string         // the ledger the peer pays and is paid on
}

type handshakeWire struct {
	V      int64  `bencode:"v"`
	Acct   []byte `bencode:"acct"`
	Ledger string `bencode:"ledger"`
}

// MarshalBencode encodes the entry, so a Handshake can be a value in the
// engine's extended handshake dictionary.
func (h Handshake) MarshalBencode() ([]byte, error) {
	return bencode.Marshal(handshakeWire{V: int64(h.Version), Acct: h.Account[:], Ledger: h.Ledger})
}

// ParseHandshake extracts the Speed entry from a peer's whole extended
// handshake payload (the bencoded dictionary). ok is false for a legacy peer.
// A present but invalid entry is an error; the caller treats that peer as
// legacy.
func ParseHandshake(extHandshake []byte) (h Handshake, ok bool, err error) {
	if len(extHandshake) > MaxHandshakeSize {
		return h, false, fmt.Errorf("%w: extended handshake of %d bytes", ErrTooLarge, len(extHandshake))
	}
	var outer struct {
		M     map[string]int64 `bencode:"m"`
		Speed *handshakeWire   `bencode:"bt_speed"`
	}
	if err := bencode.Unmarshal(extHandshake, &outer); err != nil {
		return h, false, fmt.Errorf("%w: extended handshake: %v", ErrMalformed, err)
	}
	if outer.Speed == nil || outer.M[ExtensionName] <= 0 {
		return h, false, nil
	}
	w := outer.Speed
	if w.V < 1 {
		return h, false, malformed("speed version %d", w.V)
	}
	acct, err := address(w.Acct)
	if err != nil {
		return h, false, err
	}
	if err := ValidateLedgerID(w.Ledger); err != nil {
		return h, false, err
	}
	v := int(min(w.V, Version))
	return Handshake{Version: v, Account: acct, Ledger: w.Ledger}, true, nil
}
