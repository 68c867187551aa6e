package svcmsg

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var (
	errBig = errors.New("test: too large")
	errBad = errors.New("test: malformed")
	codec  = Codec{Name: "test", MaxPayload: 64, MaxDict: 32, TooLarge: errBig, Malformed: errBad}
)

type dict struct {
	T uint64 `bencode:"t"`
	S string `bencode:"s,omitempty"`
}

// A dict and raw bytes go through; every cap and a broken dict give the
// codec's own errors.
func TestCodec(t *testing.T) {
	p, err := codec.Encode("msg", dict{T: 3, S: "x"}, []byte("raw bytes"))
	if err != nil {
		t.Fatal(err)
	}
	var d dict
	raw, err := codec.Decode(p, &d)
	if err != nil || d != (dict{T: 3, S: "x"}) || !bytes.Equal(raw, []byte("raw bytes")) {
		t.Fatalf("Decode: %+v %q %v", d, raw, err)
	}
	if raw, err := codec.Decode([]byte("d1:ti7ee"), &d); err != nil || len(raw) != 0 || d.T != 7 {
		t.Fatalf("a dict alone: %+v %q %v", d, raw, err)
	}
	for name, c := range map[string]struct {
		payload []byte
		want    error
	}{
		"payload over its cap": {bytes.Repeat([]byte("x"), 65), errBig},
		"dict over its cap":    {[]byte("d1:s30:" + strings.Repeat("y", 30) + "1:ti1ee"), errBig},
		"not bencode":          {[]byte("hello"), errBad},
		"truncated dict":       {[]byte("d1:ti1e"), errBad},
	} {
		if _, err := codec.Decode(c.payload, &d); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := codec.Encode("msg", dict{S: strings.Repeat("z", 40)}, nil); !errors.Is(err, errBig) {
		t.Errorf("Encode of a dict over its cap: %v", err)
	}
	if _, err := codec.Encode("msg", dict{T: 1}, bytes.Repeat([]byte("r"), 60)); !errors.Is(err, errBig) {
		t.Errorf("Encode of a payload over its cap: %v", err)
	}
}

// note is a message of the test service: its dict carries T, its text the
// raw bytes.
type note struct {
	T    uint64
	Text string
}

var errNoType = errors.New("test: no type")

var service = Service[note, dict]{
	Codec:  codec,
	ToWire: func(n note) (dict, []byte) { return dict{T: n.T}, []byte(n.Text) },
	FromWire: func(d dict, raw []byte) (note, error) {
		if d.T == 0 {
			return note{}, errNoType
		}
		return note{T: d.T, Text: string(raw)}, nil
	},
}

// A Service's message goes through; Encode refuses what FromWire would
// reject, naming the service and the message's type; Decode gives the
// Codec's errors before FromWire's.
func TestService(t *testing.T) {
	p, err := service.Encode(note{T: 2, Text: "hi"})
	if err != nil || string(p) != "d1:ti2eehi" {
		t.Fatalf("Encode: %q %v", p, err)
	}
	if n, err := service.Decode(p); err != nil || n != (note{T: 2, Text: "hi"}) {
		t.Fatalf("Decode: %+v %v", n, err)
	}
	_, err = service.Encode(note{Text: "no type"})
	if !errors.Is(err, errNoType) || !strings.HasPrefix(err.Error(), "test: encoding svcmsg.note: ") {
		t.Errorf("Encode of a message FromWire rejects: %v", err)
	}
	if _, err := service.Decode([]byte("d1:ti0ee")); !errors.Is(err, errNoType) {
		t.Errorf("Decode of a dict FromWire rejects: %v", err)
	}
	if _, err := service.Decode([]byte("hello")); !errors.Is(err, errBad) {
		t.Errorf("Decode of a broken dict: %v", err)
	}
}
