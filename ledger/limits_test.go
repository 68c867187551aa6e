package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/ratelimit"
	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
)

// countingStore counts write transactions and full scans (Totals), and
// lets a test hold a scan.
type countingStore struct {
	store.Store
	updates, scans atomic.Int64
	onScan         func() // called at the start of each scan, when set
}

func (s *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, fn)
}

func (s *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(countingTx{tx, s}) })
}

type countingTx struct {
	store.Tx
	s *countingStore
}

func (tx countingTx) Totals() (uint64, uint64, error) {
	tx.s.scans.Add(1)
	if tx.s.onScan != nil {
		tx.s.onScan()
	}
	return tx.Tx.Totals()
}

func countingEnv(t *testing.T) (*env, *countingStore) {
	var cs *countingStore
	e := newEnvWith(t, func(t *testing.T) store.Store {
		cs = &countingStore{Store: openStore(t)}
		return cs
	})
	return e, cs
}

// /healthz and /v1/info read one record: they never scan every account.
func TestInfoAndHealthzDoNotScan(t *testing.T) {
	e, cs := countingEnv(t)
	srv := httptest.NewServer(e.l.Handler())
	defer srv.Close()
	before := cs.scans.Load()
	for range 50 {
		for _, path := range []string{"/v1/info", "/healthz"} {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			var info api.Info
			if path == "/v1/info" {
				json.NewDecoder(resp.Body).Decode(&info)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || (path == "/v1/info" && info.Supply == 0) {
				t.Fatalf("%s: %d %+v", path, resp.StatusCode, info)
			}
		}
	}
	if n := cs.scans.Load() - before; n != 0 {
		t.Fatalf("100 requests to /v1/info and /healthz scanned the accounts %d times", n)
	}
}

// Concurrent invariant requests share scans: while one runs, any number of
// callers wait for the next one, so there are never two at once.
func TestInvariantScansAreShared(t *testing.T) {
	e, cs := countingEnv(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cs.onScan = func() { once.Do(func() { close(entered); <-release }) }
	before := cs.scans.Load()
	const callers = 20
	var wg sync.WaitGroup
	check := func() {
		defer wg.Done()
		if inv, err := e.l.CheckAll(e.ctx); err != nil || !inv.OK {
			t.Errorf("invariant %+v %v", inv, err)
		}
	}
	wg.Add(1)
	go check()
	<-entered // the first scan is under way, held
	for range callers - 1 {
		wg.Add(1)
		go check()
	}
	for e.l.CheckWaiters() < callers-1 {
		time.Sleep(time.Millisecond) // until every caller waits
	}
	close(release)
	wg.Wait()
	if n := cs.scans.Load() - before; n != 2 {
		t.Fatalf("%d concurrent invariant checks made %d scans, want 2 (the one under way, one shared by the rest)", callers, n)
	}
}

// A batch of closes on channels that do not exist is answered from a
// lookup of each channel: not found, with no signature recovered and no
// write transaction.
func TestBatchOfBogusClosesIsCheap(t *testing.T) {
	e, cs := countingEnv(t)
	srv := httptest.NewServer(e.l.Handler())
	defer srv.Close()
	var ops []api.BatchOp
	for i := range api.MaxBatch {
		id := speed.ChannelID{byte(i), 0xb0, 0x95}
		cr := e.closeReq(id, 1, 1, e.alice, e.bob)
		ops = append(ops, api.BatchOp{Close: &api.BatchClose{Channel: id, CloseRequest: api.CloseRequest{Seq: 1, Paid: 1, PayerSig: cr.PayerSig, PayeeSig: cr.PayeeSig}}})
	}
	body, _ := json.Marshal(api.Batch{Ops: ops})
	before := cs.updates.Load()
	resp, err := http.Post(srv.URL+"/v1/batch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res []api.BatchResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || len(res) != len(ops) {
		t.Fatalf("%d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Status != 404 || r.Error == nil || r.Error.Code != api.CodeNotFound {
			t.Fatalf("op %d: %+v", i, r)
		}
	}
	if n := cs.updates.Load() - before; n != 0 {
		t.Fatalf("%d closes of unknown channels took %d write transactions (each after recovering two signatures)", len(ops), n)
	}
}

// One grant per account per period: a claim naming the previous period is
// refused with faucet_period, so no account gets two grants moments apart
// across a period boundary.
func TestFaucetRefusesThePreviousPeriod(t *testing.T) {
	e := newEnv(t)
	k := key(t, "frank")
	info, err := e.l.FaucetInfo()
	if err != nil {
		t.Fatal(err)
	}
	prev := uint64(info.Period)
	nonce, err := faucet.Solve(e.ctx, faucet.Challenge(ledgerID, prev), k.Address(), 8, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.advance(e.faucet.Period) // the next period: the solution is one period old
	req, _ := api.FaucetClaim{Ledger: ledgerID, Account: k.Address(), Period: prev, Nonce: nonce}.Sign(k)
	_, err = e.l.Faucet(e.ctx, req, netip.MustParseAddr("192.0.2.50"))
	wantCode(t, err, api.CodeFaucetPeriod)
	if e.balance(k.Address()) != 0 {
		t.Fatal("granted for the previous period")
	}
	// The current period's grant, once; a second claim in it is refused.
	cur := prev + 1
	nonce, _ = faucet.Solve(e.ctx, faucet.Challenge(ledgerID, cur), k.Address(), 8, 0, nil)
	req, _ = api.FaucetClaim{Ledger: ledgerID, Account: k.Address(), Period: cur, Nonce: nonce}.Sign(k)
	if _, err := e.l.Faucet(e.ctx, req, netip.MustParseAddr("192.0.2.50")); err != nil {
		t.Fatal(err)
	}
	nonce, _ = faucet.Solve(e.ctx, faucet.Challenge(ledgerID, cur), k.Address(), 8, nonce+1, nil)
	req, _ = api.FaucetClaim{Ledger: ledgerID, Account: k.Address(), Period: cur, Nonce: nonce}.Sign(k)
	_, err = e.l.Faucet(e.ctx, req, netip.MustParseAddr("192.0.2.51"))
	wantCode(t, err, api.CodeFaucetClaimed)
	if e.balance(k.Address()) != e.faucet.Amount {
		t.Fatalf("balance %d, want one grant", e.balance(k.Address()))
	}
}

// The ledger's HTTP limit charges a batch per operation: a client sending
// batches is refused after about the burst in operations, not requests; a
// batch above the burst is refused as too large; others are not affected.
func TestLimitChargesEachBatchOperation(t *testing.T) {
	e := newEnv(t)
	lim := ratelimit.New(1, 100, 0)
	now := time.Unix(1000, 0)
	client := netip.MustParseAddr("192.0.2.1")
	h := e.l.Handler()
	batch := func(n int, from netip.Addr) int {
		ops := make([]api.BatchOp, n)
		for i := range ops {
			tr := e.transferReq(e.alice, e.bob.Address(), 1)
			ops[i] = api.BatchOp{Transfer: &tr}
		}
		body, _ := json.Marshal(api.Batch{Ops: ops})
		req := httptest.NewRequest("POST", "/v1/batch", bytes.NewReader(body))
		w := httptest.NewRecorder()
		if ledger.Admit(w, req, lim, from, now) {
			h.ServeHTTP(w, req)
		}
		return w.Code
	}
	for i := range 5 {
		if code := batch(20, client); code != 200 {
			t.Fatalf("batch %d of 20 within the burst of 100: %d", i, code)
		}
	}
	if code := batch(20, client); code != http.StatusTooManyRequests {
		t.Fatalf("the 6th batch of 20 (120 operations, burst 100): %d, want 429", code)
	}
	if code := batch(101, netip.MustParseAddr("192.0.2.2")); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a batch above the burst: %d, want 413", code)
	}
	if code := batch(1, netip.MustParseAddr("2001:db8::1")); code != 200 {
		t.Fatalf("another client: %d", code)
	}
	// IPv6 by /64: another address in the same /64 has 99 tokens left.
	if code := batch(100, netip.MustParseAddr("2001:db8::ffff:1")); code != http.StatusTooManyRequests {
		t.Fatalf("100 operations from the same /64 after 1: %d, want 429", code)
	}
	if code := batch(100, netip.MustParseAddr("2001:db8:0:1::1")); code != 200 {
		t.Fatalf("100 operations from another /64: %d", code)
	}
	if e.balance(e.bob.Address()) != 201 {
		t.Fatalf("bob got %d, want the 201 admitted transfers", e.balance(e.bob.Address()))
	}
}
