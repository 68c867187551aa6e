package engine_test

// Where the engine once drifted from docs/speed-protocol.md, each rule as
// the spec states it, run in a testing/synctest bubble (speedtime_test.go)
// with the test as the other peer.

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
)

// sendRaw sends a bt_speed message's payload as it is.
func (p *wirePeer) sendRaw(payload string) {
	p.t.Helper()
	p.send(pp.Message{Type: pp.Extended, ExtendedID: p.engine, ExtendedPayload: []byte(payload)})
}

// A malformed Speed message is dropped, not a reason to disconnect; a peer
// that keeps sending them is disconnected (section 3).
func TestSpeedDriftMalformedDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		const reserve = sellerReserve
		_, p, _, _ := b.seller(t)
		const rateTooHigh = "d4:ratei1099511627777e1:ti1ee" // a bid above 2^40
		p.send(pp.Message{Type: pp.HaveNone})
		p.sendRaw(rateTooHigh)
		p.sendSpeed(speed.Bid{Rate: reserve})
		p.send(pp.Message{Type: pp.Interested})
		resp := p.await("a bid response after one malformed message", isSpeed[speed.BidResponse]).sp.(speed.BidResponse)
		if resp.Rate != reserve {
			t.Fatalf("charged %d after the malformed bid, want the reserve %d", resp.Rate, reserve)
		}
		p.sendRaw("d1:ti3ee") // a payment without its fields
		p.sendRaw(rateTooHigh)
		p.awaitClose()
	})
}

// A bid response's round is the provider's choking round number (section
// 4.2), not a count of the grants it sent: a grant three rounds after
// another says a round three higher.
func TestSpeedDriftRoundCountsRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		const reserve = sellerReserve
		tor, p, _, _ := b.seller(t)
		p.send(pp.Message{Type: pp.HaveNone})
		p.sendSpeed(speed.Bid{Rate: 4 * reserve})
		p.send(pp.Message{Type: pp.Interested})
		first := p.await("the first bid response", isSpeed[speed.BidResponse])
		// The reserve doubles just before the third full round: the
		// lone bidder pays it from that round on.
		time.Sleep(3*bubbleChoke - time.Second)
		tor.SetSpeed(&engine.SpeedSettings{Enabled: true, Reserve: 2 * reserve})
		second := p.await("the bid response at the new reserve", isSpeed[speed.BidResponse])
		r1, r2 := first.sp.(speed.BidResponse), second.sp.(speed.BidResponse)
		if r2.Rate != 2*reserve {
			t.Fatalf("charged %d after the reserve doubled, want %d", r2.Rate, 2*reserve)
		}
		rounds := uint64(second.at.Sub(first.at) / bubbleChoke)
		if rounds != 3 || r2.Round-r1.Round != rounds {
			t.Fatalf("bid responses of rounds %d and %d, %s apart: want %d rounds apart", r1.Round, r2.Round, second.at.Sub(first.at), rounds)
		}
	})
}

// The choker's bytes are those received from a peer while we download and
// those sent to it while we seed (section 5.2), never the two added up: a
// downloading peer that gave us a piece takes the one regular slot from one
// that took two pieces from us and gave nothing, at the first full round.
func TestSpeedDriftRoundBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		cl := newClient(t, engine.Config{
			ChokeInterval:   bubbleChoke,
			UploadSlots:     1,
			OptimisticSlots: -1, // none: the regular slot is the only one
			IdleTimeout:     24 * time.Hour,
			Logger:          testLogger(t),
			Speed:           &engine.SpeedConfig{Key: mustKey(t), Ledger: b.ledger, LedgerID: bubbleLedgerID, Settings: engine.SpeedSettings{Enabled: true}},
		})
		mi, data := makeContent(t, t.TempDir(), "b.bin", 4*bubblePieceLen, bubblePieceLen, 3)
		spec := engine.SpecFromMetaInfo(mi)
		half := make([]byte, len(data)) // pieces 0 and 1 on disk
		copy(half, data[:2*bubblePieceLen])
		spec.Storage, spec.Check = (&memStorage{data: half}).open, true
		tor := mustAdd(t, cl, spec)

		taker, err := connect(t, tor, "192.0.2.2:6881", mustKey(t))
		if err != nil {
			t.Fatal(err)
		}
		taker.send(pp.Message{Type: pp.HaveNone})
		taker.send(pp.Message{Type: pp.Interested})
		taker.await("the taker's unchoke", isType(pp.Unchoke))
		for piece := range 2 {
			for begin := 0; begin < bubblePieceLen; begin += engine.BlockSize {
				taker.send(pp.Message{Type: pp.Request, Index: pp.Integer(piece), Begin: pp.Integer(begin), Length: engine.BlockSize})
			}
		}
		for range 2 * bubblePieceLen / engine.BlockSize {
			taker.await("a block", isType(pp.Piece))
		}

		giver, err := connect(t, tor, "192.0.2.1:6881", mustKey(t))
		if err != nil {
			t.Fatal(err)
		}
		giver.send(pp.Message{Type: pp.Have, Index: 2})
		giver.send(pp.Message{Type: pp.Unchoke})
		giver.send(pp.Message{Type: pp.Interested})
		for range bubblePieceLen / engine.BlockSize {
			r := giver.await("a request", isType(pp.Request)).m
			off := int(r.Index)*bubblePieceLen + int(r.Begin)
			giver.send(pp.Message{Type: pp.Piece, Index: r.Index, Begin: r.Begin, Piece: data[off : off+int(r.Length)]})
		}
		start := time.Now()
		unchoked := giver.await("the giver's unchoke", isType(pp.Unchoke))
		if d := unchoked.at.Sub(start); d > bubbleChoke {
			t.Fatalf("the peer that gave us a piece was unchoked %s later; the first full round was %s", d, bubbleChoke)
		}
		taker.await("the taker's choke", isType(pp.Choke))
	})
}

// A budget the user changes goes out at once, as every change of the
// user's does (section 5.1), not after the one-minute rebid limit.
func TestSpeedDriftBudgetRebidsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		const balance, pieces = 100_000_000, 4 // what b.buyer sets up
		tor, _, p, _, _ := b.buyer(t)          // the test never unchokes
		want := func(balance uint64) uint64 { return bidder.Rate(bidder.PPM, balance, pieces*bubblePieceLen) }
		if r := p.await("the first bid", isSpeed[speed.Bid]).sp.(speed.Bid).Rate; r != want(balance) {
			t.Fatalf("first bid %d, want %d", r, want(balance))
		}
		time.Sleep(time.Second)
		changed := time.Now()
		tor.SetSpeed(&engine.SpeedSettings{Enabled: true, MaxPrice: uncapped.MaxPrice, Budget: balance / 2})
		second := p.await("the bid after the budget halved", isSpeed[speed.Bid])
		if r := second.sp.(speed.Bid).Rate; r != want(balance/2) {
			t.Fatalf("bid %d after the budget halved, want %d", r, want(balance/2))
		}
		if d := second.at.Sub(changed); d != 0 {
			t.Fatalf("the bid for the new budget went out %s after the change; the user's changes go out at once", d)
		}
	})
}

// A payment rejected because the provider's ledger is unavailable goes
// again, the same, after a short wait (section 8.2): 1 s, then 2 s, never
// straight back.
func TestSpeedDriftLedgerUnavailableWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		_, data, p, provKey, _ := b.buyer(t)
		const rate = 1_000_000
		p.grant(rate, provKey.Address())
		piece := int(p.await("a request", isType(pp.Request)).m.Index)
		for begin := 0; begin < bubblePieceLen; begin += engine.BlockSize {
			off := piece*bubblePieceLen + begin
			p.send(pp.Message{Type: pp.Piece, Index: pp.Integer(piece), Begin: pp.Integer(begin), Piece: data[off : off+engine.BlockSize]})
		}
		paid := p.await("the payment", isSpeed[speed.Payment])
		first := paid.sp.(speed.Payment)
		for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
			p.sendSpeed(speed.PaymentRejected{Channel: first.State.Channel, Seq: first.State.Seq, Reason: speed.ReasonLedgerUnavailable})
			rejected := time.Now()
			again := p.await("the payment again", isSpeed[speed.Payment])
			if m := again.sp.(speed.Payment); m.State != first.State || m.Piece != first.Piece {
				t.Fatalf("sent %+v again after ledger unavailable, want the same payment %+v", m, first)
			}
			if d := again.at.Sub(rejected); d < wait || d > 2*wait {
				t.Fatalf("sent the payment again %s after ledger unavailable; want a wait of %s", d, wait)
			}
		}
	})
}

// A requester that cannot pay for a piece at a provider's price withdraws
// its bid to it at once (sections 5.1 and 8.2), and bids again once the
// money is there: here the wallet was spent elsewhere between the bid and
// the provider's grant.
func TestSpeedDriftWithdrawWhenCannotPay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		const balance, pieces = 100_000_000, 4 // what b.buyer sets up
		_, _, p, provKey, reqKey := b.buyer(t)
		bid := p.await("the first bid", isSpeed[speed.Bid]).sp.(speed.Bid).Rate
		if bid == 0 {
			t.Fatal("no bid")
		}

		// The wallet goes into a channel to someone else, all but 0.1%:
		// a piece at the bid costs a quarter of what it held.
		open, err := speed.OpenRequest{
			Ledger: bubbleLedgerID, Payer: reqKey.Address(), Payee: mustKey(t).Address(),
			Deposit: balance - balance/1000, Deadline: time.Now().Add(time.Hour).Unix(), Nonce: 1,
		}.Sign(reqKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ledger.OpenChannel(context.Background(), open); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // past the balance cache
		granted := time.Now()
		p.sendSpeed(speed.BidResponse{Round: 1, Rate: bid, Payee: provKey.Address(), Ledger: bubbleLedgerID, MinTTL: 600})
		p.send(pp.Message{Type: pp.Unchoke})
		next := p.await("the bid after a price we cannot pay", isSpeed[speed.Bid])
		if r := next.sp.(speed.Bid).Rate; r != 0 || next.at.Sub(granted) > time.Second {
			t.Fatalf("bid %d %s after a grant we cannot pay; want the bid withdrawn (0) at once", r, next.at.Sub(granted))
		}

		// The money is back: the piece is bought and a bid goes out again
		// (the rebid minute after the withdrawal).
		b.ledger.Mint(reqKey.Address(), balance)
		var rebid, requested bool
		for !rebid || !requested {
			m := p.await("a bid and a request once the money is back", func(m wireMsg) bool {
				return isSpeed[speed.Bid](m) || m.m.Type == pp.Request
			})
			if bid, ok := m.sp.(speed.Bid); ok {
				if bid.Rate == 0 {
					t.Fatal("withdrew again with the money back")
				}
				rebid = true
			} else {
				requested = true
			}
		}
	})
}

// A Speed provider whose data fails its hash is banned (M21, section 8.2):
// dropped, refused when it comes back from its address or, from another
// address, as soon as its handshake names the account, for the ban period
// and not longer; it is paid nothing for the bad piece.
func TestSpeedBanForBadData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		tor, _, p, provKey, _ := b.buyer(t)
		p.send(pp.Message{Type: pp.Unchoke})
		piece := p.await("a request", isType(pp.Request)).m.Index
		for begin := 0; begin < bubblePieceLen; begin += engine.BlockSize {
			p.send(pp.Message{Type: pp.Piece, Index: piece, Begin: pp.Integer(begin), Piece: make([]byte, engine.BlockSize)})
		}
		banned := p.awaitClose()
		if st := tor.SpeedStats(); st.Spent != 0 {
			t.Fatalf("spent %d on a piece that failed its hash", st.Spent)
		}

		refused := func(when string) {
			t.Helper()
			if _, err := connect(t, tor, "192.0.2.1:6881", provKey); err == nil {
				t.Fatalf("%s: the banned address was let in", when)
			}
			q, err := connect(t, tor, "192.0.2.2:6881", provKey)
			if err != nil {
				return // refused before its handshake was read
			}
			q.awaitClose()
		}
		refused("at once")
		time.Sleep(banned.Add(specBan - time.Second).Sub(time.Now()))
		refused("a second before the ban ends")
		time.Sleep(time.Second)
		q, err := connect(t, tor, "192.0.2.1:6881", provKey)
		if err != nil {
			t.Fatalf("the ban outlived its hour: %v", err)
		}
		q.send(pp.Message{Type: pp.HaveAll})
		q.await("interest after the ban", isType(pp.Interested))
	})
}

// Payments with bad signatures cost strikes, and the third bans (M20,
// section 8.3): the requester is dropped at once and refused when it comes back,
// from its address or its account.
func TestSpeedBanForBogusPayments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		const reserve = sellerReserve
		tor, p, _, reqKey := b.seller(t)
		rate, _ := p.buy(reserve)
		forger := mustKey(t)
		for seq := uint64(1); seq <= specStrikes; seq++ {
			st := speed.State{Channel: speed.ChannelID{byte(seq)}, Seq: seq, Paid: speed.Price(rate, bubblePieceLen)}
			sig, err := st.Sign(forger)
			if err != nil {
				t.Fatal(err)
			}
			p.sendSpeed(speed.Payment{State: st, Piece: 0, Sig: sig})
			if seq == specStrikes {
				break // the ban may drop us before the rejection is written
			}
			rej := p.await("the rejection", isSpeed[speed.PaymentRejected]).sp.(speed.PaymentRejected)
			if rej.Reason != speed.ReasonBadSignature {
				t.Fatalf("payment %d rejected for %s, want bad signature", seq, rej.Reason)
			}
		}
		struck := time.Now()
		for {
			if _, err := p.next(isSpeed[speed.PaymentRejected]); err == errClosed {
				break
			} else if err != nil {
				t.Fatalf("waiting for the ban at the third strike: %v", err)
			}
		}
		if d := time.Since(struck); d != 0 {
			t.Fatalf("dropped %s after the third strike, not at once", d)
		}
		if _, err := connect(t, tor, "192.0.2.1:6881", reqKey); err == nil {
			t.Fatal("the banned address was let in")
		}
		if q, err := connect(t, tor, "192.0.2.2:6881", reqKey); err == nil {
			q.awaitClose()
		}
	})
}
