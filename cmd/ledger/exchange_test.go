//go:build !js

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
	tronclient "github.com/fbsobreira/gotron-sdk/pkg/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	btt      = "1002000"
	ledgerID = "btspeed-devnet"
)

// tronRig is a TRON devnet process (blocks made on demand) and a ledger
// process whose exchange talks to it over gRPC, both restartable on the
// same files, plus a gotron-sdk client for the users' side. To the ledger
// the devnet process is a TRON node like any other (-tron grpc://), so
// its exchange key is a keystore of its own, holding rigBacking BTT on
// TRON, and its ledger starts with no genesis.
type tronRig struct {
	t        *testing.T
	dir      string
	fund     string
	grpcAddr string
	tron     *ledgertest.Process
	gc       *tronclient.GrpcClient
	ledger   *ledgertest.Process
	lc       *client.Client
	exchange wallet.Address
	keystore string // the exchange key's, password rigPassword
}

const (
	rigPassword = "exchange password"
	rigBacking  = 100_000_000 * 1_000_000 // BTT on the exchange address: -exchange-backing
)

func newTronRig(t *testing.T, funded ...*wallet.PrivateKey) *tronRig {
	ex, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	fund := []string{ex.Address().String() + ":1000000:100000000"}
	for _, k := range funded {
		fund = append(fund, k.Address().String()+":1000:1000")
	}
	r := &tronRig{t: t, dir: t.TempDir(), fund: strings.Join(fund, ","), grpcAddr: "127.0.0.1:0", exchange: ex.Address()}
	data, err := wallet.EncryptKeystore(ex, []byte(rigPassword), wallet.LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	r.keystore = filepath.Join(r.dir, "exchange.json")
	if err := os.WriteFile(r.keystore, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r.startTron()
	return r
}

func (r *tronRig) startTron() {
	r.t.Helper()
	r.tron = ledgertest.StartWith(r.t, ledgertest.Options{Binary: ledgertest.Build(r.t, "github.com/btspeed/btspeed/cmd/tron-devnet")},
		"-data", filepath.Join(r.dir, "tron"), "-grpc", r.grpcAddr, "-block", "manual", "-token", btt, "-fund", r.fund)
	r.grpcAddr = r.tron.Printed("tron devnet gRPC on ")
	if r.gc != nil {
		r.gc.Stop()
	}
	r.gc = tronclient.NewGrpcClientWithTimeout(r.grpcAddr, 10*time.Second)
	if err := r.gc.Start(grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.gc.Stop)
}

// ledgerArgs are the flags of the rig's ledger, then extra (a flag given
// twice takes its last value).
func (r *tronRig) ledgerArgs(extra ...string) []string {
	return append([]string{"-db", filepath.Join(r.dir, "ledger.db"), "-faucet-difficulty", "0", "-tron", "grpc://" + r.grpcAddr,
		"-exchange-key", r.keystore, "-exchange-backing", "100000000", "-tron-confirmations", "2", "-exchange-poll", "50ms"}, extra...)
}

// ledgerEnv is the rig's ledger's environment: the keystore's password.
func (r *tronRig) ledgerEnv() []string { return []string{"BTSPEED_EXCHANGE_PASSWORD=" + rigPassword} }

// startLedger starts the ledger; crashAt names an exchange step where it
// kills itself ("": none), which takes a ledger built for the crash tests
// (-tags btspeed_crashtest).
func (r *tronRig) startLedger(crashAt string) {
	r.t.Helper()
	o := ledgertest.Options{Env: r.ledgerEnv()}
	if crashAt != "" {
		o.Binary = ledgertest.BuildTags(r.t, "github.com/btspeed/btspeed/cmd/ledger", "btspeed_crashtest")
		o.Env = append(o.Env, "BTSPEED_CRASH_AT="+crashAt)
	}
	r.ledger = ledgertest.StartWith(r.t, o, r.ledgerArgs()...)
	r.lc = client.New(r.ledger.URL, nil)
}

// waitCrash waits for the ledger to kill itself at its crash step.
func (r *tronRig) waitCrash(step string) {
	r.t.Helper()
	select {
	case <-r.ledger.Exited():
	case <-time.After(30 * time.Second):
		r.t.Fatalf("the ledger did not crash at %s", step)
	}
}

// killTron SIGKILLs the devnet and starts it again on the same file and
// port.
func (r *tronRig) killTron() {
	r.t.Helper()
	r.tron.Kill()
	r.startTron()
}

// mine makes n blocks.
func (r *tronRig) mine(n int) {
	r.t.Helper()
	for range n {
		resp, err := http.Post(r.tron.URL+"/devnet/block", "", nil)
		if err != nil {
			r.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			r.t.Fatalf("making a block: %s", resp.Status)
		}
	}
}

// send makes, signs and broadcasts a BTT transfer on TRON.
func (r *tronRig) send(k *wallet.PrivateKey, to wallet.Address, amount int64) string {
	r.t.Helper()
	return devnettest.SendToken(r.t, r.gc, k, to, btt, amount)
}

// onTron is an address's BTT on TRON.
func (r *tronRig) onTron(a wallet.Address) int64 {
	r.t.Helper()
	acct, err := r.gc.GetAccount(a.String())
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return 0
		}
		r.t.Fatal(err)
	}
	return acct.AssetV2[btt]
}

func (r *tronRig) onLedger(a wallet.Address) uint64 {
	r.t.Helper()
	b, err := r.lc.Balance(context.Background(), a)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// eventually polls cond for up to 30 s.
func (r *tronRig) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scanned waits until the exchange has scanned every block TRON has now
// that has its 2 confirmations (GET /v1/exchange's scanned): whatever those
// blocks hold has been credited by then.
func (r *tronRig) scanned(what string) {
	r.t.Helper()
	head, err := r.gc.GetNowBlock()
	if err != nil {
		r.t.Fatalf("TRON's head block: %v", err)
	}
	want := head.GetBlockHeader().GetRawData().GetNumber() - 2
	r.eventually(what, func() bool {
		x, err := r.lc.Exchange(context.Background())
		return err == nil && x.Scanned >= want
	})
}

// mining makes a block every 100 ms until cond holds (or fails the test
// after 30 s): for what needs blocks after something the exchange does in
// its own time.
func (r *tronRig) mining(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		r.mine(1)
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *tronRig) withdraw(k *wallet.PrivateKey, to wallet.Address, amount, nonce uint64) api.WithdrawalStatus {
	r.t.Helper()
	req, err := api.Withdrawal{Ledger: ledgerID, Account: k.Address(), To: to, Amount: amount, Nonce: nonce}.Sign(k)
	if err != nil {
		r.t.Fatal(err)
	}
	w, err := r.lc.Withdraw(context.Background(), req)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

// withdrawRacingCrash asks for a withdrawal while the ledger is armed to
// crash in its exchange's handling of withdrawals: the exchange may take the
// withdrawal up and kill the process before the answer is written, so a
// lost answer (the connection cut) is accepted, and the id is computed here.
// The ledger recorded the withdrawal before its exchange could see it; the
// test's later checks find it by that id.
func (r *tronRig) withdrawRacingCrash(k *wallet.PrivateKey, to wallet.Address, amount, nonce uint64) api.WithdrawalStatus {
	r.t.Helper()
	w := api.Withdrawal{Ledger: ledgerID, Account: k.Address(), To: to, Amount: amount, Nonce: nonce}
	req, err := w.Sign(k)
	if err != nil {
		r.t.Fatal(err)
	}
	st, err := r.lc.Withdraw(context.Background(), req)
	var apiErr *api.Error
	switch {
	case err == nil:
		return st
	case errors.As(err, &apiErr):
		r.t.Fatal(err) // the ledger answered: a refusal, not the crash
	}
	id := w.ID()
	r.t.Logf("withdrawal %x: no answer (%v); the crash came first", id, err)
	return api.WithdrawalStatus{ID: hex.EncodeToString(id[:])}
}

func (r *tronRig) withdrawal(id string) api.WithdrawalStatus {
	r.t.Helper()
	w, err := r.lc.Withdrawal(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

// settled checks, with nothing in flight, that the invariant holds with
// the reserve, that the reserve on TRON is exactly what the ledger owes,
// and that the BTT of the given accounts on TRON and on the ledger add up
// to total.
func (r *tronRig) settled(when string, total int64, accounts ...wallet.Address) {
	r.t.Helper()
	var inv api.Invariant
	var err error
	// After a devnet restart the ledger's connection to it comes back
	// within a few seconds (gRPC's reconnection backoff).
	r.eventually("TRON readable by the ledger "+when, func() bool {
		inv, err = r.lc.Invariant(context.Background())
		return err != nil || inv.Reserve == nil || inv.Reserve.Error == ""
	})
	if err != nil {
		r.t.Fatalf("%s: %v", when, err)
	}
	if !inv.OK || inv.Reserve == nil || !inv.Reserve.OK || inv.Reserve.Balance != inv.Reserve.Required {
		r.t.Fatalf("%s: invariant %+v, reserve %+v", when, inv, inv.Reserve)
	}
	if want := rigBacking + inv.Deposited - inv.Withdrawn; uint64(inv.Reserve.Balance) != uint64(want) {
		r.t.Fatalf("%s: reserve %d, want backing + deposited - withdrawn = %d", when, inv.Reserve.Balance, want)
	}
	var sum int64
	for _, a := range accounts {
		sum += r.onTron(a) + int64(r.onLedger(a))
	}
	if sum != total {
		r.t.Fatalf("%s: the accounts hold %d BTT on TRON and the ledger together, want %d", when, sum, total)
	}
}

// mineUntil waits, as eventually does, for cond, making a block each
// time it does not hold yet.
func (r *tronRig) mineUntil(what string, cond func() bool) {
	r.t.Helper()
	r.eventually(what, func() bool {
		if cond() {
			return true
		}
		r.mine(1)
		return false
	})
}

// deposits lists the deposit entries in a's ledger history by TRON txid.
func (r *tronRig) deposits(a wallet.Address) map[string]int {
	r.t.Helper()
	es, err := r.lc.History(context.Background(), a, 0, 500)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range es {
		if e.Kind == "deposit" {
			out[e.Ref]++
		}
	}
	return out
}

// The exchange survives a crash between every two steps of a deposit and
// of a withdrawal: the ledger process kills itself (SIGKILL) at each step
// in turn, or the TRON devnet process is killed with transactions in its
// pool or waiting for confirmations; after the restarts every deposit is
// credited once, every withdrawal paid once, and the books and the reserve
// balance exactly.
func TestExchangeCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the ledger and the TRON devnet processes")
	}
	alice, _ := wallet.GenerateKey()
	bob, _ := wallet.GenerateKey()
	r := newTronRig(t, alice)
	x := &exchangeCrashRun{tronRig: r, alice: alice, bob: bob.Address(), accounts: []wallet.Address{alice.Address(), bob.Address()}}
	r.startLedger("")
	r.settled("at the start", exchangeCrashTotal, x.accounts...)
	r.ledger.Kill()

	x.depositsSurviveLedgerCrashes()
	x.withdrawalsSurviveLedgerCrashes()
	x.depositsSurviveDevnetCrashes()
	x.withdrawalsSurviveDevnetCrashes()
	r.settled("at the end", exchangeCrashTotal, x.accounts...)
	if b := r.onLedger(alice.Address()); b != x.ledgerWant {
		t.Fatalf("alice has %d on the ledger, want %d", b, x.ledgerWant)
	}
}

// exchangeCrashTotal is alice's 1,000 BTT on TRON at genesis, all there is
// on TRON and the ledger together in TestExchangeCrashes.
const exchangeCrashTotal = 1000_000_000

// exchangeCrashRun is TestExchangeCrashes's world: the rig, alice (funded
// on TRON) and bob, and what alice should have on the ledger so far and
// the last withdrawal nonce she used.
type exchangeCrashRun struct {
	*tronRig
	alice      *wallet.PrivateKey
	bob        wallet.Address
	accounts   []wallet.Address
	ledgerWant uint64
	nonce      uint64
}

// depositsSurviveLedgerCrashes: the ledger dies when it has seen a
// confirmed deposit, and when it has credited one but not moved its
// cursor; restarted, it credits the deposit once.
func (x *exchangeCrashRun) depositsSurviveLedgerCrashes() {
	r, t := x.tronRig, x.t
	for i, step := range []string{exchange.StepDepositSeen, exchange.StepDepositCredited} {
		r.startLedger(step)
		amount := int64(10_000_000 * (i + 1))
		txid := r.send(x.alice, r.exchange, amount)
		r.mine(3)
		r.waitCrash(step)
		r.startLedger("")
		x.ledgerWant += uint64(amount)
		r.eventually("the deposit after a crash at "+step, func() bool { return r.onLedger(x.alice.Address()) == x.ledgerWant })
		r.mine(3) // more scans: nothing more
		r.scanned("the scans after a crash at " + step)
		if got := r.deposits(x.alice.Address())[txid]; got != 1 || r.onLedger(x.alice.Address()) != x.ledgerWant {
			t.Fatalf("after a crash at %s: %d entries for %s, balance %d, want 1 and %d", step, got, txid, r.onLedger(x.alice.Address()), x.ledgerWant)
		}
		r.settled("after a crash at "+step, exchangeCrashTotal, x.accounts...)
		r.ledger.Kill()
	}
}

// withdrawalsSurviveLedgerCrashes: the ledger dies after signing, after
// recording, after broadcasting, and when the transaction is confirmed but
// not marked done; restarted, it pays bob once, with one transaction.
func (x *exchangeCrashRun) withdrawalsSurviveLedgerCrashes() {
	r, t := x.tronRig, x.t
	for _, step := range []string{exchange.StepWithdrawSigned, exchange.StepWithdrawRecorded, exchange.StepWithdrawBroadcast, exchange.StepWithdrawLanded} {
		r.startLedger(step)
		x.nonce++
		bobBefore := r.onTron(x.bob)
		w := r.withdrawRacingCrash(x.alice, x.bob, 1_000_000*x.nonce, x.nonce)
		x.ledgerWant -= 1_000_000 * x.nonce
		if step == exchange.StepWithdrawLanded {
			r.eventually("the withdrawal sent", func() bool { return r.withdrawal(w.ID).Status == api.WithdrawalSent })
			r.mine(3)
		}
		r.waitCrash(step)
		r.startLedger("")
		r.eventually("the withdrawal sent after a crash at "+step, func() bool {
			s := r.withdrawal(w.ID).Status
			return s == api.WithdrawalSent || s == api.WithdrawalDone
		})
		r.eventually("the withdrawal done after a crash at "+step, func() bool {
			if r.withdrawal(w.ID).Status == api.WithdrawalDone {
				return true
			}
			r.mine(1) // TRON keeps making blocks
			return false
		})
		got := r.withdrawal(w.ID)
		if got.Attempts != 1 {
			t.Fatalf("after a crash at %s: %d transactions for one withdrawal", step, got.Attempts)
		}
		if paid := r.onTron(x.bob) - bobBefore; paid != int64(1_000_000*x.nonce) {
			t.Fatalf("after a crash at %s: bob received %d on TRON, want %d", step, paid, 1_000_000*x.nonce)
		}
		if b := r.onLedger(x.alice.Address()); b != x.ledgerWant {
			t.Fatalf("after a crash at %s: alice has %d on the ledger, want %d", step, b, x.ledgerWant)
		}
		r.settled("after a crash at "+step, exchangeCrashTotal, x.accounts...)
		r.ledger.Kill()
	}
}

// depositsSurviveDevnetCrashes: the devnet dies with a deposit in its pool
// (lost: it never happened, and alice still has her BTT), and with a
// deposit in a block short of its confirmations (credited once).
func (x *exchangeCrashRun) depositsSurviveDevnetCrashes() {
	r, t := x.tronRig, x.t
	alice := x.alice.Address()
	r.startLedger("")
	aliceTron := r.onTron(alice)
	r.send(x.alice, r.exchange, 5_000_000)
	r.killTron()
	r.mine(3)
	r.scanned("the scans after the devnet lost its pool")
	if r.onTron(alice) != aliceTron || r.onLedger(alice) != x.ledgerWant {
		t.Fatalf("a deposit lost with the pool moved money: TRON %d (was %d), ledger %d (want %d)", r.onTron(alice), aliceTron, r.onLedger(alice), x.ledgerWant)
	}
	r.settled("after a deposit lost with the pool", exchangeCrashTotal, x.accounts...)

	txid := r.send(x.alice, r.exchange, 6_000_000)
	r.mine(1)
	r.killTron()
	r.mine(2)
	x.ledgerWant += 6_000_000
	r.eventually("a deposit confirmed across a devnet restart", func() bool { return r.onLedger(alice) == x.ledgerWant })
	if n := r.deposits(alice)[txid]; n != 1 {
		t.Fatalf("%d credits for one deposit", n)
	}
}

// withdrawalsSurviveDevnetCrashes: the devnet dies with a withdrawal in
// its pool (the exchange broadcasts it again), and with a withdrawal in a
// block short of its confirmations; bob is paid once, in one attempt.
func (x *exchangeCrashRun) withdrawalsSurviveDevnetCrashes() {
	r, t := x.tronRig, x.t
	for i, landed := range []bool{false, true} {
		x.nonce++
		bobBefore := r.onTron(x.bob)
		w := r.withdraw(x.alice, x.bob, 2_000_000, x.nonce)
		x.ledgerWant -= 2_000_000
		r.eventually("the withdrawal sent", func() bool { return r.withdrawal(w.ID).Status == api.WithdrawalSent })
		if landed {
			r.mine(1)
		}
		r.killTron()
		r.eventually(fmt.Sprintf("withdrawal %d done across a devnet restart", i), func() bool {
			if r.withdrawal(w.ID).Status == api.WithdrawalDone {
				return true
			}
			r.mine(1)
			return false
		})
		if paid := r.onTron(x.bob) - bobBefore; paid != 2_000_000 || r.withdrawal(w.ID).Attempts != 1 {
			t.Fatalf("withdrawal across a devnet restart (landed %v): bob received %d, want 2000000; %d attempts", landed, paid, r.withdrawal(w.ID).Attempts)
		}
	}
}

// End to end: a wallet key funded on TRON deposits to the ledger, pays
// another through a payment channel, and the payee withdraws to TRON; the
// balances on TRON and on the ledger add up.
func TestDepositPayWithdraw(t *testing.T) {
	ctx := context.Background()
	alice, _ := wallet.GenerateKey()
	bob, _ := wallet.GenerateKey()
	r := newTronRig(t, alice)
	r.startLedger("")
	const total = 1000_000_000
	accounts := []wallet.Address{alice.Address(), bob.Address()}

	r.send(alice, r.exchange, 50_000_000)
	r.mine(3)
	r.eventually("the deposit", func() bool { return r.onLedger(alice.Address()) == 50_000_000 })

	// A channel from alice to bob: 20 BTT deposit, 12.5 BTT paid.
	open, err := speed.OpenRequest{Ledger: ledgerID, Payer: alice.Address(), Payee: bob.Address(), Deposit: 20_000_000,
		Deadline: time.Now().Add(time.Hour).Unix(), Nonce: 1}.Sign(alice)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := r.lc.OpenChannel(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	st := speed.State{Channel: ch.ID, Seq: 3, Paid: 12_500_000}
	payerSig, _ := st.Sign(alice)
	payeeSig, _ := st.Sign(bob)
	if _, err := r.lc.CloseChannel(ctx, speed.CloseRequest{State: st, PayerSig: payerSig, PayeeSig: payeeSig}); err != nil {
		t.Fatal(err)
	}
	if a, b := r.onLedger(alice.Address()), r.onLedger(bob.Address()); a != 37_500_000 || b != 12_500_000 {
		t.Fatalf("after the channel: alice %d, bob %d", a, b)
	}

	// Bob withdraws 12 BTT to his TRON address.
	w := r.withdraw(bob, bob.Address(), 12_000_000, 1)
	// "sent" is recorded before the broadcast: keep making blocks until the
	// transfer has landed and is confirmed.
	r.mining("the withdrawal done", func() bool { return r.withdrawal(w.ID).Status == api.WithdrawalDone })
	if got := r.onTron(bob.Address()); got != 12_000_000 {
		t.Fatalf("bob has %d BTT on TRON, want 12000000", got)
	}
	if got := r.onLedger(bob.Address()); got != 500_000 {
		t.Fatalf("bob has %d on the ledger, want 500000", got)
	}
	if got := r.onTron(alice.Address()); got != total-50_000_000 {
		t.Fatalf("alice has %d BTT on TRON, want %d", got, total-50_000_000)
	}
	r.settled("at the end", total, accounts...)
}

// dist/ledger -tron devnet embeds the TRON devnet: TRON's HTTP API at
// /tron/, gRPC on -tron-grpc, and the exchange watching the development
// exchange address, with its reserve in the invariant.
func TestLedgerEmbedsTheDevnet(t *testing.T) {
	p := ledgertest.Start(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "0",
		"-tron", "devnet", "-tron-grpc", "127.0.0.1:0", "-tron-block", "200ms")
	if p.Printed("tron devnet gRPC on ") == "" {
		t.Fatal("no gRPC address printed")
	}
	lc := client.New(p.URL, nil)
	ex, err := lc.Exchange(context.Background())
	dev, _ := genesis.DevExchangeKey()
	if err != nil || ex.Address != dev.Address() || ex.Confirmations != 2 {
		t.Fatalf("exchange: %+v %v", ex, err)
	}
	resp, err := http.Post(p.URL+"/tron/wallet/getaccount", "application/json", strings.NewReader(`{"address":"`+dev.Address().String()+`","visible":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var acct struct {
		AssetV2 []struct {
			Key   string `json:"key"`
			Value int64  `json:"value"`
		} `json:"assetV2"`
	}
	json.NewDecoder(resp.Body).Decode(&acct)
	resp.Body.Close()
	if len(acct.AssetV2) != 1 || acct.AssetV2[0].Key != btt || acct.AssetV2[0].Value != tronsetup.DevBacking {
		t.Fatalf("the exchange's account on the devnet: %+v", acct)
	}
	inv, err := lc.Invariant(context.Background())
	if err != nil || !inv.OK || inv.Reserve == nil || !inv.Reserve.OK || inv.Reserve.Required != tronsetup.DevBacking {
		t.Fatalf("invariant %+v reserve %+v: %v", inv, inv.Reserve, err)
	}
}
