package engine_test

import (
	"bytes"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/internal/btclients"
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
	btclients.Require(t, "transmission-daemon", "transmission-create")
	seedDir := t.TempDir()
	data := btclients.WriteRandomFile(t, filepath.Join(seedDir, "tr.bin"), 6<<20+333, 21)
	torrentFile, ih := btclients.MakeTorrent(t, filepath.Join(seedDir, "tr.bin"), 64)
	tr := btclients.StartTransmission(t)
	tr.Add(t, torrentFile, seedDir)
	tr.WaitSeeding(t, ih, 30*time.Second)

	for _, transport := range []string{"tcp", "utp"} {
		t.Run(transport, func(t *testing.T) {
			// Our own loopback address: Transmission remembers peers by
			// address, and refuses a seed it has seen (the other subtest's
			// finished download) when it seeds itself.
			ip := btclients.LoopbackIP(t)
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
			tor, err := cl.AddTorrent(spec)
			if err != nil {
				t.Fatal(err)
			}
			waitComplete(t, tor, 60*time.Second)
			got := readFile(t, filepath.Join(out, "tr.bin"))
			if !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs")
			}
		})
	}
}
