package webtorrent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Message is any message of the protocol, either way (see the package
// comment); a field one kind does not use stays zero and is left out.
// Counts are pointers where zero must still be sent.
type Message struct {
	Action        string           `json:"action,omitempty"`
	InfoHash      Hashes           `json:"info_hash,omitempty"`
	PeerID        string           `json:"peer_id,omitempty"`
	NumWant       *Int             `json:"numwant,omitempty"`
	Uploaded      *Int             `json:"uploaded,omitempty"`
	Downloaded    *Int             `json:"downloaded,omitempty"`
	Left          *Int             `json:"left,omitempty"`
	Event         string           `json:"event,omitempty"`
	Offers        []Offer          `json:"offers,omitempty"`
	Offer         json.RawMessage  `json:"offer,omitempty"`
	Answer        json.RawMessage  `json:"answer,omitempty"`
	OfferID       string           `json:"offer_id,omitempty"`
	ToPeerID      string           `json:"to_peer_id,omitempty"`
	Interval      *Int             `json:"interval,omitempty"`
	Complete      *Int             `json:"complete,omitempty"`
	Incomplete    *Int             `json:"incomplete,omitempty"`
	Files         map[string]Stats `json:"files,omitempty"`
	FailureReason string           `json:"failure reason,omitempty"`
	Warning       string           `json:"warning message,omitempty"`
}

// Offer is one WebRTC offer of an announce, with the id its answer will
// name. The offer is the session description's JSON ({"type","sdp"}),
// passed through as it came.
type Offer struct {
	Offer   json.RawMessage `json:"offer"`
	OfferID string          `json:"offer_id"`
}

// Stats are one torrent's counts in a scrape answer.
type Stats struct {
	Complete   int `json:"complete"`
	Incomplete int `json:"incomplete"`
	Downloaded int `json:"downloaded"`
}

// Hashes is info_hash: one binary string, or, in a scrape, a list of them.
// One hash is sent as a string.
type Hashes []string

// One returns the single info hash, or "" when there is not exactly one.
func (h Hashes) One() string {
	if len(h) == 1 {
		return h[0]
	}
	return ""
}

// MarshalJSON writes one hash as a string, more as a list.
func (h Hashes) MarshalJSON() ([]byte, error) {
	if len(h) == 1 {
		return json.Marshal(h[0])
	}
	return json.Marshal([]string(h))
}

// UnmarshalJSON reads a string or a list of strings.
func (h *Hashes) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("info_hash: want a string or a list of strings: %w", err)
		}
		*h = list
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return fmt.Errorf("info_hash: want a string or a list of strings: %w", err)
	}
	*h = Hashes{one}
	return nil
}

// Int is a count. Clients send numbers, some as numeric strings or with a
// fraction: it reads all three (within ±2^62) and writes a number.
type Int int64

// Count returns a pointer to n as an Int, for a field that must be sent
// even when zero.
func Count[T ~int | ~int64](n T) *Int { v := Int(n); return &v }

// Value is the count, or def when the field was absent.
func (n *Int) Value(def int64) int64 {
	if n == nil {
		return def
	}
	return int64(*n)
}

var errNotCount = errors.New("want a number")

// UnmarshalJSON reads a number or a numeric string.
func (n *Int) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Int(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<62 {
		return fmt.Errorf("%w, got %.24q", errNotCount, s)
	}
	*n = Int(f)
	return nil
}
