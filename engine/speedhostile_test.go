package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

// overcharger is a hostile Speed seed on a raw socket: it holds every piece,
// and prices its unchoke above the requester's bid (or, with noBid, before
// any bid), then serves whatever is requested and waits to be paid.
type overcharger struct {
	t        *testing.T
	ln       net.Listener
	ih       metainfo.Hash
	data     []byte
	pieceLen int
	pieces   int
	key      *wallet.PrivateKey
	ledgerID string
	noBid    bool
	wg       sync.WaitGroup

	mu       sync.Mutex
	bid      uint64 // the requester's last bid
	quoted   uint64 // the rate it charged
	requests int    // requests received after its bid response
}

func startOvercharger(t *testing.T, mi *metainfo.MetaInfo, data []byte, ledgerID string, noBid bool) *overcharger {
	t.Helper()
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := wallet.GenerateKey()
	o := &overcharger{t: t, ln: ln, ih: mi.HashInfoBytes(), data: data, pieceLen: int(info.PieceLength),
		pieces: info.NumPieces(), key: key, ledgerID: ledgerID, noBid: noBid}
	o.wg.Add(1)
	go o.serve()
	t.Cleanup(func() { ln.Close(); o.wg.Wait() })
	return o
}

func (o *overcharger) serve() {
	defer o.wg.Done()
	for {
		nc, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer nc.Close()
			if err := o.run(nc); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				o.t.Logf("overcharger: %v", err)
			}
		}()
	}
}

const overchargerSpeedID = 3 // our id for bt_speed in our "m" dict

// run speaks to one requester on nc until it hangs up or the test ends.
func (o *overcharger) run(nc net.Conn) error {
	go func() { <-o.t.Context().Done(); nc.Close() }()
	c, err := o.greet(nc)
	if err != nil {
		return err
	}
	d := pp.Decoder{R: bufio.NewReader(nc), MaxLength: 1 << 20}
	for {
		var m pp.Message
		if err := d.Decode(&m); err != nil {
			return err
		}
		if err := c.handle(m); err != nil {
			return err
		}
	}
}

// overchargeConn is the overcharger's side of one connection.
type overchargeConn struct {
	o      *overcharger
	w      *bufio.Writer
	theirs int // the requester's id for bt_speed
}

// greet does the BitTorrent handshake on nc, then says the overcharger has
// every piece and speaks bt_speed, as its Speed account on its ledger.
func (o *overcharger) greet(nc net.Conn) (*overchargeConn, error) {
	var id [20]byte
	copy(id[:], "-XX0000-overcharger!")
	ih := o.ih
	if _, err := pp.Handshake(o.t.Context(), nc, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitLtep)); err != nil {
		return nil, err
	}
	c := &overchargeConn{o: o, w: bufio.NewWriter(nc)}
	bf := make([]bool, o.pieces)
	for i := range bf {
		bf[i] = true
	}
	hs, err := bencode.Marshal(map[string]any{
		"m":                 map[string]int{speed.ExtensionName: overchargerSpeedID},
		speed.ExtensionName: speed.Handshake{Version: speed.Version, Account: o.key.Address(), Ledger: o.ledgerID},
	})
	if err != nil {
		return nil, err
	}
	if err := c.send(pp.Message{Type: pp.Bitfield, Bitfield: bf}); err != nil {
		return nil, err
	}
	if err := c.send(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: hs}); err != nil {
		return nil, err
	}
	return c, nil
}

// send writes m and flushes it.
func (c *overchargeConn) send(m pp.Message) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}

// quote answers with a bid response at rate, remembered in quoted, and
// unchokes.
func (c *overchargeConn) quote(rate uint64) error {
	o := c.o
	b, err := speed.Encode(speed.BidResponse{Round: 1, Rate: rate, Payee: o.key.Address(), Ledger: o.ledgerID, MinTTL: 600})
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.quoted = rate
	o.mu.Unlock()
	if err := c.send(pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(c.theirs), ExtendedPayload: b}); err != nil {
		return err
	}
	return c.send(pp.Message{Type: pp.Unchoke})
}

// handle answers one message from the requester: its extended handshake
// (quoting at once when noBid), its first bid (quoting one above it), and
// requests (served, counted).
func (c *overchargeConn) handle(m pp.Message) error {
	o := c.o
	switch {
	case m.Type == pp.Extended && m.ExtendedID == pp.HandshakeExtendedID:
		var ext struct {
			M map[string]int `bencode:"m"`
		}
		if err := bencode.Unmarshal(m.ExtendedPayload, &ext); err != nil {
			return err
		}
		c.theirs = ext.M[speed.ExtensionName]
		if o.noBid && c.theirs != 0 {
			return c.quote(250_000)
		}
	case m.Type == pp.Extended && m.ExtendedID == overchargerSpeedID:
		msg, err := speed.Decode(m.ExtendedPayload)
		if err != nil {
			return err
		}
		bid, ok := msg.(speed.Bid)
		if !ok || o.noBid {
			return nil
		}
		o.mu.Lock()
		o.bid = bid.Rate
		first := o.quoted == 0
		o.mu.Unlock()
		if first && bid.Rate > 0 {
			return c.quote(bid.Rate + 1)
		}
	case m.Type == pp.Request:
		o.mu.Lock()
		o.requests++
		o.mu.Unlock()
		off := int(m.Index)*o.pieceLen + int(m.Begin)
		if off < 0 || off+int(m.Length) > len(o.data) {
			return errors.New("request out of range")
		}
		return c.send(pp.Message{Type: pp.Piece, Index: m.Index, Begin: m.Begin, Piece: o.data[off : off+int(m.Length)]})
	}
	return nil
}

// A hostile Speed seed that prices its unchoke above the requester's bid, or
// charges a requester that bid nothing, gets no request and no money: the
// requester refuses the bid response (docs/speed-protocol.md section 4.2),
// opens no channel and downloads everything from a free legacy seed.
func TestSpeedRefusesPriceAboveBid(t *testing.T) {
	for _, noBid := range []bool{false, true} {
		name := "above the bid"
		if noBid {
			name = "no bid"
		}
		t.Run(name, func(t *testing.T) {
			const funded = 100_000_000
			const pieceLen = 64 << 10
			led := memledger.New("hostile-test", time.Now)
			reqKey, _ := wallet.GenerateKey()
			led.Mint(reqKey.Address(), funded)
			mi, data := makeContent(t, t.TempDir(), "h.bin", 24*pieceLen, pieceLen, 11)
			hostile := startOvercharger(t, mi, data, "hostile-test", noBid)

			legacy := newClient(t, engine.Config{})
			spec := engine.SpecFromMetaInfo(mi)
			spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(data)}).open, true
			mustSeed(t, legacy, spec)
			laddr := listen(t, legacy, "127.0.0.1")

			req := newClient(t, engine.Config{ChokeInterval: time.Second, Logger: testLogger(t), Speed: &engine.SpeedConfig{
				Key: reqKey, Ledger: led, LedgerID: "hostile-test", Settings: engine.SpeedSettings{Enabled: true},
			}})
			st := &memStorage{}
			spec = engine.SpecFromMetaInfo(mi)
			// The hostile seed first: it is dialled, and bid to, at once.
			spec.Storage, spec.Peers = st.open, []string{hostile.ln.Addr().String()}
			if noBid {
				spec.Speed = &engine.SpeedSettings{Enabled: false} // bid nothing
			}
			tor := mustAdd(t, req, spec)
			deadline := time.Now().Add(20 * time.Second)
			for {
				hostile.mu.Lock()
				quoted := hostile.quoted
				hostile.mu.Unlock()
				if quoted > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the hostile seed never got to quote")
				}
				time.Sleep(20 * time.Millisecond)
			}
			tor.AddPeers(laddr)
			waitComplete(t, tor, 60*time.Second)
			if !bytes.Equal(st.bytes(), data) {
				t.Fatal("data differs")
			}
			hostile.mu.Lock()
			bid, quoted, requests := hostile.bid, hostile.quoted, hostile.requests
			hostile.mu.Unlock()
			if !noBid && (bid == 0 || quoted <= bid) {
				t.Fatalf("the premise failed: bid %d, quoted %d", bid, quoted)
			}
			if requests != 0 {
				t.Errorf("the requester asked the overcharging seed for %d blocks (bid %d, quoted %d)", requests, bid, quoted)
			}
			if sp := tor.SpeedStats(); sp.Spent != 0 {
				t.Errorf("spent %d on a refused price", sp.Spent)
			}
			if bal, err := led.Balance(context.Background(), reqKey.Address()); err != nil || bal != funded {
				t.Errorf("requester balance %d (%v), want %d: a channel was opened", bal, err, funded)
			}
		})
	}
}
