package speed

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed/svctest"

	"github.com/anacrolix/torrent/bencode"
	"github.com/btspeed/btspeed/shared/wallet"
)

func testKey(t testing.TB, seed byte) *wallet.PrivateKey {
	t.Helper()
	b := bytes.Repeat([]byte{seed}, 32)
	k, err := wallet.PrivateKeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleMessages(t testing.TB) []Message {
	k := testKey(t, 7)
	st := State{Channel: ChannelID{1, 2, 3}, Seq: 9, Paid: 123456}
	sig, err := st.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return []Message{
		Bid{Rate: 0},
		Bid{Rate: 1},
		Bid{Rate: MaxRate},
		BidResponse{Round: 3, Rate: 250, Payee: k.Address(), Ledger: "btspeed-devnet", MinTTL: 600},
		BidResponse{Round: 0, Rate: 0, Payee: k.Address(), Ledger: "x"},
		Payment{State: st, Piece: 42, Sig: sig},
		Payment{State: State{Channel: ChannelID{9}, Seq: 1 << 62, Paid: 1<<64 - 1}, Piece: 1<<32 - 1, Sig: sig},
		BidResponse{Round: 4, Rate: 250, Payee: k.Address(), Ledger: "btspeed-devnet", MinTTL: 600, Exposure: DefaultExposure},
		Payment{State: st, Piece: 42, More: []uint32{41, 40, 7}, Sig: sig},
		// The largest batch, of the largest piece indexes, fits a message.
		Payment{State: State{Channel: ChannelID{9}, Seq: 1 << 62, Paid: 1<<64 - 1}, Piece: 1<<32 - 1, More: maxMore(), Sig: sig},
		PaymentRejected{Channel: st.Channel, Seq: 9, Reason: ReasonUnderpaid, Text: "piece 42 costs 10"},
		PaymentRejected{Channel: st.Channel, Reason: Reason(200)},
		ChannelClosing{Channel: st.Channel, Seq: 9},
	}
}

// maxMore is the most other pieces a payment may list, with the longest
// encodings.
func maxMore() []uint32 {
	var more []uint32
	for i := range uint32(MaxUnpaidPieces - 1) {
		more = append(more, 1<<32-2-i)
	}
	return more
}

// messages is Speed's messages for the checks of the services' rig.
var messages = svctest.Codec[Message]{Encode: Encode, Decode: Decode, MaxPayload: MaxMessageSize,
	Errors: []error{ErrMalformed, ErrTooLarge, ErrUnknownType}}

func TestMessagesRoundTrip(t *testing.T) { messages.RoundTrip(t, sampleMessages(t)) }

func TestPaymentWireLayout(t *testing.T) {
	// The spec's example: keys in bencode's sorted order.
	k := testKey(t, 7)
	st := State{Channel: ChannelID{1}, Seq: 2, Paid: 30}
	sig, _ := st.Sign(k)
	b, err := Encode(Payment{State: st, Piece: 5, Sig: sig})
	if err != nil {
		t.Fatal(err)
	}
	want := "d2:ch32:" + string(st.Channel[:]) + "4:paidi30e5:piecei5e3:seqi2e3:sig65:" + string(sig[:]) + "1:ti3ee"
	if string(b) != want {
		t.Fatalf("payment encodes as\n%q\nwant\n%q", b, want)
	}
}

func TestDecodeTolerance(t *testing.T) {
	// Unknown keys (even nested) are ignored; unknown types are skippable.
	m, err := Decode([]byte("d4:futuli1ei2ee4:ratei77e1:ti1e1:zd1:ai1eee"))
	if err != nil || m != (Bid{Rate: 77}) {
		t.Fatalf("unknown keys: %#v, %v", m, err)
	}
	if _, err := Decode([]byte("d1:ti99e4:ratei1ee")); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	k := testKey(t, 1)
	ch32 := strings.Repeat("c", 32)
	sig65 := strings.Repeat("s", 65)
	addr := k.Address()
	cases := map[string]string{
		"empty":              "",
		"not a dict":         "i5e",
		"truncated":          "d1:ti1e4:rate",
		"no type":            "d4:ratei1ee",
		"negative rate":      "d1:ti1e4:ratei-1ee",
		"rate too high":      "d1:ti1e4:ratei1099511627777ee",
		"rate overflow":      "d1:ti1e4:ratei99999999999999999999999ee",
		"rate as string":     "d1:ti1e4:rate1:5e",
		"trailing bytes":     "d1:ti1e4:ratei1eeXX",
		"payment short ch":   "d2:ch3:abc3:seqi1e3:sig65:" + sig65 + "1:ti3ee",
		"payment seq 0":      "d2:ch32:" + ch32 + "3:seqi0e3:sig65:" + sig65 + "1:ti3ee",
		"payment no sig":     "d2:ch32:" + ch32 + "3:seqi1e1:ti3ee",
		"payment short sig":  "d2:ch32:" + ch32 + "3:seqi1e3:sig3:abc1:ti3ee",
		"payment piece big":  "d2:ch32:" + ch32 + "5:piecei4294967296e3:seqi1e3:sig65:" + sig65 + "1:ti3ee",
		"payment more dup":   "d2:ch32:" + ch32 + "4:moreli1ei1ee5:piecei5e3:seqi1e3:sig65:" + sig65 + "1:ti3ee",
		"payment more piece": "d2:ch32:" + ch32 + "4:moreli5ee5:piecei5e3:seqi1e3:sig65:" + sig65 + "1:ti3ee",
		"payment more big":   "d2:ch32:" + ch32 + "4:moreli4294967296ee5:piecei5e3:seqi1e3:sig65:" + sig65 + "1:ti3ee",
		"payment more many":  "d2:ch32:" + ch32 + "4:morel" + manyMore() + "e5:piecei0e3:seqi1e3:sig65:" + sig65 + "1:ti3ee",
		"response unpaid":    "d6:ledger1:x5:payee21:" + string(addr[:]) + "1:ti2e6:unpaidi1099511627777ee",
		"response no payee":  "d6:ledger1:x1:ti2ee",
		"response bad payee": "d6:ledger1:x5:payee21:" + "\x42" + string(addr[1:]) + "1:ti2ee",
		"response no ledger": "d5:payee21:" + string(addr[:]) + "1:ti2ee",
		"response ledger sp": "d6:ledger3:a b5:payee21:" + string(addr[:]) + "1:ti2ee",
		"response ttl":       "d6:ledger1:x5:payee21:" + string(addr[:]) + "1:ti2e3:ttli99999999ee",
		"rejected long text": "d2:ch32:" + ch32 + "1:ti4e4:text201:" + strings.Repeat("x", 201) + "e",
		"closing no ch":      "d1:ti5ee",
		"too large":          "d1:ti1e4:junk" + "2000:" + strings.Repeat("j", 2000) + "e",
	}
	for name, in := range cases {
		_, err := Decode([]byte(in))
		if err == nil || errors.Is(err, ErrUnknownType) {
			t.Errorf("%s: Decode(%.40q) = %v, want a malformed/too-large error", name, in, err)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: error %v is neither ErrMalformed nor ErrTooLarge", name, err)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	for _, m := range []Message{
		Bid{Rate: MaxRate + 1},
		BidResponse{Ledger: "x"}, // zero payee
		BidResponse{Payee: testKey(t, 2).Address(), Ledger: ""},
		Payment{State: State{Seq: 0}},
		PaymentRejected{Text: strings.Repeat("x", MaxReasonText+1)},
	} {
		if _, err := Encode(m); err == nil {
			t.Errorf("Encode(%#v) succeeded", m)
		}
	}
}

func TestHandshake(t *testing.T) {
	k := testKey(t, 3)
	h := Handshake{Version: Version, Account: k.Address(), Ledger: "btspeed-devnet"}
	ext, err := bencode.Marshal(map[string]any{
		"m":           map[string]int{"ut_metadata": 3, ExtensionName: 7},
		"v":           "btspeed 0.1",
		"reqq":        250,
		ExtensionName: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := ParseHandshake(ext)
	if err != nil || !ok || got != h {
		t.Fatalf("ParseHandshake = %+v, %v, %v", got, ok, err)
	}
	// A newer peer is spoken to in our version.
	newer, _ := bencode.Marshal(map[string]any{"m": map[string]int{ExtensionName: 1},
		ExtensionName: map[string]any{"v": 9, "acct": k.Address().Bytes(), "ledger": "l", "extra": "x"}})
	if got, ok, err := ParseHandshake(newer); err != nil || !ok || got.Version != Version {
		t.Fatalf("newer peer: %+v %v %v", got, ok, err)
	}
	// Legacy peers: no entry, or not in "m".
	for _, legacy := range []any{
		map[string]any{"m": map[string]int{"ut_metadata": 1}},
		map[string]any{"m": map[string]int{"ut_metadata": 1}, ExtensionName: h},
		map[string]any{"m": map[string]int{ExtensionName: 0}, ExtensionName: h},
	} {
		b, _ := bencode.Marshal(legacy)
		if _, ok, err := ParseHandshake(b); ok || err != nil {
			t.Errorf("legacy %v: ok=%v err=%v", legacy, ok, err)
		}
	}
	for name, bad := range map[string]any{
		"version 0":  map[string]any{"v": 0, "acct": k.Address().Bytes(), "ledger": "l"},
		"short acct": map[string]any{"v": 1, "acct": "abc", "ledger": "l"},
		"no ledger":  map[string]any{"v": 1, "acct": k.Address().Bytes()},
		"not a dict": "hello",
	} {
		b, _ := bencode.Marshal(map[string]any{"m": map[string]int{ExtensionName: 1}, ExtensionName: bad})
		if _, ok, err := ParseHandshake(b); ok || err == nil {
			t.Errorf("%s: ok=%v err=%v", name, ok, err)
		}
	}
	if _, _, err := ParseHandshake(make([]byte, MaxHandshakeSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized handshake: %v", err)
	}
}

func TestPriceAndCharge(t *testing.T) {
	if got := Price(1_000_000, MiB); got != 1_000_000 {
		t.Fatalf("1 BTT per MiB for a MiB = %d", got)
	}
	if got := Price(3, 256<<10); got != 0 { // 0.75 rounds down
		t.Fatalf("3 per MiB for 256 KiB = %d", got)
	}
	var c Charge
	for range 4 {
		c.Add(3, 256<<10)
	}
	if c.Due() != 3 {
		t.Fatalf("four quarter-MiB blocks at 3 = %d, want 3 (rounded once, at the end)", c.Due())
	}
	var big Charge
	big.Add(MaxRate, 1<<63)
	big.Add(MaxRate, 1<<63)
	if big.Due() != ^uint64(0) {
		t.Fatalf("saturation: %d", big.Due())
	}
}

func TestStateAndOpenSignatures(t *testing.T) {
	payer, payee := testKey(t, 4), testKey(t, 5)
	o := OpenRequest{Ledger: "l1", Payer: payer.Address(), Payee: payee.Address(), Deposit: 100, Deadline: 1_800_000_000, Nonce: 1}
	so, err := o.Sign(payer)
	if err != nil || so.Verify() != nil {
		t.Fatalf("open signature: %v", err)
	}
	if _, err := o.Sign(payee); err == nil {
		t.Fatal("payee signed the payer's open request")
	}
	o2 := o
	o2.Nonce++
	o3 := o
	o3.Ledger = "l2"
	if o2.ID() == o.ID() || o3.ID() == o.ID() {
		t.Fatal("different requests, same channel id")
	}
	s3, _ := o3.Sign(payer)
	if err := DomainChannelOpen.Verify(payer.Address(), o.Bytes(), s3.Sig); err == nil {
		t.Fatal("an open signed for one ledger verifies for another")
	}
	st := State{Channel: o.ID(), Seq: 1, Paid: 10}
	sig, _ := st.Sign(payer)
	if err := st.Verify(payer.Address(), sig); err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]State{
		"other channel": {Channel: o2.ID(), Seq: 1, Paid: 10},
		"other seq":     {Channel: o.ID(), Seq: 2, Paid: 10},
		"other amount":  {Channel: o.ID(), Seq: 1, Paid: 11},
	} {
		if err := other.Verify(payer.Address(), sig); !errors.Is(err, wallet.ErrSignatureMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A channel-state signature is not an open signature and vice versa.
	if err := DomainChannelOpen.Verify(payer.Address(), st.Bytes(), sig); err == nil {
		t.Error("state signature verifies as an open request")
	}
}

func TestParseAndFormatBTT(t *testing.T) {
	good := map[string]uint64{"0": 0, "1": 1_000_000, "0.25": 250_000, ".5": 500_000, "12.000001": 12_000_001,
		"18446744073709.551615": 1<<64 - 1}
	for s, want := range good {
		got, err := ParseBTT(s)
		if err != nil || got != want {
			t.Errorf("ParseBTT(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", ".", "1.", "-1", "+1", "1e3", "0.0000001", "1,5", " 1", "18446744073709.551616", "99999999999999999999"} {
		if v, err := ParseBTT(s); err == nil {
			t.Errorf("ParseBTT(%q) = %d, want an error", s, v)
		}
	}
	if s := FormatBTT(12_000_001); s != "12.000001" {
		t.Errorf("FormatBTT = %q", s)
	}
}

// An open request's service is signed under the v2 domain: v1 requests still
// verify, a changed or removed service does not, and a bad tag is refused.
func TestOpenServiceSigned(t *testing.T) {
	payer, payee := testKey(t, 4), testKey(t, 5)
	v1 := OpenRequest{Ledger: "l1", Payer: payer.Address(), Payee: payee.Address(), Deposit: 100, Deadline: 1_800_000_000, Nonce: 1}
	s1, err := v1.Sign(payer)
	if err != nil || s1.Verify() != nil || v1.Domain() != DomainChannelOpen {
		t.Fatalf("v1 open: %v", err)
	}
	o := v1
	o.Service = ServiceProxy
	so, err := o.Sign(payer)
	if err != nil || so.Verify() != nil {
		t.Fatalf("v2 open: %v", err)
	}
	if want := append(v1.Bytes(), 5, 'p', 'r', 'o', 'x', 'y'); !bytes.Equal(o.Bytes(), want) {
		t.Fatalf("v2 bytes %x, want %x", o.Bytes(), want)
	}
	if o.ID() == v1.ID() {
		t.Fatal("the service does not change the channel id")
	}
	if err := DomainChannelOpen.Verify(payer.Address(), o.Bytes(), so.Sig); err == nil {
		t.Fatal("a v2 signature verifies under v1")
	}
	for name, svc := range map[string]string{"changed": ServiceStorage, "removed": "", "speed": ServiceSpeed} {
		tampered := so
		tampered.Request.Service = svc
		if err := tampered.Verify(); err == nil {
			t.Errorf("service %s: the tampered request verifies", name)
		}
	}
	for _, bad := range []string{"Proxy", "proxy/x", strings.Repeat("a", MaxServiceLen+1), "é"} {
		b := v1
		b.Service = bad
		if _, err := b.Sign(payer); !errors.Is(err, ErrBadRequest) {
			t.Errorf("service %q signed: %v", bad, err)
		}
	}
	if err := CheckService(strings.Repeat("a", MaxServiceLen)); err != nil {
		t.Error(err)
	}
}

// manyMore is a bencoded list body of MaxUnpaidPieces distinct pieces, one
// more than a payment may list.
func manyMore() string {
	var b strings.Builder
	for i := range MaxUnpaidPieces {
		fmt.Fprintf(&b, "i%de", i+1)
	}
	return b.String()
}
