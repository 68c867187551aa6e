package store

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svctest"
	"github.com/btspeed/btspeed/shared/wallet"
)

func testKey(t testing.TB, seed byte) *wallet.PrivateKey {
	t.Helper()
	k, err := wallet.PrivateKeyFromBytes(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sampleMessages has one message of every type with every field set.
func sampleMessages(t testing.TB) []Message {
	k := testKey(t, 7)
	sig, err := k.Sign(DomainContract, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	obj := ObjectID{1, 2, 3}
	path := []Hash{{9}, {8}, {7}}
	st := speed.State{Channel: speed.ChannelID{5}, Seq: 3, Paid: 4000}
	return []Message{
		Propose{Obj: obj, Nonce: [16]byte{4}, Terms: Terms{Root: Hash{6}, Length: 1 << 20, Period: 3600, Periods: 12, Price: 500, Rate: 1000}},
		Accept{Obj: obj, Payee: k.Address(), Ledger: "btspeed-devnet", MinTTL: 600, Sig: sig},
		Put{Obj: obj, Seg: 8, Proof: path, Data: bytes.Repeat([]byte{0xaa}, MaxBlock)},
		Stored{Obj: obj, Start: 1_800_000_000, Sig: sig},
		Challenge{Obj: obj, N: Hash{3}, K: 8},
		Proof{Obj: obj, N: Hash{3}, Body: bytes.Repeat([]byte{1}, MaxProofBody)},
		Get{Obj: obj, Index: 2},
		Data{Obj: obj, Index: 2, Offset: MaxBlock, Proof: path, Block: []byte("xyz")},
		Pay{Obj: obj, What: PayPeriod, N: 3, State: st, Sig: sig},
		Pay{Obj: obj, What: PayRetrieve, N: 7, State: st, Sig: sig},
		Paid{Obj: obj, What: PayRetrieve, N: 7, Seq: 3},
		Refused{Obj: obj, Why: ReasonQuota, Text: "over quota"},
		End{Obj: obj},
	}
}

// messages is storage's messages for the rig's checks.
var messages = svctest.Codec[Message]{Encode: Encode, Decode: Decode, MaxPayload: MaxPayload,
	Errors: []error{ErrMalformed, ErrTooLarge, ErrUnknownType}}

// Every message encodes within its caps and decodes to itself.
func TestMessagesRoundTrip(t *testing.T) { messages.RoundTrip(t, sampleMessages(t)) }

// The layout of two small messages, byte for byte, as the spec shows them.
func TestWireLayout(t *testing.T) {
	obj := ObjectID{}
	b, err := Encode(End{Obj: obj})
	if err != nil {
		t.Fatal(err)
	}
	if want := "d3:obj32:" + string(obj[:]) + "1:ti11ee"; string(b) != want {
		t.Fatalf("end: %q", b)
	}
	b, err = Encode(Get{Obj: obj, Index: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := "d3:idxi2e3:obj32:" + string(obj[:]) + "1:ti7ee"; string(b) != want {
		t.Fatalf("get: %q", b)
	}
}

// Decode refuses out-of-range fields, missing ones, raw bytes where none
// belong and payloads over the caps; unknown types are skipped, unknown keys
// ignored.
func TestDecodeRejects(t *testing.T) {
	obj := "3:obj32:" + strings.Repeat("o", 32)
	for name, tc := range map[string]struct {
		payload string
		want    error
	}{
		"no type":               {"d" + obj + "e", ErrMalformed},
		"unknown type":          {"d" + obj + "1:ti99ee", ErrUnknownType},
		"short object id":       {"d3:obj3:abc1:ti11ee", ErrMalformed},
		"raw after end":         {"d" + obj + "1:ti11eexx", ErrMalformed},
		"put without data":      {"d" + obj + "3:segi4e1:ti3ee", ErrMalformed},
		"put misaligned":        {"d" + obj + "3:segi3e1:ti3eex", ErrMalformed},
		"k zero":                {"d1:k" + "i0e1:n32:" + strings.Repeat("n", 32) + obj + "1:ti5ee", ErrMalformed},
		"k 17":                  {"d1:k" + "i17e1:n32:" + strings.Repeat("n", 32) + obj + "1:ti5ee", ErrMalformed},
		"period too short":      {"d3:leni1e5:nonce16:" + strings.Repeat("x", 16) + obj + "6:periodi60e7:periodsi1e4:root32:" + strings.Repeat("r", 32) + "1:ti1ee", ErrMalformed},
		"a path of 31 bytes":    {"d3:idxi0e" + obj + "5:proof31:" + strings.Repeat("p", 31) + "1:ti8eex", ErrMalformed},
		"data offset unaligned": {"d3:idxi0e" + obj + "3:offi5e1:ti8eex", ErrMalformed},
		"pay seq 0":             {"d" + obj + "1:ti12e4:whati1ee", ErrMalformed},
		"too large":             {"d" + obj + "1:ti6e" + strings.Repeat("x", MaxPayload), ErrTooLarge},
	} {
		messages.Refuse(t, name, tc.payload, tc.want, "")
	}
	m, err := Decode([]byte("d5:extrai1e" + obj + "1:ti11ee"))
	if err != nil || m.Type() != TypeEnd {
		t.Fatalf("an unknown key: %v %v", m, err)
	}
}

// Encode refuses what Decode would refuse.
func TestEncodeRefusesInvalid(t *testing.T) {
	messages.EncodeRefuses(t, ErrMalformed,
		Challenge{K: 0},
		Put{Seg: 1, Data: []byte{1}},
		Data{Block: make([]byte, MaxBlock+1)},
		Propose{Terms: Terms{Length: 1, Period: 60, Periods: 1}},
		Refused{Text: strings.Repeat("x", MaxTextLen+1)},
	)
}
