package store

import (
	"errors"
	"fmt"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svcmsg"
	"github.com/btspeed/btspeed/shared/wallet"
)

// maxPrice caps a period's price (about a billion BTT).
const maxPrice = 1 << 50

// wireMsg is the bencoded dictionary of every message type; each type uses
// its own subset of keys.
type wireMsg struct {
	T       uint64 `bencode:"t"`
	Obj     []byte `bencode:"obj"`
	Root    []byte `bencode:"root,omitempty"`
	Len     uint64 `bencode:"len,omitempty"`
	Nonce   []byte `bencode:"nonce,omitempty"`
	Period  uint64 `bencode:"period,omitempty"`
	Periods uint64 `bencode:"periods,omitempty"`
	Price   uint64 `bencode:"price,omitempty"`
	Rate    uint64 `bencode:"rate,omitempty"`
	Payee   []byte `bencode:"payee,omitempty"`
	Ledger  string `bencode:"ledger,omitempty"`
	TTL     uint64 `bencode:"ttl,omitempty"`
	Seg     uint64 `bencode:"seg,omitempty"`
	Proof   []byte `bencode:"proof,omitempty"`
	Start   uint64 `bencode:"start,omitempty"`
	N       []byte `bencode:"n,omitempty"`
	K       uint64 `bencode:"k,omitempty"`
	Idx     uint64 `bencode:"idx,omitempty"`
	Off     uint64 `bencode:"off,omitempty"`
	What    uint64 `bencode:"what,omitempty"`
	P       uint64 `bencode:"p,omitempty"`
	Ch      []byte `bencode:"ch,omitempty"`
	Seq     uint64 `bencode:"seq,omitempty"`
	Paid    uint64 `bencode:"paid,omitempty"`
	Why     uint64 `bencode:"why,omitempty"`
	Text    string `bencode:"text,omitempty"`
	Sig     []byte `bencode:"sig,omitempty"`
}

func hashesBytes(hs []Hash) []byte {
	b := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func (m Propose) toWire() (wireMsg, []byte) {
	t := m.Terms
	return wireMsg{T: uint64(TypePropose), Obj: m.Obj[:], Root: t.Root[:], Len: t.Length, Nonce: m.Nonce[:],
		Period: uint64(t.Period), Periods: uint64(t.Periods), Price: t.Price, Rate: t.Rate}, nil
}

func (m Accept) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeAccept), Obj: m.Obj[:], Payee: m.Payee[:], Ledger: m.Ledger, TTL: uint64(m.MinTTL), Sig: m.Sig[:]}, nil
}

func (m Put) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypePut), Obj: m.Obj[:], Seg: m.Seg, Proof: hashesBytes(m.Proof)}, m.Data
}

func (m Stored) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeStored), Obj: m.Obj[:], Start: m.Start, Sig: m.Sig[:]}, nil
}

func (m Challenge) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeChallenge), Obj: m.Obj[:], N: m.N[:], K: uint64(m.K)}, nil
}

func (m Proof) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeProof), Obj: m.Obj[:], N: m.N[:]}, m.Body
}

func (m Get) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeGet), Obj: m.Obj[:], Idx: m.Index}, nil
}

func (m Data) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeData), Obj: m.Obj[:], Idx: m.Index, Off: uint64(m.Offset), Proof: hashesBytes(m.Proof)}, m.Block
}

func (m Pay) toWire() (wireMsg, []byte) {
	w := wireMsg{T: uint64(TypePay), Obj: m.Obj[:], What: uint64(m.What), Ch: m.State.Channel[:], Seq: m.State.Seq, Paid: m.State.Paid, Sig: m.Sig[:]}
	w.setWhat(m.What, m.N)
	return w, nil
}

func (m Paid) toWire() (wireMsg, []byte) {
	w := wireMsg{T: uint64(TypePaid), Obj: m.Obj[:], What: uint64(m.What), Seq: m.Seq}
	w.setWhat(m.What, m.N)
	return w, nil
}

func (m Refused) toWire() (wireMsg, []byte) {
	return wireMsg{T: uint64(TypeRefused), Obj: m.Obj[:], Why: uint64(m.Why), Text: m.Text}, nil
}

func (m End) toWire() (wireMsg, []byte) { return wireMsg{T: uint64(TypeEnd), Obj: m.Obj[:]}, nil }

func (w *wireMsg) setWhat(what uint8, n uint64) {
	if what == PayPeriod {
		w.P = n
	} else {
		w.Idx = n
	}
}

// codec checks the caps of every payload and converts messages (package
// svcmsg).
var codec = svcmsg.Service[Message, wireMsg]{
	Codec:    svcmsg.Codec{Name: "store", MaxPayload: MaxPayload, MaxDict: MaxDictSize, TooLarge: ErrTooLarge, Malformed: ErrMalformed},
	ToWire:   Message.toWire,
	FromWire: fromWire,
}

// Encode returns the payload of m: its bencoded dict, then its raw bytes. It
// refuses messages a receiver would reject, so a bug shows up at the sender.
func Encode(m Message) ([]byte, error) { return codec.Encode(m) }

// Decode parses a payload. Sizes are checked before anything is parsed. Raw
// bytes alias payload.
func Decode(payload []byte) (Message, error) { return codec.Decode(payload) }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func fromWire(w wireMsg, raw []byte) (Message, error) {
	t := Type(w.T)
	if w.T == 0 {
		return nil, malformed("no message type")
	}
	if t > TypePaid {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, w.T)
	}
	hasRaw := t == TypePut || t == TypeProof || t == TypeData
	if len(raw) > 0 && !hasRaw {
		return nil, malformed("%d bytes after the dict of type %d", len(raw), w.T)
	}
	if hasRaw && len(raw) == 0 {
		return nil, malformed("no bytes after the dict of type %d", w.T)
	}
	if w.Rate > speed.MaxRate {
		return nil, malformed("rate above %d", uint64(speed.MaxRate))
	}
	var obj ObjectID
	if len(w.Obj) != len(obj) {
		return nil, malformed("object id of %d bytes", len(w.Obj))
	}
	copy(obj[:], w.Obj)
	switch t {
	case TypePropose:
		return proposeFromWire(w, obj)
	case TypeAccept:
		return acceptFromWire(w, obj)
	case TypePut, TypeData:
		return blockFromWire(w, obj, raw)
	case TypeStored:
		if w.Start > maxUnix {
			return nil, malformed("start %d", w.Start)
		}
		sig, err := wallet.SignatureFromBytes(w.Sig)
		if err != nil {
			return nil, malformed("sig: %v", err)
		}
		return Stored{Obj: obj, Start: w.Start, Sig: sig}, nil
	case TypeChallenge, TypeProof:
		return challengeFromWire(w, obj, raw)
	case TypeGet:
		if w.Idx > maxChunkIndex {
			return nil, malformed("chunk index %d", w.Idx)
		}
		return Get{Obj: obj, Index: w.Idx}, nil
	case TypePay, TypePaid:
		return payFromWire(w, obj)
	case TypeRefused:
		if len(w.Text) > MaxTextLen {
			return nil, malformed("text of %d bytes", len(w.Text))
		}
		return Refused{Obj: obj, Why: Reason(w.Why), Text: w.Text}, nil
	default: // TypeEnd
		return End{Obj: obj}, nil
	}
}

func fixed(b []byte, n int, name string) error {
	if len(b) != n {
		return malformed("%s of %d bytes", name, len(b))
	}
	return nil
}

func proposeFromWire(w wireMsg, obj ObjectID) (Message, error) {
	m := Propose{Obj: obj}
	if err := errors.Join(fixed(w.Root, 32, "root"), fixed(w.Nonce, 16, "nonce")); err != nil {
		return nil, err
	}
	switch {
	case w.Len == 0 || w.Len > MaxLength:
		return nil, malformed("length %d", w.Len)
	case w.Period < MinPeriod || w.Period > MaxPeriod:
		return nil, malformed("period of %d s", w.Period)
	case w.Periods == 0 || w.Periods > MaxPeriods:
		return nil, malformed("%d periods", w.Periods)
	case w.Price > maxPrice:
		return nil, malformed("price %d", w.Price)
	}
	copy(m.Terms.Root[:], w.Root)
	copy(m.Nonce[:], w.Nonce)
	m.Terms.Length, m.Terms.Period, m.Terms.Periods = w.Len, uint32(w.Period), uint32(w.Periods)
	m.Terms.Price, m.Terms.Rate = w.Price, w.Rate
	return m, nil
}

func acceptFromWire(w wireMsg, obj ObjectID) (Message, error) {
	if len(w.Payee) != wallet.AddressLen || w.Payee[0] != wallet.AddressPrefix {
		return nil, malformed("payee of %d bytes", len(w.Payee))
	}
	if err := speed.ValidateLedgerID(w.Ledger); err != nil {
		return nil, malformed("ledger: %v", err)
	}
	if w.TTL > speed.MaxTTL {
		return nil, malformed("ttl %d above %d", w.TTL, speed.MaxTTL)
	}
	sig, err := wallet.SignatureFromBytes(w.Sig)
	if err != nil {
		return nil, malformed("sig: %v", err)
	}
	m := Accept{Obj: obj, Ledger: w.Ledger, MinTTL: uint32(w.TTL), Sig: sig}
	copy(m.Payee[:], w.Payee)
	return m, nil
}

func hashesFromWire(b []byte) ([]Hash, error) {
	if len(b)%32 != 0 || len(b) > MaxDepth*32 {
		return nil, malformed("a Merkle path of %d bytes", len(b))
	}
	var hs []Hash
	for i := 0; i < len(b); i += 32 {
		hs = append(hs, Hash(b[i:i+32]))
	}
	return hs, nil
}

func blockFromWire(w wireMsg, obj ObjectID, raw []byte) (Message, error) {
	proof, err := hashesFromWire(w.Proof)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxBlock {
		return nil, malformed("block of %d bytes", len(raw))
	}
	if Type(w.T) == TypePut {
		if w.Seg > maxSegIndex || w.Seg%segsPerBlock != 0 {
			return nil, malformed("segment %d", w.Seg)
		}
		return Put{Obj: obj, Seg: w.Seg, Proof: proof, Data: raw}, nil
	}
	switch {
	case w.Idx > maxChunkIndex:
		return nil, malformed("chunk index %d", w.Idx)
	case w.Off%blockAlign != 0 || w.Off >= ChunkSize:
		return nil, malformed("offset %d", w.Off)
	}
	return Data{Obj: obj, Index: w.Idx, Offset: uint32(w.Off), Proof: proof, Block: raw}, nil
}

func challengeFromWire(w wireMsg, obj ObjectID, raw []byte) (Message, error) {
	if err := fixed(w.N, 32, "nonce"); err != nil {
		return nil, err
	}
	n := Hash(w.N)
	if Type(w.T) == TypeProof {
		return Proof{Obj: obj, N: n, Body: raw}, nil
	}
	if w.K == 0 || w.K > MaxK {
		return nil, malformed("k %d", w.K)
	}
	return Challenge{Obj: obj, N: n, K: uint32(w.K)}, nil
}

func payFromWire(w wireMsg, obj ObjectID) (Message, error) {
	n := w.P
	switch {
	case w.What == PayPeriod && (w.P >= MaxPeriods || w.Idx != 0):
		return nil, malformed("period %d", w.P)
	case w.What == PayRetrieve && (w.Idx > maxChunkIndex || w.P != 0):
		return nil, malformed("chunk index %d", w.Idx)
	case w.What > PayRetrieve:
		return nil, malformed("payment for %d", w.What)
	case w.Seq == 0:
		return nil, malformed("seq 0")
	}
	if w.What == PayRetrieve {
		n = w.Idx
	}
	if Type(w.T) == TypePaid {
		return Paid{Obj: obj, What: uint8(w.What), N: n, Seq: w.Seq}, nil
	}
	if err := fixed(w.Ch, 32, "channel id"); err != nil {
		return nil, err
	}
	sig, err := wallet.SignatureFromBytes(w.Sig)
	if err != nil {
		return nil, malformed("sig: %v", err)
	}
	return Pay{Obj: obj, What: uint8(w.What), N: n, State: speed.State{Channel: speed.ChannelID(w.Ch), Seq: w.Seq, Paid: w.Paid}, Sig: sig}, nil
}
