package webtorrent

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestBinStringRoundTrip(t *testing.T) {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	s := BinString(b)
	// JSON carries it as text, as JavaScript's JSON.stringify would.
	j, _ := json.Marshal(s)
	var back string
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	got, err := FromBinString(back, 256)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := FromBinString("short", 20); err == nil {
		t.Fatal("short id accepted")
	}
	if _, err := ID20("ĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀ"); err == nil {
		t.Fatal("code point above 255 accepted")
	}
}

func FuzzFromBinString(f *testing.F) {
	f.Add("abcdefghijabcdefghij", 20)
	f.Add("\xff\xfe", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 64 {
			return
		}
		b, err := FromBinString(s, n)
		if err != nil {
			return
		}
		if len(b) != n || BinString(b) != s {
			t.Fatalf("%q decoded to %x", s, b)
		}
	})
}
