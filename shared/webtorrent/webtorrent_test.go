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

// FuzzMessage decodes arbitrary JSON as a Message, encodes it and decodes
// that again: the round trip must give the same message, so what one end
// sends the other reads as meant.
func FuzzMessage(f *testing.F) {
	ih := BinString(bytes.Repeat([]byte{0xff, 0x01}, 10))
	f.Add([]byte(`{"action":"announce","info_hash":"` + ih + `","peer_id":"` + ih + `","numwant":5,"left":"12","uploaded":0,"event":"started","offers":[{"offer":{"type":"offer","sdp":"v=0"},"offer_id":"` + ih + `"}]}`))
	f.Add([]byte(`{"action":"announce","interval":120,"info_hash":"` + ih + `","complete":0,"incomplete":3.0}`))
	f.Add([]byte(`{"action":"scrape","info_hash":["` + ih + `","` + ih + `"]}`))
	f.Add([]byte(`{"action":"scrape","files":{"` + ih + `":{"complete":1,"incomplete":2,"downloaded":3}}}`))
	f.Add([]byte(`{"failure reason":"nope","warning message":"w"}`))
	f.Add([]byte(`{"left":"1e400","numwant":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if json.Unmarshal(b, &m) != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encoding %+v: %v", m, err)
		}
		var back Message
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("decoding our own %s: %v", out, err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(out, again) {
			t.Fatalf("round trip changed the message:\n%s\n%s", out, again)
		}
	})
}

func TestMessageCountsAndHashes(t *testing.T) {
	var m Message
	if err := json.Unmarshal([]byte(`{"info_hash":"abc","numwant":"7","left":2.0,"complete":0}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.InfoHash.One() != "abc" || m.NumWant.Value(-1) != 7 || m.Left.Value(-1) != 2 || m.Complete.Value(-1) != 0 || m.Uploaded.Value(-1) != -1 {
		t.Fatalf("decoded %+v", m)
	}
	for _, bad := range []string{`{"numwant":"x"}`, `{"left":{}}`, `{"info_hash":5}`, `{"interval":1e300}`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	out, _ := json.Marshal(Message{Action: "announce", InfoHash: Hashes{"a"}, Complete: Count(0)})
	if string(out) != `{"action":"announce","info_hash":"a","complete":0}` {
		t.Fatalf("encoded %s", out)
	}
}
