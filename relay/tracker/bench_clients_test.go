//go:build unix

package tracker_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/shared/webtorrent"
	"github.com/gorilla/websocket"
)

// How many WebSocket clients the tracker holds at once, and what each costs
// the server. The clients run in a child process (this test binary run
// again, TestHelperWSClients) so that their own memory and goroutines do
// not pollute the server's numbers; the two talk over the child's stdin and
// stdout:
//
//	child:  wsclients ready HELD ELAPSED_NS    (every client connected, announced, answered)
//	parent: check
//	child:  wsclients closed K                  (connections the server closed since)
//	parent: quit (or EOF)                       (the child closes everything and exits)
//	child:  wsclients error MESSAGE             (instead of ready, on failure)
//
// Knobs for the benchmark (environment):
//
//	BTSPEED_BENCH_WS_CLIENTS  clients held at once (default 10,000)
//	BTSPEED_BENCH_WS_SWARMS   swarms they announce in (default 100)
//	BTSPEED_BENCH_WS_OFFERS   WebRTC offers per announce (default 5)
const (
	wsHelperEnv  = "BTSPEED_WSCLIENTS_HELPER" // "1" in the child
	wsAddrEnv    = "BTSPEED_WSCLIENTS_ADDR"
	wsClientsEnv = "BTSPEED_WSCLIENTS_N"
	wsSwarmsEnv  = "BTSPEED_WSCLIENTS_SWARMS"
	wsOffersEnv  = "BTSPEED_WSCLIENTS_OFFERS"

	wsDialers   = 64 // clients connecting at once
	wsSourceIPs = 64 // client addresses 127.0.0.1 .. 127.0.0.64 (where the OS has them)
)

// heldResult is one run: the server's cost of N held clients.
type heldResult struct {
	clients                 int     // held and answered, as the server and the clients both see it
	heapPerClient           float64 // HeapInuse growth / client, after GC
	stackPerClient          float64 // StackInuse growth / client
	sysPerClient            float64 // Sys growth / client (memory obtained from the OS)
	goroutinesPerClient     float64
	announcesPerSecond      float64 // connect + announce + answer, N clients, wsDialers at a time
	swarms, offersPerClient int
}

// TestWebSocketClientsHeld holds 200 clients in 10 swarms: every one is
// answered and still open when the server is measured. It is also what runs
// the benchmark's child-process path in CI.
func TestWebSocketClientsHeld(t *testing.T) {
	r := holdWSClients(t, 200, 10, 3)
	t.Logf("200 clients held: %.0f heap B/client, %.0f stack B/client, %.2f goroutines/client, %.0f announces/s",
		r.heapPerClient, r.stackPerClient, r.goroutinesPerClient, r.announcesPerSecond)
	if r.goroutinesPerClient < 0.5 {
		t.Fatalf("%.2f server goroutines per client: the connections are not held", r.goroutinesPerClient)
	}
}

// BenchmarkWebSocketClients: concurrent WebSocket tracker clients held, with
// the server's memory and goroutines per client (10,000 clients by default).
//
// The interesting numbers are per run, not per operation, so one operation
// is one whole run: start a tracker, connect and announce N clients from a
// child process, measure the server while it holds them all, tear down.
// ns/op is that run's wall time; the metrics are averaged over the b.N runs
// (b.N is 1 whenever a run takes longer than -benchtime, as it does at
// 10,000 clients).
func BenchmarkWebSocketClients(b *testing.B) {
	n := envInt(b, "BTSPEED_BENCH_WS_CLIENTS", 10_000)
	swarms := envInt(b, "BTSPEED_BENCH_WS_SWARMS", 100)
	offers := envInt(b, "BTSPEED_BENCH_WS_OFFERS", 5)
	var sum heldResult
	for range b.N {
		r := holdWSClients(b, n, swarms, offers)
		sum.clients += r.clients
		sum.heapPerClient += r.heapPerClient
		sum.stackPerClient += r.stackPerClient
		sum.sysPerClient += r.sysPerClient
		sum.goroutinesPerClient += r.goroutinesPerClient
		sum.announcesPerSecond += r.announcesPerSecond
		sum.swarms = r.swarms
	}
	runs := float64(b.N)
	b.ReportMetric(float64(sum.clients)/runs, "clients")
	b.ReportMetric(float64(sum.swarms), "swarms")
	b.ReportMetric((sum.heapPerClient+sum.stackPerClient)/runs, "B/client") // live heap + goroutine stacks
	b.ReportMetric(sum.heapPerClient/runs, "heap-B/client")
	b.ReportMetric(sum.stackPerClient/runs, "stack-B/client")
	b.ReportMetric(sum.sysPerClient/runs, "sys-B/client")
	b.ReportMetric(sum.goroutinesPerClient/runs, "goroutines/client")
	b.ReportMetric(sum.announcesPerSecond/runs, "announces/s")
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// raiseNoFile lifts this process's open-file limit to its hard limit (Go
// does so at start-up on some systems, not all) and returns the limit.
func raiseNoFile() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return uint64(r.Cur), nil
}

// holdWSClients runs a tracker on loopback, has a child process hold n
// WebSocket clients announcing in swarms swarms, and measures the server.
func holdWSClients(tb testing.TB, n, swarms, offers int) heldResult {
	tb.Helper()
	// The tracker keeps at most DefaultMaxPeers per swarm (evicting the
	// oldest): spread the clients over enough swarms that none is evicted.
	swarms = max(swarms, (n+tracker.DefaultMaxPeers-1)/tracker.DefaultMaxPeers)
	offers = min(offers, tracker.MaxOffers)
	if lim, err := raiseNoFile(); err != nil {
		tb.Fatalf("open-file limit: %v", err)
	} else if lim < uint64(n)+100 {
		tb.Fatalf("the open-file limit is %d; holding %d clients needs %d (raise ulimit -n, hard limit)", lim, n, n+100)
	}

	// The per-address limits are off: this measures what held clients
	// cost, with many clients on each of a few loopback addresses.
	s := tracker.New(tracker.Config{AnnounceRate: -1, SwarmRate: -1, MaxSocketsPerAddr: -1, MaxPeersPerAddr: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { hs.Serve(ln); close(served) }()
	defer func() {
		s.Close()
		hs.Close()
		<-served
	}()

	before, g0 := serverMem()
	child := startWSClients(tb, ln.Addr().String(), n, swarms, offers)
	defer child.kill()

	var held int
	var elapsed int64
	if _, err := fmt.Sscanf(child.next("ready"), "ready %d %d", &held, &elapsed); err != nil || held != n {
		tb.Fatalf("the client process held %d of %d clients (%v)", held, n, err)
	}
	st := s.Stats()
	if st.WebSockets != n || st.Peers != n || st.Swarms != min(swarms, n) || st.Announces != uint64(n) || st.Refused != 0 {
		tb.Fatalf("the clients say all %d are held, the server's stats say %+v", n, st)
	}
	after, g1 := serverMem()

	// Still all there after the measurement?
	fmt.Fprintln(child.stdin, "check")
	var closed int
	if _, err := fmt.Sscanf(child.next("check"), "closed %d", &closed); err != nil || closed != 0 {
		tb.Fatalf("%d clients were disconnected while held (%v)", closed, err)
	}
	if st := s.Stats(); st.WebSockets != n {
		tb.Fatalf("after the measurement the server holds %d WebSockets, not %d", st.WebSockets, n)
	}
	child.quit()
	// The server notices every disconnect and forgets the peers.
	deadline := time.Now().Add(30 * time.Second)
	for st := s.Stats(); st.WebSockets != 0 || st.Peers != 0 || st.Swarms != 0; st = s.Stats() {
		if time.Now().After(deadline) {
			tb.Fatalf("30 s after the clients left the server still has %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	return heldResult{
		clients:             held,
		heapPerClient:       per(after.HeapInuse, before.HeapInuse),
		stackPerClient:      per(after.StackInuse, before.StackInuse),
		sysPerClient:        per(after.Sys, before.Sys),
		goroutinesPerClient: float64(g1-g0) / float64(n),
		announcesPerSecond:  float64(n) / time.Duration(elapsed).Seconds(),
		swarms:              swarms,
		offersPerClient:     offers,
	}
}

// wsClientsChild is the child process holding the WebSocket clients, as
// holdWSClients drives it: its stdin, the "wsclients" lines of its stdout
// (read by a goroutine that ends with it), and its stderr.
type wsClientsChild struct {
	tb     testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	exited bool
}

// startWSClients starts the child (this test binary, TestHelperWSClients)
// holding n clients of the tracker at addr in swarms swarms, with offers
// offers each. The caller defers kill.
func startWSClients(tb testing.TB, addr string, n, swarms, offers int) *wsClientsChild {
	tb.Helper()
	c := &wsClientsChild{tb: tb, lines: make(chan string)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperWSClients$", "-test.count=1")
	c.cmd.Env = append(os.Environ(),
		wsHelperEnv+"=1",
		wsAddrEnv+"="+addr,
		wsClientsEnv+"="+strconv.Itoa(n),
		wsSwarmsEnv+"="+strconv.Itoa(swarms),
		wsOffersEnv+"="+strconv.Itoa(offers),
	)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "wsclients ") {
				c.lines <- strings.TrimPrefix(l, "wsclients ")
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	return c
}

// next is the child's next line (without "wsclients "), which should be
// what; it fails tb if the child reports an error, ends, or says nothing
// for 2 minutes.
func (c *wsClientsChild) next(what string) string {
	tb := c.tb
	tb.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			tb.Fatalf("the client process ended before %s: %s", what, c.stderr.String())
		}
		if msg, bad := strings.CutPrefix(l, "error "); bad {
			tb.Fatalf("the client process: %s", msg)
		}
		return l
	case <-time.After(2 * time.Minute):
		tb.Fatalf("no %s from the client process in 2 minutes", what)
	}
	return ""
}

// quit tells the child to close its clients and exit, and waits for it.
func (c *wsClientsChild) quit() {
	c.tb.Helper()
	fmt.Fprintln(c.stdin, "quit")
	c.stdin.Close()
	for range c.lines {
	}
	err := c.cmd.Wait()
	c.exited = true
	if err != nil {
		c.tb.Fatalf("the client process: %v: %s", err, c.stderr.String())
	}
}

// kill kills the child unless it exited, and waits for it.
func (c *wsClientsChild) kill() {
	if !c.exited {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// serverMem is this process's memory after a full collection, and its
// goroutine count.
func serverMem() (runtime.MemStats, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// TestHelperWSClients is the client side of holdWSClients, run in a child
// process; in an ordinary test run it does nothing.
func TestHelperWSClients(t *testing.T) {
	if os.Getenv(wsHelperEnv) != "1" {
		return
	}
	if err := runWSClients(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stdout, "wsclients error %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// wsHash is a deterministic 20-byte id: the info hash of swarm k, the peer
// id of client k, ...
func wsHash(kind string, k int) [20]byte {
	return sha1.Sum(binary.BigEndian.AppendUint64([]byte(kind), uint64(k)))
}

type wsAnswer struct {
	Action   string          `json:"action"`
	Interval *int            `json:"interval"`
	InfoHash string          `json:"info_hash"`
	Offer    json.RawMessage `json:"offer"`
	Failure  string          `json:"failure reason"`
}

// runWSClients is the child's side of holdWSClients: it connects and
// announces the clients the environment asks for, says "ready", answers
// "check" with how many the server closed since, and returns on "quit" or
// the end of in, closing them all.
func runWSClients(in io.Reader, out io.Writer) error {
	addr := os.Getenv(wsAddrEnv)
	n, _ := strconv.Atoi(os.Getenv(wsClientsEnv))
	swarms, _ := strconv.Atoi(os.Getenv(wsSwarmsEnv))
	offers, _ := strconv.Atoi(os.Getenv(wsOffersEnv))
	if addr == "" || n <= 0 || swarms <= 0 || offers < 0 {
		return errors.New("bad environment")
	}
	if lim, err := raiseNoFile(); err != nil {
		return fmt.Errorf("open-file limit: %v", err)
	} else if lim < uint64(n)+100 {
		return fmt.Errorf("the open-file limit is %d; %d clients need %d", lim, n, n+100)
	}
	dialers, err := loopbackWSDialers()
	if err != nil {
		return err
	}
	c := &wsClients{dialers: dialers, url: "ws://" + addr + "/announce", swarms: swarms, offers: offers, conns: make([]*websocket.Conn, n)}

	start := time.Now()
	failed, firstErr := c.connectAll(n)
	elapsed := time.Since(start)
	defer c.closeAll()
	if failed > 0 {
		return fmt.Errorf("%d of %d clients failed; the first: %v", failed, n, firstErr)
	}
	fmt.Fprintf(out, "wsclients ready %d %d\n", n, elapsed.Nanoseconds())

	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "check":
			fmt.Fprintf(out, "wsclients closed %d\n", c.closed.Load())
		case "quit":
			return nil
		}
	}
	return nil
}

// loopbackWSDialers is a WebSocket dialer for each client address over
// 127.0.0.x, so that no one source address runs out of ephemeral ports;
// only those the OS has (Linux routes all of 127/8 to loopback, macOS only
// 127.0.0.1).
func loopbackWSDialers() ([]*websocket.Dialer, error) {
	var dialers []*websocket.Dialer
	for i := 1; i <= wsSourceIPs; i++ {
		ip := net.IPv4(127, 0, 0, byte(i))
		if l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip}); err != nil {
			continue
		} else {
			l.Close()
		}
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 20 * time.Second}
		dialers = append(dialers, &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 20 * time.Second,
			ReadBufferSize: 1024, WriteBufferSize: 1024})
	}
	if len(dialers) == 0 {
		return nil, errors.New("cannot bind any 127.0.0.x address")
	}
	return dialers, nil
}

// wsClients are the child's clients of the tracker at url: client i
// dials with dialers[i%len(dialers)] and announces in swarm i%swarms with
// offers offers. closed counts the connections the server closed once
// answered, until quitting.
type wsClients struct {
	dialers        []*websocket.Dialer
	url            string
	swarms, offers int
	conns          []*websocket.Conn // client i's, written once by the dialer that connects it
	quitting       atomic.Bool
	closed         atomic.Int64
}

// connectAll connects clients 0..n-1, wsDialers at a time, and returns how
// many failed and the first error.
func (c *wsClients) connectAll(n int) (int, error) {
	var (
		mu       sync.Mutex
		failed   int
		firstErr error
		wg       sync.WaitGroup
	)
	todo := make(chan int)
	for range min(wsDialers, n) {
		wg.Go(func() {
			for i := range todo {
				if err := c.client(i); err != nil {
					mu.Lock()
					if failed++; firstErr == nil {
						firstErr = fmt.Errorf("client %d: %v", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		todo <- i
	}
	close(todo)
	wg.Wait()
	return failed, firstErr
}

// closeAll closes every client, as quitting.
func (c *wsClients) closeAll() {
	c.quitting.Store(true)
	for _, ws := range c.conns {
		if ws != nil {
			ws.Close()
		}
	}
}

// client connects client i, announces, and waits for the announce's
// answer; a goroutine then keeps reading (relayed offers, pings) for as
// long as the connection is held.
func (c *wsClients) client(i int) error {
	ws, _, err := c.dialers[i%len(c.dialers)].Dial(c.url, nil)
	if err != nil {
		return err
	}
	c.conns[i] = ws
	ih, id := wsHash("swarm", i%c.swarms), wsHash("peer", i)
	left := 1 << 20
	if i%10 == 0 {
		left = 0 // a seed in ten
	}
	offerList := make([]any, c.offers)
	for k := range offerList {
		oid := wsHash(fmt.Sprintf("offer %d", i), k)
		offerList[k] = map[string]any{"offer": map[string]any{"type": "offer", "sdp": "v=0\r\no=- " + strconv.Itoa(i) + " 2 IN IP4 127.0.0.1\r\ns=-\r\n"},
			"offer_id": webtorrent.BinString(oid[:])}
	}
	ihs := webtorrent.BinString(ih[:])
	msg := map[string]any{"action": "announce", "info_hash": ihs, "peer_id": webtorrent.BinString(id[:]),
		"numwant": c.offers, "uploaded": 0, "downloaded": 0, "left": left, "event": "started", "offers": offerList}
	ws.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if err := ws.WriteJSON(msg); err != nil {
		return err
	}
	ws.SetWriteDeadline(time.Time{})
	answered := make(chan error, 1)
	go c.read(ws, ihs, answered)
	select {
	case err := <-answered:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("no announce answer in 30 s")
	}
}

// read reads ws until it closes: first the answer to the announce in
// swarm ihs, reported on answered (nil, or what was wrong), then whatever
// comes (relayed offers), counting in closed a close not of our doing.
func (c *wsClients) read(ws *websocket.Conn, ihs string, answered chan<- error) {
	done := false
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			if !done {
				answered <- err
			} else if !c.quitting.Load() {
				c.closed.Add(1)
			}
			return
		}
		if done {
			continue // an offer relayed from another client
		}
		var a wsAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			answered <- err
			return
		}
		switch {
		case a.Failure != "":
			answered <- fmt.Errorf("the tracker refused: %s", a.Failure)
			return
		case a.Offer != nil:
			continue // an offer that came before our own answer
		case a.Action != "announce" || a.Interval == nil || *a.Interval <= 0 || a.InfoHash != ihs:
			answered <- fmt.Errorf("not an announce answer: %s", b)
			return
		}
		done = true
		answered <- nil
	}
}
