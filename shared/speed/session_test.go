package speed_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

const (
	pieceLen = 256 << 10
	blockLen = 16 << 10
	ledgerID = "test-ledger"
)

func key(t testing.TB, name string) *wallet.PrivateKey {
	t.Helper()
	h := sha256.Sum256([]byte(name))
	k, err := wallet.PrivateKeyFromBytes(h[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pair is one requester-provider connection on a shared ledger and clock.
type pair struct {
	t      *testing.T
	now    time.Time
	ledger *memledger.Ledger
	rk, pk *wallet.PrivateKey
	req    *speed.RequesterSession
	prov   *speed.ProviderSession
	nonce  uint64
	ctx    context.Context
	minted uint64
}

func newPair(t *testing.T, balance uint64) *pair {
	p := &pair{t: t, now: time.Unix(1_800_000_000, 0), rk: key(t, "requester"), pk: key(t, "provider"), ctx: context.Background()}
	p.ledger = memledger.New(ledgerID, func() time.Time { return p.now })
	p.ledger.Mint(p.rk.Address(), balance)
	p.minted = balance
	p.req = speed.NewRequesterSession(speed.RequesterConfig{
		Key: p.rk, Ledger: p.ledger, LedgerID: ledgerID, DepositPieces: 4,
		Nonce: func() uint64 { p.nonce++; return p.nonce },
	}, p.pk.Address())
	p.prov = speed.NewProviderSession(speed.ProviderConfig{Key: p.pk, Ledger: p.ledger, LedgerID: ledgerID}, p.rk.Address())
	t.Cleanup(func() {
		if err := p.ledger.Check(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// grant runs a round that sells the requester a slot at rate, which the
// requester bid.
func (p *pair) grant(round, rate uint64) {
	p.t.Helper()
	p.req.Bid(rate)
	br := p.prov.Grant(round, rate)
	// Through the wire, as a real connection would carry it.
	b, err := speed.Encode(br)
	if err != nil {
		p.t.Fatal(err)
	}
	m, err := speed.Decode(b)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.req.Accept(m.(speed.BidResponse)); err != nil {
		p.t.Fatal(err)
	}
}

// deliver sends every block of piece from provider to requester.
func (p *pair) deliver(piece uint32) {
	p.t.Helper()
	for off := 0; off < pieceLen; off += blockLen {
		if !p.prov.CanServe(piece, pieceLen, nil) {
			p.t.Fatalf("provider refuses piece %d at offset %d", piece, off)
		}
		p.prov.Sent(p.now, piece, blockLen, pieceLen)
		p.req.Received(piece, blockLen)
	}
}

// buy delivers piece and pays for it, failing the test on a rejection.
func (p *pair) buy(piece uint32) {
	p.t.Helper()
	p.deliver(piece)
	if rej := p.pay(piece); rej != nil {
		p.t.Fatalf("piece %d: payment rejected: %+v", piece, rej)
	}
}

// pay verifies piece at the requester and hands the payment to the provider.
func (p *pair) pay(piece uint32) *speed.PaymentRejected {
	p.t.Helper()
	pm, err := p.req.Verified(p.ctx, p.now, piece)
	if err != nil {
		p.t.Fatal(err)
	}
	if pm == nil {
		return nil
	}
	b, err := speed.Encode(*pm)
	if err != nil {
		p.t.Fatal(err)
	}
	m, err := speed.Decode(b)
	if err != nil {
		p.t.Fatal(err)
	}
	rej, err := p.prov.Receive(p.ctx, p.now, m.(speed.Payment))
	if err != nil {
		p.t.Fatal(err)
	}
	return rej
}

func (p *pair) balance(k *wallet.PrivateKey) uint64 {
	b, err := p.ledger.Balance(p.ctx, k.Address())
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

func TestPaidDownloadEndToEnd(t *testing.T) {
	p := newPair(t, 10_000_000)
	const rate = 400_000 // base units per MiB: 100,000 per 256 KiB piece
	p.grant(1, rate)
	for piece := uint32(0); piece < 6; piece++ { // 6 pieces, deposit covers 4: a second channel opens
		p.deliver(piece)
		if rej := p.pay(piece); rej != nil {
			t.Fatalf("piece %d rejected: %+v", piece, rej)
		}
		if !p.prov.CanServe(piece+1, pieceLen, nil) {
			t.Fatalf("after paying piece %d the provider still refuses the next", piece)
		}
	}
	want := uint64(6 * 100_000)
	if p.req.Spent() != want || p.prov.Earned() != want {
		t.Fatalf("spent %d, earned %d, want %d", p.req.Spent(), p.prov.Earned(), want)
	}
	if n := len(p.ledger.Channels()); n != 2 {
		t.Fatalf("%d channels opened, want 2 (deposit of 4 pieces, 6 pieces bought)", n)
	}
	if err := p.prov.CloseAll(p.ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.balance(p.pk); got != want {
		t.Fatalf("provider balance %d after closing, want %d", got, want)
	}
	if got := p.balance(p.rk); got != p.minted-want {
		t.Fatalf("requester balance %d, want %d", got, p.minted-want)
	}
}

func TestRateChangesApplyFromTheResponseOn(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	// Half the piece at the old rate, half at the new: both sides agree.
	for off := 0; off < pieceLen; off += blockLen {
		if off == pieceLen/2 {
			p.grant(2, 800_000)
		}
		p.prov.Sent(p.now, 0, blockLen, pieceLen)
		p.req.Received(0, blockLen)
	}
	if due := p.req.Due(0); due != 50_000+100_000 {
		t.Fatalf("due %d, want 150000", due)
	}
	if rej := p.pay(0); rej != nil {
		t.Fatalf("rejected: %+v", rej)
	}
	// A free slot: nothing is owed, nothing paid.
	p.grant(3, 0)
	p.deliver(1)
	if rej := p.pay(1); rej != nil || p.req.Spent() != 150_000 {
		t.Fatalf("free piece: %+v, spent %d", rej, p.req.Spent())
	}
}

func TestLatePayerChokedThenBanned(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.deliver(0)
	start := p.now
	if r := p.prov.Tick(start.Add(29 * time.Second)); r.Choke || r.Ban {
		t.Fatalf("choked before the payment was due: %+v", r)
	}
	r := p.prov.Tick(start.Add(30 * time.Second))
	if !r.Choke || r.Ban || !p.prov.Late() {
		t.Fatalf("at the deadline: %+v", r)
	}
	if r := p.prov.Tick(start.Add(60 * time.Second)); !r.Choke || r.Ban {
		t.Fatalf("second strike: %+v", r)
	}
	if r := p.prov.Tick(start.Add(90 * time.Second)); !r.Ban || !p.prov.Banned() {
		t.Fatalf("third strike did not ban: %+v", r)
	}
	if p.prov.CanServe(0, pieceLen, nil) {
		t.Fatal("a banned requester is served")
	}
	// The provider lost exactly one piece of bandwidth and nothing else.
	if p.prov.Earned() != 0 || p.prov.Owed() != speed.Price(400_000, pieceLen) {
		t.Fatalf("earned %d owed %d", p.prov.Earned(), p.prov.Owed())
	}
}

func TestLatePaymentStillAccepted(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.deliver(0)
	p.now = p.now.Add(40 * time.Second)
	if r := p.prov.Tick(p.now); !r.Choke {
		t.Fatal("not choked")
	}
	if rej := p.pay(0); rej != nil {
		t.Fatalf("late payment rejected: %+v", rej)
	}
	if p.prov.Late() || p.prov.Tick(p.now).Choke {
		t.Fatal("still late after paying")
	}
}

func TestProviderRejectsBadPayments(t *testing.T) {
	p := newPair(t, 10_000_000)
	// Enough strikes to see every rejection; TestBogusPaymentsBan checks the limit.
	p.prov = speed.NewProviderSession(speed.ProviderConfig{Key: p.pk, Ledger: p.ledger, LedgerID: ledgerID, MaxStrikes: 10}, p.rk.Address())
	p.grant(1, 400_000)
	p.deliver(0)
	good, err := p.req.Verified(p.ctx, p.now, 0)
	if err != nil || good == nil {
		t.Fatal(err)
	}
	receive := func(m speed.Payment) speed.Reason {
		t.Helper()
		rej, err := p.prov.Receive(p.ctx, p.now, m)
		if err != nil {
			t.Fatal(err)
		}
		if rej == nil {
			return 255
		}
		return rej.Reason
	}
	forged := *good
	forged.State.Paid++ // the signature no longer matches
	if r := receive(forged); r != speed.ReasonBadSignature {
		t.Fatalf("forged amount: %v", r)
	}
	// Signed by someone else entirely.
	other := *good
	other.Sig, _ = good.State.Sign(key(t, "mallory"))
	if r := receive(other); r != speed.ReasonBadSignature {
		t.Fatalf("foreign signature: %v", r)
	}
	// A state for a channel the ledger does not know.
	ghost := speed.State{Channel: speed.ChannelID{0xee}, Seq: 1, Paid: 1}
	sig, _ := ghost.Sign(p.rk)
	if r := receive(speed.Payment{State: ghost, Piece: 0, Sig: sig}); r != speed.ReasonUnknownChannel {
		t.Fatalf("unknown channel: %v", r)
	}
	// Underpaid: the right channel, a smaller amount, properly signed.
	under := speed.State{Channel: good.State.Channel, Seq: 1, Paid: good.State.Paid - 1}
	usig, _ := under.Sign(p.rk)
	if r := receive(speed.Payment{State: under, Piece: 0, Sig: usig}); r != speed.ReasonUnderpaid {
		t.Fatalf("underpaid: %v", r)
	}
	if r := receive(*good); r != 255 {
		t.Fatalf("the good payment: %v", r)
	}
	// Replaying it (or anything not newer) is refused, and pays nothing twice.
	if r := receive(*good); r != speed.ReasonStaleSequence {
		t.Fatalf("replay: %v", r)
	}
	if p.prov.Earned() != good.State.Paid {
		t.Fatalf("earned %d", p.prov.Earned())
	}
	// Paying for a piece that was never sent.
	extra := speed.State{Channel: good.State.Channel, Seq: 2, Paid: good.State.Paid + 5}
	esig, _ := extra.Sign(p.rk)
	if r := receive(speed.Payment{State: extra, Piece: 9, Sig: esig}); r != speed.ReasonNotOwed {
		t.Fatalf("not owed: %v", r)
	}
	// Above the deposit.
	over := speed.State{Channel: good.State.Channel, Seq: 3, Paid: 1 << 60}
	osig, _ := over.Sign(p.rk)
	if r := receive(speed.Payment{State: over, Piece: 0, Sig: osig}); r != speed.ReasonOverDeposit {
		t.Fatalf("over deposit: %v", r)
	}
}

func TestBogusPaymentsBan(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.deliver(0)
	for i := range speed.DefaultMaxStrikes {
		st := speed.State{Channel: speed.ChannelID{byte(i + 1)}, Seq: 1, Paid: 1}
		sig, _ := st.Sign(p.rk)
		if rej, _ := p.prov.Receive(p.ctx, p.now, speed.Payment{State: st, Sig: sig}); rej == nil {
			t.Fatal("bogus payment accepted")
		}
	}
	if !p.prov.Banned() || !p.prov.Tick(p.now).Ban {
		t.Fatal("not banned after repeated bogus payments")
	}
}

func TestPaymentForAnotherProviderIsRefused(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.deliver(0)
	pm, _ := p.req.Verified(p.ctx, p.now, 0)
	// A second provider the requester also talks to sees the state.
	other := speed.NewProviderSession(speed.ProviderConfig{Key: key(t, "provider2"), Ledger: p.ledger, LedgerID: ledgerID}, p.rk.Address())
	other.Grant(1, 400_000)
	other.Sent(p.now, 0, pieceLen, pieceLen)
	rej, err := other.Receive(p.ctx, p.now, *pm)
	if err != nil || rej == nil || rej.Reason != speed.ReasonChannelMismatch {
		t.Fatalf("state for another payee: %+v %v", rej, err)
	}
}

func TestRequesterNeverPaysForUnverifiedPieces(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.deliver(0)
	p.req.Failed(0)
	if pm, err := p.req.Verified(p.ctx, p.now, 0); pm != nil || err != nil {
		t.Fatalf("paid for a failed piece: %+v %v", pm, err)
	}
	if p.req.Spent() != 0 || len(p.ledger.Channels()) != 0 {
		t.Fatal("money moved for a piece that failed")
	}
}

func TestLedgerOutageResendsSamePayment(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.deliver(0)
	pm, _ := p.req.Verified(p.ctx, p.now, 0)
	p.ledger.SetUnavailable(true)
	rej, err := p.prov.Receive(p.ctx, p.now, *pm)
	if err == nil || rej == nil || rej.Reason != speed.ReasonLedgerUnavailable {
		t.Fatalf("outage: %+v %v", rej, err)
	}
	p.ledger.SetUnavailable(false)
	again, err := p.req.Rejected(p.ctx, p.now, *rej)
	if err != nil || again == nil || again.State != pm.State {
		t.Fatalf("resend: %+v %v", again, err)
	}
	if rej, err := p.prov.Receive(p.ctx, p.now, *again); rej != nil || err != nil {
		t.Fatalf("resent payment: %+v %v", rej, err)
	}
}

func TestRequesterRefusesForeignBidResponse(t *testing.T) {
	p := newPair(t, 1)
	br := p.prov.Grant(1, 5)
	br.Payee = key(t, "mallory").Address()
	if err := p.req.Accept(br); !errors.Is(err, speed.ErrProviderMisbehaving) {
		t.Fatalf("foreign payee: %v", err)
	}
	br = p.prov.Grant(1, 5)
	br.Ledger = "other-ledger"
	if err := p.req.Accept(br); !errors.Is(err, speed.ErrProviderMisbehaving) {
		t.Fatalf("foreign ledger: %v", err)
	}
}

func TestCannotPayBeyondBalance(t *testing.T) {
	p := newPair(t, 1000) // far less than a piece costs
	p.grant(1, 400_000)
	p.deliver(0)
	if _, err := p.req.Verified(p.ctx, p.now, 0); !errors.Is(err, speed.ErrCannotPay) {
		t.Fatalf("got %v, want ErrCannotPay", err)
	}
}

func TestBanList(t *testing.T) {
	b := speed.NewBanList()
	now := time.Unix(0, 0)
	b.Ban("x", now, time.Hour)
	b.Ban("x", now, time.Minute) // never shortened
	if !b.Banned("x", now.Add(59*time.Minute)) || b.Banned("x", now.Add(time.Hour)) || b.Banned("y", now) {
		t.Fatal("ban times wrong")
	}
	if b.Len() != 0 {
		t.Fatal("expired ban kept")
	}
}

func TestPieceCutShortByChokeIsNeverLate(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	for off := 0; off < pieceLen/2; off += blockLen { // choked halfway
		p.prov.Sent(p.now, 0, blockLen, pieceLen)
		p.req.Received(0, blockLen)
	}
	for _, after := range []time.Duration{time.Minute, time.Hour} {
		if r := p.prov.Tick(p.now.Add(after)); r.Choke || r.Ban || p.prov.Late() {
			t.Fatalf("half-sent piece counted late after %s: %+v", after, r)
		}
	}
	// It still holds a piece of the provider's exposure until it is paid.
	if p.prov.CanServe(8, pieceLen, []uint32{1, 2, 3, 4, 5, 6, 7}) || !p.prov.CanServe(0, pieceLen, nil) {
		t.Fatal("exposure rule broken for a partial piece")
	}
	// Unchoked later, the rest arrives, and the payment falls due from then.
	p.now = p.now.Add(time.Hour)
	for off := pieceLen / 2; off < pieceLen; off += blockLen {
		p.prov.Sent(p.now, 0, blockLen, pieceLen)
		p.req.Received(0, blockLen)
	}
	if r := p.prov.Tick(p.now.Add(speed.DefaultPaymentTimeout)); !r.Choke {
		t.Fatal("a complete unpaid piece must fall due")
	}
	if rej := p.pay(0); rej != nil {
		t.Fatal(rej)
	}
}

func TestCanBuyAndUnspent(t *testing.T) {
	p := newPair(t, 1_000_000)
	p.grant(1, 400_000) // 100,000 per piece
	if ok, err := p.req.CanBuy(p.ctx, p.now, pieceLen); !ok || err != nil {
		t.Fatalf("can buy with 10 pieces' balance: %v %v", ok, err)
	}
	p.buy(0)
	// Deposit: 4 pieces wanted, but at most a quarter of the balance.
	ch := p.ledger.Channels()[0]
	if ch.Deposit != 250_000 {
		t.Fatalf("deposit %d, want a quarter of the balance (250000)", ch.Deposit)
	}
	if u := p.req.Unspent(p.now); u != 150_000 {
		t.Fatalf("unspent %d, want 150000", u)
	}
	if p.req.Unspent(ch.Deadline.Add(-speed.DefaultMinTTL)) != 0 {
		t.Fatal("a channel too near its deadline still counts as spendable")
	}
	poor := newPair(t, 50_000)
	poor.grant(1, 400_000)
	if ok, _ := poor.req.CanBuy(poor.ctx, poor.now, pieceLen); ok {
		t.Fatal("CanBuy with less than one piece's price")
	}
	if ok, _ := poor.req.CanBuy(poor.ctx, poor.now, 16<<10); !ok {
		t.Fatal("a small enough piece is affordable")
	}
	poor.grant(2, 0)
	if ok, _ := poor.req.CanBuy(poor.ctx, poor.now, pieceLen); !ok {
		t.Fatal("a free piece is always affordable")
	}
}

// A bid response above the last bid sent, or charging when no bid was sent,
// is refused (ErrAboveBid): nothing received under it is charged, nothing is
// paid for it, and the next response within the bid is accepted again.
func TestRequesterRefusesRatesAboveItsBid(t *testing.T) {
	const bid = 100_000
	t.Run("no bid", func(t *testing.T) {
		p := newPair(t, 100*speed.BaseUnitsPerBTT)
		if err := p.req.Accept(p.prov.Grant(1, bid)); !errors.Is(err, speed.ErrAboveBid) {
			t.Fatalf("a charging response to no bid: %v", err)
		}
		if !p.req.Refused() || p.req.Rate() != 0 {
			t.Fatalf("refused %v, rate %d", p.req.Refused(), p.req.Rate())
		}
		// A free slot needs no bid.
		if err := p.req.Accept(p.prov.Grant(2, 0)); err != nil || p.req.Refused() {
			t.Fatalf("a free slot: %v (refused %v)", err, p.req.Refused())
		}
	})
	t.Run("above the bid", func(t *testing.T) {
		p := newPair(t, 100*speed.BaseUnitsPerBTT)
		p.req.Bid(bid)
		if err := p.req.Accept(p.prov.Grant(1, bid+1)); !errors.Is(err, speed.ErrAboveBid) {
			t.Fatalf("a rate one above the bid: %v", err)
		}
		// The hostile provider serves a whole piece anyway: the requester
		// owes nothing, pays nothing and opens no channel.
		p.deliver(0)
		if p.prov.Owed() == 0 {
			t.Fatal("the provider charges nothing: the test proves nothing")
		}
		if due := p.req.Due(0); due != 0 {
			t.Fatalf("owes %d for blocks under a refused rate", due)
		}
		pm, err := p.req.Verified(p.ctx, p.now, 0)
		if err != nil || pm != nil {
			t.Fatalf("paid %+v (%v) for a refused grant", pm, err)
		}
		if p.req.Spent() != 0 || p.balance(p.rk) != p.minted {
			t.Fatalf("spent %d, balance %d of %d", p.req.Spent(), p.balance(p.rk), p.minted)
		}
		// A withdrawn bid refuses every charging rate.
		p.req.Bid(0)
		if err := p.req.Accept(p.prov.Grant(2, 1)); !errors.Is(err, speed.ErrAboveBid) {
			t.Fatalf("a charging response after a withdrawal: %v", err)
		}
	})
	t.Run("at the bid", func(t *testing.T) {
		p := newPair(t, 100*speed.BaseUnitsPerBTT)
		p.req.Bid(bid * 2)
		p.req.Bid(bid) // the last bid counts, not the highest
		if err := p.req.Accept(p.prov.Grant(1, bid+1)); !errors.Is(err, speed.ErrAboveBid) {
			t.Fatalf("above a lowered bid: %v", err)
		}
		if err := p.req.Accept(p.prov.Grant(2, bid)); err != nil || p.req.Refused() || p.req.Rate() != bid {
			t.Fatalf("at the bid: %v (refused %v, rate %d)", err, p.req.Refused(), p.req.Rate())
		}
		p.buy(1)
		if want := speed.Price(bid, pieceLen); p.req.Spent() != want || p.prov.Earned() != want {
			t.Fatalf("spent %d, earned %d, want %d", p.req.Spent(), p.prov.Earned(), want)
		}
	})
}
