package svcconn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

var (
	errNotPeer  = errors.New("test: not a peer")
	errTooLarge = errors.New("test: too large")
	errUnknown  = errors.New("test: unknown type")
	errBad      = errors.New("test: malformed")
)

// testService is a service whose messages are strings: one that starts
// with "?" is of an unknown type, with "!" malformed.
func testService(extID, speedID byte) *Service {
	return &Service{Name: "test", Hash: [20]byte{7, 7}, Ext: "bt_test", ExtID: extID, SpeedID: speedID, Client: "test",
		MaxFrame: 1 << 10, NotPeer: errNotPeer, TooLarge: errTooLarge, Unknown: errUnknown}
}

func decodeString(b []byte) (any, error) {
	switch {
	case bytes.HasPrefix(b, []byte("?")):
		return nil, fmt.Errorf("%w: %q", errUnknown, b)
	case bytes.HasPrefix(b, []byte("!")):
		return nil, fmt.Errorf("%w: %q", errBad, b)
	}
	return string(b), nil
}

func decodeSpeed(b []byte) (any, error) { return speed.Decode(b) }

func account(t *testing.T, ledger string) speed.Handshake {
	t.Helper()
	k, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return speed.Handshake{Version: speed.Version, Account: k.Address(), Ledger: ledger}
}

// handshakes runs Handshake on both ends of a pipe, a as sa and b as sb.
func handshakes(t *testing.T, sa, sb *Service, a, b speed.Handshake) (*Conn, *Conn, error, error) {
	t.Helper()
	na, nb := net.Pipe()
	t.Cleanup(func() { na.Close(); nb.Close() })
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Handshake(nb, sb, [20]byte{2}, b)
		if err != nil {
			nb.Close() // as callers do: the other side's read ends
		}
		ch <- res{c, err}
	}()
	ca, errA := Handshake(na, sa, [20]byte{1}, a)
	if errA != nil {
		na.Close()
	}
	r := <-ch
	return ca, r.c, errA, r.err
}

// Two peers whose services assign different extended ids learn each
// other's account and ledger and exchange service and Speed messages, each
// sent with the id the receiver assigned and read by the right decoder.
func TestRoundTrip(t *testing.T) {
	a, b := account(t, "l1"), account(t, "l2")
	ca, cb, errA, errB := handshakes(t, testService(2, 1), testService(1, 2), a, b)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if ca.Peer != b || cb.Peer != a {
		t.Fatalf("peers %+v %+v", ca.Peer, cb.Peer)
	}
	closing := speed.ChannelClosing{Channel: speed.ChannelID{1}, Seq: 2}
	sent := make(chan error, 1)
	go func() {
		err := errors.Join(ca.WritePayload([]byte("hello")), ca.WriteSpeed(closing), ca.WritePayload([]byte("again")))
		sent <- err
	}()
	for _, want := range []any{"hello", closing, "again"} {
		if m, err := Read(cb, decodeString, decodeSpeed); err != nil || m != want {
			t.Fatalf("read %#v, %v; want %#v", m, err, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// A peer on another hash, or without the service's extension or bt_speed,
// is not a peer of the service.
func TestHandshakeRefuses(t *testing.T) {
	other := testService(1, 2)
	other.Hash = [20]byte{8}
	noExt := testService(1, 2)
	noExt.Ext = "bt_other"
	for name, peer := range map[string]*Service{"another hash": other, "another extension": noExt} {
		_, _, err, _ := handshakes(t, testService(1, 2), peer, account(t, "l"), account(t, "l"))
		if !errors.Is(err, errNotPeer) {
			t.Errorf("%s: %v, want %v", name, err, errNotPeer)
		}
	}
	for name, ext := range map[string]string{
		"no bt_speed":        "d1:md7:bt_testi1eee",
		"bt_speed id of 256": "d1:md8:bt_speedi256e7:bt_testi1ee8:bt_speedd4:acct21:AAAAAAAAAAAAAAAAAAAAA6:ledger1:l1:vi1eee",
		"bt_test id of 0":    "d1:md8:bt_speedi1e7:bt_testi0ee8:bt_speedd4:acct21:AAAAAAAAAAAAAAAAAAAAA6:ledger1:l1:vi1eee",
		"not bencode":        "d1:m",
	} {
		svc := testService(1, 2)
		peer := append([]byte(pstr+"\x00\x00\x00\x00\x00\x10\x00\x00"), svc.Hash[:]...)
		peer = appendFrame(append(peer, make([]byte, 20)...), 0, []byte(ext))
		c := &Conn{svc: svc, r: bufio.NewReader(bytes.NewReader(peer))}
		if err := c.readHandshakes(); !errors.Is(err, errNotPeer) {
			t.Errorf("%s: %v, want %v", name, err, errNotPeer)
		}
	}
}

// Read skips keep-alives, other BitTorrent messages, other extensions and
// unknown types; it drops malformed messages until the MaxMalformed-th,
// and a message over the cap is an error before it is read.
func TestRead(t *testing.T) {
	svc := testService(1, 2)
	var in []byte
	in = append(in, 0, 0, 0, 0)                       // keep-alive
	in = append(in, 0, 0, 0, 5, 4, 0, 0, 0, 1)        // have
	in = appendFrame(in, 3, []byte("another ext"))    // another extension
	in = appendFrame(in, 1, []byte("?new type"))      // unknown type
	in = appendFrame(in, 2, []byte("d1:ti99ee"))      // unknown Speed type
	in = appendFrame(in, 1, []byte("!bad"))           // malformed 1
	in = appendFrame(in, 1, []byte("first"))          // read
	in = appendFrame(in, 2, []byte("d1:ti5ee"))       // malformed Speed 2
	in = appendFrame(in, 1, []byte("second"))         // read
	in = appendFrame(in, 1, []byte("!bad again"))     // malformed 3: fails
	in = appendFrame(in, 1, []byte("never returned")) //
	c := &Conn{svc: svc, r: bufio.NewReader(bytes.NewReader(in))}
	for _, want := range []string{"first", "second"} {
		if m, err := Read(c, decodeString, decodeSpeed); err != nil || m != want {
			t.Fatalf("read %#v, %v; want %q", m, err, want)
		}
	}
	if m, err := Read(c, decodeString, decodeSpeed); !errors.Is(err, errBad) || !strings.Contains(err.Error(), "3 malformed") {
		t.Fatalf("the third malformed message: %#v, %v", m, err)
	}

	// Without a Speed decoder, bt_speed messages are skipped, malformed or not.
	in = appendFrame(appendFrame(nil, 2, []byte("d1:ti5ee")), 1, []byte("store"))
	c = &Conn{svc: svc, r: bufio.NewReader(bytes.NewReader(in))}
	if m, err := Read(c, decodeString, nil); err != nil || m != "store" || c.malformed != 0 {
		t.Fatalf("no Speed decoder: %#v, %v, %d malformed", m, err, c.malformed)
	}

	big := appendFrame(nil, 1, make([]byte, svc.MaxFrame-1))
	c = &Conn{svc: svc, r: bufio.NewReader(bytes.NewReader(big))}
	if _, err := Read(c, decodeString, nil); !errors.Is(err, errTooLarge) {
		t.Fatalf("a message over the cap: %v", err)
	}
}

// FuzzRead: whatever a peer sends after the handshakes, Read returns
// messages or an error, never panics, and reads no frame above its cap.
func FuzzRead(f *testing.F) {
	f.Add(appendFrame(nil, 1, []byte("hello")))
	f.Add(appendFrame(nil, 2, []byte("d1:ti5e2:ch32:0123456789012345678901234567890123:seqi1ee")))
	f.Add(appendFrame(appendFrame(nil, 1, []byte("!garbage")), 1, []byte("?later")))
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Conn{svc: testService(1, 2), r: bufio.NewReader(bytes.NewReader(data))}
		for range 64 {
			m, err := Read(c, decodeString, decodeSpeed)
			if err != nil {
				return
			}
			if m == nil {
				t.Fatal("nil message without an error")
			}
		}
	})
}
