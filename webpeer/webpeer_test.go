//go:build !js

package webpeer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/wallet"
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

// testScrypt is the peers' keystore cost here: a sixteenth of the default
// (LightScrypt), which takes seconds under the race detector. The browser
// tests (wasm/) use the default.
var testScrypt = wallet.ScryptParams{N: 1 << 12, R: 8, P: 1}

func newPeer(t *testing.T, relayURL string, kv webpeer.KV) *webpeer.Peer {
	t.Helper()
	p, err := webpeer.Start(context.Background(), webpeer.Config{Relay: relayURL, KV: kv, RTC: rtctest.Loopback(), Keystore: testScrypt})
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
	if _, _, err := w.Create("9 chars!!"); !errors.Is(err, webpeer.ErrShortPassword) {
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
	before := bothClaimFromTheFaucet(t, ctx, seeder, buyer)

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
	paidDownloadShowsItself(t, bt, before[buyer])
	if m := st.Status().MagnetURI; !strings.Contains(m, "xl="+strconv.Itoa(len(data))) {
		t.Fatalf("the seeder's magnet link %q does not carry the length", m)
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

// bothClaimFromTheFaucet makes a wallet on both peers and claims from the
// faucet for each; a second claim is refused saying when the next opens.
// The seeder asks a reserve price of 50,000 base units per MiB. It returns
// both balances on the ledger.
func bothClaimFromTheFaucet(t *testing.T, ctx context.Context, seeder, buyer *webpeer.Peer) map[*webpeer.Peer]uint64 {
	t.Helper()
	for _, p := range []*webpeer.Peer{seeder, buyer} {
		if _, _, err := p.Wallet().Create("password1234"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wallet().Faucet(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A second claim in the period is refused and says when the next one
	// opens (it used to be answered as a retry: "received" again, nothing
	// received).
	if _, err := buyer.Wallet().Faucet(ctx, nil); api.CodeOf(err) != api.CodeFaucetClaimed || !strings.Contains(err.Error(), "next grant opens at") {
		t.Fatalf("a second faucet claim: %v", err)
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
	return before
}

// paidDownloadShowsItself checks the status of a finished paid download
// (the buyer's balance having been balance): over WebRTC, paid, within
// the default limits, seeding now, its seeder listed.
func paidDownloadShowsItself(t *testing.T, bt *webpeer.Torrent, balance uint64) {
	t.Helper()
	status := bt.Status()
	if status.Conns["webrtc"] == 0 || status.Spent == 0 {
		t.Fatalf("want a paid WebRTC download: %+v", status)
	}
	// The page sees the limits in force: the default max price, and the
	// default budget fixed at 1% of the wallet, which the spend stays in.
	if status.MaxPrice != bidder.DefaultMaxPrice || status.Budget != bidder.DefaultBudget(balance) || status.Spent > status.Budget {
		t.Fatalf("limits shown: max price %d, budget %d (spent %d); want %d and 1%% of %d", status.MaxPrice, status.Budget, status.Spent, uint64(bidder.DefaultMaxPrice), balance)
	}
	// The status says it seeds now, and lists the seeder: our own client
	// name (BEP 10 "v"), over WebRTC, with all the pieces, paid.
	if status.State != string(engine.StateSeeding) || status.ETA != 0 || len(status.PeerList) != 1 {
		t.Fatalf("after the download: state %q, ETA %v, peers %+v", status.State, status.ETA, status.PeerList)
	}
	if p := status.PeerList[0]; p.Client != "btspeed/"+engine.Version+" (web)" || p.Transport != "WebRTC" || p.Progress != 1 ||
		p.Spent == 0 || p.Spent > status.Spent || p.Account == "" {
		t.Fatalf("the seeder as the buyer lists it: %+v (the torrent spent %d)", p, status.Spent)
	}
}

// failingKV is a MapKV whose writes fail while fail is set (a full or
// blocked browser storage).
type failingKV struct {
	webpeer.MapKV
	fail bool
}

func (f *failingKV) Set(k, v string) error {
	if f.fail {
		return errors.New("QuotaExceededError")
	}
	return f.MapKV.Set(k, v)
}

// A keystore stored before the key derivation was raised (a cheaper scrypt
// than the wallet's, and an 8-character password, as the app allowed): it
// still unlocks, and the unlock re-encrypts it with the wallet's
// parameters: the stored file then has the new N and opens with the same
// password to the same address (TestBrowserWallet does the same with the
// real parameters: geth's light N=4096 to LightScrypt). When storing the new file fails, the old
// one stays and the wallet unlocks anyway. New passwords need 10
// characters.
func TestWalletKeystoreUpgrade(t *testing.T) {
	url := startRelay(t)
	m, _ := wallet.NewMnemonic(12)
	k, _ := m.DeriveKey("", 0)
	const pw = "8chars!!"
	old, err := wallet.EncryptKeystore(k, []byte(pw), wallet.ScryptParams{N: 1 << 10, R: 8, P: 1})
	if err != nil {
		t.Fatal(err)
	}
	kdfN := func(ks string) int {
		var f struct {
			Crypto struct{ KDFParams struct{ N int } }
		}
		if err := json.Unmarshal([]byte(ks), &f); err != nil {
			t.Fatal(err)
		}
		return f.Crypto.KDFParams.N
	}

	// Storage refuses the new file: the old one stays, the wallet opens.
	kv := &failingKV{}
	kv.Set("btspeed.keystore", string(old))
	kv.fail = true
	w := newPeer(t, url, kv).Wallet()
	if err := w.Unlock(pw); err != nil || w.State() != webpeer.StateUnlocked || w.Address() != k.Address().String() {
		t.Fatalf("unlock with storage failing: %v, %s %s", err, w.State(), w.Address())
	}
	if ks, _ := kv.Get("btspeed.keystore"); ks != string(old) {
		t.Fatal("a failed upgrade changed the stored keystore")
	}

	kv.fail = false
	w = newPeer(t, url, kv).Wallet()
	if err := w.Unlock("not the password"); !errors.Is(err, webpeer.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if ks, _ := kv.Get("btspeed.keystore"); ks != string(old) {
		t.Fatal("a wrong password changed the stored keystore")
	}
	if err := w.Unlock(pw); err != nil || w.Address() != k.Address().String() {
		t.Fatalf("unlock: %v %s", err, w.Address())
	}
	upgraded, _ := kv.Get("btspeed.keystore")
	if n := kdfN(upgraded); n != testScrypt.N {
		t.Fatalf("stored keystore after unlock has scrypt n=%d, want %d", n, testScrypt.N)
	}
	if got, err := wallet.DecryptKeystore([]byte(upgraded), []byte(pw)); err != nil || got.Address() != k.Address() {
		t.Fatalf("the upgraded keystore with the same password: %v", err)
	}

	// The next unlock (a reload) opens it and leaves it as it is.
	w = newPeer(t, url, kv).Wallet()
	if err := w.Unlock(pw); err != nil || w.Address() != k.Address().String() {
		t.Fatalf("unlock after the upgrade: %v", err)
	}
	if ks, _ := kv.Get("btspeed.keystore"); ks != upgraded {
		t.Fatal("an up-to-date keystore was re-encrypted")
	}

	// New passwords: at least 10 characters, said so.
	for _, short := range []string{"", "123456789", "ключ-ключ"} {
		_, _, err := w.Create(short)
		_, err2 := w.Restore(m.String(), short)
		if !errors.Is(err, webpeer.ErrShortPassword) || !errors.Is(err2, webpeer.ErrShortPassword) || !strings.Contains(err.Error(), "at least 10 characters") {
			t.Fatalf("password %q: create %v, restore %v", short, err, err2)
		}
	}
	if ks, _ := kv.Get("btspeed.keystore"); ks != upgraded {
		t.Fatal("a refused password changed the stored keystore")
	}
	if got, err := w.Restore(m.String(), "1234567890"); err != nil || got != k.Address().String() {
		t.Fatalf("restore with 10 characters: %s %v", got, err)
	}
}

// Speed follows the wallet for torrents already running. A torrent added
// before the wallet exists runs without Speed and says so; creating the
// wallet brings Speed to it (the flag the page shows comes from the
// engine), locking takes it away, and the torrent's own Speed switch and
// the settings, set while locked, hold once unlocked. Unlocked again, the torrent pays its
// seeder on the ledger; locking then closes the channels, and what was
// downloaded and spent stays.
func TestSpeedFollowsTheWallet(t *testing.T) {
	url := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	data := make([]byte, 1<<20+777)
	rand.Read(data)
	file := []webpeer.SeedFile{{Path: "song.ogg", Data: data}}

	// The magnet link of a torrent nobody seeds yet.
	first := newPeer(t, url, &webpeer.MapKV{})
	ft, err := first.Seed("", file, webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	magnet := ft.Status().MagnetURI
	first.Close()

	buyer := newPeer(t, url, &webpeer.MapKV{})
	bt, err := buyer.Add(ctx, []byte(magnet), webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	speedFollowsLockAndSwitches(t, ctx, buyer, bt)

	seeder := newPeer(t, url, &webpeer.MapKV{})
	if _, _, err := seeder.Wallet().Create("password1234"); err != nil {
		t.Fatal(err)
	}
	s := seeder.Settings()
	s.Reserve = 50_000
	if err := seeder.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	seederBefore := ledgerBalance(ctx, t, seeder)
	st, err := seeder.Seed("", file, webpeer.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.InfoHash() != bt.InfoHash() {
		t.Fatal("the same file seeded twice gave two torrents")
	}
	select {
	case <-bt.Engine().Complete():
	case <-ctx.Done():
		t.Fatalf("download incomplete: %+v", bt.Status())
	}
	settle := time.Now().Add(15 * time.Second)
	for (bt.Status().Spent == 0 || st.Status().Earned != bt.Status().Spent) && time.Now().Before(settle) {
		time.Sleep(20 * time.Millisecond)
	}
	spent := bt.Status().Spent
	if spent == 0 {
		t.Fatalf("the buyer spent nothing: %+v", bt.Status())
	}
	lockingSettlesAndKeeps(t, ctx, buyer, bt, seeder, st, seederBefore, spent, data)
}

// torrentSpeed is whether bt has Speed on, failing t unless the torrent's
// status and its engine agree.
func torrentSpeed(t *testing.T, bt *webpeer.Torrent) bool {
	t.Helper()
	s, e := bt.Status().Speed, bt.Engine().SpeedSettings().Enabled
	if s != e {
		t.Fatalf("the torrent says Speed %v, its engine %v", s, e)
	}
	return s
}

// speedFollowsLockAndSwitches checks bt, added before buyer has a wallet:
// no Speed; Speed once the wallet is made; none while it is locked; the
// torrent's switch and the settings, set while locked, hold once unlocked.
func speedFollowsLockAndSwitches(t *testing.T, ctx context.Context, buyer *webpeer.Peer, bt *webpeer.Torrent) {
	t.Helper()
	if torrentSpeed(t, bt) {
		t.Fatal("Speed on without a wallet")
	}
	if _, _, err := buyer.Wallet().Create("password1234"); err != nil {
		t.Fatal(err)
	}
	if !torrentSpeed(t, bt) {
		t.Fatalf("after creating the wallet the torrent has no Speed: %+v", bt.Status())
	}
	if _, err := buyer.Wallet().Faucet(ctx, nil); err != nil {
		t.Fatal(err)
	}
	buyer.Wallet().Lock()
	if torrentSpeed(t, bt) {
		t.Fatal("Speed on with the wallet locked")
	}
	bt.SetSpeed(webpeer.TorrentOptions{Speed: &engine.SpeedSettings{Enabled: false}})
	set := buyer.Settings()
	set.Reserve = 7
	if err := buyer.SetSettings(set); err != nil {
		t.Fatalf("settings saved while locked: %v", err)
	}
	if err := buyer.Wallet().Unlock("password1234"); err != nil {
		t.Fatal(err)
	}
	if torrentSpeed(t, bt) {
		t.Fatal("the torrent's Speed, switched off while locked, is on after unlocking")
	}
	bt.SetSpeed(webpeer.TorrentOptions{})
	if !torrentSpeed(t, bt) || bt.Engine().SpeedSettings().Reserve != 7 {
		t.Fatalf("following the settings again: %+v, engine %+v", bt.Status(), bt.Engine().SpeedSettings())
	}
}

// lockingSettlesAndKeeps locks buyer's wallet after bt spent spent on st:
// no Speed, the channels close and the seeder is paid on the ledger (a
// last payment may go out as the channel closes); the download (data) and
// what it cost stay.
func lockingSettlesAndKeeps(t *testing.T, ctx context.Context, buyer *webpeer.Peer, bt *webpeer.Torrent, seeder *webpeer.Peer, st *webpeer.Torrent, seederBefore, spent uint64, data []byte) {
	t.Helper()
	buyer.Wallet().Lock()
	got := bt.Status()
	if torrentSpeed(t, bt) || !got.Done || got.Spent < spent {
		t.Fatalf("after locking: %+v (spent %d before)", got, spent)
	}
	spent = got.Spent
	buf := make([]byte, len(data))
	if n, err := bt.ReadFile(ctx, 0, buf, 0, 0); err != nil || n != len(data) || !bytes.Equal(buf, data) {
		t.Fatalf("after locking the file reads %d bytes (%v)", n, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ledgerBalance(ctx, t, seeder)-seederBefore != spent || st.Status().Earned != spent {
		if time.Now().After(deadline) {
			t.Fatalf("the seeder's ledger balance grew by %d and it counts %d earned, want the %d the buyer spent", ledgerBalance(ctx, t, seeder)-seederBefore, st.Status().Earned, spent)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if total, _ := buyer.Totals(); total != spent {
		t.Fatalf("the buyer's total spent %d, want %d", total, spent)
	}
}

// ledgerBalance is p's spendable balance on the ledger.
func ledgerBalance(ctx context.Context, t *testing.T, p *webpeer.Peer) uint64 {
	t.Helper()
	b, err := p.Wallet().Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return b.Ledger
}

// Seeding several files names the torrent after their folder, or after the
// name given; the folder is not repeated inside the torrent, and several
// loose files with no name are refused (they were named after the first).
func TestSeedNames(t *testing.T) {
	p := newPeer(t, startRelay(t), &webpeer.MapKV{})
	a, b := webpeer.SeedFile{Path: "album/a.txt", Data: []byte("first file")}, webpeer.SeedFile{Path: "album/sub/b.txt", Data: []byte("second")}
	paths := func(tor *webpeer.Torrent) (string, []string) {
		st := tor.Status()
		var out []string
		for _, f := range st.Files {
			out = append(out, f.Path)
		}
		return st.Name, out
	}
	for _, c := range []struct {
		name  string
		in    []webpeer.SeedFile
		want  string
		files string
	}{
		{"", []webpeer.SeedFile{a, b}, "album", "album/a.txt album/sub/b.txt"},
		{"Holiday", []webpeer.SeedFile{a, b}, "Holiday", "Holiday/a.txt Holiday/sub/b.txt"},
		{"Two files", []webpeer.SeedFile{{Path: "x.txt", Data: []byte("x")}, {Path: "y.txt", Data: []byte("y")}}, "Two files", "Two files/x.txt Two files/y.txt"},
		{"", []webpeer.SeedFile{a}, "a.txt", "a.txt"},
	} {
		tor, err := p.Seed(c.name, c.in, webpeer.TorrentOptions{})
		if err != nil {
			t.Fatalf("seeding %q: %v", c.name, err)
		}
		if name, files := paths(tor); name != c.want || strings.Join(files, " ") != c.files {
			t.Fatalf("seeding %q %v: torrent %q with files %q; want %q with %q", c.name, c.in[0].Path, name, files, c.want, c.files)
		}
	}
	_, err := p.Seed("", []webpeer.SeedFile{{Path: "x.txt", Data: []byte("x")}, {Path: "z.txt", Data: []byte("z")}}, webpeer.TorrentOptions{})
	if err == nil || !strings.Contains(err.Error(), "need a name") {
		t.Fatalf("two loose files without a name: %v", err)
	}
}

// StreamFile picks the first video or audio file by its name, skipping
// what comes before it (and pad files).
func TestStreamFile(t *testing.T) {
	for _, c := range []struct {
		name   string
		files  []metainfo.FileInfo
		off, n int64
	}{
		{"single video", nil, 0, 1000},
		{"the film after the notes", []metainfo.FileInfo{{Path: []string{"notes.txt"}, Length: 300}, {Path: []string{"pad"}, Length: 100, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}}, {Path: []string{"Film.MP4"}, Length: 600}, {Path: []string{"b.webm"}, Length: 9}}, 400, 600},
		{"nothing to play", []metainfo.FileInfo{{Path: []string{"a.txt"}, Length: 5}}, 0, 0},
	} {
		info := &metainfo.Info{Name: "film.webm", Length: 1000, Files: c.files}
		if c.files != nil {
			info.Name, info.Length = "dir", 0
		}
		if off, n := webpeer.StreamFile(info); off != c.off || n != c.n {
			t.Errorf("%s: StreamFile = %d, %d; want %d, %d", c.name, off, n, c.off, c.n)
		}
	}
}

// Relays must be relay base URLs like Relay: anything else is refused,
// naming it, before anything starts.
func TestRelaysMustBeRelayURLs(t *testing.T) {
	_, err := webpeer.Start(context.Background(), webpeer.Config{Relay: "http://127.0.0.1:9", Relays: []string{"http://127.0.0.1:10", "ws://elsewhere"}})
	if err == nil || !strings.Contains(err.Error(), `"ws://elsewhere"`) {
		t.Fatalf("a ws:// URL among Relays: %v", err)
	}
}
