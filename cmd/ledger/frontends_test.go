//go:build !js

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// TestFrontEndsOnPostgres runs two ledger processes (front-ends) on one
// private PostgreSQL database. While both run, requests racing through
// both must obey the ledger's rules as one process would: of two transfers
// with one nonce one applies and the other is refused, of two closes of a
// channel the first wins, a request sent to both at once applies once, one
// faucet grant per account and period. Then the crash test's workload runs
// through both, front-end A is killed with SIGKILL mid-load, and through B:
// every acknowledged operation is there exactly once (nothing doubled, no
// request half applied), balances, escrow and the invariant match a model
// computed from the requests, and re-sending every acknowledged request
// (to B, whichever front-end first answered it) returns the first answer.
// Last, a channel that expires after the kill is refunded: the expiry loop
// goes on in B, whichever of the two led before.
func TestFrontEndsOnPostgres(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		pgtest.Skip(t, err)
	}
	t.Cleanup(srv.Stop)
	u := srv.NewDB(t)
	args := func(name string) []string {
		return []string{"-postgres", u, "-db", filepath.Join(t.TempDir(), name+".db"), "-faucet-difficulty", "8"}
	}
	pa := ledgertest.Start(t, args("a")...)
	pb := ledgertest.Start(t, args("b")...)
	ca, hca := crashClient(pa.URL)
	cb, hcb := crashClient(pb.URL)
	defer hca.CloseIdleConnections()
	defer hcb.CloseIdleConnections()

	r := newCrashRun(t)
	r.fund(ca)
	raceRules(t, ca, cb)
	if t.Failed() {
		t.FailNow()
	}

	st := r.load([]*client.Client{ca, cb}, 2*crashWorkers, pa, 0, 1500*time.Millisecond)
	t.Logf("killed front-end A under load: sent %d, acknowledged %d, in flight at the kill %d", st.sent, st.acked, st.inFlight)
	if st.inFlight == 0 || st.acked == 0 {
		t.Errorf("the kill came with %d requests in flight and %d acknowledged: not under load", st.inFlight, st.acked)
	}
	r.check(cb, "after killing front-end A", false)
	var acked []*crashOp
	for _, op := range r.ops {
		if op.acked {
			acked = append(acked, op)
		}
	}
	r.resend(cb, acked, "re-sent to front-end B")
	r.resendAll(cb)
	sum := r.check(cb, "after re-sending everything to B", true)
	r.checkChannels(cb)
	t.Logf("%d operations applied exactly once (%d transfers, %d opens, %d closes)", sum.applied, sum.transfers, sum.opens, sum.closes)

	expiresAfterKill(t, cb)
}

// both sends one request through each front-end at the same moment.
func both[T any](a, b *client.Client, fa, fb func(*client.Client) (T, error)) (ra, rb T, ea, eb error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Go(func() { <-start; ra, ea = fa(a) })
	wg.Go(func() { <-start; rb, eb = fb(b) })
	close(start)
	wg.Wait()
	return ra, rb, ea, eb
}

// oneWins checks that of two racing requests exactly one succeeded and the
// other was refused with code.
func oneWins(t *testing.T, what string, ea, eb error, code string) (aWon bool) {
	t.Helper()
	switch {
	case ea == nil && eb == nil:
		t.Errorf("%s: both front-ends accepted", what)
	case ea != nil && eb != nil:
		t.Errorf("%s: both refused: %v; %v", what, ea, eb)
	case ea != nil && api.CodeOf(ea) != code, eb != nil && api.CodeOf(eb) != code:
		t.Errorf("%s: refused with %v / %v, want %s", what, ea, eb, code)
	}
	return ea == nil
}

// raceRules races requests through both front-ends that one process would
// order with its own memory if it kept any.
func raceRules(t *testing.T, ca, cb *client.Client) {
	ctx := context.Background()
	payer, payee, x, y := mustGen(t), mustGen(t), mustGen(t), mustGen(t)
	if err := ledgertest.Fund(ctx, ca, []wallet.Address{payer.Address()}, 1_000_000); err != nil {
		t.Fatal(err)
	}
	const rounds = 10
	spent := uint64(0)
	for n := range uint64(rounds) {
		// One nonce, two transfers: one applies.
		t1, _ := api.Transfer{Ledger: crashLedgerID, From: payer.Address(), To: x.Address(), Amount: 1, Nonce: n + 1}.Sign(payer)
		t2, _ := api.Transfer{Ledger: crashLedgerID, From: payer.Address(), To: y.Address(), Amount: 2, Nonce: n + 1}.Sign(payer)
		_, _, ea, eb := both(ca, cb,
			func(c *client.Client) (api.TransferResult, error) { return c.Transfer(ctx, t1) },
			func(c *client.Client) (api.TransferResult, error) { return c.Transfer(ctx, t2) })
		if oneWins(t, fmt.Sprintf("transfers with nonce %d", n+1), ea, eb, api.CodeNonceUsed) {
			spent++
		} else {
			spent += 2
		}
		// One request through both: applied once, the same answer twice.
		t3, _ := api.Transfer{Ledger: crashLedgerID, From: payer.Address(), To: x.Address(), Amount: 5, Nonce: 1000 + n}.Sign(payer)
		send := func(c *client.Client) (api.TransferResult, error) { return c.Transfer(ctx, t3) }
		ra, rb, ea, eb := both(ca, cb, send, send)
		if ea != nil || eb != nil || ra != rb {
			t.Errorf("one transfer through both: %+v %v / %+v %v", ra, ea, rb, eb)
		}
		spent += 5
		// Two closes of one channel: the first wins.
		o, _ := speed.OpenRequest{Ledger: crashLedgerID, Payer: payer.Address(), Payee: payee.Address(), Deposit: 100,
			Deadline: time.Now().Add(time.Hour).Unix(), Nonce: n + 1}.Sign(payer)
		if _, err := cb.OpenChannel(ctx, o); err != nil {
			t.Fatal(err)
		}
		closeWith := func(paid uint64) func(*client.Client) (speed.Channel, error) {
			s := speed.State{Channel: o.Request.ID(), Seq: paid, Paid: paid}
			ps, _ := s.Sign(payer)
			qs, _ := s.Sign(payee)
			return func(c *client.Client) (speed.Channel, error) {
				return c.CloseChannel(ctx, speed.CloseRequest{State: s, PayerSig: ps, PayeeSig: qs})
			}
		}
		_, _, ea, eb = both(ca, cb, closeWith(10), closeWith(20))
		paid := uint64(20)
		if oneWins(t, fmt.Sprintf("closes of channel %d", n), ea, eb, api.CodeChannelClosed) {
			paid = 10
		}
		if ch, err := ca.Channel(ctx, o.Request.ID()); err != nil || !ch.Closed || ch.Paid != paid {
			t.Errorf("channel %d after the race: %+v %v, want closed paying %d", n, ch, err, paid)
		}
		spent += paid
	}
	if b, err := cb.Balance(ctx, payer.Address()); err != nil || b != 1_000_000-spent {
		t.Errorf("payer's balance %d (%v), the winners make it %d", b, err, 1_000_000-spent)
	}
	// Two faucet claims of one account, one through each: one grant.
	claim := func(c *client.Client) (api.FaucetResult, error) {
		res, _, err := c.ClaimFaucet(ctx, x, nil)
		return res, err
	}
	before, _ := ca.Balance(ctx, x.Address())
	ra, rb, ea, eb := both(ca, cb, claim, claim)
	if ea == nil && eb == nil && ra != rb {
		t.Errorf("two faucet claims both granted: %+v, %+v", ra, rb)
	} else if ea != nil || eb != nil {
		oneWins(t, "faucet claims", ea, eb, api.CodeFaucetClaimed)
	}
	info, err := ca.FaucetInfo(ctx)
	if after, err2 := cb.Balance(ctx, x.Address()); err != nil || err2 != nil || after != before+uint64(info.Amount) {
		t.Errorf("balance after two racing faucet claims %d, want %d + one grant of %d (%v %v)", after, before, info.Amount, err, err2)
	}
}

// expiresAfterKill opens a channel through c that expires in two seconds and
// waits until the expiry loop (now in c's process) refunds it.
func expiresAfterKill(t *testing.T, c *client.Client) {
	ctx := context.Background()
	payer, payee := mustGen(t), mustGen(t)
	if err := ledgertest.Fund(ctx, c, []wallet.Address{payer.Address()}, 1000); err != nil {
		t.Fatal(err)
	}
	o, _ := speed.OpenRequest{Ledger: crashLedgerID, Payer: payer.Address(), Payee: payee.Address(), Deposit: 600,
		Deadline: time.Now().Add(2 * time.Second).Unix(), Nonce: 1}.Sign(payer)
	if _, err := c.OpenChannel(ctx, o); err != nil {
		t.Fatal(err)
	}
	// The expiry loop runs every second, after a new leader's grace: a
	// minute is far above what the refund needs.
	deadline := time.Now().Add(time.Minute)
	for {
		es, err := history(c, payer.Address())
		if err != nil {
			t.Fatal(err)
		}
		n := len(es)
		if n > 0 && es[n-1].Kind == "channel-refund" {
			if b := uint64(es[n-1].Balance); b != 1000 {
				t.Errorf("payer's balance after the refund %d, want 1000", b)
			}
			return
		}
		if time.Now().After(deadline) {
			last := "none"
			if n > 0 {
				last = fmt.Sprintf("%+v", es[n-1])
			}
			t.Fatalf("after a minute waiting for the expired channel's refund: the payer's history has %d entries, the last %s", n, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustGen(t *testing.T) *wallet.PrivateKey {
	k, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
