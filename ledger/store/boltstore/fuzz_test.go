package boltstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// The decoders read what this package wrote, but a damaged file must give an
// error, never a panic or a wrong value that re-encodes differently.

func FuzzDecodeChannel(f *testing.F) {
	ch := store.Channel{Channel: speed.Channel{ID: speed.ChannelID{1}, Payer: wallet.Address{0x41, 2}, Payee: wallet.Address{0x41, 3},
		Deposit: 10, Deadline: time.Unix(1_800_000_000, 5), Closed: true, Seq: 4, Paid: 6}, Nonce: 7, OpenedAt: time.Unix(1_700_000_000, 0), CloseKind: store.ByState}
	f.Add(encodeChannel(ch))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := decodeChannel(b)
		if err != nil {
			return
		}
		if again := encodeChannel(ch); !bytes.Equal(again, b) {
			t.Fatalf("decoded channel re-encodes differently")
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	e := store.Entry{Account: wallet.Address{0x41, 9}, Seq: 3, Time: time.Unix(1_800_000_000, 0), Kind: "transfer", Credit: 5, Balance: 5, Ref: "abc", Counterparty: wallet.Address{0x41, 1}}
	enc, _ := encodeEntry(e)
	f.Add(enc)
	e.Memo = "Order #42 — merci"
	enc, _ = encodeEntry(e)
	f.Add(enc)
	e.Service = "storage"
	enc, _ = encodeEntry(e)
	f.Add(enc)
	e.Memo, e.Kind = "", "channel-deposit"
	enc, _ = encodeEntry(e)
	f.Add(enc)
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(wallet.Address{0x41, 9}, 3, b)
		if err != nil {
			return
		}
		again, err := encodeEntry(e)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded entry re-encodes differently: %v", err)
		}
	})
}
