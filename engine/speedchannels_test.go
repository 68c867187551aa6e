package engine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
)

// A paid download of the relay's demo (8 MiB in 16 KiB pieces, what
// AutoPieceLength picks) from one seeder goes through one channel, sized for
// the download, not one per few pieces (issue 17 item 3): the buyer's ledger
// history shows at most two channel deposits and two refunds, and the money
// is exact: what the requester spent is what the provider earned and what
// the ledger paid out.
func TestSpeedChannelSizedForTheDownload(t *testing.T) {
	ctx := context.Background()
	const price, pieceLen, size = 50_000, 16 << 10, 8 << 20
	p := newPaidPair(t, 100_000_000, price, size, pieceLen, 17)
	waitComplete(t, p.rtor, 90*time.Second)
	if !bytes.Equal(p.rst.bytes(), p.data) {
		t.Fatal("downloaded data differs")
	}
	var want uint64
	for i := range (len(p.data) + pieceLen - 1) / pieceLen {
		want += speed.Price(price, uint64(min(pieceLen, len(p.data)-i*pieceLen)))
	}
	if err := p.req.Close(); err != nil { // the provider closes our channels
		t.Fatal(err)
	}
	if spent := p.rtor.SpeedStats().Spent; spent != want {
		t.Fatalf("the requester counts %d spent; the pieces cost %d", spent, want)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		bal, err := p.lc.Balance(ctx, p.provKey.Address())
		if err != nil {
			t.Fatal(err)
		}
		if bal == want && p.ptor.SpeedStats().Earned == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider earned %d and holds %d on the ledger; the requester paid %d", p.ptor.SpeedStats().Earned, bal, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	chans, err := p.lc.ChannelsOf(ctx, p.reqKey.Address(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var paid uint64
	for _, ch := range chans {
		if !ch.Closed || ch.CloseKind != "state" {
			t.Errorf("channel %s (deposit %d, paid %d) not closed by the provider: closed %v, %q", ch.ID, ch.Deposit, ch.Paid, ch.Closed, ch.CloseKind)
		}
		paid += uint64(ch.Paid)
		t.Logf("channel %s: deposit %d, paid %d", ch.ID, ch.Deposit, ch.Paid)
	}
	if len(chans) > 2 {
		t.Errorf("the requester opened %d channels for one download from one provider, want at most 2", len(chans))
	}
	if paid != want {
		t.Errorf("the channels paid %d; the pieces cost %d", paid, want)
	}
	hist, err := p.lc.History(ctx, p.reqKey.Address(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	kinds := make(map[string]int)
	for _, e := range hist {
		kinds[e.Kind]++
	}
	if kinds["channel-deposit"] > 2 || kinds["channel-refund"] > 2 {
		t.Errorf("the buyer's ledger history has %d channel deposits and %d refunds, want at most 2 each (%d lines in all)", kinds["channel-deposit"], kinds["channel-refund"], len(hist))
	}
	bal, err := p.lc.Balance(ctx, p.reqKey.Address())
	if err != nil {
		t.Fatal(err)
	}
	if bal != 100_000_000-want {
		t.Errorf("requester balance %d, want %d", bal, 100_000_000-want)
	}
}
