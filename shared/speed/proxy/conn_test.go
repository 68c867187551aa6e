//go:build !js

// (Not under js/wasm: these tests listen on loopback TCP, which the Node run
// of ./shared/... has not.)

package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

func handshakes(t *testing.T, a, b speed.Handshake) (*Conn, *Conn, error, error) {
	t.Helper()
	ca, cb := tcpPair(t)
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Handshake(cb, [20]byte{2}, b)
		ch <- res{c, err}
	}()
	c1, err1 := Handshake(ca, [20]byte{1}, a)
	r := <-ch
	return c1, r.c, err1, r.err
}

// tcpPair returns the two ends of a loopback TCP connection (the handshakes
// write before they read, as peers do, which a net.Pipe cannot buffer).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// Two peers handshake, learn each other's account and ledger, and exchange
// proxy and Speed messages; each goes to the right extension.
func TestConnRoundTrip(t *testing.T) {
	ka, _ := wallet.GenerateKey()
	kb, _ := wallet.GenerateKey()
	a := speed.Handshake{Version: 1, Account: ka.Address(), Ledger: "l1"}
	b := speed.Handshake{Version: 1, Account: kb.Address(), Ledger: "l1"}
	ca, cb, err1, err2 := handshakes(t, a, b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if ca.Peer != b || cb.Peer != a {
		t.Fatalf("peers %+v %+v", ca.Peer, cb.Peer)
	}
	go func() {
		ca.Write(Cancel{ID: 7})
		ca.WriteSpeed(speed.ChannelClosing{Channel: speed.ChannelID{1}, Seq: 2})
	}()
	if m, err := cb.Read(); err != nil || m != (Cancel{ID: 7}) {
		t.Fatalf("read %v, %v", m, err)
	}
	if m, err := cb.Read(); err != nil || m != (speed.ChannelClosing{Channel: speed.ChannelID{1}, Seq: 2}) {
		t.Fatalf("read %v, %v", m, err)
	}
}

// A peer on another info hash, or without bt_proxy, is not a proxy peer.
func TestHandshakeRefusesOthers(t *testing.T) {
	ca, cb := tcpPair(t)
	go func() {
		var h [68]byte
		copy(h[:], pstr)
		h[25] = 0x10
		cb.Write(h[:]) // info hash all zero
		buf := make([]byte, 1024)
		cb.Read(buf)
		cb.Close()
	}()
	if _, err := Handshake(ca, [20]byte{}, speed.Handshake{Version: 1, Ledger: "l"}); !errors.Is(err, ErrNotProxy) {
		t.Fatalf("another info hash: %v", err)
	}
}

// FuzzConnRead: whatever a peer sends after the handshakes, Read returns
// messages or an error, never panics, and reads no frame above its cap.
func FuzzConnRead(f *testing.F) {
	p, _ := Encode(Data{ID: 3, Index: 2, Offset: 16384, Block: []byte("xyz")})
	f.Add(frame(proxyExtID, p))
	f.Add(frame(speedExtID, []byte("d1:ti5e2:ch32:0123456789012345678901234567890123:seqi1ee")))
	f.Add(append(frame(proxyExtID, []byte("garbage")), frame(proxyExtID, []byte("d1:ti9e2:idi1ee"))...))
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Conn{r: bufio.NewReader(bytes.NewReader(data))}
		for range 64 {
			m, err := c.Read()
			if err != nil {
				return
			}
			if m == nil {
				t.Fatal("nil message without an error")
			}
		}
	})
}
