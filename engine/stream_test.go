package engine_test

import (
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
)

// slowConn paces writes, so a seed serves one block at a time.
type slowConn struct{ net.Conn }

func (c slowConn) Write(p []byte) (int, error) {
	time.Sleep(3 * time.Millisecond)
	return c.Conn.Write(p)
}

// A reader of the end of the content gets it first: ReadAt makes the
// pieces it waits for the first ones requested, and returns their bytes
// while most of the torrent is still missing.
func TestReadAtStreamsFirst(t *testing.T) {
	const pieceLen = 16 << 10
	mi, data := makeContent(t, t.TempDir(), "film.bin", 2<<20, pieceLen, 21)
	seed := newClient(t, engine.Config{})
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(data)}).open, true
	mustSeed(t, seed, spec)

	leech := newClient(t, engine.Config{})
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage = (&memStorage{}).open
	tor := mustAdd(t, leech, spec)
	off := int64(len(data)) - 40_000 // spans the last three pieces
	got := make([]byte, 30_000)
	done := make(chan error, 1)
	go func() {
		_, err := tor.ReadAt(context.Background(), got, off, 0)
		done <- err
	}()
	// The reader waits, its pieces first in line, before a peer comes.
	var want []int
	for i := off / pieceLen; i*pieceLen < off+int64(len(got)); i++ {
		want = append(want, int(i))
	}
	for deadline := time.Now().Add(30 * time.Second); !slices.Equal(tor.FirstInLine(), want); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pieces first in line are %v, want the reader's %v", tor.FirstInLine(), want)
		}
	}
	a, b := net.Pipe()
	go seed.HandleConn(slowConn{a})
	if err := leech.AddConn(context.Background(), b, mi.HashInfoBytes()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ReadAt never returned")
	}
	if st := tor.Stats(); st.PiecesDone > st.Pieces/4 {
		t.Fatalf("ReadAt returned after %d of %d pieces: its pieces were not first", st.PiecesDone, st.Pieces)
	}
	if !bytes.Equal(got, data[off:off+int64(len(got))]) {
		t.Fatal("ReadAt returned the wrong bytes")
	}
	waitComplete(t, tor, 60*time.Second)

	// Outside the content, and a cancelled wait.
	if _, err := tor.ReadAt(context.Background(), got, int64(len(data)), 0); err == nil {
		t.Fatal("read past the end succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	other := mustAdd(t, newClient(t, engine.Config{}), engine.TorrentSpec{InfoHash: mi.HashInfoBytes(), InfoBytes: mi.InfoBytes, Storage: (&memStorage{}).open})
	if _, err := other.ReadAt(ctx, got, 0, 0); err == nil {
		t.Fatal("a cancelled read returned")
	}
}

// writeOrder is memStorage that records the pieces written to, in order.
type writeOrder struct {
	memStorage
	pieceLen int64
	mu       sync.Mutex
	pieces   []int
}

func (w *writeOrder) open(info *metainfo.Info) (engine.Storage, error) {
	if _, err := w.memStorage.open(info); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *writeOrder) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	if i := int(off / w.pieceLen); len(w.pieces) == 0 || w.pieces[len(w.pieces)-1] != i {
		w.pieces = append(w.pieces, i)
	}
	w.mu.Unlock()
	return w.memStorage.WriteAt(p, off)
}

func (w *writeOrder) order() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.pieces)
}

// A torrent added from a magnet link with TorrentSpec.Stream requests the
// streamed bytes first as soon as the info arrives, before any read: the
// window's first piece, then the piece holding its last byte (an MP4's
// index), then the rest of the window in order. The seed serves one block
// at a time in the order asked, so the order written is the order asked.
func TestStreamRequestsTheStartAndEndFirst(t *testing.T) {
	const pieceLen = 16 << 10
	mi, data := makeContent(t, t.TempDir(), "film.bin", 2<<20, pieceLen, 22)
	seed := newClient(t, engine.Config{})
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(data)}).open, true
	mustSeed(t, seed, spec)

	leech := newClient(t, engine.Config{})
	spec, err := engine.SpecFromMagnet("magnet:?xt=urn:btih:" + mi.HashInfoBytes().HexString())
	if err != nil {
		t.Fatal(err)
	}
	st := &writeOrder{pieceLen: pieceLen}
	spec.Storage = st.open
	// A "file" of 512 KiB in the middle: pieces 64..95.
	spec.Stream = func(info *metainfo.Info) (int64, int64) { return 1 << 20, 512 << 10 }
	tor := mustAdd(t, leech, spec)
	a, b := net.Pipe()
	go seed.HandleConn(slowConn{a})
	if err := leech.AddConn(context.Background(), b, mi.HashInfoBytes()); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, tor, 60*time.Second)
	want := []int{64, 95}
	for i := 65; i < 95; i++ {
		want = append(want, i)
	}
	if got := st.order(); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("pieces written in the order %v, want %v first", got[:min(len(got), 40)], want)
	}
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("the download differs")
	}
}
