package engine_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
)

// newClient returns an engine client closed when the test ends.
func newClient(t testing.TB, cfg engine.Config) *engine.Client {
	t.Helper()
	cl, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func encodeInfo(info metainfo.Info) ([]byte, error) { return bencode.Marshal(info) }

// memStorage is a byte-slice Storage for tests.
type memStorage struct {
	mu   sync.Mutex
	data []byte
}

func (m *memStorage) open(info *metainfo.Info) (engine.Storage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := info.TotalLength(); int64(len(m.data)) != n {
		m.data = append(m.data, make([]byte, n-int64(len(m.data)))...)
	}
	return m, nil
}

func (m *memStorage) bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

func (m *memStorage) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return 0, fmt.Errorf("out of range")
	}
	return copy(p, m.data[off:]), nil
}

func (m *memStorage) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return 0, fmt.Errorf("out of range")
	}
	return copy(m.data[off:], p), nil
}

func (m *memStorage) Flush() error { return nil }
func (m *memStorage) Close() error { return nil }

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustAdd adds spec to cl.
func mustAdd(t testing.TB, cl *engine.Client, spec engine.TorrentSpec) *engine.Torrent {
	t.Helper()
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

// mustSeed adds spec, whose storage holds the whole content, and checks the
// hash check found every piece.
func mustSeed(t testing.TB, cl *engine.Client, spec engine.TorrentSpec) *engine.Torrent {
	t.Helper()
	tor := mustAdd(t, cl, spec)
	select {
	case <-tor.Complete():
	default:
		t.Fatalf("the seed's check found %+v", tor.Stats())
	}
	return tor
}

// mustGet adds spec and waits for the download to complete.
func mustGet(t testing.TB, cl *engine.Client, spec engine.TorrentSpec, timeout time.Duration) *engine.Torrent {
	t.Helper()
	tor := mustAdd(t, cl, spec)
	waitComplete(t, tor, timeout)
	return tor
}
