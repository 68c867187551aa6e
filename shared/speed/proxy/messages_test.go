package proxy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svctest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// sampleMessages are valid messages of every type, at and inside their caps.
func sampleMessages(t testing.TB) []Message {
	t.Helper()
	k, err := wallet.PrivateKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := speed.State{Channel: speed.ChannelID{1, 2, 3}, Seq: 9, Paid: 123456}
	sig, err := st.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	pin := Pin{Length: 10<<20 + 5, ETag: `W/"abc"`, LastModified: 1_800_000_000, Chunk: DefaultChunk}
	big := Pin{Length: MaxLength, ETag: strings.Repeat("e", MaxETagLen), LastModified: maxLastMod, Chunk: MaxChunk}
	return []Message{
		Fetch{ID: 1, URL: "https://example.com/file.iso", MaxRate: 250},
		Fetch{ID: maxFetchID, URL: "http://example.com:8080/a?b=c", From: 41, MaxRate: speed.MaxRate, Pin: pin},
		Fetch{ID: 2, URL: "https://example.com/" + strings.Repeat("a", MaxURLLen-20), From: pin.Chunks(), Pin: pin},
		Head{ID: 1, Pin: pin, ContentType: "application/octet-stream", Rate: 250, Payee: k.Address(), Ledger: "btspeed-devnet", MinTTL: 600},
		Head{ID: 3, Pin: Pin{Chunk: MinChunk}, Payee: k.Address(), Ledger: "x"},
		Head{ID: 4, Pin: big, ContentType: strings.Repeat("c", MaxCTypeLen), Rate: speed.MaxRate, Payee: k.Address(), Ledger: strings.Repeat("L", speed.MaxLedgerIDLen), MinTTL: speed.MaxTTL},
		Data{ID: 1, Index: 0, Offset: 0, Block: []byte{1}},
		Data{ID: 1, Index: MaxChunkIndex, Offset: MaxChunk - BlockAlign, Block: bytes.Repeat([]byte{0xab}, MaxBlock)},
		Pay{ID: 1, Index: 40, State: st, Sig: sig},
		Pay{ID: 9, Index: MaxChunkIndex, State: speed.State{Channel: speed.ChannelID{9}, Seq: 1 << 62, Paid: 1<<64 - 1}, Sig: sig},
		Refused{ID: 1, Why: ReasonForbidden, Text: "127.0.0.1 is not a public address"},
		Refused{ID: 2, Why: ReasonChanged, Text: strings.Repeat("t", MaxTextLen), Pin: pin},
		Refused{ID: 3, Why: Reason(200)},
		Cancel{ID: 5},
	}
}

// messages is the proxy's messages for the rig's checks.
var messages = svctest.Codec[Message]{Encode: Encode, Decode: Decode, MaxPayload: MaxPayload,
	Errors: []error{ErrMalformed, ErrTooLarge, ErrUnknownType}}

func TestMessagesRoundTrip(t *testing.T) { messages.RoundTrip(t, sampleMessages(t)) }

func TestEncodedForm(t *testing.T) {
	b, err := Encode(Data{ID: 3, Index: 2, Offset: 16384, Block: []byte("xyz")})
	if err != nil || string(b) != "d2:idi3e3:idxi2e3:offi16384e1:ti3eexyz" {
		t.Fatalf("data: %q %v", b, err)
	}
	b, err = Encode(Cancel{ID: 7})
	if err != nil || string(b) != "d2:idi7e1:ti6ee" {
		t.Fatalf("cancel: %q %v", b, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		want          error
		why           string
	}{
		{"no type", "d2:idi1ee", ErrMalformed, "no message type"},
		{"unknown type", "d2:idi1e1:ti99ee", ErrUnknownType, "99"},
		{"unknown type without an id", "d1:ti7ee", ErrUnknownType, "7"},
		{"no id", "d1:ti6ee", ErrMalformed, "fetch id 0"},
		{"id above 32 bits", "d2:idi4294967296e1:ti6ee", ErrMalformed, "fetch id 4294967296"},
		{"negative id", "d2:idi-1e1:ti6ee", ErrMalformed, "bencode"},
		{"not a dict", "li1ee", ErrMalformed, "unmarshal"},
		{"bytes after a cancel", "d2:idi1e1:ti6eexx", ErrMalformed, "after the dict"},
		{"data without a block", "d2:idi1e1:ti3ee", ErrMalformed, "block of 0"},
		{"data at an unaligned offset", "d2:idi1e3:offi5e1:ti3eex", ErrMalformed, "offset 5"},
		{"data offset past the largest chunk", "d2:idi1e3:offi1048576e1:ti3eex", ErrMalformed, "offset 1048576"},
		{"data past the last chunk", "d2:idi1e3:idxi67108864e1:ti3eex", ErrMalformed, "chunk index"},
		{"data block too large", "d2:idi1e1:ti3ee" + strings.Repeat("x", MaxBlock+1), ErrMalformed, "block of 16385"},
		{"fetch ftp", "d2:idi1e1:ti1e3:url17:ftp://example.come", ErrMalformed, "url scheme"},
		{"fetch user info", "d2:idi1e1:ti1e3:url23:https://u:p@example.come", ErrMalformed, "user info"},
		{"fetch fragment", "d2:idi1e1:ti1e3:url21:https://example.com/#e", ErrMalformed, "fragment"},
		{"fetch relative", "d2:idi1e1:ti1e3:url5:/filee", ErrMalformed, "url scheme"},
		{"fetch no url", "d2:idi1e1:ti1ee", ErrMalformed, "url of 0"},
		{"fetch rate too high", "d2:idi1e3:maxi1099511627777e1:ti1e3:url19:https://example.come", ErrMalformed, "rate above"},
		{"fetch pin without chunk", "d2:idi1e3:leni5e1:ti1e3:url19:https://example.come", ErrMalformed, "pin without"},
		{"fetch chunk not a power of two", "d5:chunki20000e2:idi1e1:ti1e3:url19:https://example.come", ErrMalformed, "chunk size 20000"},
		{"fetch chunk too small", "d5:chunki8192e2:idi1e1:ti1e3:url19:https://example.come", ErrMalformed, "chunk size 8192"},
		{"fetch from past the end", "d5:chunki16384e2:idi1e4:fromi2e3:leni16384e1:ti1e3:url19:https://example.come", ErrMalformed, "from chunk 2"},
		{"head without pin", "d2:idi1e6:ledger1:x5:payee21:AAAAAAAAAAAAAAAAAAAAA1:ti2ee", ErrMalformed, "pin without"},
		{"head bad payee", "d5:chunki16384e2:idi1e6:ledger1:x5:payee3:AAA1:ti2ee", ErrMalformed, "payee"},
		{"head no ledger", "d5:chunki16384e2:idi1e5:payee21:AAAAAAAAAAAAAAAAAAAAA1:ti2ee", ErrMalformed, "ledger id"},
		{"head length too large", "d5:chunki16384e2:idi1e6:ledger1:x3:leni1099511627777e5:payee21:AAAAAAAAAAAAAAAAAAAAA1:ti2ee", ErrMalformed, "length"},
		{"pay seq 0", "d2:ch32:" + strings.Repeat("c", 32) + "2:idi1e3:sig65:" + strings.Repeat("s", 65) + "1:ti4ee", ErrMalformed, "seq 0"},
		{"pay short channel", "d2:ch3:ccc2:idi1e3:seqi1e3:sig65:" + strings.Repeat("s", 65) + "1:ti4ee", ErrMalformed, "channel id of 3"},
		{"refused long text", "d2:idi1e4:text201:" + strings.Repeat("t", 201) + "1:ti5ee", ErrMalformed, "text of 201"},
		{"dict too large", "d2:idi1e1:ti6e1:z5000:" + strings.Repeat("z", 5000) + "e", ErrTooLarge, "a dict of"},
		{"payload too large", strings.Repeat("x", MaxPayload+1), ErrTooLarge, "20481 bytes"},
	} {
		messages.Refuse(t, tc.name, tc.payload, tc.want, tc.why)
	}
}

// Unknown keys are ignored, so later versions can add optional fields.
func TestDecodeIgnoresUnknownKeys(t *testing.T) {
	m, err := Decode([]byte("d2:idi7e5:later3:xyz1:ti6ee"))
	if err != nil || m != (Cancel{ID: 7}) {
		t.Fatalf("got %#v, %v", m, err)
	}
}

// Encode refuses what Decode would, so a bug shows up at the sender.
func TestEncodeRefuses(t *testing.T) {
	messages.EncodeRefuses(t, ErrMalformed,
		Fetch{ID: 0, URL: "https://example.com/"},
		Fetch{ID: 1, URL: "file:///etc/passwd"},
		Head{ID: 1, Pin: Pin{Chunk: DefaultChunk}},
		Data{ID: 1, Block: make([]byte, MaxBlock+1)},
		Pay{ID: 1},
		Refused{ID: 1, Pin: Pin{Length: 3}},
		Cancel{},
	)
}

func TestPinChunks(t *testing.T) {
	for _, tc := range []struct {
		p    Pin
		want uint64
	}{
		{Pin{}, 0},
		{Pin{Chunk: MinChunk}, 0},
		{Pin{Length: 1, Chunk: MinChunk}, 1},
		{Pin{Length: MinChunk, Chunk: MinChunk}, 1},
		{Pin{Length: MinChunk + 1, Chunk: MinChunk}, 2},
		{Pin{Length: MaxLength, Chunk: MinChunk}, MaxChunkIndex + 1},
	} {
		if got := tc.p.Chunks(); got != tc.want {
			t.Errorf("%+v.Chunks() = %d, want %d", tc.p, got, tc.want)
		}
	}
}
