package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/engine"
)

// rawPeer dials addr and completes the BitTorrent handshake for ih.
func rawPeer(t *testing.T, addr string, ih metainfo.Hash) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	var id [20]byte
	copy(id[:], "-XX0000-hostilepeer!")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pp.Handshake(ctx, nc, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast)); err != nil {
		t.Fatal(err)
	}
	return nc
}

// closedByPeer reads until the engine closes the connection.
func closedByPeer(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the engine kept a connection that broke the protocol")
	}
}

func msg(id byte, payload ...uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4*len(payload)))
	b = append(b, id)
	for _, p := range payload {
		b = binary.BigEndian.AppendUint32(b, p)
	}
	return b
}

// Hostile wire input closes that connection, and the engine goes on
// serving honest peers.
func TestHostileInputClosesOnlyThatConnection(t *testing.T) {
	dir := t.TempDir()
	mi, data := makeContent(t, dir, "h.bin", 300<<10, 32<<10, 11)
	// 250 outstanding: the flood below (600 blocks) passes 2 x MaxRequests.
	seed := newClient(t, engine.Config{MaxRequests: 250})
	st := &memStorage{data: bytes.Clone(data)}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = st.open, true
	tor := mustAdd(t, seed, spec)
	addr := listen(t, seed, "127.0.0.1")
	ih := mi.HashInfoBytes()

	cases := map[string][]byte{
		"oversized message":        binary.BigEndian.AppendUint32(nil, 64<<20),
		"request beyond the piece": msg(byte(pp.Request), 0, 32<<10-10, 16<<10),
		"request past the end":     msg(byte(pp.Request), 1000, 0, 16<<10),
		"request too long":         msg(byte(pp.Request), 0, 0, 1<<20),
		"have out of range":        msg(byte(pp.Have), 5000),
		"bitfield spare bits":      append(binary.BigEndian.AppendUint32(nil, 3), byte(pp.Bitfield), 0xff, 0xff),
		"bitfield wrong length":    append(binary.BigEndian.AppendUint32(nil, 9), byte(pp.Bitfield), 1, 2, 3, 4, 5, 6, 7, 8),
		"truncated request":        append(binary.BigEndian.AppendUint32(nil, 5), byte(pp.Request), 0, 0, 0, 1),
		"bad extended handshake":   append(binary.BigEndian.AppendUint32(nil, 6), byte(pp.Extended), 0, 'd', '1', ':', 'x'),
		"unrequested piece flood":  nil, // built below
	}
	block := make([]byte, 16<<10)
	var flood []byte
	for range 600 {
		flood = binary.BigEndian.AppendUint32(flood, uint32(9+len(block)))
		flood = append(flood, byte(pp.Piece), 0, 0, 0, 0, 0, 0, 0, 0)
		flood = append(flood, block...)
	}
	cases["unrequested piece flood"] = flood
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			nc := rawPeer(t, addr, ih)
			go nc.Write(b)
			closedByPeer(t, nc)
		})
	}

	// An unknown message type is skipped, not fatal (BEP 3): the
	// connection stays and answers the next message.
	nc := rawPeer(t, addr, ih)
	nc.Write(append(msg(0xee, 1, 2, 3), msg(byte(pp.Interested))...))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	d := pp.Decoder{R: bufio.NewReader(nc), MaxLength: 1 << 20}
	for unchoked := false; !unchoked; {
		var m pp.Message
		if err := d.Decode(&m); err != nil {
			t.Fatalf("connection ended after an unknown message: %v", err)
		}
		unchoked = m.Type == pp.Unchoke
	}

	// Still serving: an honest client downloads everything.
	leech := newClient(t, engine.Config{})
	lst := &memStorage{}
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Peers = lst.open, []string{addr}
	mustGet(t, leech, spec, 30*time.Second)
	if !bytes.Equal(lst.bytes(), data) {
		t.Fatal("data differs")
	}
	if tor.Err() != nil {
		t.Fatal(tor.Err())
	}
}

// A seed sending data that fails the hash loses its connection; the
// download completes from an honest seed, every byte verified.
func TestBadDataSeedIsDropped(t *testing.T) {
	dir := t.TempDir()
	mi, data := makeContent(t, dir, "b.bin", 512<<10, 32<<10, 12)
	bad := bytes.Clone(data)
	for i := 0; i < len(bad); i += 4096 {
		bad[i] ^= 0xff // every piece corrupt
	}
	// The liar passes its own hash check with the real bytes, then serves
	// corrupt ones.
	liar := newClient(t, engine.Config{})
	spec := engine.SpecFromMetaInfo(mi)
	swap := &swapStorage{memStorage: memStorage{data: bytes.Clone(data)}, later: bad}
	spec.Storage, spec.Check = swap.open, true
	mustAdd(t, liar, spec)
	swap.swap()
	liarAddr := listen(t, liar, "127.0.0.2")

	honest := newClient(t, engine.Config{})
	hst := &memStorage{data: bytes.Clone(data)}
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Check = hst.open, true
	mustAdd(t, honest, spec)
	honestAddr := listen(t, honest, "127.0.0.3")

	leech := newClient(t, engine.Config{})
	out := &memStorage{}
	spec = engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Peers = out.open, []string{liarAddr}
	tor := mustAdd(t, leech, spec)
	deadline := time.Now().Add(20 * time.Second)
	for tor.Stats().HashFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no hash failure: %+v", tor.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tor.AddPeers(honestAddr)
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(out.bytes(), data) {
		t.Fatal("data differs")
	}
	s := tor.Stats()
	if s.Peers != 1 {
		t.Fatalf("connected to %d peers; the liar should have been dropped", s.Peers)
	}
}

// swapStorage passes the engine's hash check with good bytes, then serves
// other bytes.
type swapStorage struct {
	memStorage
	later []byte
}

func (s *swapStorage) open(info *metainfo.Info) (engine.Storage, error) { return s, nil }

func (s *swapStorage) swap() {
	s.mu.Lock()
	s.data = s.later
	s.mu.Unlock()
}
