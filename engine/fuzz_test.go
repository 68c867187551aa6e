package engine

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// fuzzStorage is an in-memory Storage for the fuzz targets.
type fuzzStorage struct{ data []byte }

func (s *fuzzStorage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s.data)) {
		return 0, io.ErrUnexpectedEOF
	}
	return copy(p, s.data[off:]), nil
}
func (s *fuzzStorage) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
func (s *fuzzStorage) Flush() error                             { return nil }
func (s *fuzzStorage) Close() error                             { return nil }

// FuzzWire feeds arbitrary bytes, after a valid handshake, to a seeding
// engine's connection: whatever they are, the engine must not panic, and
// must end or keep the connection without touching the process.
func FuzzWire(f *testing.F) {
	data := bytes.Repeat([]byte("btspeed!"), 5000)
	info := metainfo.Info{Name: "f", PieceLength: 16 << 10, Length: int64(len(data))}
	for off := 0; off < len(data); off += 16 << 10 {
		h := sha1.Sum(data[off:min(off+16<<10, len(data))])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		f.Fatal(err)
	}
	ih := metainfo.Hash(sha1.Sum(infoBytes))
	seed := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	m := func(msg pp.Message) []byte { return msg.MustMarshalBinary() }
	f.Add(seed(m(pp.Message{Type: pp.Interested}), m(pp.Message{Type: pp.Request, Index: 0, Begin: 0, Length: 16 << 10})))
	f.Add(seed(m(pp.Message{Type: pp.Extended, ExtendedID: 0, ExtendedPayload: []byte("d1:md11:ut_metadatai1e6:ut_pexi2e8:bt_speedi3ee13:metadata_sizei100ee")})))
	f.Add(seed(m(pp.Message{Type: pp.Extended, ExtendedID: extMetadata, ExtendedPayload: []byte("d8:msg_typei0e5:piecei0ee")})))
	f.Add(seed(m(pp.Message{Type: pp.Extended, ExtendedID: extPex, ExtendedPayload: []byte("d5:added6:\x7f\x00\x00\x01\x1a\xe1e")})))
	f.Add(seed(m(pp.Message{Type: pp.Bitfield, Bitfield: make([]bool, 24)}), m(pp.Message{Type: pp.HaveAll})))
	f.Add(binary.BigEndian.AppendUint32(nil, 1<<30))
	f.Fuzz(func(t *testing.T, in []byte) {
		cl, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		_, err = cl.AddTorrent(TorrentSpec{InfoHash: ih, InfoBytes: infoBytes, Check: true,
			Storage: func(*metainfo.Info) (Storage, error) { return &fuzzStorage{data: data}, nil }})
		if err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		go cl.HandleConn(a)
		var id [20]byte
		copy(id[:], "-FZ0000-fuzzfuzzfuzz")
		b.SetDeadline(time.Now().Add(5 * time.Second))
		hs := []byte("\x13BitTorrent protocol")
		ext := pp.NewPeerExtensionBytes(pp.ExtensionBitFast, pp.ExtensionBitLtep)
		hs = append(hs, ext[:]...)
		hs = append(hs, ih[:]...)
		hs = append(hs, id[:]...)
		go func() {
			b.Write(hs)
			b.Write(in)
			time.Sleep(10 * time.Millisecond)
			b.Close()
		}()
		io.Copy(io.Discard, b)
	})
}

// FuzzInfo decodes arbitrary info dictionaries: newLayout must reject
// inconsistent ones with an error and, for those it accepts, every piece and
// block computation must stay in range.
func FuzzInfo(f *testing.F) {
	f.Add([]byte("d6:lengthi100e4:name1:x12:piece lengthi16e6:pieces140:" + string(make([]byte, 140)) + "e"))
	f.Add([]byte("d5:filesld6:lengthi5e4:pathl1:aeed6:lengthi0e4:pathl1:beee4:name1:d12:piece lengthi4e6:pieces40:" + string(make([]byte, 40)) + "e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var info metainfo.Info
		if bencode.Unmarshal(b, &info) != nil {
			return
		}
		lay, err := newLayout(&info)
		if err != nil {
			return
		}
		var total int64
		for i := range lay.numPieces {
			n := lay.pieceLen(i)
			if n <= 0 || n > lay.pieceLength {
				t.Fatalf("piece %d has length %d", i, n)
			}
			total += n
			if i < 4 || i > lay.numPieces-4 {
				for b := range lay.numBlocks(i) {
					if l := lay.blockLen(i, b); l <= 0 || l > BlockSize {
						t.Fatalf("block %d/%d has length %d", i, b, l)
					}
				}
			}
		}
		if total != lay.total {
			t.Fatalf("pieces add up to %d, total is %d", total, lay.total)
		}
	})
}
