package engine_test

// The timing rules of Speed in the engine, run in a testing/synctest bubble:
// the engine's choking round, balance reads, retries and deadlines wait on
// the bubble's virtual clock, the ledger is in memory (shared/speed/memledger)
// and the other peer is the test itself, speaking the wire protocol over
// net.Pipe. Minutes pass in no time, and each assertion is about when
// something happened on the virtual clock.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

const (
	bubbleLedgerID = "bubble-ledger"
	bubbleChoke    = 10 * time.Second // the choking round
	bubblePieceLen = 32 << 10
	wireSpeedID    = 7 // our bt_speed id, which the engine sends to
)

// The timings under test, from the table in section 8.4 of
// docs/speed-protocol.md (written out, so that a changed default fails).
const (
	specRebid          = time.Minute // least time between two bids to a peer
	specPaymentTimeout = 30 * time.Second
	specStrikes        = 3
	specBan            = time.Hour
	specCloseMargin    = 5 * time.Minute
)

// bubble is an in-memory ledger and engine clients on it, inside a bubble.
type bubble struct {
	t      *testing.T
	ledger *memledger.Ledger
}

func newBubble(t *testing.T) *bubble {
	return &bubble{t: t, ledger: memledger.New(bubbleLedgerID, time.Now)}
}

// client returns an engine client with Speed on, closed when the test ends.
func (b *bubble) client(key *wallet.PrivateKey, set engine.SpeedSettings) *engine.Client {
	return newClient(b.t, engine.Config{
		ChokeInterval: bubbleChoke,
		IdleTimeout:   24 * time.Hour, // the test's peer sends no keep-alives
		Logger:        testLogger(b.t),
		Speed:         &engine.SpeedConfig{Key: key, Ledger: b.ledger, LedgerID: bubbleLedgerID, Settings: set},
	})
}

// content adds a torrent of n pieces to cl: seeded when seed is true.
func (b *bubble) content(cl *engine.Client, n int, seed bool) (*engine.Torrent, []byte) {
	mi, data := makeContent(b.t, b.t.TempDir(), "b.bin", n*bubblePieceLen, bubblePieceLen, 3)
	spec := engine.SpecFromMetaInfo(mi)
	if seed {
		spec.Storage, spec.Check = (&memStorage{data: bytes.Clone(data)}).open, true
		return mustSeed(b.t, cl, spec), data
	}
	spec.Storage = (&memStorage{}).open
	return mustAdd(b.t, cl, spec), data
}

// wirePeer is the test's side of a connection to the engine.
type wirePeer struct {
	t      *testing.T
	nc     net.Conn
	key    *wallet.PrivateKey
	msgs   chan wireMsg // what the engine sent, closed when it closed
	engine pp.ExtensionNumber
	agent  string // the engine's client name (BEP 10 "v")
}

// wireMsg is a message from the engine and when it arrived.
type wireMsg struct {
	at time.Time
	m  pp.Message
	sp speed.Message // a bt_speed message, decoded
}

// remoteAddr gives the engine's end of a pipe the peer address addr.
type remoteAddr struct {
	net.Conn
	addr string
}

func (c remoteAddr) RemoteAddr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", c.addr)
	return a
}

// wirePeers counts the connections connect made.
var wirePeers atomic.Uint64

// connect opens a connection to tor from addr as the owner of key and
// completes both handshakes; the error is the engine's refusal.
func connect(t *testing.T, tor *engine.Torrent, addr string, key *wallet.PrivateKey) (*wirePeer, error) {
	mine, theirs := net.Pipe()
	added := make(chan error, 1)
	go func() { added <- tor.AddConn(context.Background(), remoteAddr{theirs, addr}) }()
	var id [20]byte
	copy(id[:], fmt.Sprintf("-WP0000-%012d", wirePeers.Add(1))) // one peer id each
	ih := tor.InfoHash()
	if _, err := pp.Handshake(context.Background(), mine, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast, pp.ExtensionBitLtep)); err != nil {
		mine.Close()
		<-added
		return nil, err
	}
	if err := <-added; err != nil {
		mine.Close()
		return nil, err
	}
	p := &wirePeer{t: t, nc: mine, key: key, msgs: make(chan wireMsg, 4096)}
	t.Cleanup(func() { mine.Close() })
	go p.read()
	h, err := bencode.Marshal(map[string]any{
		"m":        map[string]int{speed.ExtensionName: wireSpeedID},
		"v":        "wirepeer",
		"bt_speed": speed.Handshake{Version: speed.Version, Account: key.Address(), Ledger: bubbleLedgerID},
		"reqq":     250,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.send(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: h})
	hs, err := p.next(func(m wireMsg) bool {
		return m.m.Type == pp.Extended && m.m.ExtendedID == pp.HandshakeExtendedID
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the extended handshake: %w", err)
	}
	var eh struct {
		M map[string]int `bencode:"m"`
		V string         `bencode:"v"`
	}
	if err := bencode.Unmarshal(hs.m.ExtendedPayload, &eh); err != nil || eh.M[speed.ExtensionName] == 0 {
		t.Fatalf("the engine's handshake %q has no bt_speed (%v)", hs.m.ExtendedPayload, err)
	}
	p.engine = pp.ExtensionNumber(eh.M[speed.ExtensionName])
	p.agent = eh.V
	return p, nil
}

// read decodes what the engine sends until it closes the connection.
func (p *wirePeer) read() {
	defer close(p.msgs)
	d := pp.Decoder{R: bufio.NewReader(p.nc), MaxLength: 1 << 20}
	for {
		var m pp.Message
		if err := d.Decode(&m); err != nil {
			return
		}
		if m.Keepalive {
			continue
		}
		w := wireMsg{at: time.Now(), m: m}
		if m.Type == pp.Extended && m.ExtendedID == wireSpeedID {
			sp, err := speed.Decode(m.ExtendedPayload)
			if err != nil {
				p.t.Errorf("the engine sent a bad speed message: %v", err)
				return
			}
			w.sp = sp
		}
		p.msgs <- w
	}
}

func (p *wirePeer) send(m pp.Message) {
	p.t.Helper()
	if _, err := p.nc.Write(m.MustMarshalBinary()); err != nil {
		p.t.Fatalf("writing %v: %v", m.Type, err)
	}
}

func (p *wirePeer) sendSpeed(m speed.Message) {
	p.t.Helper()
	b, err := speed.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(pp.Message{Type: pp.Extended, ExtendedID: p.engine, ExtendedPayload: b})
}

// awaitLimit bounds, on the virtual clock, every wait for the engine.
const awaitLimit = time.Hour

// Why next found nothing.
var (
	errClosed  = errors.New("the engine closed the connection")
	errTimeout = errors.New("nothing came within " + awaitLimit.String())
)

// next returns the next message from the engine that match accepts,
// skipping others, within awaitLimit.
func (p *wirePeer) next(match func(wireMsg) bool) (wireMsg, error) {
	limit := time.After(awaitLimit)
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return wireMsg{}, errClosed
			}
			if match(m) {
				return m, nil
			}
			if r, bad := m.sp.(speed.PaymentRejected); bad {
				return wireMsg{}, fmt.Errorf("payment rejected (%s: %s)", r.Reason, r.Text)
			}
		case <-limit:
			return wireMsg{}, errTimeout
		}
	}
}

// await is next, failing the test when nothing matching comes.
func (p *wirePeer) await(what string, match func(wireMsg) bool) wireMsg {
	p.t.Helper()
	m, err := p.next(match)
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", what, err)
	}
	return m
}

// grant answers the engine's interest as a paying provider would: a bid
// response at rate to payee on the bubble's ledger, then an unchoke.
func (p *wirePeer) grant(rate uint64, payee wallet.Address) {
	p.t.Helper()
	p.await("interested", isType(pp.Interested))
	p.sendSpeed(speed.BidResponse{Round: 1, Rate: rate, Payee: payee, Ledger: bubbleLedgerID, MinTTL: 600})
	p.send(pp.Message{Type: pp.Unchoke})
}

func isType(t pp.MessageType) func(wireMsg) bool {
	return func(m wireMsg) bool { return m.m.Type == t }
}

func isSpeed[M speed.Message](m wireMsg) bool { _, ok := m.sp.(M); return ok }

// quiet fails if a message that match accepts arrives within d.
func (p *wirePeer) quiet(what string, d time.Duration, match func(wireMsg) bool) {
	p.t.Helper()
	end := time.After(d)
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				p.t.Fatalf("the engine closed the connection while %s", what)
			}
			if match(m) {
				p.t.Fatalf("%s: got %v %v after %s", what, m.m.Type, m.sp, time.Since(m.at))
			}
		case <-end:
			return
		}
	}
}

// awaitClose waits until the engine has closed the connection, ignoring
// what it sends before, and returns when.
func (p *wirePeer) awaitClose() time.Time {
	p.t.Helper()
	if _, err := p.next(func(wireMsg) bool { return false }); err != errClosed {
		p.t.Fatalf("waiting for the engine to close the connection: %v", err)
	}
	return time.Now()
}

// buy asks the engine, a seller, for a slot with bid and takes piece 0
// whole: it returns the rate the engine charges and when the piece's last
// block arrived.
func (p *wirePeer) buy(bid uint64) (rate uint64, got time.Time) {
	p.t.Helper()
	p.send(pp.Message{Type: pp.HaveNone})
	p.sendSpeed(speed.Bid{Rate: bid})
	p.send(pp.Message{Type: pp.Interested})
	resp := p.await("a bid response", isSpeed[speed.BidResponse]).sp.(speed.BidResponse)
	p.await("the unchoke", isType(pp.Unchoke))
	for begin := 0; begin < bubblePieceLen; begin += engine.BlockSize {
		p.send(pp.Message{Type: pp.Request, Index: 0, Begin: pp.Integer(begin), Length: engine.BlockSize})
	}
	for range bubblePieceLen / engine.BlockSize {
		got = p.await("a block", isType(pp.Piece)).at
	}
	return resp.Rate, got
}

// The provider's payment timeout (M20) on the virtual clock: a requester
// that took a whole piece and never pays is choked at the first choking
// round 30 s after the last block, struck every further 30 s, and banned at
// the third strike. The ban refuses its address and its account for an hour,
// and not a second longer.
func TestSpeedTimingPaymentTimeoutAndBan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		const reserve = sellerReserve
		tor, p, _, reqKey := b.seller(t)
		rate, got := p.buy(reserve)
		if rate != reserve {
			t.Fatalf("a lone bidder pays the reserve %d, charged %d", reserve, rate)
		}
		choked := p.await("the choke of a late payer", isType(pp.Choke)).at
		if d := choked.Sub(got); d < specPaymentTimeout || d >= specPaymentTimeout+bubbleChoke {
			t.Fatalf("choked %s after the piece; the payment timeout is %s, the round %s", d, specPaymentTimeout, bubbleChoke)
		}
		banned := p.awaitClose()
		strikes := time.Duration(specStrikes) * specPaymentTimeout
		if d := banned.Sub(got); d < strikes || d >= strikes+bubbleChoke {
			t.Fatalf("dropped %s after the piece; %d strikes take %s", d, specStrikes, strikes)
		}

		// Refused for the ban period: the address at once, the account
		// from another address once it says who it is.
		refused := func(when string) {
			t.Helper()
			if _, err := connect(t, tor, "192.0.2.1:6881", reqKey); err == nil {
				t.Fatalf("%s: a banned address was let in", when)
			}
			q, err := connect(t, tor, "192.0.2.2:6881", reqKey)
			if err != nil {
				return // closed before its handshake reached us: refused too
			}
			q.awaitClose()
		}
		t.Logf("choked %s and dropped %s after the last block", choked.Sub(got), banned.Sub(got))
		refused("at once")
		time.Sleep(banned.Add(specBan - time.Second).Sub(time.Now()))
		refused("a second before the ban ends")
		time.Sleep(time.Second)
		q, err := connect(t, tor, "192.0.2.1:6881", reqKey)
		if err != nil {
			t.Fatalf("the ban outlived its hour: %v", err)
		}
		if rate, _ := q.buy(reserve); rate != reserve {
			t.Fatalf("after the ban the requester is charged %d", rate)
		}
	})
}

// A paid channel is closed on the ledger when its deadline is within the
// close margin (5 minutes), at the first choking round from then, and not
// before; the ledger pays the provider exactly the last state.
func TestSpeedTimingChannelDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		provKey, reqKey := mustKey(t), mustKey(t)
		const reserve = 1_000_000
		tor, _ := b.content(b.client(provKey, engine.SpeedSettings{Enabled: true, Reserve: reserve}), 4, true)
		b.ledger.Mint(reqKey.Address(), 10_000_000)
		ctx := context.Background()
		open, err := speed.OpenRequest{
			Ledger: bubbleLedgerID, Payer: reqKey.Address(), Payee: provKey.Address(),
			Deposit: 1_000_000, Deadline: time.Now().Add(20 * time.Minute).Unix(), Nonce: 1,
		}.Sign(reqKey)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := b.ledger.OpenChannel(ctx, open)
		if err != nil {
			t.Fatal(err)
		}
		p, err := connect(t, tor, "192.0.2.1:6881", reqKey)
		if err != nil {
			t.Fatal(err)
		}
		rate, _ := p.buy(reserve)
		due := speed.Price(rate, bubblePieceLen)
		st := speed.State{Channel: ch.ID, Seq: 1, Paid: due}
		sig, err := st.Sign(reqKey)
		if err != nil {
			t.Fatal(err)
		}
		p.sendSpeed(speed.Payment{State: st, Piece: 0, Sig: sig})
		closing := p.await("channel closing", isSpeed[speed.ChannelClosing])
		closeAt := ch.Deadline.Add(-specCloseMargin)
		if closing.at.Before(closeAt) || !closing.at.Before(closeAt.Add(bubbleChoke)) {
			t.Fatalf("closed %s before the deadline; the close margin is %s", ch.Deadline.Sub(closing.at), specCloseMargin)
		}
		if c := closing.sp.(speed.ChannelClosing); c.Channel != ch.ID || c.Seq != 1 {
			t.Fatalf("channel closing %+v, want %s at seq 1", c, ch.ID)
		}
		t.Logf("channel closed %s before its deadline", ch.Deadline.Sub(closing.at))
		got, err := b.ledger.Channel(ctx, ch.ID)
		if err != nil || !got.Closed || got.Paid != due {
			t.Fatalf("on the ledger: %+v (%v); want closed paying %d", got, err, due)
		}
		if bal, _ := b.ledger.Balance(ctx, provKey.Address()); bal != due {
			t.Fatalf("the provider holds %d, the requester paid %d", bal, due)
		}
	})
}

// The requester's rebid rule (M6) on the virtual clock: the first bid goes
// out at once; a bid that changed by more than 10% goes out one minute
// after the last, at the first choking round from then, not before; a
// change of 10% or less is never sent.
func TestSpeedTimingRebid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		provKey, reqKey := mustKey(t), mustKey(t)
		balance := uint64(100_000_000)
		b.ledger.Mint(reqKey.Address(), balance)
		const pieces = 4
		tor, _ := b.content(b.client(reqKey, uncapped), pieces, false)
		p, err := connect(t, tor, "192.0.2.1:6881", provKey)
		if err != nil {
			t.Fatal(err)
		}
		p.send(pp.Message{Type: pp.HaveAll}) // and never unchoke: nothing is downloaded
		want := func(balance uint64) uint64 { return bidder.Rate(bidder.PPM, balance, pieces*bubblePieceLen) }
		bid := func(what string) wireMsg {
			t.Helper()
			return p.await(what, isSpeed[speed.Bid])
		}
		first := bid("the first bid")
		if r := first.sp.(speed.Bid).Rate; r != want(balance) {
			t.Fatalf("first bid %d, want %d", r, want(balance))
		}

		// Twice the balance: a new bid, one minute after the first.
		b.ledger.Mint(reqKey.Address(), balance)
		balance *= 2
		second := bid("the rebid")
		if r := second.sp.(speed.Bid).Rate; r != want(balance) {
			t.Fatalf("rebid %d, want %d", r, want(balance))
		}
		if d := second.at.Sub(first.at); d < specRebid || d >= specRebid+bubbleChoke {
			t.Fatalf("rebid %s after the first bid; the rule says one minute", d)
		}

		t.Logf("bids %d then %d, %s apart", first.sp.(speed.Bid).Rate, second.sp.(speed.Bid).Rate, second.at.Sub(first.at))

		// 10% more: never worth a rebid.
		b.ledger.Mint(reqKey.Address(), balance/10)
		balance += balance / 10
		p.quiet("the bid changed by 10%", 5*time.Minute, isSpeed[speed.Bid])

		// Half of it again: at the first round, the minute having passed.
		minted := time.Now()
		b.ledger.Mint(reqKey.Address(), balance/2)
		balance += balance / 2
		third := bid("the third bid")
		if r := third.sp.(speed.Bid).Rate; r != want(balance) {
			t.Fatalf("third bid %d, want %d", r, want(balance))
		}
		if d := third.at.Sub(minted); d > bubbleChoke+5*time.Second {
			t.Fatalf("third bid %s after the balance grew; balance reads every 5 s, rounds every %s", d, bubbleChoke)
		}
	})
}

// sellerReserve is the reserve of b.seller's provider, base units per MiB.
const sellerReserve = 1_000_000

// seller is a provider seeding 4 pieces at sellerReserve, and the test as a
// requester connected to it.
func (b *bubble) seller(t *testing.T) (tor *engine.Torrent, p *wirePeer, provKey, reqKey *wallet.PrivateKey) {
	t.Helper()
	provKey, reqKey = mustKey(t), mustKey(t)
	tor, _ = b.content(b.client(provKey, engine.SpeedSettings{Enabled: true, Reserve: sellerReserve}), 4, true)
	p, err := connect(t, tor, "192.0.2.1:6881", reqKey)
	if err != nil {
		t.Fatal(err)
	}
	return tor, p, provKey, reqKey
}

// buyer is a requester (100 BTT, uncapped bids) downloading 4 pieces, and
// the test as a provider holding them all (HaveAll sent), connected.
func (b *bubble) buyer(t *testing.T) (tor *engine.Torrent, data []byte, p *wirePeer, provKey, reqKey *wallet.PrivateKey) {
	t.Helper()
	provKey, reqKey = mustKey(t), mustKey(t)
	b.ledger.Mint(reqKey.Address(), 100_000_000)
	tor, data = b.content(b.client(reqKey, uncapped), 4, false)
	p, err := connect(t, tor, "192.0.2.1:6881", provKey)
	if err != nil {
		t.Fatal(err)
	}
	p.send(pp.Message{Type: pp.HaveAll})
	return tor, data, p, provKey, reqKey
}

func mustKey(t *testing.T) *wallet.PrivateKey {
	t.Helper()
	k, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// uncapped are a requester's settings with the bidder's caps (max price,
// budget per torrent) out of the way, so the white paper's formula alone
// sets the bids these timing tests look at.
var uncapped = engine.SpeedSettings{Enabled: true, MaxPrice: 1 << 50, TorrentBudget: 1 << 60}

// A payment the ledger cannot take yet is retried with backoff (1 s, 2 s,
// 4 s, 8 s ...) on the connection's worker: the provider, which serves one
// unpaid piece at a time, is paid at the first retry after the ledger is
// back, on a new channel, exactly the piece's price.
func TestSpeedTimingPaymentRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		_, data, p, provKey, reqKey := b.buyer(t)
		const rate = 1_000_000
		p.grant(rate, provKey.Address())
		first := p.await("a request", isType(pp.Request)).m
		piece := int(first.Index)

		// The channel the requester opened before buying is closed on
		// our side, and the ledger goes away: paying needs a new channel.
		chans := b.ledger.Channels()
		if len(chans) != 1 || chans[0].Payer != reqKey.Address() {
			t.Fatalf("before the first piece the requester has channels %+v, want one", chans)
		}
		p.sendSpeed(speed.ChannelClosing{Channel: chans[0].ID})
		b.ledger.SetUnavailable(true)
		for begin := 0; begin < bubblePieceLen; begin += engine.BlockSize {
			off := piece*bubblePieceLen + begin
			p.send(pp.Message{Type: pp.Piece, Index: pp.Integer(piece), Begin: pp.Integer(begin), Piece: data[off : off+engine.BlockSize]})
		}
		sent := time.Now()
		time.Sleep(10 * time.Second)
		b.ledger.SetUnavailable(false)
		paid := p.await("the payment", isSpeed[speed.Payment])
		m := paid.sp.(speed.Payment)
		// Tries at 0, 1, 3, 7 s fail; the one at 15 s is the first after
		// the ledger came back at 10 s.
		if d := paid.at.Sub(sent); d < 10*time.Second || d > 15*time.Second {
			t.Fatalf("paid %s after the piece; the ledger was back at 10 s, the retries at 1, 3, 7, 15 s", d)
		}
		if due := speed.Price(rate, bubblePieceLen); int(m.Piece) != piece || m.State.Paid != due || m.State.Seq != 1 || m.State.Channel == chans[0].ID {
			t.Fatalf("payment %+v; want piece %d, %d on a new channel at seq 1", m, piece, due)
		}
		t.Logf("paid %s after the piece", paid.at.Sub(sent))
	})
}
