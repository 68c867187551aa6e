package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/boltstore"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

const ledgerID = "test-ledger"

// env is a ledger on a fresh embedded store with the dev genesis, a fake
// clock, and funded test keys.
type env struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	now    time.Time
	st     store.Store
	l      *ledger.Ledger
	keys   []*wallet.PrivateKey // the genesis keys
	alice  *wallet.PrivateKey   // funded with 1000 BTT from keys[0]
	bob    *wallet.PrivateKey
	nonce  uint64
	faucet faucet.Params
}

const btt = 1_000_000

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, openStore)
}

func openBolt(t *testing.T) store.Store {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "ledger.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newEnvWith(t *testing.T, open func(t *testing.T) store.Store) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), now: time.Unix(1_800_000_000, 0)}
	e.st = open(t)
	keys, err := genesis.DevKeys()
	if err != nil {
		t.Fatal(err)
	}
	allocs, err := genesis.Dev()
	if err != nil {
		t.Fatal(err)
	}
	e.keys = keys
	e.faucet = faucet.DefaultParams()
	e.faucet.Difficulty = 8
	var eco wallet.Address
	for _, a := range allocs {
		if a.Name == "ecosystem" {
			eco = a.Account
		}
	}
	e.l, err = ledger.New(e.ctx, ledger.Config{ID: ledgerID, Store: e.st, Now: e.clock, Faucet: &e.faucet, FaucetAccount: eco,
		FaucetLimiter: faucet.NewLimiter(2, time.Hour, 1000)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.Init(e.ctx, allocs); err != nil {
		t.Fatal(err)
	}
	e.alice, e.bob = key(t, "alice"), key(t, "bob")
	e.mustTransfer(e.keys[0], e.alice.Address(), 1000*btt)
	t.Cleanup(func() {
		inv, err := e.l.Check(context.Background())
		if err != nil || !inv.OK {
			t.Errorf("supply invariant after the test: %+v %v", inv, err)
		}
		e.st.Close()
	})
	return e
}

func key(t *testing.T, name string) *wallet.PrivateKey {
	m, err := wallet.MnemonicFromEntropy(bytes.Repeat([]byte(name[:1]), 16))
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.DeriveKey(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *env) nextNonce() uint64 { e.nonce++; return e.nonce }

func (e *env) transferReq(from *wallet.PrivateKey, to wallet.Address, amount uint64) api.TransferRequest {
	r, err := api.Transfer{Ledger: ledgerID, From: from.Address(), To: to, Amount: amount, Nonce: e.nextNonce()}.Sign(from)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) mustTransfer(from *wallet.PrivateKey, to wallet.Address, amount uint64) api.TransferResult {
	e.t.Helper()
	res, err := e.l.Transfer(e.ctx, e.transferReq(from, to, amount))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) balance(a wallet.Address) uint64 {
	e.t.Helper()
	b, err := e.l.Balance(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) openReq(payer, payee *wallet.PrivateKey, deposit uint64, ttl time.Duration) speed.SignedOpen {
	o := speed.OpenRequest{Ledger: ledgerID, Payer: payer.Address(), Payee: payee.Address(), Deposit: deposit, Deadline: e.clock().Add(ttl).Unix(), Nonce: e.nextNonce()}
	s, err := o.Sign(payer)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) closeReq(id speed.ChannelID, seq, paid uint64, payer, payee *wallet.PrivateKey) speed.CloseRequest {
	st := speed.State{Channel: id, Seq: seq, Paid: paid}
	ps, _ := st.Sign(payer)
	qs, _ := st.Sign(payee)
	return speed.CloseRequest{State: st, PayerSig: ps, PayeeSig: qs}
}

// wantCode checks that err is an API error with code and that the books
// did not change (balances of the accounts given).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := api.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if s := ledger.HTTPStatus(err); s < 400 || s > 599 {
		t.Fatalf("status %d for %s", s, code)
	}
}

func TestGenesisReproducesIssuance(t *testing.T) {
	e := newEnv(t)
	inv, err := e.l.Check(e.ctx)
	if err != nil || !inv.OK || uint64(inv.Supply) != genesis.TotalSupply {
		t.Fatalf("invariant %+v %v", inv, err)
	}
	allocs, _ := genesis.Dev()
	for _, a := range allocs {
		want := a.Amount
		if a.Account == e.keys[0].Address() {
			want -= 1000 * btt
		}
		if got := e.balance(a.Account); got != want {
			t.Errorf("%s holds %d, want %d", a.Name, got, want)
		}
	}
	// Init again with the same genesis is a no-op.
	if err := e.l.Init(e.ctx, allocs); err != nil {
		t.Fatal(err)
	}
}

func TestTransfer(t *testing.T) {
	e := newEnv(t)
	req := e.transferReq(e.alice, e.bob.Address(), 250*btt)
	res, err := e.l.Transfer(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e.balance(e.alice.Address()) != 750*btt || e.balance(e.bob.Address()) != 250*btt {
		t.Fatal("balances after the transfer")
	}
	// A retry returns the first answer and moves nothing.
	again, err := e.l.Transfer(e.ctx, req)
	if err != nil || again != res || e.balance(e.bob.Address()) != 250*btt {
		t.Fatalf("retry: %+v %v", again, err)
	}
	hist, err := e.l.History(e.ctx, e.bob.Address(), 0, 10)
	if err != nil || len(hist) != 1 || hist[0].Credit != 250*btt || hist[0].Counterparty != e.alice.Address() {
		t.Fatalf("history %+v %v", hist, err)
	}
}

func TestTransferRejections(t *testing.T) {
	e := newEnv(t)
	good := e.transferReq(e.alice, e.bob.Address(), btt)
	reuse := good
	reuse.Amount = 2 * btt // same nonce, different content, validly signed
	reuse, _ = api.Transfer{Ledger: ledgerID, From: e.alice.Address(), To: e.bob.Address(), Amount: 2 * btt, Nonce: uint64(good.Nonce)}.Sign(e.alice)
	if _, err := e.l.Transfer(e.ctx, good); err != nil {
		t.Fatal(err)
	}
	forged := e.transferReq(e.alice, e.bob.Address(), btt)
	forged.Amount++
	other, _ := api.Transfer{Ledger: "other", From: e.alice.Address(), To: e.bob.Address(), Amount: 1, Nonce: 99}.Sign(e.alice)
	stolen := e.transferReq(e.bob, e.alice.Address(), 1)
	stolen.From = e.keys[1].Address() // someone else's money
	for name, tc := range map[string]struct {
		req  api.TransferRequest
		code string
	}{
		"nonce reused":   {reuse, api.CodeNonceUsed},
		"insufficient":   {e.transferReq(e.alice, e.bob.Address(), 5000*btt), api.CodeInsufficientFunds},
		"forged amount":  {forged, api.CodeBadSignature},
		"someone else's": {stolen, api.CodeBadSignature},
		"other ledger":   {other, api.CodeWrongLedger},
		"zero":           {e.transferReq(e.alice, e.bob.Address(), 0), api.CodeBadRequest},
		"to self":        {e.transferReq(e.alice, e.alice.Address(), 1), api.CodeBadRequest},
		"unsigned":       {api.TransferRequest{Ledger: ledgerID, From: e.alice.Address(), To: e.bob.Address(), Amount: 1, Nonce: 7}, api.CodeBadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.balance(e.alice.Address())
			_, err := e.l.Transfer(e.ctx, tc.req)
			wantCode(t, err, tc.code)
			if e.balance(e.alice.Address()) != before {
				t.Fatal("a refused transfer moved money")
			}
		})
	}
}

func TestChannelLifecycle(t *testing.T) {
	e := newEnv(t)
	open := e.openReq(e.alice, e.bob, 100*btt, time.Hour)
	ch, err := e.l.Open(e.ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	if e.balance(e.alice.Address()) != 900*btt {
		t.Fatal("deposit did not leave the balance")
	}
	if again, err := e.l.Open(e.ctx, open); err != nil || again.ID != ch.ID || e.balance(e.alice.Address()) != 900*btt {
		t.Fatalf("open retry: %v", err)
	}
	closeReq := e.closeReq(ch.ID, 7, 30*btt, e.alice, e.bob)
	closed, err := e.l.Close(e.ctx, closeReq)
	if err != nil || !closed.Closed || closed.Paid != 30*btt || closed.CloseKind != store.ByState {
		t.Fatalf("close: %+v %v", closed, err)
	}
	if e.balance(e.bob.Address()) != 30*btt || e.balance(e.alice.Address()) != 970*btt {
		t.Fatal("payout")
	}
	if again, err := e.l.Close(e.ctx, closeReq); err != nil || again.Seq != 7 {
		t.Fatalf("close retry: %+v %v", again, err)
	}
	_, err = e.l.Close(e.ctx, e.closeReq(ch.ID, 8, 40*btt, e.alice, e.bob))
	wantCode(t, err, api.CodeChannelClosed)
	if e.balance(e.bob.Address()) != 30*btt {
		t.Fatal("double close paid twice")
	}
	chs, err := e.l.ChannelsOf(e.ctx, e.bob.Address(), 10)
	if err != nil || len(chs) != 1 || chs[0].ID != ch.ID {
		t.Fatalf("channels of the payee: %v", err)
	}
}

func TestChannelRejections(t *testing.T) {
	e := newEnv(t)
	ch, err := e.l.Open(e.ctx, e.openReq(e.alice, e.bob, 100*btt, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mallory := key(t, "mallory")
	reused := e.openReq(e.alice, e.bob, 1, time.Hour)
	reused.Request.Nonce = e.nonce - 1
	reused, _ = reused.Request.Sign(e.alice)
	otherLedger := e.openReq(e.alice, e.bob, 1, time.Hour)
	otherLedger.Request.Ledger = "other"
	otherLedger, _ = otherLedger.Request.Sign(e.alice)
	forged := e.openReq(e.alice, e.bob, 1, time.Hour)
	forged.Request.Deposit = 500 * btt
	for name, tc := range map[string]struct {
		req  speed.SignedOpen
		code string
	}{
		"insufficient":  {e.openReq(e.alice, e.bob, 2000*btt, time.Hour), api.CodeInsufficientFunds},
		"nonce reused":  {reused, api.CodeNonceUsed},
		"past deadline": {e.openReq(e.alice, e.bob, 1, -time.Minute), api.CodeBadDeadline},
		"far deadline":  {e.openReq(e.alice, e.bob, 1, 30*24*time.Hour), api.CodeBadDeadline},
		"other ledger":  {otherLedger, api.CodeWrongLedger},
		"forged":        {forged, api.CodeBadSignature},
	} {
		t.Run("open "+name, func(t *testing.T) {
			before := e.balance(e.alice.Address())
			_, err := e.l.Open(e.ctx, tc.req)
			wantCode(t, err, tc.code)
			if e.balance(e.alice.Address()) != before {
				t.Fatal("a refused open moved money")
			}
		})
	}
	for name, tc := range map[string]struct {
		req  speed.CloseRequest
		code string
	}{
		"unknown channel":     {e.closeReq(speed.ChannelID{1}, 1, 1, e.alice, e.bob), api.CodeNotFound},
		"seq 0":               {e.closeReq(ch.ID, 0, 1, e.alice, e.bob), api.CodeBadState},
		"above deposit":       {e.closeReq(ch.ID, 1, 100*btt+1, e.alice, e.bob), api.CodeBadState},
		"payer did not sign":  {e.closeReq(ch.ID, 1, 1, mallory, e.bob), api.CodeBadSignature},
		"payee did not sign":  {e.closeReq(ch.ID, 1, 1, e.alice, mallory), api.CodeBadSignature},
		"someone else's sigs": {e.closeReq(ch.ID, 1, 1, mallory, mallory), api.CodeBadSignature},
	} {
		t.Run("close "+name, func(t *testing.T) {
			_, err := e.l.Close(e.ctx, tc.req)
			wantCode(t, err, tc.code)
			if got, _ := e.l.ChannelRecord(e.ctx, ch.ID); got.Closed {
				t.Fatal("a refused close closed the channel")
			}
		})
	}
}

func TestChannelTimeoutRefundsPayer(t *testing.T) {
	e := newEnv(t)
	ch, err := e.l.Open(e.ctx, e.openReq(e.alice, e.bob, 100*btt, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	// Reported closed at once, refunded when the expiry runs.
	if got, _ := e.l.Channel(e.ctx, ch.ID); !got.Closed {
		t.Fatal("channel past its deadline reported open")
	}
	_, err = e.l.Close(e.ctx, e.closeReq(ch.ID, 1, 10*btt, e.alice, e.bob))
	wantCode(t, err, api.CodeChannelExpired)
	n, err := e.l.Expire(e.ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("expired %d: %v", n, err)
	}
	if e.balance(e.alice.Address()) != 1000*btt || e.balance(e.bob.Address()) != 0 {
		t.Fatal("timeout did not refund the payer")
	}
	_, err = e.l.Close(e.ctx, e.closeReq(ch.ID, 1, 10*btt, e.alice, e.bob))
	wantCode(t, err, api.CodeChannelExpired)
	if n, _ := e.l.Expire(e.ctx, 100); n != 0 {
		t.Fatal("expired twice")
	}
}

func TestFaucet(t *testing.T) {
	e := newEnv(t)
	info, err := e.l.FaucetInfo()
	if err != nil || info.Difficulty != 8 {
		t.Fatalf("info %+v %v", info, err)
	}
	claim := func(k *wallet.PrivateKey, from string) (api.FaucetRequest, error) {
		period := uint64(info.Period)
		nonce, err := faucet.Solve(e.ctx, faucet.Challenge(ledgerID, period), k.Address(), 8, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		req, err := api.FaucetClaim{Ledger: ledgerID, Account: k.Address(), Period: period, Nonce: nonce}.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.l.Faucet(e.ctx, req, netip.MustParseAddr(from))
		return req, err
	}
	carol := key(t, "carol")
	req, err := claim(carol, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if e.balance(carol.Address()) != e.faucet.Amount {
		t.Fatal("no grant")
	}
	// The same claim again: the same answer, nothing more.
	if _, err := e.l.Faucet(e.ctx, req, netip.MustParseAddr("192.0.2.1")); err != nil || e.balance(carol.Address()) != e.faucet.Amount {
		t.Fatalf("retry: %v", err)
	}
	// Another solution in the same period: refused.
	other := req
	other.Nonce++
	for {
		c := other.Claim()
		w := faucet.Work(faucet.Challenge(ledgerID, c.Period), c.Account, c.Nonce)
		if faucet.LeadingZeroBits(w) >= 8 {
			break
		}
		other.Nonce++
	}
	o2, _ := other.Claim().Sign(carol)
	_, err = e.l.Faucet(e.ctx, o2, netip.MustParseAddr("192.0.2.1"))
	wantCode(t, err, api.CodeFaucetClaimed)
	// Weak work, forged claims, and the per-address limit.
	weak := req.Claim()
	weak.Account = e.bob.Address() // carol's nonce does not work for bob
	wr, _ := weak.Sign(e.bob)
	_, err = e.l.Faucet(e.ctx, wr, netip.MustParseAddr("192.0.2.9"))
	wantCode(t, err, api.CodeFaucetWork)
	forged := req
	forged.Account = e.bob.Address()
	_, err = e.l.Faucet(e.ctx, forged, netip.MustParseAddr("192.0.2.9"))
	wantCode(t, err, api.CodeBadSignature)
	if _, err := claim(key(t, "dave"), "192.0.2.1"); err != nil { // second grant to this address
		t.Fatal(err)
	}
	_, err = claim(key(t, "erin"), "192.0.2.1")
	wantCode(t, err, api.CodeRateLimited)
	if _, err := claim(key(t, "erin"), "198.51.100.1"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// httpEnv serves the ledger over HTTP and returns a client for it.
func httpEnv(t *testing.T) (*env, *httptest.Server, *client.Client) {
	e := newEnv(t)
	srv := httptest.NewServer(e.l.Handler())
	t.Cleanup(srv.Close)
	return e, srv, client.New(srv.URL, srv.Client())
}

func TestHTTPBadInput(t *testing.T) {
	e, srv, _ := httpEnv(t)
	good, _ := json.Marshal(e.transferReq(e.alice, e.bob.Address(), 1))
	for name, tc := range map[string]struct {
		method, path, body string
		status             int
		code               string
	}{
		"malformed JSON":     {"POST", "/v1/transfers", `{"from":`, 400, api.CodeBadRequest},
		"not an object":      {"POST", "/v1/transfers", `[1,2]`, 400, api.CodeBadRequest},
		"negative amount":    {"POST", "/v1/transfers", strings.Replace(string(good), `"amount":"1"`, `"amount":"-1"`, 1), 400, api.CodeBadRequest},
		"overflowing amount": {"POST", "/v1/transfers", strings.Replace(string(good), `"amount":"1"`, `"amount":"18446744073709551616"`, 1), 400, api.CodeBadRequest},
		"amount as number":   {"POST", "/v1/transfers", strings.Replace(string(good), `"amount":"1"`, `"amount":1`, 1), 400, api.CodeBadRequest},
		"leading zero":       {"POST", "/v1/transfers", strings.Replace(string(good), `"amount":"1"`, `"amount":"01"`, 1), 400, api.CodeBadRequest},
		"bad address":        {"POST", "/v1/transfers", strings.Replace(string(good), e.bob.Address().String(), "Tnotanaddress", 1), 400, api.CodeBadRequest},
		"bad signature hex":  {"POST", "/v1/transfers", strings.Replace(string(good), `"sig":"0x`, `"sig":"0xzz`, 1), 400, api.CodeBadRequest},
		"oversized":          {"POST", "/v1/transfers", `{"pad":"` + strings.Repeat("x", 20<<10) + `"}`, 413, api.CodeTooLarge},
		"oversized batch":    {"POST", "/v1/batch", `{"ops":[` + strings.Repeat(`{},`, 300) + `{}]}`, 400, api.CodeBadRequest},
		"empty batch op":     {"POST", "/v1/batch", `{"ops":[{}]}`, 200, ""},
		"bad channel id":     {"GET", "/v1/channels/xyz", "", 400, api.CodeBadRequest},
		"unknown channel":    {"GET", "/v1/channels/" + strings.Repeat("ab", 32), "", 404, api.CodeNotFound},
		"bad account":        {"GET", "/v1/accounts/T123", "", 400, api.CodeBadRequest},
		"bad query":          {"GET", "/v1/accounts/" + e.bob.Address().String() + "/history?limit=x", "", 400, api.CodeBadRequest},
		"no endpoint":        {"GET", "/v1/nothing", "", 404, api.CodeNotFound},
		"no exchange":        {"GET", "/v1/exchange", "", 404, api.CodeNoExchange},
		"withdraw, none":     {"POST", "/v1/withdrawals", strings.Replace(string(good), `"from"`, `"account"`, 1), 404, api.CodeNoExchange},
		"withdraw, bad JSON": {"POST", "/v1/withdrawals", `{"account":`, 400, api.CodeBadRequest},
		"bad withdrawal id":  {"GET", "/v1/withdrawals/xyz", "", 400, api.CodeBadRequest},
		"unknown withdrawal": {"GET", "/v1/withdrawals/" + strings.Repeat("ab", 32), "", 404, api.CodeNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.code != "" {
				var body api.ErrorResponse
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
					t.Fatalf("body %+v %v, want code %s", body, err, tc.code)
				}
			}
		})
	}
	if e.balance(e.bob.Address()) != 0 {
		t.Fatal("bad input moved money")
	}
}

func TestClientImplementsSpeedLedger(t *testing.T) {
	e, _, c := httpEnv(t)
	var l speed.Ledger = c
	ch, err := l.OpenChannel(e.ctx, e.openReq(e.alice, e.bob, 10*btt, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Channel(e.ctx, ch.ID)
	if err != nil || got.Payer != e.alice.Address() || got.Deposit != 10*btt || !got.Deadline.Equal(ch.Deadline) {
		t.Fatalf("channel %+v %v", got, err)
	}
	if _, err := l.Channel(e.ctx, speed.ChannelID{9}); !errors.Is(err, speed.ErrChannelNotFound) {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, err := l.CloseChannel(e.ctx, e.closeReq(ch.ID, 1, 4*btt, e.alice, e.bob)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CloseChannel(e.ctx, e.closeReq(ch.ID, 2, 5*btt, e.alice, e.bob)); !errors.Is(err, speed.ErrChannelClosed) {
		t.Fatalf("second close: %v", err)
	}
	if b, err := l.Balance(e.ctx, e.bob.Address()); err != nil || b != 4*btt {
		t.Fatalf("balance %d %v", b, err)
	}
	if _, err := l.OpenChannel(e.ctx, e.openReq(e.alice, e.bob, 5000*btt, time.Hour)); !errors.Is(err, speed.ErrInsufficientFunds) {
		t.Fatalf("insufficient: %v", err)
	}
	inv, err := c.Invariant(e.ctx)
	if err != nil || !inv.OK {
		t.Fatalf("invariant over HTTP: %+v %v", inv, err)
	}
}

func TestBatch(t *testing.T) {
	e, _, c := httpEnv(t)
	var ops []api.BatchOp
	var opens []speed.SignedOpen
	for range 10 {
		o := e.openReq(e.alice, e.bob, btt, time.Hour)
		opens = append(opens, o)
		r := api.FromSignedOpen(o)
		ops = append(ops, api.BatchOp{Open: &r})
	}
	bad := e.transferReq(e.alice, e.bob.Address(), 1)
	bad.Amount = 2
	ops = append(ops, api.BatchOp{Transfer: &bad})
	res, err := c.Batch(e.ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if res[i].Status != 200 || res[i].Channel == nil || res[i].Channel.ID != opens[i].Request.ID() {
			t.Fatalf("op %d: %+v", i, res[i])
		}
	}
	if res[10].Status != 403 || res[10].Error.Code != api.CodeBadSignature {
		t.Fatalf("bad op: %+v", res[10])
	}
	var closes []api.BatchOp
	for _, o := range opens {
		cr := e.closeReq(o.Request.ID(), 1, btt/2, e.alice, e.bob)
		closes = append(closes, api.BatchOp{Close: &api.BatchClose{Channel: o.Request.ID(), CloseRequest: api.CloseRequest{Seq: 1, Paid: api.U64(btt / 2), PayerSig: cr.PayerSig, PayeeSig: cr.PayeeSig}}})
	}
	res, err = c.Batch(e.ctx, closes)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != 200 || !r.Channel.Closed {
			t.Fatalf("close %d: %+v", i, r)
		}
	}
	if e.balance(e.bob.Address()) != 5*btt {
		t.Fatalf("bob has %d", e.balance(e.bob.Address()))
	}
}

func TestConcurrentTransfersConserveMoney(t *testing.T) {
	e := newEnv(t)
	keys := []*wallet.PrivateKey{e.alice, e.bob, key(t, "carol"), key(t, "dave")}
	var reqs []api.TransferRequest
	for i := range 200 {
		from, to := keys[i%4], keys[(i+1)%4]
		reqs = append(reqs, e.transferReq(from, to.Address(), btt))
	}
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.l.Transfer(e.ctx, r) // some fail for lack of funds; that is fine
		}()
	}
	wg.Wait()
	var sum uint64
	for _, k := range keys {
		sum += e.balance(k.Address())
	}
	if sum != 1000*btt {
		t.Fatalf("test accounts hold %d, want %d", sum, 1000*btt)
	}
}
