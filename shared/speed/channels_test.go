package speed_test

// Channels between a requester and a provider session: closing before the
// deadline and the races around a close, rolling over to the next channel,
// prefunding it early, and how large a deposit is (limit, expected spend).

import (
	"errors"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
)

func TestChannelClosedBeforeDeadline(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.buy(0)
	ch := p.ledger.Channels()[0]
	// Nothing to close while the deadline is far.
	if r := p.prov.Tick(ch.Deadline.Add(-time.Hour)); len(r.Close) != 0 {
		t.Fatalf("closing early: %+v", r)
	}
	p.now = ch.Deadline.Add(-speed.DefaultCloseMargin)
	r := p.prov.Tick(p.now)
	if len(r.Close) != 1 || r.Close[0] != ch.ID {
		t.Fatalf("close list %+v", r.Close)
	}
	cc, err := p.prov.Close(p.ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.balance(p.pk); got != p.prov.Earned() {
		t.Fatalf("provider balance %d, earned %d", got, p.prov.Earned())
	}
	// The requester moves to a new channel for the next piece.
	p.req.Closing(*cc)
	p.buy(1)
	if n := len(p.ledger.Channels()); n != 2 {
		t.Fatalf("%d channels, want a new one after the close", n)
	}
}

func TestRepayAfterChannelClosedRace(t *testing.T) {
	p, id := newPairOnClosedChannel(t)
	// The requester pays piece 1 on the old channel before hearing of the close.
	p.deliver(1)
	pm, err := p.req.Verified(p.ctx, p.now, 1)
	if err != nil {
		t.Fatal(err)
	}
	rej, err := p.prov.Receive(p.ctx, p.now, *pm)
	if err != nil || rej == nil || rej.Reason != speed.ReasonChannelClosed {
		t.Fatalf("payment on a closed channel: %+v %v", rej, err)
	}
	p.repayOnNewChannel(rej, id)
	if p.req.Spent() != p.prov.Earned() {
		t.Fatalf("requester counts %d spent, provider earned %d", p.req.Spent(), p.prov.Earned())
	}
}

func TestRequesterLeavesChannelBeforeProviderCloses(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.buy(0)
	first := p.ledger.Channels()[0]
	// Just inside the provider's ttl: the requester opens a new channel
	// rather than racing the provider's close.
	p.now = first.Deadline.Add(-speed.DefaultMinTTL)
	if r := p.prov.Tick(p.now); len(r.Close) != 0 {
		t.Fatal("provider closes before its margin")
	}
	p.buy(1)
	if n := len(p.ledger.Channels()); n != 2 {
		t.Fatalf("%d channels: the requester kept paying on a channel about to close", n)
	}
}

func TestOwnCloseGivesRequesterTimeToRepay(t *testing.T) {
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.buy(0)
	id := p.ledger.Channels()[0].ID
	p.deliver(1)
	pm, _ := p.req.Verified(p.ctx, p.now, 1)
	if _, err := p.prov.Close(p.ctx, id); err != nil {
		t.Fatal(err)
	}
	// The payment, in flight during the close, arrives 25 s later.
	p.now = p.now.Add(25 * time.Second)
	rej, _ := p.prov.Receive(p.ctx, p.now, *pm)
	if rej == nil || rej.Reason != speed.ReasonChannelClosed {
		t.Fatalf("%+v", rej)
	}
	// The re-payment takes another 25 s: past the original 30 s, but the
	// provider's own close earned the requester a fresh timeout.
	p.now = p.now.Add(25 * time.Second)
	if r := p.prov.Tick(p.now); r.Choke {
		t.Fatal("struck for a race the provider caused")
	}
	again, err := p.req.Rejected(p.ctx, p.now, *rej)
	if err != nil || again == nil {
		t.Fatal(err)
	}
	if rej, _ := p.prov.Receive(p.ctx, p.now, *again); rej != nil {
		t.Fatal(rej)
	}
}

func TestPrefundOpensTheNextChannelEarly(t *testing.T) {
	p := newPair(t, 100_000_000)
	p.grant(1, 400_000) // 100,000 per piece
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	if n := len(p.ledger.Channels()); n != 1 {
		t.Fatalf("%d channels after prefunding with none, want 1", n)
	}
	// 4 pieces' deposit (newPair's config): prefunding does nothing while
	// two pieces fit.
	for piece := range uint32(2) {
		p.buy(piece)
		if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
			t.Fatal(err)
		}
		if n := len(p.ledger.Channels()); n != 1 {
			t.Fatalf("after piece %d: %d channels, want 1", piece, n)
		}
	}
	p.buy(2) // one piece left in the channel: the next is opened now
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	chs := p.ledger.Channels()
	if len(chs) != 2 {
		t.Fatalf("%d channels, want 2", len(chs))
	}
	p.buy(3) // paid from the new channel, without opening another
	if n := len(p.ledger.Channels()); n != 2 {
		t.Fatalf("%d channels after paying, want 2", n)
	}
	if spent := p.req.Spent(); spent != 4*100_000 {
		t.Fatalf("spent %d, want 400000", spent)
	}
	poor := newPair(t, 50_000)
	poor.grant(1, 400_000)
	if err := poor.req.Prefund(poor.ctx, poor.now, pieceLen); !errors.Is(err, speed.ErrCannotPay) {
		t.Fatalf("prefund beyond the balance: %v", err)
	}
}

// SetLimit caps deposits: a piece that would need a channel beyond the
// limit is not bought (CanBuy), a piece already received is still paid, on a
// channel of exactly its price, and within the limit the deposit is the
// limit when that is below the usual size.
func TestRequesterLimitCapsDeposits(t *testing.T) {
	const rate = 1_000_000 // 0.25 BTT per 256 KiB piece
	p := newPair(t, 100*speed.BaseUnitsPerBTT)
	price := speed.Price(rate, pieceLen)
	p.grant(1, rate)
	p.req.SetLimit(price - 1)
	if ok, err := p.req.CanBuy(p.ctx, p.now, pieceLen); ok || err != nil {
		t.Fatalf("CanBuy %v (%v) with a limit below one piece", ok, err)
	}
	p.buy(0) // received before the limit fell: paid all the same
	if locked := p.minted - p.balance(p.rk); locked != price {
		t.Fatalf("the channel locked %d, want one piece, %d", locked, price)
	}
	p.req.SetLimit(price + price/2)
	p.buy(1) // the channel is spent: a new one, of the limit
	if locked := p.minted - p.balance(p.rk); locked != price+price+price/2 {
		t.Fatalf("the channels locked %d, want %d (4 pieces would be %d)", locked, price+price+price/2, 4*price)
	}
}

// SetExpected sizes channels for the download, not the piece (issue 17):
// one channel holds the expected spend plus a piece, at least DepositPieces
// pieces, within the limit and the balance (not a quarter of it); Prefund
// tops up only when the channel runs low for what is still expected.
// SetExpected sizes channels for the download, not the piece (issue 17):
// one channel holds the expected spend plus a piece, at least DepositPieces
// pieces, within the limit and the balance (not a quarter of it); Prefund
// tops up only when the channel runs low for what is still expected.
func TestChannelSizedForTheExpectedSpend(t *testing.T) {
	t.Run("one channel carries the download", sizedOneChannelCarriesTheDownload)
	t.Run("at least DepositPieces", sizedAtLeastDepositPieces)
	t.Run("within the limit, then topped up", sizedWithinTheLimitThenToppedUp)
	t.Run("within the balance, not a quarter of it", sizedWithinTheBalance)
	t.Run("a higher rate tops up", sizedHigherRateTopsUp)
}

// The rate the channel-sizing tests grant, and what a piece costs at it.
const (
	sizingRate  = 400_000 // base units per MiB
	sizingPrice = 100_000 // a 256 KiB piece at sizingRate
)

// sizedOneChannelCarriesTheDownload: one channel, opened by Prefund at
// each piece for what is left, carries a 20-piece download: its deposit
// is the download plus a piece.
func sizedOneChannelCarriesTheDownload(t *testing.T) {
	p := newPair(t, 100*speed.BaseUnitsPerBTT)
	p.grant(1, sizingRate)
	const pieces = 20
	for piece := range uint32(pieces) {
		p.req.SetExpected(uint64(pieces-piece) * pieceLen)
		if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
			t.Fatal(err)
		}
		p.buy(piece)
	}
	p.req.SetExpected(0)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	chs := p.ledger.Channels()
	if len(chs) != 1 || chs[0].Deposit != (pieces+1)*sizingPrice {
		t.Fatalf("%d channels (%+v), want one of %d", len(chs), chs, (pieces+1)*sizingPrice)
	}
	if p.req.Spent() != pieces*sizingPrice || p.prov.Earned() != pieces*sizingPrice {
		t.Fatalf("spent %d, earned %d, want %d", p.req.Spent(), p.prov.Earned(), pieces*sizingPrice)
	}
}

// sizedAtLeastDepositPieces: a download expected to cost half a piece
// still gets a channel of DepositPieces (4) pieces.
func sizedAtLeastDepositPieces(t *testing.T) {
	p := newPair(t, 100*speed.BaseUnitsPerBTT)
	p.grant(1, sizingRate)
	p.req.SetExpected(pieceLen / 2)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	if chs := p.ledger.Channels(); len(chs) != 1 || chs[0].Deposit != 4*sizingPrice {
		t.Fatalf("channels %+v, want one of 4 pieces (%d)", chs, 4*sizingPrice)
	}
}

// sizedWithinTheLimitThenToppedUp: the limit caps the first channel; with
// the budget locked in it Prefund opens nothing more, and a raised limit
// tops up with a second channel of the new limit.
func sizedWithinTheLimitThenToppedUp(t *testing.T) {
	p := newPair(t, 100*speed.BaseUnitsPerBTT)
	p.grant(1, sizingRate)
	p.req.SetLimit(6 * sizingPrice)
	p.req.SetExpected(20 * pieceLen)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	for piece := range uint32(4) { // two pieces left: no top-up yet
		p.buy(piece)
		p.req.SetLimit(0) // the budget is locked in the channel
		if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
			t.Fatal(err)
		}
	}
	if chs := p.ledger.Channels(); len(chs) != 1 || chs[0].Deposit != 6*sizingPrice {
		t.Fatalf("channels %+v, want one of the limit (%d)", chs, 6*sizingPrice)
	}
	p.buy(4) // one piece left, and no budget for another channel
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil || len(p.ledger.Channels()) != 1 {
		t.Fatalf("prefund beyond the limit: %v, %d channels", err, len(p.ledger.Channels()))
	}
	p.req.SetLimit(10 * sizingPrice) // the user raised the budget: top up
	p.req.SetExpected(15 * pieceLen)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	if chs := p.ledger.Channels(); len(chs) != 2 || !hasDeposit(chs, 10*sizingPrice) {
		t.Fatalf("channels %+v, want a second one of the new limit (%d)", chs, 10*sizingPrice)
	}
}

// sizedWithinTheBalance: a balance below what is expected goes into one
// channel whole, not a quarter of it as without SetExpected.
func sizedWithinTheBalance(t *testing.T) {
	p := newPair(t, 10*sizingPrice+sizingPrice/2)
	p.grant(1, sizingRate)
	p.req.SetExpected(40 * pieceLen)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	if chs := p.ledger.Channels(); len(chs) != 1 || chs[0].Deposit != p.minted {
		t.Fatalf("channels %+v, want one of the whole balance (%d)", chs, p.minted)
	}
}

// sizedHigherRateTopsUp: a rate raised mid-download makes Prefund top up
// once the channel holds less than a piece at the new rate.
func sizedHigherRateTopsUp(t *testing.T) {
	p := newPair(t, 100*speed.BaseUnitsPerBTT)
	p.grant(1, sizingRate)
	p.req.SetExpected(10 * pieceLen)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	p.buy(0)
	p.grant(2, 4*sizingRate) // 400,000 a piece: the 1,000,000 left pays two more
	p.req.SetExpected(9 * pieceLen)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil || len(p.ledger.Channels()) != 1 {
		t.Fatalf("topped up with two pieces' room: %v, %d channels", err, len(p.ledger.Channels()))
	}
	p.buy(1) // 600,000 left: one piece
	p.req.SetExpected(8 * pieceLen)
	if err := p.req.Prefund(p.ctx, p.now, pieceLen); err != nil {
		t.Fatal(err)
	}
	chs := p.ledger.Channels()
	if len(chs) != 2 || !hasDeposit(chs, 9*4*sizingPrice) {
		t.Fatalf("channels %+v, want a second one of 8 pieces and one more at the new sizingRate (%d)", chs, 9*4*sizingPrice)
	}
}

func hasDeposit(chs []speed.Channel, deposit uint64) bool {
	for _, ch := range chs {
		if ch.Deposit == deposit {
			return true
		}
	}
	return false
}

// newPairOnClosedChannel makes a pair whose requester bought piece 0 on a
// channel the provider has since closed, and returns that channel's id.
func newPairOnClosedChannel(t *testing.T) (*pair, speed.ChannelID) {
	t.Helper()
	p := newPair(t, 10_000_000)
	p.grant(1, 400_000)
	p.buy(0)
	id := p.ledger.Channels()[0].ID
	if _, err := p.prov.Close(p.ctx, id); err != nil {
		t.Fatal(err)
	}
	return p, id
}

// repayOnNewChannel hands the requester rej, a rejection for a payment on
// the closed channel old, and checks that it pays again on another channel
// and the provider accepts it.
func (p *pair) repayOnNewChannel(rej *speed.PaymentRejected, old speed.ChannelID) {
	p.t.Helper()
	again, err := p.req.Rejected(p.ctx, p.now, *rej)
	if err != nil || again == nil || again.State.Channel == old {
		p.t.Fatalf("re-payment: %+v %v", again, err)
	}
	if rej, _ := p.prov.Receive(p.ctx, p.now, *again); rej != nil {
		p.t.Fatalf("re-payment rejected: %+v", rej)
	}
}
