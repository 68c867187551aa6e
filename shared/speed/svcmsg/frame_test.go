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
