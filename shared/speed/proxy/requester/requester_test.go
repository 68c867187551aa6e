//go:build !js

// (Not under js/wasm: these tests listen on loopback TCP, which the Node run
// of ./shared/... has not.)

package requester_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/requester"
	"github.com/btspeed/btspeed/shared/wallet"
)

type memSink struct{ data []byte }

func (s *memSink) WriteChunk(off uint64, b []byte) error {
	s.data = append(s.data[:off], b...)
	return nil
}
func (s *memSink) Checkpoint(requester.Progress) error { return nil }

// Exposure, requester side: a provider that sends one whole chunk, half of
// the next and hangs up is paid for the first chunk only, its price
// exactly; the half chunk is neither kept nor paid.
func TestRequesterPaysOnlyWholeChunks(t *testing.T) {
	const ledgerID, rate, chunk = "proxy-test", 1 << 20, proxy.MinChunk // 1 base unit a byte
	ledger := memledger.New(ledgerID, time.Now)
	provKey, _ := wallet.GenerateKey()
	reqKey, _ := wallet.GenerateKey()
	ledger.Mint(reqKey.Address(), 10_000_000)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	content := bytes.Repeat([]byte{7}, 3*chunk)
	payments := make(chan []proxy.Pay, 1)
	go func() { // the provider, scripted
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		c, err := proxy.Handshake(nc, [20]byte{2}, speed.Handshake{Version: 1, Account: provKey.Address(), Ledger: ledgerID})
		if err != nil {
			return
		}
		m, _ := c.Read()
		f := m.(proxy.Fetch)
		c.Write(proxy.Head{ID: f.ID, Pin: proxy.Pin{Length: uint64(len(content)), ETag: `"x"`, Chunk: chunk}, Rate: rate, Payee: provKey.Address(), Ledger: ledgerID, MinTTL: 600})
		c.Write(proxy.Data{ID: f.ID, Index: 0, Offset: 0, Block: content[:chunk]})
		var got []proxy.Pay
		m, _ = c.Read()
		if p, ok := m.(proxy.Pay); ok {
			got = append(got, p)
		}
		c.Write(proxy.Data{ID: f.ID, Index: 1, Offset: 0, Block: content[chunk : chunk+chunk/2]})
		nc.(*net.TCPConn).CloseWrite()
		for {
			m, err := c.Read()
			if err != nil {
				break
			}
			if p, ok := m.(proxy.Pay); ok {
				got = append(got, p)
			}
		}
		payments <- got
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	cfg := requester.Config{Key: reqKey, Ledger: ledger, LedgerID: ledgerID, MaxRate: rate, Budget: 10_000_000}
	res, err := requester.Fetch(context.Background(), nc, cfg, requester.Progress{URL: "http://example.org/f"}, sink)
	if err == nil || res.Progress.Next != 1 || res.Chunks != 1 {
		t.Fatalf("fetch cut in chunk 1: %+v, %v", res, err)
	}
	got := <-payments
	if len(got) != 1 || got[0].Index != 0 || got[0].State.Paid != chunk || res.Spent != chunk {
		t.Fatalf("payments %+v (spent %d), want one of %d for chunk 0", got, res.Spent, chunk)
	}
	if !bytes.Equal(sink.data, content[:chunk]) {
		t.Fatalf("kept %d bytes, want chunk 0 only", len(sink.data))
	}
}
