//go:build !js

package webpeer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/webpeer"
)

// durablePeer starts a peer whose torrents' data is kept in files under
// dir (the browser keeps it in IndexedDB) and whose state is in kv, as a
// page of the same browser profile would.
func durablePeer(t *testing.T, url string, kv webpeer.KV, dir string) *webpeer.Peer {
	t.Helper()
	at := func(ih metainfo.Hash) string { return filepath.Join(dir, ih.HexString()) }
	p, err := webpeer.Start(context.Background(), webpeer.Config{Relay: url, KV: kv, RTC: rtctest.Loopback(), Keystore: testScrypt,
		HistoryEvery: 20 * time.Millisecond, SaveEvery: 20 * time.Millisecond,
		Storage: func(ih metainfo.Hash, info *metainfo.Info, _ int64) (engine.Storage, error) {
			return storage.OpenFiles(at(ih), info)
		},
		Forget: func(ih metainfo.Hash) error { return os.RemoveAll(at(ih)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A paid download and a seeded torrent survive a restart (a new peer on
// the same KV and storage): listed, complete after hash-checking their
// data, readable, paused as they were left, with what Speed spent and
// earned on them and in the history. Pause stops a torrent (no peers,
// reads refused) and Resume carries on; Remove deletes the torrent, its
// record and its data.
func TestTorrentsSurviveARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := startRelay(t)
	sKV, bKV := &webpeer.MapKV{}, &webpeer.MapKV{}
	sDir, bDir := t.TempDir(), t.TempDir()
	seeder, buyer := durablePeer(t, url, sKV, sDir), durablePeer(t, url, bKV, bDir)
	data, st, bt := paidDownload(ctx, t, seeder, buyer)
	ih := bt.InfoHash()
	pauseAndResume(ctx, t, buyer, bt)
	spent := bt.Status().Spent // final: pausing closed the payment channels
	waitUntil(ctx, t, "the seeder paid in full", func() bool { return st.Status().Earned == spent })
	if err := seeder.Pause(st.InfoHash()); err != nil { // left paused across the restart
		t.Fatal(err)
	}
	waitUntil(ctx, t, "the history", func() bool {
		h := buyer.History()
		return len(h) > 0 && h[len(h)-1].Spent == spent
	})
	buyer.Close()
	seeder.Close()

	// A new start on the same profile.
	buyer, seeder = durablePeer(t, url, bKV, bDir), durablePeer(t, url, sKV, sDir)
	checkRestored(ctx, t, buyer, ih, data, spent)
	sl := seeder.Torrents()
	if len(sl) != 1 || !sl[0].Status().Paused || !sl[0].Status().Done || sl[0].Status().Earned != spent {
		t.Fatalf("the seeded torrent after a restart: %d listed", len(sl))
	}
	if err := seeder.Resume(sl[0].InfoHash()); err != nil {
		t.Fatal(err)
	}
	if s := sl[0].Status(); s.Paused || !s.Done { // hash-checked what it kept
		t.Fatalf("the seeded torrent resumed after a restart: %+v", s)
	}

	// Remove deletes the torrent and its data.
	if u := buyer.Storage(); u.Used != int64(len(data)) || u.Torrents != 1 {
		t.Fatalf("storage before removing: %+v", u)
	}
	if err := buyer.Remove(ih); err != nil {
		t.Fatal(err)
	}
	if u := buyer.Storage(); u.Used != 0 || u.Torrents != 0 {
		t.Fatalf("storage after removing: %+v", u)
	}
	if _, err := os.Stat(filepath.Join(bDir, ih.HexString())); !os.IsNotExist(err) {
		t.Fatalf("the removed torrent's data is still there: %v", err)
	}
	buyer.Close()
	if n := len(durablePeer(t, url, bKV, bDir).Torrents()); n != 0 {
		t.Fatalf("a removed torrent comes back: %d listed", n)
	}
}

// paidDownload funds both peers' wallets, seeds 2 MiB on seeder and
// downloads it on buyer with Speed, until the seeder has every payment.
func paidDownload(ctx context.Context, t *testing.T, seeder, buyer *webpeer.Peer) (data []byte, st, bt *webpeer.Torrent) {
	for _, p := range []*webpeer.Peer{seeder, buyer} {
		if _, _, err := p.Wallet().Create("password1234"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wallet().Faucet(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := seeder.Settings()
	s.Reserve = 50_000 // base units per MiB: the buyer pays
	if err := seeder.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	data = make([]byte, 2<<20+777)
	rand.Read(data)
	st, err := seeder.Seed("", []webpeer.SeedFile{{Path: "kept.bin", Data: data}}, webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bt, err = buyer.Add(ctx, []byte(st.Status().MagnetURI), webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "download", func() bool { return bt.Status().Done })
	waitUntil(ctx, t, "the last payment", func() bool { return st.Status().Earned == bt.Status().Spent })
	if bt.Status().Spent == 0 {
		t.Fatalf("want a paid download: %+v", bt.Status())
	}
	return data, st, bt
}

// pauseAndResume pauses bt (no peers, reads refused, what it spent kept)
// and resumes it.
func pauseAndResume(ctx context.Context, t *testing.T, p *webpeer.Peer, bt *webpeer.Torrent) {
	spent := bt.Status().Spent
	if err := p.Pause(bt.InfoHash()); err != nil {
		t.Fatal(err)
	}
	if s := bt.Status(); !s.Paused || s.Peers != 0 || !s.Done || s.Spent < spent {
		t.Fatalf("paused (spent %d before): %+v", spent, s)
	}
	if _, err := bt.ReadFile(ctx, 0, make([]byte, 10), 0, 0); !errors.Is(err, webpeer.ErrPaused) {
		t.Fatalf("reading a paused torrent: %v", err)
	}
	if err := p.Resume(bt.InfoHash()); err != nil {
		t.Fatal(err)
	}
	if s := bt.Status(); s.Paused || !s.Done {
		t.Fatalf("resumed: %+v", s)
	}
}

// checkRestored fails unless buyer lists only torrent ih, complete and
// readable as data, with spent on it and in the Speed totals and history.
func checkRestored(ctx context.Context, t *testing.T, buyer *webpeer.Peer, ih metainfo.Hash, data []byte, spent uint64) {
	list := buyer.Torrents()
	if len(list) != 1 || list[0].InfoHash() != ih {
		t.Fatalf("after a restart the buyer lists %d torrents", len(list))
	}
	bt := list[0]
	waitUntil(ctx, t, "the kept data checked", func() bool { return !bt.Status().Checking })
	if s := bt.Status(); !s.Done || s.Paused || s.Spent != spent || s.Name != "kept.bin" {
		t.Fatalf("the download after a restart: %+v", s)
	}
	got := make([]byte, len(data))
	if n, err := bt.ReadFile(ctx, 0, got, 0, 0); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("the download after a restart reads %d bytes (%v), equal %v", n, err, bytes.Equal(got, data))
	}
	if s, _ := buyer.Totals(); s != spent {
		t.Fatalf("Speed totals after a restart: spent %d, want %d", s, spent)
	}
	if h := buyer.History(); len(h) == 0 || h[len(h)-1].Spent != spent {
		t.Fatalf("the history after a restart: %+v", h)
	}
}
