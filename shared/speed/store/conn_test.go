package store

import (
	"net"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/svctest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// What a storage peer sends first, byte for byte but for the random end of
// its peer id (docs/speed-protocol.md sections 11.1 and 12.3): it assigns 1
// to bt_store and 2 to bt_speed. (The connection is package svcconn's,
// tested there; provider_test runs whole sessions.)
func TestHandshakeWire(t *testing.T) {
	self := speed.Handshake{Version: 1, Account: wallet.Address{0x41, 1, 2, 3}, Ledger: "btspeed-devnet"}
	sent := svctest.SentHandshake(t, func(c net.Conn) error {
		_, err := Handshake(c, self)
		return err
	})
	if len(sent) < 68 || !strings.HasPrefix(string(sent[48:]), "-BS0001-") {
		t.Fatalf("sent %q: no -BS0001- peer id", sent)
	}
	copy(sent[56:68], make([]byte, 12))
	acct := string(self.Account[:])
	want := "\x13BitTorrent protocol\x00\x00\x00\x00\x00\x10\x00\x00" + string(ServiceHash[:]) + "-BS0001-" + string(make([]byte, 12)) +
		"\x00\x00\x00\x78\x14\x00" + "d8:bt_speedd4:acct21:" + acct + "6:ledger14:btspeed-devnet1:vi1ee" +
		"1:md8:bt_speedi2e8:bt_storei1ee1:v7:btspeede"
	if string(sent) != want {
		t.Fatalf("sent\n%q\nwant\n%q", sent, want)
	}
}
