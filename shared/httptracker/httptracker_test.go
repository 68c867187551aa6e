package httptracker

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

func TestParseAnnounce(t *testing.T) {
	ih, id := strings.Repeat("a", 20), strings.Repeat("b", 20)
	q := url.Values{"info_hash": {ih}, "peer_id": {id}, "port": {"6881"}, "left": {"0"}, "event": {"completed"}, "numwant": {"9999"}, "compact": {"0"}}
	a, err := ParseAnnounce(q.Encode())
	if err != nil || string(a.InfoHash[:]) != ih || string(a.PeerID[:]) != id || a.Port != 6881 || a.Left != 0 ||
		a.Event != Completed || a.Numwant != MaxNumwant || a.Compact {
		t.Fatalf("%+v %v", a, err)
	}
	for query, reason := range map[string]string{
		"info_hash=short&peer_id=" + id + "&port=1":                 "invalid info_hash",
		"info_hash=" + ih + "&peer_id=" + id + "&port=0":            "invalid port",
		"info_hash=" + ih + "&peer_id=" + id + "&port=1&left=-5":    "invalid left",
		"info_hash=" + ih + "&peer_id=" + id + "&port=1&event=boom": "invalid event",
		"info_hash=" + ih + "&peer_id=x&port=1":                     "invalid peer_id",
		strings.Repeat("x", MaxQuery+1):                             "query too long",
	} {
		if _, err := ParseAnnounce(query); err == nil || Reason(err) != reason {
			t.Errorf("%.60q: %v, want %q", query, err, reason)
		}
	}
}

func TestAnswerEncoding(t *testing.T) {
	p4 := Peer{Addr: netip.MustParseAddrPort("10.0.0.1:6881")}
	p6 := Peer{Addr: netip.MustParseAddrPort("[2001:db8::1]:51413")}
	var got struct {
		Interval int    `bencode:"interval"`
		Peers    string `bencode:"peers"`
		Peers6   string `bencode:"peers6"`
	}
	if err := bencode.Unmarshal(Answer{Interval: 600, Peers: []Peer{p4, p6}}.Encode(true), &got); err != nil {
		t.Fatal(err)
	}
	if got.Interval != 600 || got.Peers != "\x0a\x00\x00\x01\x1a\xe1" || len(got.Peers6) != 18 || got.Peers6[16:] != "\xc8\xd5" {
		t.Fatalf("%+v", got)
	}
	var files struct {
		Files map[string]struct {
			Complete int `bencode:"complete"`
		} `bencode:"files"`
	}
	h := [20]byte{1}
	if err := bencode.Unmarshal(Files{h: {Complete: 3}}.Encode(), &files); err != nil || files.Files[string(h[:])].Complete != 3 {
		t.Fatalf("%+v %v", files, err)
	}
}

// FuzzParse: no query makes the parsers panic, and whatever parses is
// within the limits.
// A failure that asks to come back later carries the wait in seconds and,
// for BEP 31, in whole minutes rounded up.
func TestRetryFailure(t *testing.T) {
	var got struct {
		Reason      string `bencode:"failure reason"`
		Interval    int    `bencode:"interval"`
		MinInterval int    `bencode:"min interval"`
		RetryIn     int    `bencode:"retry in"`
	}
	if err := bencode.Unmarshal(RetryFailure("slow down", 90*time.Second), &got); err != nil {
		t.Fatal(err)
	}
	if got.Reason != "slow down" || got.Interval != 90 || got.MinInterval != 90 || got.RetryIn != 2 {
		t.Fatalf("%+v", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=6881&left=0&compact=1")
	f.Add("info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13&info_hash=x&numwant=-1")
	f.Fuzz(func(t *testing.T, q string) {
		if a, err := ParseAnnounce(q); err == nil && (a.Port == 0 || a.Numwant < 0 || a.Numwant > MaxNumwant || a.Left < -1) {
			t.Fatalf("%+v", a)
		}
		if hs, err := ParseScrape(q); err == nil && (len(hs) == 0 || len(hs) > MaxScrape) {
			t.Fatalf("%d hashes", len(hs))
		}
	})
}

func TestScrapeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://t.example/announce":          "http://t.example/scrape",
		"https://t.example/x/announce.php?a": "https://t.example/x/scrape.php?a",
	} {
		if got, err := ScrapeURL(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	if _, err := ScrapeURL("http://t.example/a"); err == nil {
		t.Error("no /announce: no error")
	}
}

// FuzzDecodeScrape: no answer makes the decoder panic; what decodes
// encodes back to the same figures.
func FuzzDecodeScrape(f *testing.F) {
	f.Add(Files{[20]byte{1}: {Complete: 2, Incomplete: 3, Downloaded: 4}}.Encode())
	f.Add(Failure("no"))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := DecodeScrape(b)
		if err != nil {
			return
		}
		again, err := DecodeScrape(files.Encode())
		if err != nil || len(again) != len(files) {
			t.Fatalf("%v %v", again, err)
		}
		for h, c := range files {
			if again[h] != c {
				t.Fatalf("%x: %+v != %+v", h, again[h], c)
			}
		}
	})
}
