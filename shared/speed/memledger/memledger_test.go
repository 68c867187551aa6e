package memledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

func key(t *testing.T, name string) *wallet.PrivateKey {
	h := sha256.Sum256([]byte(name))
	k, err := wallet.PrivateKeyFromBytes(h[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	t            *testing.T
	now          time.Time
	l            *Ledger
	payer, payee *wallet.PrivateKey
	ctx          context.Context
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, now: time.Unix(1_800_000_000, 0), payer: key(t, "payer"), payee: key(t, "payee"), ctx: context.Background()}
	f.l = New("test-ledger", func() time.Time { return f.now })
	f.l.Mint(f.payer.Address(), 1000)
	t.Cleanup(func() {
		if err := f.l.Check(); err != nil {
			t.Error(err)
		}
	})
	return f
}

func (f *fixture) open(deposit uint64, ttl time.Duration, nonce uint64) (speed.Channel, error) {
	o := speed.OpenRequest{Ledger: "test-ledger", Payer: f.payer.Address(), Payee: f.payee.Address(), Deposit: deposit, Deadline: f.now.Add(ttl).Unix(), Nonce: nonce}
	so, err := o.Sign(f.payer)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.l.OpenChannel(f.ctx, so)
}

// openUnchecked signs without OpenRequest's own validation, as an attacker would.
func (f *fixture) openUnchecked(o speed.OpenRequest) error {
	sig, err := f.payer.Sign(speed.DomainChannelOpen, o.Bytes())
	if err != nil {
		f.t.Fatal(err)
	}
	_, err = f.l.OpenChannel(f.ctx, speed.SignedOpen{Request: o, Sig: sig})
	return err
}

func (f *fixture) closeReq(id speed.ChannelID, seq, paid uint64) speed.CloseRequest {
	st := speed.State{Channel: id, Seq: seq, Paid: paid}
	ps, _ := st.Sign(f.payer)
	qs, _ := st.Sign(f.payee)
	return speed.CloseRequest{State: st, PayerSig: ps, PayeeSig: qs}
}

func (f *fixture) balance(k *wallet.PrivateKey) uint64 {
	b, _ := f.l.Balance(f.ctx, k.Address())
	return b
}

func TestOpenRules(t *testing.T) {
	f := newFixture(t)
	ch, err := f.open(400, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	if f.balance(f.payer) != 600 || f.l.Escrow() != 400 {
		t.Fatal("deposit did not leave the balance at once")
	}
	// A retry returns the same channel and moves nothing.
	again, err := f.open(400, time.Hour, 1)
	if err != nil || again.ID != ch.ID || f.balance(f.payer) != 600 {
		t.Fatalf("retry: %v", err)
	}
	for name, tc := range map[string]struct {
		deposit uint64
		ttl     time.Duration
		nonce   uint64
		want    error
	}{
		"nonce reused":       {300, time.Hour, 1, speed.ErrNonceUsed},
		"insufficient funds": {601, time.Hour, 2, speed.ErrInsufficientFunds},
		"past deadline":      {1, -time.Second, 4, speed.ErrBadRequest},
		"deadline too far":   {1, MaxChannelTTL + time.Hour, 5, speed.ErrBadRequest},
	} {
		if _, err := f.open(tc.deposit, tc.ttl, tc.nonce); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	base := speed.OpenRequest{Ledger: "test-ledger", Payer: f.payer.Address(), Payee: f.payee.Address(), Deposit: 1, Deadline: f.now.Add(time.Hour).Unix(), Nonce: 20}
	zero := base
	zero.Deposit = 0
	other := base
	other.Ledger = "other-ledger"
	self := base
	self.Payee = self.Payer
	for name, o := range map[string]speed.OpenRequest{"zero deposit": zero, "another ledger": other, "payer is payee": self} {
		if err := f.openUnchecked(o); !errors.Is(err, speed.ErrBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Signed by the payee instead of the payer.
	o := speed.OpenRequest{Ledger: "test-ledger", Payer: f.payer.Address(), Payee: f.payee.Address(), Deposit: 1, Deadline: f.now.Add(time.Hour).Unix(), Nonce: 9}
	sig, _ := f.payee.Sign(speed.DomainChannelOpen, o.Bytes())
	if _, err := f.l.OpenChannel(f.ctx, speed.SignedOpen{Request: o, Sig: sig}); !errors.Is(err, speed.ErrBadRequest) {
		t.Errorf("forged open: %v", err)
	}
}

func TestCloseRules(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.open(400, time.Hour, 1)
	bad := f.closeReq(ch.ID, 3, 150)
	bad.PayeeSig, _ = bad.State.Sign(key(t, "mallory"))
	if _, err := f.l.CloseChannel(f.ctx, bad); !errors.Is(err, speed.ErrBadRequest) {
		t.Fatalf("close without the payee's signature: %v", err)
	}
	if _, err := f.l.CloseChannel(f.ctx, f.closeReq(ch.ID, 3, 401)); !errors.Is(err, speed.ErrBadRequest) {
		t.Fatalf("close above deposit: %v", err)
	}
	if _, err := f.l.CloseChannel(f.ctx, f.closeReq(speed.ChannelID{1}, 1, 1)); !errors.Is(err, speed.ErrChannelNotFound) {
		t.Fatalf("unknown channel: %v", err)
	}
	good := f.closeReq(ch.ID, 3, 150)
	closed, err := f.l.CloseChannel(f.ctx, good)
	if err != nil || !closed.Closed || closed.Paid != 150 {
		t.Fatalf("close: %+v %v", closed, err)
	}
	if f.balance(f.payee) != 150 || f.balance(f.payer) != 850 {
		t.Fatalf("payout: payee %d payer %d", f.balance(f.payee), f.balance(f.payer))
	}
	// Retrying the same close is harmless; any other close is refused.
	if _, err := f.l.CloseChannel(f.ctx, good); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, err := f.l.CloseChannel(f.ctx, f.closeReq(ch.ID, 4, 200)); !errors.Is(err, speed.ErrChannelClosed) {
		t.Fatalf("second close: %v", err)
	}
	if f.balance(f.payee) != 150 {
		t.Fatal("paid twice")
	}
}

func TestTimeoutRefundsPayer(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.open(400, time.Hour, 1)
	f.now = f.now.Add(time.Hour)
	got, err := f.l.Channel(f.ctx, ch.ID)
	if err != nil || !got.Closed || got.Paid != 0 {
		t.Fatalf("after the deadline: %+v %v", got, err)
	}
	if f.balance(f.payer) != 1000 || f.l.Escrow() != 0 {
		t.Fatal("deposit not refunded")
	}
	if _, err := f.l.CloseChannel(f.ctx, f.closeReq(ch.ID, 1, 10)); !errors.Is(err, speed.ErrChannelClosed) {
		t.Fatalf("close after timeout: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	f := newFixture(t)
	f.l.SetUnavailable(true)
	if _, err := f.l.Balance(f.ctx, f.payer.Address()); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
}
