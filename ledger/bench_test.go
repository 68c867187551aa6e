package ledger_test

// BenchmarkLedger measures the ledger as peers use it: channel opens and
// closes over HTTP on loopback, from 64 concurrent clients, each with its own
// keep-alive connection, against the embedded store, PostgreSQL, and two
// front-ends on one PostgreSQL database (postgres-2fe: two ledgers, each
// with its own store and HTTP server, the clients alternating between them),
// side by side. Every request is signed and encoded before the timer starts (signing
// is the clients' cost, not the server's), so the clock runs only while
// requests are in flight. b.N counts operations: a batch of 64 closes is 64.
//
// Reported per sub-benchmark:
//
//	opens/s, closes/s  operations per second (ns/op is its inverse; B/op
//	                   and allocs/op are the whole process's per operation)
//	p50-ms, p99-ms     latency of one HTTP request, from writing it to
//	                   reading the whole answer; every operation in a batch
//	                   waits for its batch, so this is also each operation's
//	                   latency
//	req/s              HTTP requests per second
//	cpu-%              CPU time of this process (server and clients, not
//	                   PostgreSQL) per wall time: 200 is both of 2 cores
//	host-cpu-%         the same for the whole machine (Linux), PostgreSQL
//	                   included
//	pg-cpu-%           the same for the private PostgreSQL server (the
//	                   processes descending from this one; Linux)
//	updates/commit     store Updates per PostgreSQL commit (group commit)
//	retries/op         Updates run again after a conflict, per operation
//
// With 64 clients, Little's law ties the two: a request of k operations
// takes about 64*k / (operations per second), so batches that raise
// throughput raise latency with it.
//
// -ledger.cpuprofile=FILE profiles the timed part only (see cpuProfile).
//
// BenchmarkCloseSignatures is the ceiling: the two signature recoveries a
// close needs, on all cores, with nothing else.
//
// The clients are a minimal HTTP/1.1 client (prebuilt request bytes written
// to the connection, answers read with net/http's parser), so that of the
// machine's cores, which clients and server share, the clients take as
// little as they can.
//
// Run with ./build.sh bench ledger, or:
//
//	go test ./ledger -run '^$' -bench 'Ledger|CloseSignatures' -benchmem

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/boltstore"
	"github.com/btspeed/btspeed/ledger/store/pgstore"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/ethereum/go-ethereum/crypto"
)

const (
	benchClients  = 64   // concurrent HTTP clients, one connection each
	benchAccounts = 1024 // payer/payee pairs the operations spread over
	benchDeposit  = 1000 // base units per channel
	benchLedgerID = "bench-ledger"
)

// benchModes are the request shapes: one operation per request, or batches.
var benchModes = []struct {
	name  string
	batch int // 0: the single-operation endpoints
}{
	{"single", 0},
	{"batch16", 16},
	{"batch64", 64},
}

func BenchmarkLedger(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "ledger.db"), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchBackend(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		srv, err := pgtest.Start()
		if err != nil {
			pgtest.Skip(b, err) // says how to install PostgreSQL
		}
		b.Cleanup(srv.Stop)
		st, err := pgstore.Open(context.Background(), srv.NewDB(b))
		if err != nil {
			b.Fatal(err)
		}
		benchBackend(b, st)
	})
	// Two front-ends on one database, as two ledger processes on one
	// PostgreSQL would be (in this process: the machine's cores are
	// shared either way), each with its own store (pool, group commit)
	// and HTTP server; the clients alternate between them.
	b.Run("postgres-2fe", func(b *testing.B) {
		srv, err := pgtest.Start()
		if err != nil {
			pgtest.Skip(b, err)
		}
		b.Cleanup(srv.Stop)
		u := srv.NewDB(b)
		var sts []store.Store
		for range 2 {
			st, err := pgstore.Open(context.Background(), u)
			if err != nil {
				b.Fatal(err)
			}
			sts = append(sts, st)
		}
		benchBackend(b, sts...)
	})
}

func benchBackend(b *testing.B, st ...store.Store) {
	e := newBenchEnv(b, st...)
	for _, op := range []string{"open", "close"} {
		b.Run(op, func(b *testing.B) {
			for _, m := range benchModes {
				b.Run(m.name, func(b *testing.B) { e.run(b, op, m.batch) })
			}
		})
	}
}

// benchEnv is a ledger served over HTTP with funded accounts. The
// sub-benchmarks of one backend share it: channels the open benchmarks
// open are what the close benchmarks close.
type benchEnv struct {
	l      *ledger.Ledger
	addr   string   // host:port of the first front-end
	addrs  []string // every front-end's
	stores []store.Store
	payers []*wallet.PrivateKey
	payees []*wallet.PrivateKey
	nonce  atomic.Uint64
	next   int           // the pair the next channel uses
	pool   []openChannel // open channels, for close benchmarks
}

type openChannel struct {
	id   speed.ChannelID
	pair int
}

func newBenchEnv(b *testing.B, sts ...store.Store) *benchEnv {
	ctx := context.Background()
	for _, st := range sts {
		b.Cleanup(func() { st.Close() })
	}
	l, err := ledger.New(ctx, ledger.Config{ID: benchLedgerID, Store: sts[0]})
	if err != nil {
		b.Fatal(err)
	}
	allocs, err := genesis.Dev()
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Init(ctx, allocs); err != nil {
		b.Fatal(err)
	}
	keys, err := genesis.DevKeys()
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{l: l, stores: sts}
	for range benchAccounts {
		e.payers = append(e.payers, mustKey(b))
		e.payees = append(e.payees, mustKey(b))
	}
	// Fund the payers, each genesis account paying its share in turn (two
	// concurrent transfers from one account would conflict in PostgreSQL).
	err = parallel(len(keys), len(keys), func(k int) error {
		for i := k; i < benchAccounts; i += len(keys) {
			t, err := api.Transfer{Ledger: benchLedgerID, From: keys[k].Address(), To: e.payers[i].Address(), Amount: 1e12, Nonce: uint64(i + 1)}.Sign(keys[k])
			if err != nil {
				return err
			}
			if _, err := l.Transfer(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	for i, st := range sts {
		fe := l
		if i > 0 {
			if fe, err = ledger.New(ctx, ledger.Config{ID: benchLedgerID, Store: st}); err != nil {
				b.Fatal(err)
			}
		}
		e.addrs = append(e.addrs, serveBench(b, fe))
	}
	e.addr = e.addrs[0]
	return e
}

// serveBench serves l over HTTP on loopback until b ends, checking the
// books then, and returns its address.
func serveBench(b *testing.B, l *ledger.Ledger) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		inv, err := l.Check(context.Background())
		if err != nil || !inv.OK {
			b.Errorf("supply invariant after the benchmark: %+v %v", inv, err)
		}
	})
	return ln.Addr().String()
}

func mustKey(b *testing.B) *wallet.PrivateKey {
	k, err := wallet.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// signOpens signs n open requests, spread over the pairs.
func (e *benchEnv) signOpens(b *testing.B, n int) ([]speed.SignedOpen, []int) {
	opens := make([]speed.SignedOpen, n)
	pairs := make([]int, n)
	deadline := time.Now().Add(24 * time.Hour).Unix()
	for i := range pairs {
		pairs[i] = e.next
		e.next = (e.next + 1) % benchAccounts
	}
	err := parallel(n, runtime.GOMAXPROCS(0), func(i int) error {
		p := pairs[i]
		o := speed.OpenRequest{Ledger: benchLedgerID, Payer: e.payers[p].Address(), Payee: e.payees[p].Address(),
			Deposit: benchDeposit, Deadline: deadline, Nonce: e.nonce.Add(1)}
		var err error
		opens[i], err = o.Sign(e.payers[p])
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return opens, pairs
}

// channels returns n open channels, opening (in process, untimed) those the
// open benchmarks did not leave.
func (e *benchEnv) channels(b *testing.B, n int) []openChannel {
	if short := n - len(e.pool); short > 0 {
		opens, pairs := e.signOpens(b, short)
		err := parallel(short, benchClients, func(i int) error {
			_, err := e.l.Open(context.Background(), opens[i])
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		for i, o := range opens {
			e.pool = append(e.pool, openChannel{o.Request.ID(), pairs[i]})
		}
	}
	out := e.pool[len(e.pool)-n:]
	e.pool = e.pool[:len(e.pool)-n]
	return out
}

// signCloses signs a close (seq 1, paying 400 of 1000) of each channel by
// both parties.
func (e *benchEnv) signCloses(b *testing.B, chs []openChannel) []speed.CloseRequest {
	out := make([]speed.CloseRequest, len(chs))
	err := parallel(len(chs), runtime.GOMAXPROCS(0), func(i int) error {
		st := speed.State{Channel: chs[i].id, Seq: 1, Paid: 400}
		ps, err := st.Sign(e.payers[chs[i].pair])
		if err != nil {
			return err
		}
		qs, err := st.Sign(e.payees[chs[i].pair])
		out[i] = speed.CloseRequest{State: st, PayerSig: ps, PayeeSig: qs}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchRequest is one prebuilt HTTP request carrying ops operations.
type benchRequest struct {
	raw []byte
	ops int
}

func (e *benchEnv) request(b *testing.B, path string, body any, ops int) benchRequest {
	js, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	var r bytes.Buffer
	fmt.Fprintf(&r, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, e.addr, len(js))
	r.Write(js)
	return benchRequest{raw: r.Bytes(), ops: ops}
}

// requests builds b.N operations of kind op into requests of batch
// operations each (0: single-operation requests).
func (e *benchEnv) requests(b *testing.B, op string, batch int) (reqs []benchRequest, opened []openChannel) {
	var ops []api.BatchOp
	switch op {
	case "open":
		opens, pairs := e.signOpens(b, b.N)
		for i, o := range opens {
			opened = append(opened, openChannel{o.Request.ID(), pairs[i]})
			or := api.FromSignedOpen(o)
			if batch == 0 {
				reqs = append(reqs, e.request(b, "/v1/channels", or, 1))
			}
			ops = append(ops, api.BatchOp{Open: &or})
		}
	case "close":
		for _, c := range e.signCloses(b, e.channels(b, b.N)) {
			cr := api.CloseRequest{Seq: api.U64(c.State.Seq), Paid: api.U64(c.State.Paid), PayerSig: c.PayerSig, PayeeSig: c.PayeeSig}
			if batch == 0 {
				reqs = append(reqs, e.request(b, "/v1/channels/"+c.State.Channel.String()+"/close", cr, 1))
			}
			ops = append(ops, api.BatchOp{Close: &api.BatchClose{Channel: c.State.Channel, CloseRequest: cr}})
		}
	}
	if batch > 0 {
		for len(ops) > 0 {
			n := min(batch, len(ops))
			reqs = append(reqs, e.request(b, "/v1/batch", api.Batch{Ops: ops[:n]}, n))
			ops = ops[n:]
		}
	}
	return reqs, opened
}

func (e *benchEnv) run(b *testing.B, op string, batch int) {
	reqs, opened := e.requests(b, op, batch)
	conns := make([]*benchConn, benchClients)
	for i := range conns {
		c, err := e.dial(e.addrs[i%len(e.addrs)])
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	lat := make([][]time.Duration, benchClients)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	stopProfile := startProfile(b)
	cpu0, host0, kids0 := processCPU(), hostCPU(), childrenCPU()
	stats0 := e.stats()
	b.ResetTimer()
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(reqs) {
					return
				}
				t0 := time.Now()
				if err := c.do(reqs[j]); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, host, kids := processCPU()-cpu0, hostCPU()-host0, childrenCPU()-kids0
	stopProfile()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	if op == "open" {
		e.pool = append(e.pool, opened...)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p int) float64 { return float64(all[(len(all)-1)*p/100]) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), op+"s/s")
	b.ReportMetric(float64(len(reqs))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(99), "p99-ms")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu-%")
	if host > 0 {
		b.ReportMetric(100*host.Seconds()/elapsed.Seconds(), "host-cpu-%")
	}
	if kids > 0 {
		b.ReportMetric(100*kids.Seconds()/elapsed.Seconds(), "pg-cpu-%")
	}
	if st := e.stats(); st.Commits > stats0.Commits {
		b.ReportMetric(float64(st.Updates-stats0.Updates)/float64(st.Commits-stats0.Commits), "updates/commit")
		b.ReportMetric(float64(st.Retries-stats0.Retries)/float64(b.N), "retries/op")
	}
}

// stats sums the PostgreSQL stores' counts (none for the embedded store).
func (e *benchEnv) stats() pgstore.Stats {
	var sum pgstore.Stats
	for _, st := range e.stores {
		if pg, ok := st.(*pgstore.Store); ok {
			s := pg.Stats()
			sum.Updates += s.Updates
			sum.Commits += s.Commits
			sum.Retries += s.Retries
		}
	}
	return sum
}

// benchConn is one client's keep-alive connection.
type benchConn struct {
	net.Conn
	r *bufio.Reader
}

func (e *benchEnv) dial(addr string) (*benchConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &benchConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

var okStatus = []byte(`"status":200`)

// do sends r and reads its answer, which must be a success: for a batch,
// of every operation.
func (c *benchConn) do(r benchRequest) error {
	if _, err := c.Write(r.raw); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	if bytes.HasPrefix(body, []byte("[")) {
		if n := bytes.Count(body, okStatus); n != r.ops {
			return fmt.Errorf("batch of %d: %d succeeded: %.500s", r.ops, n, body)
		}
	}
	return nil
}

var cpuProfile = flag.String("ledger.cpuprofile", "", "write a CPU profile of the timed part of each BenchmarkLedger sub-benchmark to `file`-<sub-benchmark>.pprof (its last run, the one reported)")

// startProfile starts the -ledger.cpuprofile profile, if asked for, and
// returns its stop function.
func startProfile(b *testing.B) (stop func()) {
	if *cpuProfile == "" {
		return func() {}
	}
	name := *cpuProfile + "-" + strings.ReplaceAll(strings.TrimPrefix(b.Name(), "BenchmarkLedger/"), "/", "-") + ".pprof"
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// processCPU is the CPU time (user and system) this process has used: the
// server and the clients, not PostgreSQL.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostCPU is the CPU time all processes have used (from /proc/stat; 0
// where there is none): with PostgreSQL, the server's share too.
func hostCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 7 && i != 3 && i != 4 { // user nice system irq softirq (guest time is in user)
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// childrenCPU is the CPU time the processes descending from this one have
// used so far (Linux; 0 elsewhere): the private PostgreSQL server's, when
// pgtest started one.
func childrenCPU() time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type proc struct {
		ppid int
		cpu  int64 // clock ticks
	}
	procs := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(b), ") ") // after the command, which may hold spaces
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid, ut + st}
	}
	self := os.Getpid()
	var ticks int64
	for pid, p := range procs {
		for a, n := p.ppid, 0; a > 1 && n < 16; a, n = procs[a].ppid, n+1 {
			if a == self {
				ticks += p.cpu
				break
			}
		}
		_ = pid
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// BenchmarkCloseSignatures is the CPU ceiling of closes: the two signature
// checks of a close on all cores, with no HTTP, JSON or storage. "ecrecover"
// is go-ethereum's recovery alone (libsecp256k1 through cgo where cgo is
// on); "ledger" is the check as the ledger makes it (domain digest,
// signature checks, recovery, address comparison).
func BenchmarkCloseSignatures(b *testing.B) {
	payer, payee := mustKey(b), mustKey(b)
	const n = 256
	reqs := make([]speed.CloseRequest, n)
	digests := make([][]byte, n)
	for i := range reqs {
		st := speed.State{Channel: speed.ChannelID{byte(i), byte(i >> 8)}, Seq: 1, Paid: 400}
		ps, _ := st.Sign(payer)
		qs, _ := st.Sign(payee)
		reqs[i] = speed.CloseRequest{State: st, PayerSig: ps, PayeeSig: qs}
		digests[i], _ = speed.DomainChannelState.Digest(st.Bytes())
	}
	raw := func(s wallet.Signature) []byte {
		r := append([]byte(nil), s[:]...)
		r[64] -= 27
		return r
	}
	for _, tc := range []struct {
		name  string
		close func(i int) bool
	}{
		{"ecrecover", func(i int) bool {
			_, err1 := crypto.Ecrecover(digests[i], raw(reqs[i].PayerSig))
			_, err2 := crypto.Ecrecover(digests[i], raw(reqs[i].PayeeSig))
			return err1 == nil && err2 == nil
		}},
		{"ledger", func(i int) bool {
			r := reqs[i]
			return r.State.Verify(payer.Address(), r.PayerSig) == nil && r.State.Verify(payee.Address(), r.PayeeSig) == nil
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Int64
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !tc.close(int(next.Add(1) % n)) {
						panic("signature did not verify")
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "closes/s")
		})
	}
}
