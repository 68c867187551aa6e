package proxy

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
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

func TestMessagesRoundTrip(t *testing.T) {
	for _, m := range sampleMessages(t) {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%T): %v", m, err)
		}
		if len(b) > MaxPayload {
			t.Fatalf("%T encodes to %d bytes", m, len(b))
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("Decode(Encode(%#v)) = %#v, %v", m, got, err)
		}
	}
}

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
		name, why, payload string
		want               error
	}{
		{"no type", "no message type", "d2:idi1ee", ErrMalformed},
		{"unknown type", "99", "d2:idi1e1:ti99ee", ErrUnknownType},
		{"unknown type without an id", "7", "d1:ti7ee", ErrUnknownType},
		{"no id", "fetch id 0", "d1:ti6ee", ErrMalformed},
		{"id above 32 bits", "fetch id 4294967296", "d2:idi4294967296e1:ti6ee", ErrMalformed},
		{"negative id", "bencode", "d2:idi-1e1:ti6ee", ErrMalformed},
		{"not a dict", "unmarshal", "li1ee", ErrMalformed},
		{"bytes after a cancel", "after the dict", "d2:idi1e1:ti6eexx", ErrMalformed},
		{"data without a block", "block of 0", "d2:idi1e1:ti3ee", ErrMalformed},
		{"data at an unaligned offset", "offset 5", "d2:idi1e3:offi5e1:ti3eex", ErrMalformed},
		{"data offset past the largest chunk", "offset 1048576", "d2:idi1e3:offi1048576e1:ti3eex", ErrMalformed},
		{"data past the last chunk", "chunk index", "d2:idi1e3:idxi67108864e1:ti3eex", ErrMalformed},
		{"data block too large", "block of 16385", "d2:idi1e1:ti3ee" + strings.Repeat("x", MaxBlock+1), ErrMalformed},
		{"fetch ftp", "url scheme", "d2:idi1e1:ti1e3:url17:ftp://example.come", ErrMalformed},
		{"fetch user info", "user info", "d2:idi1e1:ti1e3:url23:https://u:p@example.come", ErrMalformed},
		{"fetch fragment", "fragment", "d2:idi1e1:ti1e3:url21:https://example.com/#e", ErrMalformed},
		{"fetch relative", "url scheme", "d2:idi1e1:ti1e3:url5:/filee", ErrMalformed},
		{"fetch no url", "url of 0", "d2:idi1e1:ti1ee", ErrMalformed},
		{"fetch rate too high", "rate above", "d2:idi1e3:maxi1099511627777e1:ti1e3:url19:https://example.come", ErrMalformed},
		{"fetch pin without chunk", "pin without", "d2:idi1e3:leni5e1:ti1e3:url19:https://example.come", ErrMalformed},
		{"fetch chunk not a power of two", "chunk size 20000", "d5:chunki20000e2:idi1e1:ti1e3:url19:https://example.come", ErrMalformed},
		{"fetch chunk too small", "chunk size 8192", "d5:chunki8192e2:idi1e1:ti1e3:url19:https://example.come", ErrMalformed},
		{"fetch from past the end", "from chunk 2", "d5:chunki16384e2:idi1e4:fromi2e3:leni16384e1:ti1e3:url19:https://example.come", ErrMalformed},
		{"head without pin", "pin without", "d2:idi1e6:ledger1:x5:payee21:AAAAAAAAAAAAAAAAAAAAA1:ti2ee", ErrMalformed},
		{"head bad payee", "payee", "d5:chunki16384e2:idi1e6:ledger1:x5:payee3:AAA1:ti2ee", ErrMalformed},
		{"head no ledger", "ledger id", "d5:chunki16384e2:idi1e5:payee21:AAAAAAAAAAAAAAAAAAAAA1:ti2ee", ErrMalformed},
		{"head length too large", "length", "d5:chunki16384e2:idi1e6:ledger1:x3:leni1099511627777e5:payee21:AAAAAAAAAAAAAAAAAAAAA1:ti2ee", ErrMalformed},
		{"pay seq 0", "seq 0", "d2:ch32:" + strings.Repeat("c", 32) + "2:idi1e3:sig65:" + strings.Repeat("s", 65) + "1:ti4ee", ErrMalformed},
		{"pay short channel", "channel id of 3", "d2:ch3:ccc2:idi1e3:seqi1e3:sig65:" + strings.Repeat("s", 65) + "1:ti4ee", ErrMalformed},
		{"refused long text", "text of 201", "d2:idi1e4:text201:" + strings.Repeat("t", 201) + "1:ti5ee", ErrMalformed},
		{"dict too large", "a dict of", "d2:idi1e1:ti6e1:z5000:" + strings.Repeat("z", 5000) + "e", ErrTooLarge},
		{"payload too large", "20481 bytes", strings.Repeat("x", MaxPayload+1), ErrTooLarge},
	} {
		m, err := Decode([]byte(tc.payload))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: got %#v, %v; want %v", tc.name, m, err, tc.want)
		}
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
	for _, m := range []Message{
		Fetch{ID: 0, URL: "https://example.com/"},
		Fetch{ID: 1, URL: "file:///etc/passwd"},
		Head{ID: 1, Pin: Pin{Chunk: DefaultChunk}},
		Data{ID: 1, Block: make([]byte, MaxBlock+1)},
		Pay{ID: 1},
		Refused{ID: 1, Pin: Pin{Length: 3}},
		Cancel{},
	} {
		if b, err := Encode(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("Encode(%#v) = %q, %v", m, b, err)
		}
	}
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
