package proxy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svcmsg"
	"github.com/btspeed/btspeed/shared/wallet"
)

// wireMsg is the bencoded dictionary of every message type; each type uses
// its own subset of keys.
type wireMsg struct {
	T      uint64 `bencode:"t"`
	ID     uint64 `bencode:"id,omitempty"`
	URL    string `bencode:"url,omitempty"`
	From   uint64 `bencode:"from,omitempty"`
	Max    uint64 `bencode:"max,omitempty"`
	Len    uint64 `bencode:"len,omitempty"`
	ETag   string `bencode:"etag,omitempty"`
	LM     uint64 `bencode:"lm,omitempty"`
	Chunk  uint64 `bencode:"chunk,omitempty"`
	CType  string `bencode:"ctype,omitempty"`
	Rate   uint64 `bencode:"rate,omitempty"`
	Payee  []byte `bencode:"payee,omitempty"`
	Ledger string `bencode:"ledger,omitempty"`
	TTL    uint64 `bencode:"ttl,omitempty"`
	Idx    uint64 `bencode:"idx,omitempty"`
	Off    uint64 `bencode:"off,omitempty"`
	Ch     []byte `bencode:"ch,omitempty"`
	Seq    uint64 `bencode:"seq,omitempty"`
	Paid   uint64 `bencode:"paid,omitempty"`
	Sig    []byte `bencode:"sig,omitempty"`
	Why    uint64 `bencode:"why,omitempty"`
	Text   string `bencode:"text,omitempty"`
}

func (w *wireMsg) setPin(p Pin) {
	w.Len, w.ETag, w.LM, w.Chunk = p.Length, p.ETag, p.LastModified, uint64(p.Chunk)
}

func (m Fetch) toWire() (wireMsg, []byte) {
	w := wireMsg{T: uint64(TypeFetch), ID: uint64(m.ID), URL: m.URL, From: m.From, Max: m.MaxRate}
	w.setPin(m.Pin)
	return w, nil
}

func (m Head) toWire() (wireMsg, []byte) {
	w := wireMsg{T: uint64(TypeHead), ID: uint64(m.ID), CType: m.ContentType, Rate: m.Rate, Payee: m.Payee[:], Ledger: m.Ledger, TTL: uint64(m.MinTTL)}
	w.setPin(m.Pin)
	return w, nil
}

func (m Data) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeData), ID: uint64(m.ID), Idx: m.Index, Off: uint64(m.Offset)}, m.Block
}

func (m Pay) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypePay), ID: uint64(m.ID), Idx: m.Index, Ch: m.State.Channel[:], Seq: m.State.Seq, Paid: m.State.Paid, Sig: m.Sig[:]}, nil
}

func (m Refused) toWire() (wireMsg, []byte) {
	w := wireMsg{T: uint64(TypeRefused), ID: uint64(m.ID), Why: uint64(m.Why), Text: m.Text}
	w.setPin(m.Pin)
	return w, nil
}

func (m Cancel) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeCancel), ID: uint64(m.ID)}, nil
}

// codec checks the caps of every payload and converts messages (package
// svcmsg).
var codec = svcmsg.Service[Message, wireMsg]{
	Codec:    svcmsg.Codec{Name: "proxy", MaxPayload: MaxPayload, MaxDict: MaxDictSize, TooLarge: ErrTooLarge, Malformed: ErrMalformed},
	ToWire:   Message.toWire,
	FromWire: fromWire,
}

// Encode returns the payload of m: its bencoded dict, then Data's block. It
// refuses messages a receiver would reject, so a bug shows up at the sender.
func Encode(m Message) ([]byte, error) { return codec.Encode(m) }

// Decode parses a payload. Sizes are checked before anything is parsed. A
// Data block aliases payload.
func Decode(payload []byte) (Message, error) { return codec.Decode(payload) }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func fromWire(w wireMsg, block []byte) (Message, error) {
	if w.Rate > speed.MaxRate || w.Max > speed.MaxRate {
		return nil, malformed("rate above %d", uint64(speed.MaxRate))
	}
	if len(block) > 0 && Type(w.T) != TypeData {
		return nil, malformed("%d bytes after the dict of type %d", len(block), w.T)
	}
	if w.T == 0 {
		return nil, malformed("no message type")
	}
	if Type(w.T) > TypeCancel {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, w.T)
	}
	if w.ID == 0 || w.ID > maxFetchID {
		return nil, malformed("fetch id %d", w.ID)
	}
	id := uint32(w.ID)
	switch Type(w.T) {
	case TypeFetch:
		return fetchFromWire(w, id)
	case TypeHead:
		return headFromWire(w, id)
	case TypeData:
		return dataFromWire(w, id, block)
	case TypePay:
		return payFromWire(w, id)
	case TypeRefused:
		p, err := pinFromWire(w, false)
		if err != nil {
			return nil, err
		}
		if len(w.Text) > MaxTextLen {
			return nil, malformed("text of %d bytes", len(w.Text))
		}
		return Refused{ID: id, Why: Reason(w.Why), Text: w.Text, Pin: p}, nil
	default: // TypeCancel
		return Cancel{ID: id}, nil
	}
}

// pinFromWire reads the pin keys: required says a pin must be there. Without
// a chunk size, the other pin keys must be absent.
func pinFromWire(w wireMsg, required bool) (Pin, error) {
	p := Pin{Length: w.Len, ETag: w.ETag, LastModified: w.LM}
	if w.Chunk == 0 {
		if required || !p.IsZero() {
			return Pin{}, malformed("pin without a chunk size")
		}
		return Pin{}, nil
	}
	if w.Chunk < MinChunk || w.Chunk > MaxChunk || w.Chunk&(w.Chunk-1) != 0 {
		return Pin{}, malformed("chunk size %d", w.Chunk)
	}
	p.Chunk = uint32(w.Chunk)
	switch {
	case p.Length > MaxLength:
		return Pin{}, malformed("length %d", p.Length)
	case len(p.ETag) > MaxETagLen:
		return Pin{}, malformed("etag of %d bytes", len(p.ETag))
	case p.LastModified > maxLastMod:
		return Pin{}, malformed("last-modified %d", p.LastModified)
	}
	return p, nil
}

func fetchFromWire(w wireMsg, id uint32) (Message, error) {
	if err := ValidateURL(w.URL); err != nil {
		return nil, err
	}
	p, err := pinFromWire(w, false)
	if err != nil {
		return nil, err
	}
	if w.From > MaxChunkIndex || (!p.IsZero() && w.From > p.Chunks()) {
		return nil, malformed("from chunk %d", w.From)
	}
	return Fetch{ID: id, URL: w.URL, From: w.From, MaxRate: w.Max, Pin: p}, nil
}

func headFromWire(w wireMsg, id uint32) (Message, error) {
	p, err := pinFromWire(w, true)
	if err != nil {
		return nil, err
	}
	if len(w.CType) > MaxCTypeLen {
		return nil, malformed("content type of %d bytes", len(w.CType))
	}
	if len(w.Payee) != wallet.AddressLen || w.Payee[0] != wallet.AddressPrefix {
		return nil, malformed("payee of %d bytes", len(w.Payee))
	}
	if err := speed.ValidateLedgerID(w.Ledger); err != nil {
		return nil, malformed("ledger: %v", err)
	}
	if w.TTL > speed.MaxTTL {
		return nil, malformed("ttl %d above %d", w.TTL, speed.MaxTTL)
	}
	m := Head{ID: id, Pin: p, ContentType: w.CType, Rate: w.Rate, Ledger: w.Ledger, MinTTL: uint32(w.TTL)}
	copy(m.Payee[:], w.Payee)
	return m, nil
}

func dataFromWire(w wireMsg, id uint32, block []byte) (Message, error) {
	switch {
	case w.Idx > MaxChunkIndex:
		return nil, malformed("chunk index %d", w.Idx)
	case w.Off%BlockAlign != 0 || w.Off >= MaxChunk:
		return nil, malformed("offset %d", w.Off)
	case len(block) == 0 || len(block) > MaxBlock:
		return nil, malformed("block of %d bytes", len(block))
	}
	return Data{ID: id, Index: w.Idx, Offset: uint32(w.Off), Block: block}, nil
}

func payFromWire(w wireMsg, id uint32) (Message, error) {
	var ch speed.ChannelID
	if len(w.Ch) != len(ch) {
		return nil, malformed("channel id of %d bytes", len(w.Ch))
	}
	copy(ch[:], w.Ch)
	if w.Seq == 0 {
		return nil, malformed("payment with seq 0")
	}
	if w.Idx > MaxChunkIndex {
		return nil, malformed("chunk index %d", w.Idx)
	}
	sig, err := wallet.SignatureFromBytes(w.Sig)
	if err != nil {
		return nil, malformed("sig: %v", err)
	}
	return Pay{ID: id, Index: w.Idx, State: speed.State{Channel: ch, Seq: w.Seq, Paid: w.Paid}, Sig: sig}, nil
}

// ValidateURL checks a URL to fetch as a requester may send it: 1 to
// MaxURLLen bytes, absolute http or https with a host, no user info, no
// fragment. Errors wrap ErrMalformed. It says nothing about where the host
// resolves: providers check that after resolution.
func ValidateURL(s string) error {
	if len(s) == 0 || len(s) > MaxURLLen {
		return malformed("url of %d bytes", len(s))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return malformed("url: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return malformed("url scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return malformed("url without a host")
	case u.User != nil:
		return malformed("url with user info")
	case strings.Contains(s, "#"):
		return malformed("url with a fragment")
	}
	return nil
}
