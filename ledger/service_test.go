package ledger_test

import (
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// openTagged signs an open request naming service.
func (e *env) openTagged(payer, payee *wallet.PrivateKey, deposit uint64, service string) speed.SignedOpen {
	o := speed.OpenRequest{Ledger: ledgerID, Payer: payer.Address(), Payee: payee.Address(), Deposit: deposit,
		Deadline: e.clock().Add(time.Hour).Unix(), Nonce: e.nextNonce(), Service: service}
	s, err := o.Sign(payer)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// wantEntry checks a's newest history entry.
func (e *env) wantEntry(who string, a wallet.Address, kind string, id speed.ChannelID, service string) {
	e.t.Helper()
	h, err := e.l.History(e.ctx, a, 0, 1)
	if err != nil || len(h) != 1 {
		e.t.Fatalf("%s's history: %v %v", who, h, err)
	}
	if h[0].Kind != kind || h[0].Ref != id.String() || h[0].Service != service {
		e.t.Fatalf("%s's newest entry %+v, want %s of %s for service %q", who, h[0], kind, id, service)
	}
}

// A channel opened for a service (btspeed/ledger/channel-open/v2) has it in
// its deposit, payout and refund entries, through HTTP too; an old client's
// v1 channel has none; a service changed, dropped or added after signing,
// or not a valid tag, is refused and moves nothing.
func TestChannelService(t *testing.T) {
	e, _, c := httpEnv(t)
	alice, bob := e.alice.Address(), e.bob.Address()

	proxy := e.openTagged(e.alice, e.bob, 10*btt, speed.ServiceProxy)
	if _, err := c.OpenChannel(e.ctx, proxy); err != nil {
		t.Fatal(err)
	}
	id := proxy.Request.ID()
	e.wantEntry("alice", alice, "channel-deposit", id, "proxy")
	if _, err := c.CloseChannel(e.ctx, e.closeReq(id, 3, 4*btt, e.alice, e.bob)); err != nil {
		t.Fatal(err)
	}
	e.wantEntry("alice", alice, "channel-refund", id, "proxy")
	e.wantEntry("bob", bob, "channel-payout", id, "proxy")
	if h, err := c.History(e.ctx, bob, 0, 1); err != nil || h[0].Service != "proxy" || h[0].Credit != api.U64(4*btt) {
		t.Fatalf("bob's history over HTTP: %+v %v", h, err)
	}

	// A storage channel that times out is refunded under its service.
	store := e.openTagged(e.alice, e.bob, 5*btt, speed.ServiceStorage)
	if _, err := e.l.Open(e.ctx, store); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	if n, err := e.l.Expire(e.ctx, 10); err != nil || n != 1 {
		t.Fatalf("expired %d: %v", n, err)
	}
	e.wantEntry("alice", alice, "channel-refund", store.Request.ID(), "storage")

	old := e.openReq(e.alice, e.bob, btt, time.Hour)
	if _, err := e.l.Open(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	e.wantEntry("alice", alice, "channel-deposit", old.Request.ID(), "")

	changed := e.openTagged(e.alice, e.bob, btt, speed.ServiceProxy)
	changed.Request.Service = speed.ServiceStorage
	dropped := e.openTagged(e.alice, e.bob, btt, speed.ServiceProxy)
	dropped.Request.Service = ""
	added := e.openReq(e.alice, e.bob, btt, time.Hour)
	added.Request.Service = speed.ServiceSpeed
	bad := e.openTagged(e.alice, e.bob, btt, speed.ServiceProxy)
	bad.Request.Service = "Proxy"
	for name, tc := range map[string]struct {
		req  speed.SignedOpen
		code string
	}{
		"service changed": {changed, api.CodeBadSignature},
		"service dropped": {dropped, api.CodeBadSignature},
		"service added":   {added, api.CodeBadSignature},
		"bad tag":         {bad, api.CodeBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.balance(alice)
			_, err := c.OpenChannel(e.ctx, tc.req)
			wantCode(t, err, tc.code)
			if e.balance(alice) != before {
				t.Fatal("a refused open moved money")
			}
		})
	}
}
