//go:build !js

// (Not under js/wasm: these tests listen on loopback TCP, which the Node run
// of ./shared/... has not.)

package provider_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/provider"
	"github.com/btspeed/btspeed/shared/speed/proxy/requester"
	"github.com/btspeed/btspeed/shared/wallet"
)

const (
	ledgerID = "proxy-test"
	rate     = 40_000 // base units per MiB: 10,000 a chunk of 256 KiB
	funds    = 100_000_000
)

// origin is a local HTTP server serving one file with an ETag and ranges
// (http.ServeContent), counting the requests it gets.
type origin struct {
	*httptest.Server
	mu       sync.Mutex
	data     []byte
	etag     string
	requests atomic.Int64
}

func newOrigin(t *testing.T, data []byte) *origin {
	o := &origin{data: data, etag: `"v1"`}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		o.mu.Lock()
		data, etag := o.data, o.etag
		o.mu.Unlock()
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "file.bin", time.Unix(1_700_000_000, 0), bytes.NewReader(data))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) change(data []byte, etag string) {
	o.mu.Lock()
	o.data, o.etag = data, etag
	o.mu.Unlock()
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type rig struct {
	ledger   *memledger.Ledger
	prov     *provider.Provider
	provKey  *wallet.PrivateKey
	addr     string
	reqKey   *wallet.PrivateKey
	stop     func()
	provDone chan struct{}
	conns    *servedConns
}

// servedConns is the provider's listener, counting the connections it
// accepted that it has yet to close.
type servedConns struct {
	net.Listener
	mu   sync.Mutex
	open int
	idle chan struct{} // closed while open is 0
}

func newServedConns(ln net.Listener) *servedConns {
	idle := make(chan struct{})
	close(idle)
	return &servedConns{Listener: ln, idle: idle}
}

func (l *servedConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.open++; l.open == 1 {
		l.idle = make(chan struct{})
	}
	l.mu.Unlock()
	return &servedConn{Conn: c, l: l}, nil
}

// idleChan is closed once every connection accepted so far is closed.
func (l *servedConns) idleChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle
}

// servedConn tells its listener when the provider closes it.
type servedConn struct {
	net.Conn
	l    *servedConns
	once sync.Once
}

func (c *servedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open--; c.l.open == 0 {
			close(c.l.idle)
		}
		c.l.mu.Unlock()
	})
	return err
}

// startProvider runs a provider on loopback with cfg's caps and a funded
// requester account.
func startProvider(t testing.TB, cfg provider.Config) *rig {
	t.Helper()
	r := &rig{ledger: memledger.New(ledgerID, time.Now), provDone: make(chan struct{})}
	var err error
	if r.provKey, err = wallet.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	if r.reqKey, err = wallet.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	r.ledger.Mint(r.reqKey.Address(), funds)
	cfg.Key, cfg.Ledger, cfg.LedgerID = r.provKey, r.ledger, ledgerID
	if cfg.Rate == 0 {
		cfg.Rate = rate
	}
	if r.prov, err = provider.New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.conns = newServedConns(ln)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.provDone)
		if err := r.prov.Serve(ctx, r.conns); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	r.stop = func() { cancel(); <-r.provDone }
	t.Cleanup(r.stop)
	return r
}

// memSink keeps what a fetch writes.
type memSink struct {
	data  []byte
	saved []requester.Progress
}

func (s *memSink) WriteChunk(off uint64, b []byte) error {
	if need := int(off) + len(b); need > len(s.data) {
		s.data = append(s.data, make([]byte, need-len(s.data))...)
	}
	copy(s.data[off:], b)
	return nil
}

func (s *memSink) Checkpoint(p requester.Progress) error {
	s.saved = append(s.saved, p)
	return nil
}

func (r *rig) fetch(t *testing.T, prog requester.Progress, sink requester.Sink) (requester.Result, error) {
	t.Helper()
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := requester.Config{Key: r.reqKey, Ledger: r.ledger, LedgerID: ledgerID, MaxRate: rate, Budget: funds}
	return requester.Fetch(context.Background(), nc, cfg, prog, sink)
}

// settle waits until the provider served every connection to its end: it
// closes a connection once its session has stopped reading it, and what
// the session read is counted without regard to stop (which waits for the
// sessions), so the last payments are in. A stop before that would cut a
// session short of the requester's last payment.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	select {
	case <-r.conns.idleChan():
	case <-time.After(30 * time.Second):
		t.Fatalf("the provider still serves a connection 30 s after the fetches ended: %+v", r.prov.Stats())
	}
}

func (r *rig) balance(t *testing.T, a wallet.Address) uint64 {
	b, err := r.ledger.Balance(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A fetch in two halves (the second resumed from the saved progress) gets
// the bytes of the file, and the provider, once its channels are closed,
// has been paid exactly the price of each chunk once.
func TestFetchResumePaysEachChunkOnce(t *testing.T) {
	data := randomBytes(5*proxy.DefaultChunk+12345, 1)
	o := newOrigin(t, data)
	r := startProvider(t, provider.Config{AllowLoopback: true})
	first := &cutSink{memSink: &memSink{}, after: 3}
	res, err := r.fetch(t, requester.Progress{URL: o.URL + "/file.bin"}, first)
	if !errors.Is(err, errCut) || res.Progress.Next != 3 || res.Chunks != 3 {
		t.Fatalf("first half: %+v, %v", res, err)
	}
	pin := res.Progress.Pin
	if pin.Length != uint64(len(data)) || pin.ETag != `"v1"` || pin.LastModified != 1_700_000_000 || pin.Chunk != proxy.DefaultChunk {
		t.Fatalf("pin %+v", pin)
	}
	rest := &memSink{data: first.data}
	res, err = r.fetch(t, res.Progress, rest)
	if err != nil || !res.Progress.Done() || res.Chunks != 3 {
		t.Fatalf("second half: %+v, %v", res, err)
	}
	if !bytes.Equal(rest.data, data) {
		t.Fatal("the fetched bytes differ from the file")
	}
	r.settle(t)
	r.stop() // closes every channel that paid it
	want := requester.Cost(pin, rate, 0)
	if got := r.balance(t, r.provKey.Address()); got != want {
		t.Fatalf("provider earned %d, the 6 chunks cost %d", got, want)
	}
	if got := r.balance(t, r.reqKey.Address()); got != funds-want {
		t.Fatalf("requester has %d, want %d", got, funds-want)
	}
	if err := r.ledger.Check(); err != nil {
		t.Fatal(err)
	}
}

// errCut stops a fetch from the sink, as a killed requester would.
var errCut = errors.New("cut")

// cutSink fails the checkpoint after `after` chunks.
type cutSink struct {
	*memSink
	after uint64
}

func (s *cutSink) Checkpoint(p requester.Progress) error {
	s.memSink.Checkpoint(p)
	if p.Next >= s.after {
		return errCut
	}
	return nil
}

// The file changes at its origin between two halves: the resumed fetch is
// refused as changed, with the new version, and nothing more is paid.
func TestChangedVersionRefused(t *testing.T) {
	data := randomBytes(3*proxy.DefaultChunk, 2)
	o := newOrigin(t, data)
	r := startProvider(t, provider.Config{AllowLoopback: true})
	res, err := r.fetch(t, requester.Progress{URL: o.URL + "/f"}, &cutSink{memSink: &memSink{}, after: 1})
	if !errors.Is(err, errCut) {
		t.Fatal(err)
	}
	spent := res.Spent
	o.change(randomBytes(3*proxy.DefaultChunk, 3), `"v2"`)
	res, err = r.fetch(t, res.Progress, &memSink{})
	var changed *requester.ChangedError
	if !errors.As(err, &changed) || changed.Held != 1 || changed.Total != 3 || changed.New.ETag != `"v2"` {
		t.Fatalf("resumed fetch of a changed file: %+v, %v", res, err)
	}
	if res.Chunks != 0 || res.Spent != 0 {
		t.Fatalf("paid for %d chunks of the new version", res.Chunks)
	}
	r.settle(t)
	r.stop()
	if got := r.balance(t, r.provKey.Address()); got != spent {
		t.Fatalf("provider earned %d, the requester paid %d", got, spent)
	}
}

// A provider with default settings refuses loopback, private and link-local
// destinations, by address and by name, without a connection to them; one
// allowing loopback (tests) still refuses a redirect to a private or
// metadata address.
func TestGuardRefusesNonPublic(t *testing.T) {
	o := newOrigin(t, []byte("secret"))
	strict := startProvider(t, provider.Config{})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(o.URL, "http://"))
	for _, u := range []string{o.URL + "/", "http://localhost:" + port + "/", "http://[::1]:" + port + "/",
		"http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://192.168.0.1/"} {
		_, err := strict.fetch(t, requester.Progress{URL: u}, &memSink{})
		var ref *requester.RefusedError
		if !errors.As(err, &ref) || ref.Why != proxy.ReasonForbidden {
			t.Errorf("default provider, %s: %v, want refused as forbidden", u, err)
		}
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("the origin on loopback got %d requests from a default provider", n)
	}
	loose := startProvider(t, provider.Config{AllowLoopback: true})
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/admin", "http://[fd00::1]/"} {
		redirect := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
		_, err := loose.fetch(t, requester.Progress{URL: redirect.URL + "/"}, &memSink{})
		redirect.Close()
		var ref *requester.RefusedError
		if !errors.As(err, &ref) || ref.Why != proxy.ReasonForbidden {
			t.Errorf("redirect to %s: %v, want refused as forbidden", target, err)
		}
	}
}

// Exposure, provider side: a requester that never pays gets exactly one
// chunk, then is banned and disconnected.
func TestProviderSendsOneUnpaidChunk(t *testing.T) {
	o := newOrigin(t, randomBytes(4*proxy.MinChunk, 4))
	r := startProvider(t, provider.Config{AllowLoopback: true, Chunk: proxy.MinChunk,
		PaymentTimeout: time.Millisecond, TickEvery: time.Millisecond})
	c := dialRaw(t, r.addr, r.reqKey)
	if err := c.Write(proxy.Fetch{ID: 1, URL: o.URL + "/", MaxRate: rate}); err != nil {
		t.Fatal(err)
	}
	var got int
	var heads int
	for {
		m, err := c.Read()
		if err != nil {
			break // banned: the provider hung up
		}
		switch m := m.(type) {
		case proxy.Head:
			heads++
		case proxy.Data:
			got += len(m.Block)
		}
	}
	if heads != 1 || got != proxy.MinChunk {
		t.Fatalf("a requester that never paid got %d heads and %d bytes, want one chunk of %d", heads, got, proxy.MinChunk)
	}
	// Banned: a new connection from its address (or its account) is
	// dropped at once.
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if c2, err := proxy.Handshake(nc, [20]byte{1}, speed.Handshake{Version: speed.Version, Account: r.reqKey.Address(), Ledger: ledgerID}); err == nil {
		if m, err := c2.Read(); err == nil {
			t.Fatalf("a banned requester was served: %T", m)
		}
	}
}

func dialRaw(t *testing.T, addr string, key *wallet.PrivateKey) *proxy.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c, err := proxy.Handshake(nc, [20]byte{1}, speed.Handshake{Version: speed.Version, Account: key.Address(), Ledger: ledgerID})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Caps: content above the provider's length cap is refused before any of
// it is sent, and so is a fetch whose max is below the price; neither costs
// the requester anything.
func TestCapsRefuseBeforeSending(t *testing.T) {
	o := newOrigin(t, randomBytes(3*proxy.MinChunk, 5))
	r := startProvider(t, provider.Config{AllowLoopback: true, MaxLength: 2 * proxy.MinChunk})
	res, err := r.fetch(t, requester.Progress{URL: o.URL + "/"}, &memSink{})
	var ref *requester.RefusedError
	if !errors.As(err, &ref) || ref.Why != proxy.ReasonTooLarge || res.Chunks != 0 {
		t.Fatalf("content above the cap: %+v, %v", res, err)
	}
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	cheap := requester.Config{Key: r.reqKey, Ledger: r.ledger, LedgerID: ledgerID, MaxRate: rate - 1, Budget: funds}
	res, err = requester.Fetch(context.Background(), nc, cheap, requester.Progress{URL: o.URL + "/"}, &memSink{})
	if !errors.As(err, &ref) || ref.Why != proxy.ReasonRate || res.Chunks != 0 {
		t.Fatalf("max below the price: %+v, %v", res, err)
	}
	if got := r.balance(t, r.reqKey.Address()); got != funds {
		t.Fatalf("the requester has %d of %d", got, funds)
	}
}

// BenchmarkFetchPaid fetches 16 MiB on loopback, paying every 256 KiB
// chunk (64 payments, each a signature, a ledger lookup on the first and a
// round trip before the next chunk).
func BenchmarkFetchPaid(b *testing.B) {
	data := randomBytes(16<<20, 6)
	o := newOriginB(b, data)
	r := startProvider(b, provider.Config{AllowLoopback: true})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		nc, err := net.Dial("tcp", r.addr)
		if err != nil {
			b.Fatal(err)
		}
		cfg := requester.Config{Key: r.reqKey, Ledger: r.ledger, LedgerID: ledgerID, MaxRate: rate, Budget: funds}
		if _, err := requester.Fetch(context.Background(), nc, cfg, requester.Progress{URL: o.URL + "/"}, &memSink{}); err != nil {
			b.Fatal(err)
		}
	}
}

func newOriginB(b *testing.B, data []byte) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Unix(1_700_000_000, 0), bytes.NewReader(data))
	}))
	b.Cleanup(s.Close)
	return s
}
