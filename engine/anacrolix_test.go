package engine_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
)

// newAnacrolix starts an anacrolix/torrent Client on loopback with DHT,
// trackers, uTP and UPnP port forwarding off (nothing leaves loopback),
// storing data in dir.
func newAnacrolix(t testing.TB, dir string) *torrent.Client {
	t.Helper()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = dir
	cfg.ListenHost = func(string) string { return "127.0.0.1" }
	cfg.ListenPort = 0
	cfg.NoDHT = true
	cfg.NoDefaultPortForwarding = true
	cfg.DisableTrackers = true
	cfg.DisableUTP = true
	cfg.DisableIPv6 = true
	cfg.Seed = true
	cfg.DisableWebtorrent = true
	cfg.DisableWebseeds = true
	cfg.Logger = alog.Default.FilterLevel(alog.Critical)
	cfg.HeaderObfuscationPolicy.Preferred = false
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// makeContent writes a random file of size bytes and returns its torrent.
func makeContent(t testing.TB, dir, name string, size int, pieceLen int64, seed uint64) (*metainfo.MetaInfo, []byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(path); err != nil {
		t.Fatal(err)
	}
	mi := &metainfo.MetaInfo{}
	var err error
	if mi.InfoBytes, err = encodeInfo(info); err != nil {
		t.Fatal(err)
	}
	return mi, data
}

func waitComplete(t testing.TB, tor *engine.Torrent, timeout time.Duration) {
	t.Helper()
	select {
	case <-tor.Complete():
	case <-time.After(timeout):
		t.Fatalf("download incomplete after %v: %+v", timeout, tor.Stats())
	}
}

func listen(t testing.TB, cl *engine.Client, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	go cl.Serve(ln)
	return ln.Addr().String()
}

func TestDownloadFromAnacrolix(t *testing.T) {
	seedDir := t.TempDir()
	mi, data := makeContent(t, seedDir, "file.bin", 3<<20+12345, 64<<10, 1)
	ac := anacrolixSeed(t, seedDir, mi)

	cl := newClient(t, engine.Config{})
	st := &memStorage{}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = st.open
	spec.Peers = []string{ac.ListenAddrs()[0].String()}
	mustGet(t, cl, spec, 60*time.Second)
	if got := st.bytes(); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("downloaded data differs (%d bytes, want %d)", len(got), len(data))
	}
}

func TestAnacrolixDownloadsFromUs(t *testing.T) {
	seedDir := t.TempDir()
	mi, data := makeContent(t, seedDir, "file.bin", 2<<20+777, 32<<10, 2)
	cl := newClient(t, engine.Config{})
	st := &memStorage{data: bytes.Clone(data)}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = st.open
	spec.Check = true
	tor := mustSeed(t, cl, spec)
	addr := listen(t, cl, "127.0.0.1")

	leechDir := t.TempDir()
	ac := newAnacrolix(t, leechDir)
	at, err := ac.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	at.AddPeers([]torrent.PeerInfo{{Addr: tcp, Trusted: true}})
	<-at.GotInfo()
	at.DownloadAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for !at.Complete().Bool() {
		select {
		case <-ctx.Done():
			t.Fatalf("anacrolix got %d of %d bytes", at.BytesCompleted(), at.Length())
		case <-time.After(50 * time.Millisecond):
		}
	}
	got, err := os.ReadFile(filepath.Join(leechDir, "file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("anacrolix's copy differs")
	}
	if tor.Stats().Uploaded < int64(len(data)) {
		t.Fatalf("uploaded %d bytes, want at least %d", tor.Stats().Uploaded, len(data))
	}
}

func TestMagnetFromAnacrolix(t *testing.T) {
	seedDir := t.TempDir()
	mi, data := makeContent(t, seedDir, "file.bin", 1<<20+5, 16<<10, 3)
	ac := anacrolixSeed(t, seedDir, mi)
	cl := newClient(t, engine.Config{})
	st := &memStorage{}
	spec, err := engine.SpecFromMagnet("magnet:?xt=urn:btih:" + mi.HashInfoBytes().HexString() + "&dn=file.bin")
	if err != nil {
		t.Fatal(err)
	}
	spec.Storage = st.open
	spec.Peers = []string{ac.ListenAddrs()[0].String()}
	tor := mustAdd(t, cl, spec)
	select {
	case <-tor.GotInfo():
	case <-time.After(30 * time.Second):
		t.Fatal("no metadata")
	}
	waitComplete(t, tor, 60*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
}

// anacrolixSeed starts an anacrolix client seeding mi from dir: it
// hash-checks the data and waits until the torrent is complete.
func anacrolixSeed(t testing.TB, dir string, mi *metainfo.MetaInfo) *torrent.Client {
	t.Helper()
	ac := newAnacrolix(t, dir)
	at, err := ac.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	<-at.GotInfo()
	if err := at.VerifyData(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for !at.Complete().Bool() {
		if time.Now().After(deadline) {
			t.Fatalf("anacrolix seed has %d of %d bytes", at.BytesCompleted(), at.Length())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ac
}

// Over uTP, both ways between two btspeed clients.
func TestUTPBetweenEngines(t *testing.T) {
	dir := t.TempDir()
	mi, data := makeContent(t, dir, "u.bin", 1<<20+99, 32<<10, 9)
	seedSock, err := engine.ListenUTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seed := newClient(t, engine.Config{})
	go seed.Serve(seedSock)
	st := &memStorage{data: bytes.Clone(data)}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = st.open, true
	mustAdd(t, seed, spec)

	sock, err := engine.ListenUTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	leech := newClient(t, engine.Config{Transports: []engine.Transport{sock.Transport()}})
	go leech.Serve(sock)
	lst := &memStorage{}
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Peers = lst.open, []string{seedSock.Addr().String()}
	mustGet(t, leech, spec, 60*time.Second)
	if !bytes.Equal(lst.bytes(), data) {
		t.Fatal("data differs")
	}
}

// A torrent with only a web seed (BEP 19): everything comes over HTTP,
// every piece verified.
func TestWebSeedOnly(t *testing.T) {
	dir := t.TempDir()
	mi, data := makeContent(t, dir, "web.bin", 1<<20+4321, 32<<10, 13)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	cl := newClient(t, engine.Config{HTTPClient: srv.Client()})
	st := &memStorage{}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.WebSeeds = st.open, []string{srv.URL + "/"}
	mustGet(t, cl, spec, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
}

// A web seed whose data fails the hash is used once and dropped; the
// torrent completes from a good one, and the bad piece counts as a hash
// failure, not as downloaded data.
func TestWebSeedBadDataDropped(t *testing.T) {
	dir, badDir := t.TempDir(), t.TempDir()
	mi, data := makeContent(t, dir, "web.bin", 512<<10, 32<<10, 17)
	bad := bytes.Clone(data)
	for i := range bad {
		bad[i] ^= 0xff
	}
	if err := os.WriteFile(filepath.Join(badDir, "web.bin"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	// The good seed answers only once the bad one has served a piece, so
	// the bad one is always tried.
	var badRequests atomic.Int32
	badServed := make(chan struct{})
	badSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.FileServer(http.Dir(badDir)).ServeHTTP(w, r)
		if badRequests.Add(1) == 1 {
			close(badServed)
		}
	}))
	defer badSrv.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-badServed:
		case <-r.Context().Done():
			return
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer good.Close()
	cl := newClient(t, engine.Config{HTTPClient: good.Client()})
	st := &memStorage{}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.WebSeeds = st.open, []string{badSrv.URL + "/", good.URL + "/"}
	tor := mustGet(t, cl, spec, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
	if n := badRequests.Load(); n != 1 {
		t.Errorf("the bad web seed got %d requests, want 1 (dropped after its first piece failed)", n)
	}
	if s := tor.Stats(); s.HashFailures != 1 || s.Downloaded != int64(len(data)) {
		t.Errorf("stats: %d hash failures, %d bytes downloaded; want 1 and %d", s.HashFailures, s.Downloaded, len(data))
	}
}

// Peer exchange (BEP 11): a downloader that knows only the seed learns of
// another downloader from it, and connects to it; a private torrent (BEP
// 27) exchanges no peers.
func TestPeerExchange(t *testing.T) {
	for _, private := range []bool{false, true} {
		t.Run(map[bool]string{false: "public", true: "private"}[private], func(t *testing.T) {
			data := make([]byte, 256<<10)
			info := metainfo.Info{Name: "pex.bin", PieceLength: 16 << 10, Length: int64(len(data))}
			for off := 0; off < len(data); off += 16 << 10 {
				h := sha1.Sum(data[off : off+16<<10])
				info.Pieces = append(info.Pieces, h[:]...)
			}
			if private {
				info.Private = &private
			}
			ib, _ := encodeInfo(info)
			mi := &metainfo.MetaInfo{InfoBytes: ib}
			cfg := engine.Config{PEXInterval: 200 * time.Millisecond}
			seed := newClient(t, cfg)
			sst := &memStorage{data: bytes.Clone(data)}
			spec := engine.SpecFromMetaInfo(mi)
			spec.Storage, spec.Check = sst.open, true
			mustAdd(t, seed, spec)
			seedAddr := listen(t, seed, "127.0.0.1")

			// A listens and tells the seed its port; B only knows the seed.
			lnA, err := net.Listen("tcp", "127.0.0.2:0")
			if err != nil {
				t.Fatal(err)
			}
			cfgA := cfg
			cfgA.ListenPort = lnA.Addr().(*net.TCPAddr).Port
			a := newClient(t, cfgA)
			go a.Serve(lnA)
			spec = engine.SpecFromMetaInfo(mi)
			spec.Storage, spec.Peers = (&memStorage{}).open, []string{seedAddr}
			mustAdd(t, a, spec)
			b := newClient(t, cfg)
			spec = engine.SpecFromMetaInfo(mi)
			spec.Storage, spec.Peers = (&memStorage{}).open, []string{seedAddr}
			tb := mustAdd(t, b, spec)
			deadline := time.Now().Add(5 * time.Second)
			for tb.Stats().Known < 2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			known := tb.Stats().Known
			if private && known != 1 {
				t.Fatalf("private torrent: B knows %d peers, want only the seed", known)
			}
			if !private && known < 2 {
				t.Fatalf("B never learnt of A through PEX: knows %d peers", known)
			}
		})
	}
}

// The engine runs over any net.Conn (here an in-memory pipe, as a WebRTC
// data channel or a bridged socket would be): AddConn on one side,
// HandleConn on the other.
func TestOverAnyConn(t *testing.T) {
	mi, data := makeContent(t, t.TempDir(), "pipe.bin", 700<<10, 32<<10, 14)
	seed := newClient(t, engine.Config{})
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(data)}).open, true
	mustSeed(t, seed, spec)
	leech := newClient(t, engine.Config{})
	st := &memStorage{}
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage = st.open
	tor := mustAdd(t, leech, spec)
	a, b := net.Pipe()
	go seed.HandleConn(a)
	if err := leech.AddConn(context.Background(), b, mi.HashInfoBytes()); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
	if c := tor.Stats().Connections; c["pipe"] != 1 {
		t.Fatalf("connections %v, want one over the pipe", c)
	}
}
