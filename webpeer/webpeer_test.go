//go:build !js

package webpeer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/webpeer"
)

// startRelay runs a relay with an embedded ledger (dev genesis, an easy
// faucet) on loopback.
func startRelay(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	l, err := server.Open(ctx, server.Config{ID: "btspeed-devnet", DB: filepath.Join(t.TempDir(), "ledger.db"), Genesis: "dev", FaucetBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{Ledger: l, PublicURL: "http://" + ln.Addr().String(), RTC: rtctest.Loopback(), LedgerRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); rl.Close() })
	return srv.URL
}

func newPeer(t *testing.T, relayURL string, kv webpeer.KV) *webpeer.Peer {
	t.Helper()
	p, err := webpeer.Start(context.Background(), webpeer.Config{Relay: relayURL, KV: kv, RTC: rtctest.Loopback()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// The wallet: create, "reload" (a new peer on the same storage), unlock
// with the password; a wrong password is refused and changes nothing;
// restoring the phrase elsewhere gives the same address.
func TestWallet(t *testing.T) {
	url := startRelay(t)
	kv := &webpeer.MapKV{}
	p := newPeer(t, url, kv)
	w := p.Wallet()
	if w.State() != webpeer.StateNone {
		t.Fatalf("state %s", w.State())
	}
	if _, _, err := w.Create("short"); !errors.Is(err, webpeer.ErrShortPassword) {
		t.Fatalf("short password: %v", err)
	}
	phrase, addr, err := w.Create("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if w.State() != webpeer.StateUnlocked || w.Address() != addr {
		t.Fatalf("after create: %s %s", w.State(), w.Address())
	}

	p2 := newPeer(t, url, kv) // the page reloaded
	w2 := p2.Wallet()
	if w2.State() != webpeer.StateLocked || w2.Address() != addr {
		t.Fatalf("after reload: %s %s", w2.State(), w2.Address())
	}
	ks, _ := kv.Get("btspeed.keystore")
	if err := w2.Unlock("wrong password!"); !errors.Is(err, webpeer.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if ks2, _ := kv.Get("btspeed.keystore"); ks2 != ks || w2.State() != webpeer.StateLocked {
		t.Fatal("a wrong password changed something")
	}
	if err := w2.Unlock("correct horse battery"); err != nil || w2.State() != webpeer.StateUnlocked {
		t.Fatalf("unlock: %v %s", err, w2.State())
	}
	w2.Lock()
	if w2.State() != webpeer.StateLocked {
		t.Fatal("lock")
	}

	p3 := newPeer(t, url, &webpeer.MapKV{}) // another browser
	got, err := p3.Wallet().Restore("  "+phrase+" ", "another password")
	if err != nil || got != addr {
		t.Fatalf("restore: %s %v, want %s", got, err, addr)
	}
	if _, err := p3.Wallet().Restore("abandon abandon abandon", "another password"); err == nil {
		t.Fatal("a bad phrase restored")
	}
}

// Two browser peers on one relay: each claims from the faucet; one seeds
// with a reserve price, the other downloads over WebRTC with Speed on and
// pays per piece; after both stop, the ledger balances moved by exactly
// what the downloader spent and the seeder earned.
func TestTwoPeersPayOverWebRTC(t *testing.T) {
	url := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	seeder, buyer := newPeer(t, url, &webpeer.MapKV{}), newPeer(t, url, &webpeer.MapKV{})
	for _, p := range []*webpeer.Peer{seeder, buyer} {
		if _, _, err := p.Wallet().Create("password1234"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wallet().Faucet(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := seeder.Settings()
	s.Reserve = 50_000 // base units per MiB
	if err := seeder.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	before := map[*webpeer.Peer]uint64{}
	for _, p := range []*webpeer.Peer{seeder, buyer} {
		b, err := p.Wallet().Balance(ctx)
		if err != nil || b.Ledger == 0 {
			t.Fatalf("balance after the faucet: %+v %v", b, err)
		}
		before[p] = b.Ledger
	}

	data := make([]byte, 3<<20+4321)
	rand.Read(data)
	st, err := seeder.Seed("", []webpeer.SeedFile{{Path: "movie.webm", Data: data}}, webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bt, err := buyer.Add(ctx, []byte(st.Status().MagnetURI), webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-bt.Engine().Complete():
	case <-ctx.Done():
		t.Fatalf("download incomplete: %+v", bt.Status())
	}
	got := make([]byte, len(data))
	if n, err := bt.ReadFile(ctx, 0, got, 0, 0); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("file differs (%d bytes, %v)", n, err)
	}
	status := bt.Status()
	if status.Conns["webrtc"] == 0 || status.Spent == 0 {
		t.Fatalf("want a paid WebRTC download: %+v", status)
	}
	// The last payment goes out as the last piece is verified: wait until
	// the seeder has it (a peer closed at once may take a payment in
	// flight with it; the ledger then settles the state before it).
	settle := time.Now().Add(15 * time.Second)
	for st.Status().Earned != bt.Status().Spent && time.Now().Before(settle) {
		time.Sleep(20 * time.Millisecond)
	}
	spent, earned := bt.Status().Spent, st.Status().Earned
	// Stopping closes the channels: money settles on the ledger.
	buyer.Close()
	seeder.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		bb, err1 := buyer.Wallet().Balance(ctx)
		sb, err2 := seeder.Wallet().Balance(ctx)
		if err1 == nil && err2 == nil && bb.Locked == 0 && before[buyer]-bb.Ledger == spent && sb.Ledger-before[seeder] == earned && spent == earned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("balances: buyer %+v (was %d, spent %d), seeder %+v (was %d, earned %d)", bb, before[buyer], spent, sb, before[seeder], earned)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
