// Package svctest is the test rig the paid services' wires share (packages
// proxy and store, whose payloads are package svcmsg's and whose connections
// are package svcconn's): the round trip and fuzz properties of a message
// codec, its refusals as tables, and the bytes a handshake sends.
package svctest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
)

// Codec is one service's messages: its Encode and Decode, the cap on a
// payload and the errors Decode documents.
type Codec[M any] struct {
	Encode     func(M) ([]byte, error)
	Decode     func([]byte) (M, error)
	MaxPayload int
	Errors     []error // every error Decode returns wraps one of these
}

// RoundTrip checks that every sample encodes within the cap and decodes to
// itself.
func (c Codec[M]) RoundTrip(t *testing.T, samples []M) {
	t.Helper()
	for _, m := range samples {
		c.roundTrip(t, m)
	}
}

func (c Codec[M]) roundTrip(t *testing.T, m M) {
	t.Helper()
	b, err := c.Encode(m)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", m, err)
	}
	if len(b) > c.MaxPayload {
		t.Fatalf("%T encodes to %d bytes", m, len(b))
	}
	got, err := c.Decode(b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("Decode(Encode(%#v)) = %#v, %v", m, got, err)
	}
}

// Fuzz is the body of a package's FuzzDecode, seeded with the samples'
// encodings of at most 4 KiB (the fuzzer minimizes large inputs slowly;
// RoundTrip covers them) and with seeds: whatever Decode accepts encodes,
// within the cap, and decodes again to the same message; whatever it
// refuses, it refuses with a documented error.
func (c Codec[M]) Fuzz(f *testing.F, samples []M, seeds ...string) {
	f.Helper()
	for _, m := range samples {
		b, err := c.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := c.Decode(b)
		if err != nil {
			if !c.documented(err) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		c.roundTrip(t, m)
	})
}

func (c Codec[M]) documented(err error) bool {
	for _, e := range c.Errors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Refuse checks that Decode refuses payload with want, saying why in its
// error (any error text when why is empty); name is the case's.
func (c Codec[M]) Refuse(t *testing.T, name, payload string, want error, why string) {
	t.Helper()
	m, err := c.Decode([]byte(payload))
	if !errors.Is(err, want) || !strings.Contains(err.Error(), why) {
		t.Errorf("%s: got %#v, %v; want %v saying %q", name, m, err, want, why)
	}
}

// EncodeRefuses checks that Encode refuses each message with want, so that
// a bug shows up at the sender.
func (c Codec[M]) EncodeRefuses(t *testing.T, want error, msgs ...M) {
	t.Helper()
	for _, m := range msgs {
		if b, err := c.Encode(m); !errors.Is(err, want) {
			t.Errorf("Encode(%#v) = %q, %v; want %v", m, b, err, want)
		}
	}
}

// SentHandshake returns what handshake sends on a connection before it
// hears anything: the BitTorrent handshake and the extended one.
func SentHandshake(t *testing.T, handshake func(net.Conn) error) []byte {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- handshake(a) }()
	sent := make([]byte, 68+4)
	_, err := io.ReadFull(b, sent)
	if err == nil {
		ext := make([]byte, binary.BigEndian.Uint32(sent[68:]))
		_, err = io.ReadFull(b, ext)
		sent = append(sent, ext...)
	}
	b.Close()
	if herr := <-done; herr == nil {
		t.Error("the handshake succeeded with a peer that sent nothing")
	}
	a.Close()
	if err != nil {
		t.Fatalf("reading the handshake: %v", err)
	}
	return sent
}
