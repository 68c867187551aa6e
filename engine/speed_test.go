package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// speedClient returns an engine client with Speed on, paying and paid
// through the ledger at lc.
func speedClient(t *testing.T, lc *client.Client, ledgerID string, key *wallet.PrivateKey, set engine.SpeedSettings) *engine.Client {
	t.Helper()
	return newClient(t, engine.Config{
		ChokeInterval: 2 * time.Second,
		Logger:        testLogger(t),
		Speed: &engine.SpeedConfig{
			Key:      key,
			Ledger:   lc,
			LedgerID: ledgerID,
			Settings: set,
		},
	})
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BTSPEED_ENGINE_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Two btspeed peers with Speed on, through a real ledger process, and a
// legacy peer in the same swarm: the provider sells its slots at its reserve
// price (the lone bidder's clearing price), the requester pays for every
// piece exactly floor(price x piece length / MiB), the ledger moves exactly
// that once the provider closes the channel, and the legacy peer downloads
// everything without paying.
// wantSpeedService checks that the channel entries of the accounts name
// the service they paid for: Speed.
func wantSpeedService(t *testing.T, lc *client.Client, accounts ...wallet.Address) {
	t.Helper()
	n := 0
	for _, a := range accounts {
		h, err := lc.History(context.Background(), a, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range h {
			if !strings.HasPrefix(e.Kind, "channel-") {
				continue
			}
			n++
			if e.Service != speed.ServiceSpeed {
				t.Errorf("%s's %s entry names service %q, want %q", a, e.Kind, e.Service, speed.ServiceSpeed)
			}
		}
	}
	if n == 0 {
		t.Error("no channel entries in the ledger's history")
	}
}

func TestSpeedPaidDownloadWithLegacyPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const funded = 100_000_000 // 100 BTT
	const price = 50_000       // base units per MiB: the provider's reserve
	const pieceLen = 64 << 10
	p := newPaidPair(t, funded, price, 40*pieceLen+1000, pieceLen, 7)
	lc, provKey, reqKey, req, ptor, rtor, rst, data, mi, addr := p.lc, p.provKey, p.reqKey, p.req, p.ptor, p.rtor, p.rst, p.data, p.mi, p.addr

	legacy := newClient(t, engine.Config{})
	lst := &memStorage{}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Peers = lst.open, []string{addr}
	ltor := mustAdd(t, legacy, spec)

	waitComplete(t, rtor, 60*time.Second)
	waitComplete(t, ltor, 60*time.Second)
	if !bytes.Equal(rst.bytes(), data) || !bytes.Equal(lst.bytes(), data) {
		t.Fatal("downloaded data differs")
	}

	// What the auction priced: every piece at the clearing price.
	var want uint64
	for i := range (len(data) + pieceLen - 1) / pieceLen {
		n := min(pieceLen, len(data)-i*pieceLen)
		want += speed.Price(price, uint64(n))
	}
	// The requester pays for the last piece once it verifies; wait for the
	// payment to reach the provider.
	deadline := time.Now().Add(20 * time.Second)
	for ptor.SpeedStats().Earned < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	rs, ps := rtor.SpeedStats(), ptor.SpeedStats()
	if rs.Spent != want || ps.Earned != want {
		t.Fatalf("requester spent %d, provider earned %d; the auction priced %d", rs.Spent, ps.Earned, want)
	}
	t.Logf("requester paid %d base units for %d bytes at %d per MiB; legacy peer downloaded %d bytes free", rs.Spent, len(data), price, ltor.Stats().Downloaded)
	for _, p := range ps.Peers {
		if p.Account != reqKey.Address() {
			t.Errorf("provider earned from %s: %+v", p.Account, p)
		}
	}
	if got := ltor.Stats().Downloaded; got < int64(len(data)) {
		t.Fatalf("legacy peer downloaded %d bytes", got)
	}

	// The requester leaves; the provider closes the channel on the ledger
	// with the last state (M19), and the ledger pays exactly that.
	if err := req.Close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		bal, err := lc.Balance(ctx, provKey.Address())
		if err != nil {
			t.Fatal(err)
		}
		if bal == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider balance %d on the ledger, want %d", bal, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rbal, err := lc.Balance(ctx, reqKey.Address())
	if err != nil {
		t.Fatal(err)
	}
	if rbal != funded-want {
		t.Fatalf("requester balance %d, want %d", rbal, funded-want)
	}
	wantSpeedService(t, lc, reqKey.Address(), provKey.Address())
	inv, err := lc.Invariant(ctx)
	if err != nil || !inv.OK {
		t.Fatalf("ledger invariant: %+v %v", inv, err)
	}
}

// paidPair is a ledger process, a provider seeding content at a reserve
// price and a funded requester downloading it from the provider.
type paidPair struct {
	lc              *client.Client
	provKey, reqKey *wallet.PrivateKey
	req             *engine.Client
	ptor, rtor      *engine.Torrent
	rst             *memStorage
	mi              *metainfo.MetaInfo
	data            []byte
	addr            string
}

func newPaidPair(t *testing.T, funded, price uint64, size, pieceLen int, seed uint64) paidPair {
	t.Helper()
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx := context.Background()
	p := paidPair{lc: client.New(lp.URL, nil), rst: &memStorage{}}
	info, err := p.lc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.provKey, _ = wallet.GenerateKey()
	p.reqKey, _ = wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, p.lc, []wallet.Address{p.reqKey.Address()}, funded); err != nil {
		t.Fatal(err)
	}
	p.mi, p.data = makeContent(t, t.TempDir(), "paid.bin", size, int64(pieceLen), seed)
	prov := speedClient(t, p.lc, info.Ledger, p.provKey, engine.SpeedSettings{Enabled: true, Reserve: price})
	spec := engine.SpecFromMetaInfo(p.mi)
	spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(p.data)}).open, true
	p.ptor = mustAdd(t, prov, spec)
	p.addr = listen(t, prov, "127.0.0.1")
	p.req = speedClient(t, p.lc, info.Ledger, p.reqKey, engine.SpeedSettings{Enabled: true})
	spec = engine.SpecFromMetaInfo(p.mi)
	spec.Storage, spec.Peers = p.rst.open, []string{p.addr}
	p.rtor = mustAdd(t, p.req, spec)
	return p
}

// A requester that closes the moment its download completes still delivers
// the payment for the last piece: closing drains what each connection has
// queued before the connection goes, so what the requester counts as spent
// is exactly what the provider earns and the ledger pays it.
func TestSpeedLastPaymentSurvivesImmediateClose(t *testing.T) {
	ctx := context.Background()
	const price, pieceLen = 70_000, 64 << 10
	p := newPaidPair(t, 100_000_000, price, 12*pieceLen+500, pieceLen, 9)
	lc, provKey, req, ptor, rtor, data := p.lc, p.provKey, p.req, p.ptor, p.rtor, p.data
	waitComplete(t, rtor, 60*time.Second)
	if err := req.Close(); err != nil { // at once: the last payment may still be queued
		t.Fatal(err)
	}
	var want uint64
	for i := range (len(data) + pieceLen - 1) / pieceLen {
		want += speed.Price(price, uint64(min(pieceLen, len(data)-i*pieceLen)))
	}
	if spent := rtor.SpeedStats().Spent; spent != want {
		t.Fatalf("the requester counts %d spent; the pieces cost %d", spent, want)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		bal, err := lc.Balance(ctx, provKey.Address())
		if err != nil {
			t.Fatal(err)
		}
		if bal == want && ptor.SpeedStats().Earned == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider earned %d and holds %d on the ledger; the requester paid %d", ptor.SpeedStats().Earned, bal, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// speedSwarm is a ledger process, a funded requester key and a provider
// seeding a torrent at a reserve price.
type speedSwarm struct {
	lc       *client.Client
	ledgerID string
	reqKey   *wallet.PrivateKey
	mi       *metainfo.MetaInfo
	data     []byte
	addr     string
}

func newSpeedSwarm(t *testing.T, reserve uint64, pieces int) *speedSwarm {
	t.Helper()
	lp := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0")
	ctx := context.Background()
	s := &speedSwarm{lc: client.New(lp.URL, nil)}
	info, err := s.lc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.ledgerID = info.Ledger
	provKey, _ := wallet.GenerateKey()
	s.reqKey, _ = wallet.GenerateKey()
	if err := ledgertest.Fund(ctx, s.lc, []wallet.Address{s.reqKey.Address()}, 100_000_000); err != nil {
		t.Fatal(err)
	}
	s.mi, s.data = makeContent(t, t.TempDir(), "s.bin", pieces*(64<<10), 64<<10, 8)
	prov := speedClient(t, s.lc, s.ledgerID, provKey, engine.SpeedSettings{Enabled: true, Reserve: reserve})
	spec := engine.SpecFromMetaInfo(s.mi)
	spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(s.data)}).open, true
	mustSeed(t, prov, spec)
	s.addr = listen(t, prov, "127.0.0.1")
	return s
}

// Per-torrent settings (M29): with Speed off for one torrent the requester
// bids nothing and is served free by throughput; with a budget it never
// spends more than the budget, and stops buying from a provider it cannot
// afford.
func TestSpeedTorrentSettings(t *testing.T) {
	const price = 1_000_000 // 1 BTT per MiB: 15,625 base units per 64 KiB piece
	t.Run("off", func(t *testing.T) {
		s := newSpeedSwarm(t, price, 16)
		req := speedClient(t, s.lc, s.ledgerID, s.reqKey, engine.SpeedSettings{Enabled: true})
		st := &memStorage{}
		spec := engine.SpecFromMetaInfo(s.mi)
		spec.Storage, spec.Peers = st.open, []string{s.addr}
		spec.Speed = &engine.SpeedSettings{Enabled: false}
		tor := mustGet(t, req, spec, 30*time.Second)
		if !bytes.Equal(st.bytes(), s.data) {
			t.Fatal("data differs")
		}
		if sp := tor.SpeedStats(); sp.Enabled || sp.Spent != 0 {
			t.Fatalf("Speed off for the torrent, yet %+v", sp)
		}
	})
	t.Run("budget", func(t *testing.T) {
		// Five pieces' worth spread over 32 pieces bids below the reserve:
		// not an eligible bid, so the lone requester is served by
		// throughput, for free, and never spends beyond its budget.
		s := newSpeedSwarm(t, price, 32)
		req := speedClient(t, s.lc, s.ledgerID, s.reqKey, engine.SpeedSettings{Enabled: true})
		st := &memStorage{}
		spec := engine.SpecFromMetaInfo(s.mi)
		spec.Storage, spec.Peers = st.open, []string{s.addr}
		const budget = 5 * 15_625
		spec.Speed = &engine.SpeedSettings{Enabled: true, Budget: budget}
		tor := mustGet(t, req, spec, 30*time.Second)
		if !bytes.Equal(st.bytes(), s.data) {
			t.Fatal("data differs")
		}
		sp := tor.SpeedStats()
		if !sp.Enabled || sp.Spent > budget {
			t.Fatalf("spent %d with a budget of %d (%+v)", sp.Spent, budget, sp)
		}
		if len(sp.Peers) != 1 || sp.Peers[0].Rate >= price {
			t.Fatalf("the provider charged the requester its reserve: %+v", sp.Peers)
		}
	})
}

// The paid download's hot path runs on the connection's reader: each
// block's price is recorded at once and a verified piece is paid at once
// while the Speed worker is idle, so the worker runs far fewer jobs than
// the blocks received (it used to run one a block and one a payment), and
// the download is paid in full.
func TestSpeedPaysWithoutAWorkerJobPerBlock(t *testing.T) {
	const price, pieceLen, pieces = 70_000, 64 << 10, 32
	p := newPaidPair(t, 100_000_000, price, pieces*pieceLen, pieceLen, 11)
	waitComplete(t, p.rtor, 60*time.Second)
	if !bytes.Equal(p.rst.bytes(), p.data) {
		t.Fatal("the download differs from the seed's data")
	}
	want := uint64(pieces) * speed.Price(price, pieceLen)
	for deadline := time.Now().Add(20 * time.Second); p.rtor.SpeedStats().Spent != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("spent %d, the pieces cost %d", p.rtor.SpeedStats().Spent, want)
		}
	}
	blocks := uint64(pieces * pieceLen / engine.BlockSize)
	if jobs := p.rtor.SpeedJobsRun(); jobs >= blocks {
		t.Fatalf("the requester's Speed worker ran %d jobs for %d blocks: the hot path went through it", jobs, blocks)
	}
}

// A paid download keeps several pieces unpaid at once (the provider's
// exposure, 2 MiB: 32 pieces of 64 KiB) and pays them in batches (an eighth
// of that, 4 pieces a payment): fewer payments than pieces, never more
// unpaid pieces than the exposure allows, and exactly what the pieces cost.
func TestSpeedPipelinesAndBatchesPayments(t *testing.T) {
	const price, pieceLen, pieces = 70_000, 64 << 10, 64
	p := newPaidPair(t, 100_000_000, price, pieces*pieceLen, pieceLen, 12)
	waitComplete(t, p.rtor, 60*time.Second)
	if !bytes.Equal(p.rst.bytes(), p.data) {
		t.Fatal("the download differs from the seed's data")
	}
	want := uint64(pieces) * speed.Price(price, pieceLen)
	for deadline := time.Now().Add(20 * time.Second); p.rtor.SpeedStats().Spent != want || p.ptor.SpeedStats().Earned != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("spent %d, earned %d, the pieces cost %d", p.rtor.SpeedStats().Spent, p.ptor.SpeedStats().Earned, want)
		}
	}
	limit := speed.UnpaidPieces(speed.DefaultExposure, pieceLen)
	if n := p.ptor.SpeedMaxUnpaid(); n < 2 || n > limit {
		t.Fatalf("the provider had at most %d pieces unpaid at once, want 2 to %d", n, limit)
	}
	if n := p.rtor.SpeedPaymentsSent(); n >= pieces || n < pieces/uint64(limit/8) {
		t.Fatalf("%d payments for %d pieces, want batches of up to %d", n, pieces, limit/8)
	}
}
