package proxy

import (
	"errors"
	"net"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svctest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Two peers handshake, learn each other's account and ledger, and exchange
// proxy and Speed messages; each goes to the right extension. (The
// connection itself is package svcconn's, tested there.)
func TestConnRoundTrip(t *testing.T) {
	ka, _ := wallet.GenerateKey()
	kb, _ := wallet.GenerateKey()
	a := speed.Handshake{Version: 1, Account: ka.Address(), Ledger: "l1"}
	b := speed.Handshake{Version: 1, Account: kb.Address(), Ledger: "l1"}
	na, nb := net.Pipe()
	defer na.Close()
	defer nb.Close()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Handshake(nb, [20]byte{2}, b)
		ch <- res{c, err}
	}()
	ca, err := Handshake(na, [20]byte{1}, a)
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatal(err, r.err)
	}
	cb := r.c
	if ca.Peer != b || cb.Peer != a {
		t.Fatalf("peers %+v %+v", ca.Peer, cb.Peer)
	}
	sent := make(chan error, 1)
	go func() {
		sent <- errors.Join(ca.Write(Cancel{ID: 7}), ca.WriteSpeed(speed.ChannelClosing{Channel: speed.ChannelID{1}, Seq: 2}))
	}()
	if m, err := cb.Read(); err != nil || m != (Cancel{ID: 7}) {
		t.Fatalf("read %v, %v", m, err)
	}
	if m, err := cb.Read(); err != nil || m != (speed.ChannelClosing{Channel: speed.ChannelID{1}, Seq: 2}) {
		t.Fatalf("read %v, %v", m, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// A peer on another info hash is not a proxy peer.
func TestHandshakeRefusesOthers(t *testing.T) {
	ca, cb := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var h [68]byte
		copy(h[:], "\x13BitTorrent protocol")
		h[25] = 0x10
		cb.Write(h[:]) // info hash all zero
		buf := make([]byte, 1024)
		cb.Read(buf)
		cb.Close()
	}()
	if _, err := Handshake(ca, [20]byte{}, speed.Handshake{Version: 1, Ledger: "l"}); !errors.Is(err, ErrNotProxy) {
		t.Errorf("another info hash: %v", err)
	}
	ca.Close() // as a caller does: the peer's read ends
	<-done
}

// What a proxy peer sends first, byte for byte (docs/speed-protocol.md
// section 11.1): it assigns 1 to bt_speed and 2 to bt_proxy.
func TestHandshakeWire(t *testing.T) {
	self := speed.Handshake{Version: 1, Account: wallet.Address{0x41, 1, 2, 3}, Ledger: "btspeed-devnet"}
	sent := svctest.SentHandshake(t, func(c net.Conn) error {
		_, err := Handshake(c, [20]byte{9}, self)
		return err
	})
	acct := string(self.Account[:])
	want := "\x13BitTorrent protocol\x00\x00\x00\x00\x00\x10\x00\x00" + string(ServiceHash[:]) + "\x09" + string(make([]byte, 19)) +
		"\x00\x00\x00\x7f\x14\x00" + "d8:bt_speedd4:acct21:" + acct + "6:ledger14:btspeed-devnet1:vi1ee" +
		"1:md8:bt_proxyi2e8:bt_speedi1ee1:v13:btspeed-proxye"
	if string(sent) != want {
		t.Fatalf("sent\n%q\nwant\n%q", sent, want)
	}
}
