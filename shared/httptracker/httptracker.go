// Package httptracker is the HTTP BitTorrent tracker protocol as a
// tracker sees it: announce queries (BEP 3) parsed and checked, their
// answers encoded with compact peer lists (BEP 23, IPv6 in "peers6" as in
// BEP 7) or the original dictionary list, and scrapes (BEP 48). It holds
// no state: the relay's tracker keeps swarms in memory, the edge worker in
// D1.
package httptracker

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// Limits and defaults.
const (
	DefaultNumwant = 50
	MaxNumwant     = 200
	MaxScrape      = 100  // info hashes per scrape
	MaxQuery       = 4096 // bytes of announce query
)

// Event is an announce's event.
type Event string

// Events; anything a client may send that means none is Update.
const (
	Started   Event = "started"
	Stopped   Event = "stopped"
	Completed Event = "completed"
	Update    Event = "update"
)

// ParseEvent reads the event parameter.
func ParseEvent(s string) (Event, bool) {
	switch s {
	case "started", "stopped", "completed":
		return Event(s), true
	case "", "empty", "update", "paused":
		return Update, true
	}
	return "", false
}

// Announce is a parsed announce query.
type Announce struct {
	InfoHash [20]byte
	PeerID   [20]byte
	Port     uint16
	Left     int64 // -1: not given
	Event    Event
	Numwant  int
	Compact  bool // compact=0 asks for the dictionary list
}

// QueryError is a malformed query; What is fit for a "failure reason".
type QueryError struct{ What string }

func (e *QueryError) Error() string { return "bad query: " + e.What }

func queryErr(what string) error { return &QueryError{What: what} }

// Hash20 reads a 20-byte binary query value.
func Hash20(v string) ([20]byte, bool) {
	var h [20]byte
	if len(v) != 20 {
		return h, false
	}
	copy(h[:], v)
	return h, true
}

// ParseAnnounce parses the raw query of an announce.
func ParseAnnounce(rawQuery string) (Announce, error) {
	var a Announce
	if len(rawQuery) > MaxQuery {
		return a, queryErr("query too long")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return a, queryErr("malformed query")
	}
	var ok bool
	if a.InfoHash, ok = Hash20(q.Get("info_hash")); !ok {
		return a, queryErr("invalid info_hash")
	}
	if a.PeerID, ok = Hash20(q.Get("peer_id")); !ok {
		return a, queryErr("invalid peer_id")
	}
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if err != nil || port == 0 {
		return a, queryErr("invalid port")
	}
	a.Port = uint16(port)
	a.Left = -1
	if v := q.Get("left"); v != "" {
		if a.Left, err = strconv.ParseInt(v, 10, 64); err != nil || a.Left < 0 {
			return a, queryErr("invalid left")
		}
	}
	if a.Event, ok = ParseEvent(q.Get("event")); !ok {
		return a, queryErr("invalid event")
	}
	a.Numwant = DefaultNumwant
	if v := q.Get("numwant"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			a.Numwant = min(n, MaxNumwant)
		}
	}
	a.Compact = q.Get("compact") != "0"
	return a, nil
}

// ParseScrape reads a scrape's info hashes (1 to MaxScrape).
func ParseScrape(rawQuery string) ([][20]byte, error) {
	if len(rawQuery) > MaxQuery*2 {
		return nil, queryErr("query too long")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, queryErr("malformed query")
	}
	hs := q["info_hash"]
	if len(hs) == 0 || len(hs) > MaxScrape {
		return nil, queryErr(fmt.Sprintf("give 1 to %d info_hash values", MaxScrape))
	}
	out := make([][20]byte, len(hs))
	for i, h := range hs {
		var ok bool
		if out[i], ok = Hash20(h); !ok {
			return nil, queryErr("invalid info_hash")
		}
	}
	return out, nil
}

// Peer is a peer in an announce answer.
type Peer struct {
	ID   [20]byte
	Addr netip.AddrPort
}

// Answer is an announce's answer.
type Answer struct {
	Interval   int // seconds
	Complete   int
	Incomplete int
	Peers      []Peer
}

// Encode bencodes the answer, compact or not.
func (a Answer) Encode(compact bool) []byte {
	resp := map[string]any{
		"interval":     a.Interval,
		"min interval": a.Interval / 2,
		"complete":     a.Complete,
		"incomplete":   a.Incomplete,
	}
	if !compact {
		list := make([]map[string]any, 0, len(a.Peers))
		for _, p := range a.Peers {
			list = append(list, map[string]any{"peer id": string(p.ID[:]), "ip": p.Addr.Addr().String(), "port": int(p.Addr.Port())})
		}
		resp["peers"] = list
		return mustBencode(resp)
	}
	var v4, v6 []byte
	for _, p := range a.Peers {
		ip, port := p.Addr.Addr().Unmap(), p.Addr.Port()
		if ip.Is4() {
			v4 = append(append(v4, ip.AsSlice()...), byte(port>>8), byte(port))
		} else {
			v6 = append(append(v6, ip.AsSlice()...), byte(port>>8), byte(port))
		}
	}
	resp["peers"] = string(v4)
	if len(v6) > 0 {
		resp["peers6"] = string(v6)
	}
	return mustBencode(resp)
}

// Stopped answers a stopped event: no peers.
func StoppedAnswer(interval int) []byte {
	return mustBencode(map[string]any{"interval": interval, "complete": 0, "incomplete": 0, "peers": ""})
}

// Files is a scrape's answer: the counts of each info hash.
type Files map[[20]byte]Counts

// Counts are one torrent's scrape figures.
type Counts struct{ Complete, Incomplete, Downloaded int }

// Encode bencodes the scrape answer.
func (f Files) Encode() []byte {
	files := make(map[string]any, len(f))
	for h, c := range f {
		files[string(h[:])] = map[string]int{"complete": c.Complete, "incomplete": c.Incomplete, "downloaded": c.Downloaded}
	}
	return mustBencode(map[string]any{"files": files})
}

// Failure bencodes a failure answer (sent with status 200, as BEP 3 has it).
func Failure(reason string) []byte {
	return mustBencode(map[string]any{"failure reason": reason})
}

// RetryFailure bencodes a failure that asks the client to come back after
// retry: as "interval" and "min interval" (seconds), which some clients
// read even from a failure, and as BEP 31's "retry in" (minutes).
func RetryFailure(reason string, retry time.Duration) []byte {
	secs := max(1, int((retry+time.Second-1)/time.Second))
	return mustBencode(map[string]any{"failure reason": reason, "interval": secs, "min interval": secs,
		"retry in": (secs + 59) / 60})
}

// Reason is the failure reason for err: a QueryError's What, or err.
func Reason(err error) string {
	var q *QueryError
	if errors.As(err, &q) {
		return q.What
	}
	return err.Error()
}

func mustBencode(v any) []byte {
	b, err := bencode.Marshal(v)
	if err != nil {
		// Only maps of strings, ints and lists of them are encoded.
		panic(fmt.Sprintf("httptracker: bencoding: %v", err))
	}
	return b
}

// ScrapeURL derives a tracker's scrape URL from its announce URL (BEP 48:
// the last path segment "announce" becomes "scrape").
func ScrapeURL(announce string) (string, error) {
	u, err := url.Parse(announce)
	if err != nil {
		return "", err
	}
	i := strings.LastIndex(u.Path, "/")
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return "", fmt.Errorf("%s does not end in /announce: the tracker has no scrape (BEP 48)", announce)
	}
	u.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(u.Path[i+1:], "announce")
	return u.String(), nil
}

// MaxScrapeAnswer caps a scrape answer a client reads.
const MaxScrapeAnswer = 1 << 20

// DecodeScrape reads a scrape answer (a failure becomes an error).
func DecodeScrape(b []byte) (Files, error) {
	if len(b) > MaxScrapeAnswer {
		return nil, fmt.Errorf("scrape answer of %d bytes, over %d", len(b), MaxScrapeAnswer)
	}
	var m struct {
		Failure string `bencode:"failure reason"`
		Files   map[string]struct {
			Complete   int `bencode:"complete"`
			Incomplete int `bencode:"incomplete"`
			Downloaded int `bencode:"downloaded"`
		} `bencode:"files"`
	}
	if err := bencode.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("scrape answer: %w", err)
	}
	if m.Failure != "" {
		return nil, fmt.Errorf("the tracker refused: %s", m.Failure)
	}
	out := make(Files, len(m.Files))
	for k, v := range m.Files {
		h, ok := Hash20(k)
		if !ok || v.Complete < 0 || v.Incomplete < 0 || v.Downloaded < 0 {
			return nil, fmt.Errorf("scrape answer: a malformed entry")
		}
		out[h] = Counts{Complete: v.Complete, Incomplete: v.Incomplete, Downloaded: v.Downloaded}
	}
	return out, nil
}
