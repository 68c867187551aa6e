//go:build !js

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// TestCrashConsistency SIGKILLs the ledger at random moments under load,
// crashCycles times, restarting it on the same bbolt file, and checks after
// every restart that every acknowledged operation is there, none is applied
// twice (nor half applied), and the supply invariant holds. At the end it
// re-sends every request ever sent, so that each one has been applied
// exactly once, and compares every balance, the escrow and every history
// line with a model computed from the list of requests alone.
//
// What the test knows about a request: an acknowledged one (HTTP 200 with
// its result) must be durable; one in flight at a kill (a connection error)
// may or may not have been applied, but never partially, and never twice.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the ledger process many times")
	}
	begin := time.Now()
	db := filepath.Join(t.TempDir(), "ledger.db")
	r := newCrashRun(t)
	killRNG := rand.New(rand.NewPCG(20, 26)) // fixed seed: reproducible kill delays

	var cycles []crashCycleStats
	for cycle := range crashCycles {
		cstart := time.Now()
		p := ledgertest.Start(t, "-db", db, "-faucet-difficulty", "0")
		c, hc := crashClient(p.URL)
		if cycle == 0 {
			r.fund(c)
		} else {
			r.check(c, fmt.Sprintf("after kill %d", cycle), false)
			// Re-sending what the killed run acknowledged must return the
			// stored answers (and, checked at the next restart, add nothing).
			r.resend(c, r.ackedIn(cycle-1), fmt.Sprintf("after kill %d", cycle))
		}
		if t.Failed() {
			t.FailNow()
		}
		delay := time.Duration(50+killRNG.IntN(351)) * time.Millisecond
		st := r.load([]*client.Client{c}, crashWorkers, p, cycle, delay)
		hc.CloseIdleConnections()
		cycles = append(cycles, st)
		t.Logf("cycle %2d: killed after %3d ms: sent %4d, acknowledged %4d, in flight at kill %d (cycle with checks %v)",
			cycle, delay.Milliseconds(), st.sent, st.acked, st.inFlight, time.Since(cstart).Round(time.Millisecond))
		if t.Failed() {
			t.FailNow()
		}
	}

	// The last restart: check, then re-send everything ever sent in the
	// original order (opens before the closes that need them), so that every
	// request is applied exactly once, and check again against the model.
	p := ledgertest.Start(t, "-db", db, "-faucet-difficulty", "0")
	c, hc := crashClient(p.URL)
	defer hc.CloseIdleConnections()
	r.check(c, "after the last kill", false)
	r.resend(c, r.ackedIn(crashCycles-1), "after the last kill")
	if t.Failed() {
		t.FailNow()
	}
	r.resendAll(c)
	sum := r.check(c, "after re-sending everything", true)
	r.checkChannels(c)

	// The kills must have hit the ledger under load, with work done.
	var withInFlight, withAcks, sent, acked int
	for _, st := range cycles {
		if st.inFlight > 0 {
			withInFlight++
		}
		if st.acked > 0 {
			withAcks++
		}
		sent += st.sent
		acked += st.acked
	}
	if withInFlight < crashCycles/2 {
		t.Errorf("only %d of %d kills had requests in flight", withInFlight, crashCycles)
	}
	if withAcks < crashCycles*3/4 {
		t.Errorf("only %d of %d cycles acknowledged operations before the kill", withAcks, crashCycles)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Errorf("graceful stop after the crash cycles: %v", err)
	}
	t.Logf("%d kills (%d with requests in flight, %d with acknowledged work): %d requests sent under load, %d acknowledged; "+
		"finally %d operations applied exactly once (%d transfers, %d opens, %d closes), %d history lines; %v",
		crashCycles, withInFlight, withAcks, sent, acked, sum.applied, sum.transfers, sum.opens, sum.closes, sum.entries,
		time.Since(begin).Round(time.Millisecond))
}

const (
	crashCycles   = 24
	crashAccounts = 8
	crashWorkers  = 8
	crashFunding  = 1_000_000_000_000 // per test account: far above what the load spends
	crashLedgerID = "btspeed-devnet"  // the binary's default -id
	crashTimeout  = 20 * time.Second  // per HTTP request
)

type crashKind uint8

const (
	crashTransfer crashKind = iota
	crashOpen
	crashClose
)

func (k crashKind) String() string {
	return [...]string{"transfer", "open", "close"}[k]
}

// crashOp is one request the test sent, with what the ledger answered.
type crashOp struct {
	// Set before the request is first sent, never changed after.
	idx    int // position in crashRun.ops: the order of sending
	kind   crashKind
	cycle  int                 // the cycle that first sent it (-1: funding)
	tr     api.TransferRequest // kind transfer
	open   speed.SignedOpen    // kind open
	cls    speed.CloseRequest  // kind close
	openOp *crashOp            // kind close: the open it closes

	// The acknowledgement, guarded by crashRun.mu while load runs.
	acked    bool
	ackCycle int
	trRes    api.TransferResult // kind transfer
	ch       speed.Channel      // kinds open and close
	closeOp  *crashOp           // kind open: its close, once sent
}

func (o *crashOp) String() string {
	switch o.kind {
	case crashTransfer:
		t := o.tr.Transfer()
		return fmt.Sprintf("#%d transfer %d from %s nonce %d", o.idx, t.Amount, t.From, t.Nonce)
	case crashOpen:
		return fmt.Sprintf("#%d open %s deposit %d", o.idx, o.open.Request.ID(), o.open.Request.Deposit)
	default:
		return fmt.Sprintf("#%d close %s paid %d", o.idx, o.cls.State.Channel, o.cls.State.Paid)
	}
}

// entryKey names a history line: one per account, kind and reference
// (transfer id or channel id) if the ledger applies each request once.
type entryKey struct {
	acct wallet.Address
	kind string
	ref  string
}

type entryWant struct {
	entryKey
	credit, debit uint64
}

// wants returns the history lines applying o writes.
func (o *crashOp) wants() []entryWant {
	switch o.kind {
	case crashTransfer:
		t := o.tr.Transfer()
		id := t.ID()
		ref := hex.EncodeToString(id[:])
		return []entryWant{
			{entryKey{t.From, "transfer", ref}, 0, t.Amount},
			{entryKey{t.To, "transfer", ref}, t.Amount, 0},
		}
	case crashOpen:
		q := o.open.Request
		return []entryWant{{entryKey{q.Payer, "channel-deposit", q.ID().String()}, 0, q.Deposit}}
	default:
		q := o.openOp.open.Request
		ref, paid := q.ID().String(), o.cls.State.Paid
		return []entryWant{
			{entryKey{q.Payee, "channel-payout", ref}, paid, 0},
			{entryKey{q.Payer, "channel-refund", ref}, q.Deposit - paid, 0},
		}
	}
}

// crashRun is the workload and its record.
type crashRun struct {
	t        *testing.T
	genesis  *wallet.PrivateKey
	keys     []*wallet.PrivateKey
	tracked  map[wallet.Address]bool
	deadline int64 // of every channel: an hour from the start, so none expires
	nerrs    atomic.Int32

	mu        sync.Mutex
	rng       *rand.Rand
	ops       []*crashOp // every request ever sent, in the order first sent
	trNonce   map[wallet.Address]uint64
	openNonce map[wallet.Address]uint64
	ready     []*crashOp // acknowledged opens whose close is not sent yet
}

func newCrashRun(t *testing.T) *crashRun {
	dev, err := genesis.DevKeys()
	if err != nil {
		t.Fatal(err)
	}
	r := &crashRun{
		t:         t,
		genesis:   dev[0], // public-sale: 59.4e9 BTT
		tracked:   map[wallet.Address]bool{},
		deadline:  time.Now().Add(time.Hour).Unix(),
		rng:       rand.New(rand.NewPCG(1, 2)),
		trNonce:   map[wallet.Address]uint64{},
		openNonce: map[wallet.Address]uint64{},
	}
	for i := range crashAccounts {
		seed := sha256.Sum256(fmt.Appendf(nil, "btspeed/cmd/ledger/crash-test/account/%d", i))
		k, err := wallet.PrivateKeyFromBytes(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		r.keys = append(r.keys, k)
		r.tracked[k.Address()] = true
	}
	return r
}

// errorf reports a failure, at most 30 of them in full.
func (r *crashRun) errorf(format string, args ...any) {
	r.t.Helper()
	if n := r.nerrs.Add(1); n <= 30 {
		r.t.Errorf(format, args...)
	} else if n == 31 {
		r.t.Errorf("more failures follow; not shown")
	} else {
		r.t.Fail()
	}
}

func crashClient(url string) (*client.Client, *http.Client) {
	hc := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * crashWorkers},
		Timeout:   crashTimeout,
	}
	return client.New(url, hc), hc
}

// fund sends each test account crashFunding from the genesis key; these
// transfers are part of the record like every other request.
func (r *crashRun) fund(c *client.Client) {
	for i, k := range r.keys {
		tr, err := api.Transfer{Ledger: crashLedgerID, From: r.genesis.Address(), To: k.Address(), Amount: crashFunding, Nonce: uint64(i + 1)}.Sign(r.genesis)
		if err != nil {
			r.t.Fatal(err)
		}
		op := &crashOp{idx: len(r.ops), kind: crashTransfer, cycle: -1, tr: tr}
		r.ops = append(r.ops, op)
		if !r.send(c, op, 0) {
			r.t.Fatalf("funding %s failed", k.Address())
		}
	}
}

// next chooses, signs and records the next request to send in cycle. A
// close is only chosen once its open was acknowledged.
func (r *crashRun) next(cycle int) *crashOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	op := &crashOp{idx: len(r.ops), cycle: cycle}
	n := uint64(len(r.keys))
	from := r.rng.Uint64N(n)
	to := (from + 1 + r.rng.Uint64N(n-1)) % n // another account
	payer, payee := r.keys[from], r.keys[to]
	var err error
	switch x := r.rng.IntN(10); {
	case len(r.ready) > 0 && x < 3:
		i := r.rng.IntN(len(r.ready))
		open := r.ready[i]
		r.ready = slices.Delete(r.ready, i, i+1)
		q := open.open.Request
		st := speed.State{Channel: q.ID(), Seq: 1, Paid: 1 + r.rng.Uint64N(q.Deposit-1)}
		op.kind, op.openOp = crashClose, open
		op.cls.State = st
		if op.cls.PayerSig, err = st.Sign(r.key(q.Payer)); err == nil {
			op.cls.PayeeSig, err = st.Sign(r.key(q.Payee))
		}
		open.closeOp = op
	case x < 8:
		r.trNonce[payer.Address()]++
		op.kind = crashTransfer
		op.tr, err = api.Transfer{Ledger: crashLedgerID, From: payer.Address(), To: payee.Address(),
			Amount: 1 + r.rng.Uint64N(1000), Nonce: r.trNonce[payer.Address()]}.Sign(payer)
	default:
		r.openNonce[payer.Address()]++
		op.kind = crashOpen
		op.open, err = speed.OpenRequest{Ledger: crashLedgerID, Payer: payer.Address(), Payee: payee.Address(),
			Deposit: 1000 + r.rng.Uint64N(100_000), Deadline: r.deadline, Nonce: r.openNonce[payer.Address()]}.Sign(payer)
	}
	if err != nil {
		panic(fmt.Sprintf("signing %v: %v", op, err)) // valid requests with the right keys: cannot fail
	}
	r.ops = append(r.ops, op)
	return op
}

func (r *crashRun) key(a wallet.Address) *wallet.PrivateKey {
	for _, k := range r.keys {
		if k.Address() == a {
			return k
		}
	}
	panic("no key for " + a.String())
}

// send sends op once during load and records an acknowledgement. A
// connection error (the kill) leaves op unacknowledged; an error answer from
// the ledger is a failure: every request the test makes is valid.
func (r *crashRun) send(c *client.Client, op *crashOp, cycle int) bool {
	ctx := context.Background()
	var (
		trRes api.TransferResult
		ch    speed.Channel
		err   error
	)
	switch op.kind {
	case crashTransfer:
		trRes, err = c.Transfer(ctx, op.tr)
	case crashOpen:
		ch, err = c.OpenChannel(ctx, op.open)
	case crashClose:
		ch, err = c.CloseChannel(ctx, op.cls)
	}
	if err != nil {
		if api.CodeOf(err) != "" {
			r.errorf("cycle %d: %v answered with an error: %v", cycle, op, err)
		}
		return false
	}
	r.checkAnswer(op, trRes, ch, fmt.Sprintf("cycle %d", cycle))
	r.mu.Lock()
	defer r.mu.Unlock()
	op.acked, op.ackCycle, op.trRes, op.ch = true, cycle, trRes, ch
	if op.kind == crashOpen {
		r.ready = append(r.ready, op)
	}
	return true
}

// checkAnswer checks that an answer is the one the request asks for.
func (r *crashRun) checkAnswer(op *crashOp, trRes api.TransferResult, ch speed.Channel, when string) {
	switch op.kind {
	case crashTransfer:
		t := op.tr.Transfer()
		id := t.ID()
		if trRes.ID != hex.EncodeToString(id[:]) || trRes.From != t.From || trRes.To != t.To || uint64(trRes.Amount) != t.Amount || trRes.Time == 0 {
			r.errorf("%s: %v answered %+v", when, op, trRes)
		}
	case crashOpen:
		q := op.open.Request
		if ch.ID != q.ID() || ch.Payer != q.Payer || ch.Payee != q.Payee || ch.Deposit != q.Deposit || ch.Deadline.Unix() != q.Deadline {
			r.errorf("%s: %v answered %+v", when, op, ch)
		}
	case crashClose:
		st := op.cls.State
		if ch.ID != st.Channel || !ch.Closed || ch.Seq != st.Seq || ch.Paid != st.Paid {
			r.errorf("%s: %v answered %+v", when, op, ch)
		}
	}
}

type crashCycleStats struct {
	sent, acked, inFlight int
}

// load runs workers goroutines, spread over the clients cs, sending
// cycle's requests until, after delay, kill is killed with SIGKILL.
func (r *crashRun) load(cs []*client.Client, workers int, kill *ledgertest.Process, cycle int, delay time.Duration) crashCycleStats {
	var stop atomic.Bool
	var inFlight, sent, acked atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		c := cs[i%len(cs)]
		wg.Go(func() {
			for !stop.Load() {
				op := r.next(cycle)
				sent.Add(1)
				inFlight.Add(1)
				ok := r.send(c, op, cycle)
				inFlight.Add(-1)
				if ok {
					acked.Add(1)
				}
			}
		})
	}
	time.Sleep(delay)
	stop.Store(true) // no new requests; those under way meet the kill
	n := inFlight.Load()
	kill.Kill()
	wg.Wait()
	return crashCycleStats{sent: int(sent.Load()), acked: int(acked.Load()), inFlight: int(n)}
}

// ackedIn returns the operations acknowledged in cycle.
func (r *crashRun) ackedIn(cycle int) []*crashOp {
	var out []*crashOp
	for _, op := range r.ops {
		if op.acked && op.ackCycle == cycle {
			out = append(out, op)
		}
	}
	return out
}

// parallel runs fn on every op with crashWorkers goroutines, taking them
// in order.
func parallel(ops []*crashOp, fn func(*crashOp)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ops) {
					return
				}
				fn(ops[i])
			}
		})
	}
	wg.Wait()
}

// resendOne re-sends op to a running ledger: it must succeed and, when op
// was acknowledged, return the acknowledged answer again.
func (r *crashRun) resendOne(c *client.Client, op *crashOp, when string) {
	ctx := context.Background()
	switch op.kind {
	case crashTransfer:
		res, err := c.Transfer(ctx, op.tr)
		if err != nil {
			r.errorf("%s: re-sending %v: %v", when, op, err)
			return
		}
		r.checkAnswer(op, res, speed.Channel{}, when)
		if op.acked && res != op.trRes {
			r.errorf("%s: re-sending acknowledged %v answered %+v, first answer %+v", when, op, res, op.trRes)
		}
	case crashOpen:
		ch, err := c.OpenChannel(ctx, op.open)
		if err != nil {
			r.errorf("%s: re-sending %v: %v", when, op, err)
			return
		}
		r.checkAnswer(op, api.TransferResult{}, ch, when)
	case crashClose:
		ch, err := c.CloseChannel(ctx, op.cls)
		if err != nil {
			r.errorf("%s: re-sending %v: %v", when, op, err)
			return
		}
		r.checkAnswer(op, api.TransferResult{}, ch, when)
	}
}

// resend re-sends acknowledged operations (opens are applied, so order does
// not matter).
func (r *crashRun) resend(c *client.Client, ops []*crashOp, when string) {
	parallel(ops, func(op *crashOp) { r.resendOne(c, op, when) })
}

// resendAll re-sends every request ever sent, in the order first sent;
// closes go after all opens, since a close needs its channel.
func (r *crashRun) resendAll(c *client.Client) {
	var first, closes []*crashOp
	for _, op := range r.ops {
		if op.kind == crashClose {
			closes = append(closes, op)
		} else {
			first = append(first, op)
		}
	}
	parallel(first, func(op *crashOp) { r.resendOne(c, op, "final re-send") })
	parallel(closes, func(op *crashOp) { r.resendOne(c, op, "final re-send") })
}

type crashSummary struct {
	applied, transfers, opens, closes, entries int
}

// history returns a's whole history, oldest first.
func history(c *client.Client, a wallet.Address) ([]api.Entry, error) {
	var out []api.Entry
	before := uint64(0)
	for {
		page, err := c.History(context.Background(), a, before, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 500 || page[len(page)-1].Seq <= 1 {
			break
		}
		before = uint64(page[len(page)-1].Seq)
	}
	slices.Reverse(out)
	return out, nil
}

// check compares the ledger with the record: the invariant holds; every
// history line of a test account belongs to a request sent, no request
// left more than one line per account, kind and reference (none applied
// twice), each request left all its lines or none (atomic), every
// acknowledged request (every request when final) left them, and balances
// and escrow equal the sums over the applied requests.
func (r *crashRun) check(c *client.Client, when string, final bool) crashSummary {
	t := r.t
	ctx := context.Background()
	inv, err := c.Invariant(ctx)
	if err != nil {
		t.Fatalf("%s: invariant: %v", when, err)
	}
	if !inv.OK {
		r.errorf("%s: invariant broken: %+v", when, inv)
	}
	states, present, entries := r.readAccounts(c, when)
	tl := r.tally(when, final, present)
	tl.sum.entries = entries
	for k, es := range present {
		if !tl.used[k] {
			r.errorf("%s: %s has %d %s lines for %s, from no request sent", when, k.acct, len(es), k.kind, k.ref)
		}
	}
	for i, st := range states {
		a := r.keys[i].Address()
		if tl.model[a] < 0 || uint64(tl.model[a]) != st.balance {
			r.errorf("%s: %s: balance %d, the applied requests make it %d", when, a, st.balance, tl.model[a])
		}
	}
	if tl.escrow < 0 || uint64(tl.escrow) != uint64(inv.Escrow) {
		r.errorf("%s: escrow %d, the applied opens and closes make it %d", when, inv.Escrow, tl.escrow)
	}
	acked := 0
	for _, op := range r.ops {
		if op.acked {
			acked++
		}
	}
	sum := tl.sum
	t.Logf("%s: invariant ok=%v (escrow %d); %d requests sent, %d acknowledged, %d applied (%d transfers, %d opens, %d closes); %d history lines; lost %d, applied twice %d, partly applied %d",
		when, inv.OK, inv.Escrow, len(r.ops), acked, sum.applied, sum.transfers, sum.opens, sum.closes, sum.entries, tl.lost, tl.twice, tl.partial)
	return sum
}

// crashAcct is a test account as check reads it from the ledger.
type crashAcct struct {
	entries []api.Entry
	balance uint64
	err     error
}

// readAccounts reads every test account's history and balance from c, in
// parallel, and checks each history is a chain: seq 1, 2, ..., each
// balance the previous one plus the credit minus the debit, ending at the
// balance. It returns the accounts (as r.keys), their history lines by
// account, kind and reference, and how many lines there are.
func (r *crashRun) readAccounts(c *client.Client, when string) ([]crashAcct, map[entryKey][]api.Entry, int) {
	ctx := context.Background()
	states := make([]crashAcct, len(r.keys))
	var wg sync.WaitGroup
	for i, k := range r.keys {
		wg.Go(func() {
			states[i].entries, states[i].err = history(c, k.Address())
			if states[i].err == nil {
				states[i].balance, states[i].err = c.Balance(ctx, k.Address())
			}
		})
	}
	wg.Wait()

	present := map[entryKey][]api.Entry{}
	entries := 0
	for i, st := range states {
		a := r.keys[i].Address()
		if st.err != nil {
			r.t.Fatalf("%s: reading %s: %v", when, a, st.err)
		}
		// The history is a chain: seq 1, 2, ..., each balance the previous
		// one plus the credit minus the debit, ending at the balance.
		var bal uint64
		for j, e := range st.entries {
			if uint64(e.Seq) != uint64(j+1) {
				r.errorf("%s: %s: history line %d has seq %d", when, a, j+1, e.Seq)
			}
			if bal+uint64(e.Credit)-uint64(e.Debit) != uint64(e.Balance) {
				r.errorf("%s: %s: history line %d: %d + %d - %d != %d", when, a, e.Seq, bal, e.Credit, e.Debit, e.Balance)
			}
			bal = uint64(e.Balance)
			k := entryKey{a, e.Kind, e.Ref}
			present[k] = append(present[k], e)
		}
		if bal != st.balance {
			r.errorf("%s: %s: balance %d, history ends at %d", when, a, st.balance, bal)
		}
		entries += len(st.entries)
	}
	return states, present, entries
}

// crashTally is what check makes of the requests sent, against the
// history lines present: which were applied, what they make of every
// balance and of the escrow, which lines they account for, and how many
// were lost, applied twice or partly applied.
type crashTally struct {
	sum                  crashSummary
	model                map[wallet.Address]int64
	used                 map[entryKey]bool
	applied              map[*crashOp]bool
	escrow               int64
	lost, twice, partial int
}

// tally matches every request sent with the history lines present,
// reporting requests applied twice, partly, not at all though
// acknowledged (or, when final, at all), and closes applied without their
// open.
func (r *crashRun) tally(when string, final bool, present map[entryKey][]api.Entry) *crashTally {
	tl := &crashTally{model: map[wallet.Address]int64{}, used: map[entryKey]bool{}, applied: map[*crashOp]bool{}}
	for _, op := range r.ops {
		ws, n := r.linesOf(when, op, present, tl)
		switch {
		case n == len(ws):
			tl.applied[op] = true
		case n > 0:
			tl.partial++
			r.errorf("%s: %v partly applied: %d of its %d history lines", when, op, n, len(ws))
		}
		if !tl.applied[op] && op.acked {
			tl.lost++
			r.errorf("%s: %v acknowledged in cycle %d but not applied", when, op, op.ackCycle)
		}
		if !tl.applied[op] && final {
			r.errorf("%s: %v not applied after re-sending everything", when, op)
		}
		if !tl.applied[op] {
			continue
		}
		tl.sum.applied++
		for _, w := range ws {
			tl.model[w.acct] += int64(w.credit) - int64(w.debit)
		}
		switch op.kind {
		case crashTransfer:
			tl.sum.transfers++
		case crashOpen:
			tl.sum.opens++
			tl.escrow += int64(op.open.Request.Deposit)
		case crashClose:
			tl.sum.closes++
			tl.escrow -= int64(op.openOp.open.Request.Deposit)
			if !tl.applied[op.openOp] {
				r.errorf("%s: %v applied, its open %v not", when, op, op.openOp)
			}
		}
	}
	return tl
}

// linesOf returns the history lines op writes to tracked accounts, marked
// used in tl, and how many of them are present, checking each is there at
// most once (counted in tl.twice) and credits and debits what it should.
func (r *crashRun) linesOf(when string, op *crashOp, present map[entryKey][]api.Entry, tl *crashTally) ([]entryWant, int) {
	var ws []entryWant
	for _, w := range op.wants() {
		if r.tracked[w.acct] {
			ws = append(ws, w)
		}
	}
	n := 0
	for _, w := range ws {
		tl.used[w.entryKey] = true
		es := present[w.entryKey]
		if len(es) > 1 {
			tl.twice++
			r.errorf("%s: %v (sent in cycle %d, acknowledged %v) applied %d times: %s has %d %s lines for %s",
				when, op, op.cycle, op.acked, len(es), w.acct, len(es), w.kind, w.ref)
		}
		if len(es) == 0 {
			continue
		}
		n++
		if uint64(es[0].Credit) != w.credit || uint64(es[0].Debit) != w.debit {
			r.errorf("%s: %v: %s line of %s credits %d debits %d, want %d and %d", when, op, w.kind, w.acct, es[0].Credit, es[0].Debit, w.credit, w.debit)
		}
	}
	return ws, n
}

// checkChannels reads every channel after the final re-send: closed with
// its close's state when a close was sent, open otherwise.
func (r *crashRun) checkChannels(c *client.Client) {
	var opens []*crashOp
	for _, op := range r.ops {
		if op.kind == crashOpen {
			opens = append(opens, op)
		}
	}
	parallel(opens, func(op *crashOp) {
		q := op.open.Request
		ch, err := c.Channel(context.Background(), q.ID())
		if err != nil {
			r.errorf("channel of %v: %v", op, err)
			return
		}
		if ch.Payer != q.Payer || ch.Payee != q.Payee || ch.Deposit != q.Deposit || ch.Deadline.Unix() != q.Deadline {
			r.errorf("channel of %v is %+v", op, ch)
		}
		switch cl := op.closeOp; {
		case cl == nil && ch.Closed:
			r.errorf("channel of %v closed without a close: %+v", op, ch)
		case cl != nil && (!ch.Closed || ch.Seq != cl.cls.State.Seq || ch.Paid != cl.cls.State.Paid):
			r.errorf("channel of %v is %+v, want closed by %v", op, ch, cl)
		}
	})
}
