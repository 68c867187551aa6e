package engine_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/internal/btclientstest"
)

// filesStorage opens file storage under dir.
func filesStorage(dir string) func(info *metainfo.Info) (engine.Storage, error) {
	return func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(dir, info) }
}

// specFromFile loads a .torrent.
func specFromFile(t *testing.T, path string) engine.TorrentSpec {
	t.Helper()
	mi, err := metainfo.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return engine.SpecFromMetaInfo(mi)
}

// Downloads from a Transmission seed, our side dialing, over TCP and over
// uTP; every byte verified.
func TestDownloadFromTransmission(t *testing.T) {
	btclientstest.Require(t, "transmission-daemon", "transmission-create")
	seedDir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(seedDir, "tr.bin"), 6<<20+333, 21)
	torrentFile, ih := btclientstest.MakeTorrent(t, filepath.Join(seedDir, "tr.bin"), 64)
	tr := btclientstest.StartTransmission(t)
	tr.Add(t, torrentFile, seedDir)
	tr.WaitSeeding(t, ih, 30*time.Second)

	for _, transport := range []string{"tcp", "utp"} {
		t.Run(transport, func(t *testing.T) {
			// Our own loopback address: Transmission remembers peers by
			// address, and refuses a seed it has seen (the other subtest's
			// finished download) when it seeds itself.
			ip := btclientstest.LoopbackIP(t)
			cfg := engine.Config{Logger: testLogger(t)}
			if transport == "utp" {
				sock, err := engine.ListenUTP(ip + ":0")
				if err != nil {
					t.Fatal(err)
				}
				defer sock.Close()
				cfg.Transports = []engine.Transport{sock.Transport()}
			} else {
				cfg.Transports = []engine.Transport{{Name: "tcp", Network: "tcp", Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}}}
			}
			cl := newClient(t, cfg)
			out := t.TempDir()
			spec := specFromFile(t, torrentFile)
			spec.Storage = filesStorage(out)
			spec.Peers = []string{tr.PeerAddr()}
			tor := mustGet(t, cl, spec, 60*time.Second)
			got := readFile(t, filepath.Join(out, "tr.bin"))
			if !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs")
			}
			network := map[string]string{"utp": "udp", "tcp": "tcp"}[transport]
			if c := tor.Stats().Connections; c[network] == 0 || len(c) != 1 {
				t.Fatalf("connections %v, want only %s", c, network)
			}
		})
	}
}

// seedFromDir seeds the content of a .torrent from dir with a btspeed
// client listening on a fresh loopback address, TCP and uTP on one port.
func seedFromDir(t *testing.T, torrentFile, dir string, cfg engine.Config) (*engine.Torrent, string) {
	t.Helper()
	ip := btclientstest.LoopbackIP(t)
	port := btclientstest.FreePort(t, ip)
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := engine.ListenUTP(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenPort = port
	// Announce from our own address, so the tracker hands it out.
	cfg.TrackerDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	cl := newClient(t, cfg)
	go cl.Serve(ln)
	go cl.Serve(sock)
	spec := specFromFile(t, torrentFile)
	spec.Storage, spec.Check = filesStorage(dir), true
	tor := mustSeed(t, cl, spec)
	return tor, addr
}

// qBittorrent downloads a torrent btspeed seeds, over uTP and over TCP.
func TestQbittorrentDownloadsFromUs(t *testing.T) {
	btclientstest.Require(t, "qbittorrent-nox", "transmission-create")
	seedDir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(seedDir, "qb.bin"), 5<<20+77, 22)
	torrentFile, ih := btclientstest.MakeTorrent(t, filepath.Join(seedDir, "qb.bin"), 64)
	tor, addr := seedFromDir(t, torrentFile, seedDir, engine.Config{Logger: testLogger(t)})
	for _, proto := range []string{"UTP", "TCP"} { // uTP first: the TCP count must come from the TCP run
		t.Run(proto, func(t *testing.T) {
			q := btclientstest.StartQbittorrent(t, proto)
			out := t.TempDir()
			q.Add(t, torrentFile, out)
			q.AddPeers(t, ih, addr)
			q.WaitComplete(t, ih, 60*time.Second)
			network := map[string]string{"UTP": "udp", "TCP": "tcp"}[proto]
			if n := tor.Stats().Connections[network]; n == 0 {
				t.Fatalf("no %s connection reached the seed: %v", network, tor.Stats().Connections)
			}
			if !bytes.Equal(readFile(t, filepath.Join(out, "qb.bin")), data) {
				t.Fatal("qBittorrent's copy differs")
			}
		})
	}
	if up := tor.Stats().Uploaded; up < 2*int64(len(data)) {
		t.Fatalf("uploaded %d bytes, want at least %d", up, 2*len(data))
	}
}

// aria2 downloads a torrent btspeed seeds; it finds the seed through a real
// tracker (opentracker) that the seed announced to.
func TestAria2DownloadsFromUs(t *testing.T) {
	btclientstest.Require(t, "aria2c", "opentracker", "transmission-create")
	seedDir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(seedDir, "a2.bin"), 3<<20+5, 23)
	torrentFile, ih := btclientstest.MakeTorrent(t, filepath.Join(seedDir, "a2.bin"), 32)
	tracker := btclientstest.StartOpentracker(t, ih)
	torrentFile = btclientstest.WithTracker(t, torrentFile, tracker.AnnounceURL())
	tor, _ := seedFromDir(t, torrentFile, seedDir, engine.Config{Logger: testLogger(t)})
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := btclientstest.Aria2Download(ctx, t, torrentFile, out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(out, "a2.bin")), data) {
		t.Fatal("aria2's copy differs")
	}
	if up := tor.Stats().Uploaded; up < int64(len(data)) {
		t.Fatalf("uploaded %d bytes, want at least %d", up, len(data))
	}
}

// Transmission advertises reqq 512 and refuses (BEP 6 reject) the request
// that would make 512 queued; the engine keeps 511 outstanding with it, more
// than the 250 it used to, and no request is refused.
func TestTransmissionRefusesNoRequest(t *testing.T) {
	btclientstest.Require(t, "transmission-daemon", "transmission-create")
	seedDir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(seedDir, "rq.bin"), 48<<20, 24) // 3072 blocks
	torrentFile, ih := btclientstest.MakeTorrent(t, filepath.Join(seedDir, "rq.bin"), 256)
	tr := btclientstest.StartTransmission(t)
	tr.Add(t, torrentFile, seedDir)
	tr.WaitSeeding(t, ih, 60*time.Second)

	ip := btclientstest.LoopbackIP(t)
	cl := newClient(t, engine.Config{Logger: testLogger(t), Transports: []engine.Transport{
		{Name: "tcp", Network: "tcp", Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}},
	}})
	out := t.TempDir()
	spec := specFromFile(t, torrentFile)
	spec.Storage, spec.Peers = filesStorage(out), []string{tr.PeerAddr()}
	tor := mustGet(t, cl, spec, 120*time.Second)
	if !bytes.Equal(readFile(t, filepath.Join(out, "rq.bin")), data) {
		t.Fatal("downloaded file differs")
	}
	st := tor.Stats()
	if st.Rejected != 0 {
		t.Fatalf("Transmission refused %d requests", st.Rejected)
	}
	if st.MaxOutstanding <= 250 || st.MaxOutstanding >= 512 {
		t.Fatalf("at most %d requests outstanding, want 251..511", st.MaxOutstanding)
	}
	if c := st.Connections["tcp"]; c != 1 {
		t.Fatalf("%d connections to Transmission, want 1 (none dropped)", c)
	}
	t.Logf("%d requests outstanding at most, none refused", st.MaxOutstanding)
}
