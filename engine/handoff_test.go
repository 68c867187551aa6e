package engine_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
)

// countingStorage counts reads and closes of a memStorage.
type countingStorage struct {
	*memStorage
	reads, closes atomic.Int32
}

func (c *countingStorage) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.memStorage.ReadAt(p, off)
}

func (c *countingStorage) Close() error { c.closes.Add(1); return nil }

// A torrent holding half its pieces moves to another Client on the same
// storage: the pieces it had are verified there at once, without a read of
// the storage (no hash check), and only the other half is downloaded.
// AddVerified refuses a spec without the info and a list of the wrong
// length.
func TestAddVerifiedMovesATorrent(t *testing.T) {
	const pieceLen = 32 << 10
	mi, data := makeContent(t, t.TempDir(), "half.bin", 20*pieceLen, pieceLen, 17)
	seed := newClient(t, engine.Config{})
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(data)}).open, true
	mustSeed(t, seed, spec)

	half := append(bytes.Clone(data[:10*pieceLen]), make([]byte, 10*pieceLen)...)
	st := &countingStorage{memStorage: &memStorage{data: half}}
	open := func(info *metainfo.Info) (engine.Storage, error) { st.memStorage.open(info); return st, nil }
	first := newClient(t, engine.Config{})
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = open, true
	tor := mustAdd(t, first, spec)
	verified := tor.Verified()
	if tor.Stats().PiecesDone != 10 || len(verified) != 20 || !verified[9] || verified[10] {
		t.Fatalf("the first client verified %d pieces: %v", tor.Stats().PiecesDone, verified)
	}
	if !bytes.Equal(tor.InfoBytes(), mi.InfoBytes) {
		t.Fatal("InfoBytes differ from the .torrent's")
	}
	if err := first.Remove(mi.HashInfoBytes()); err != nil {
		t.Fatal(err)
	}

	second := newClient(t, engine.Config{})
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage = open
	if _, err := second.AddVerified(engine.TorrentSpec{InfoHash: mi.HashInfoBytes(), Storage: open}, verified); err == nil {
		t.Fatal("AddVerified without the info succeeded")
	}
	if _, err := second.AddVerified(spec, verified[:5]); err == nil {
		t.Fatal("AddVerified with 5 of 20 pieces succeeded")
	}
	reads := st.reads.Load()
	moved, err := second.AddVerified(spec, verified)
	if err != nil {
		t.Fatal(err)
	}
	if got := moved.Stats().PiecesDone; got != 10 || st.reads.Load() != reads {
		t.Fatalf("moved: %d pieces verified, %d storage reads (a hash check?)", got, st.reads.Load()-reads)
	}
	a, b := net.Pipe()
	go seed.HandleConn(a)
	if err := second.AddConn(context.Background(), b, mi.HashInfoBytes()); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, moved, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
	if got := moved.Stats().Downloaded; got != 10*pieceLen {
		t.Fatalf("downloaded %d bytes after the move, want the missing %d", got, 10*pieceLen)
	}
}
