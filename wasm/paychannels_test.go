//go:build !js

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Channel amounts of payChannels, in base units.
const (
	proxyDeposit   = 2_000_000 // the buyer's proxy channel to the payee
	proxyPaid      = 750_000   // what it paid out
	storageHeld    = 500_000   // the buyer's storage channel, left open
	storageDeposit = 1_000_000 // the payee's storage channel to the buyer
	storageEarned  = 250_000   // what it paid the buyer
)

// payChannels moves money through channels tagged with their service, as
// btspeed fetch and btspeed store open them, with the browser wallet's key:
// the buyer pays the payee 0.75 BTT through a closed proxy channel and holds
// 0.5 BTT in an open storage channel; the payee pays the buyer 0.25 BTT
// through a closed storage channel.
func (r *payRig) payChannels(t *testing.T) {
	ctx := context.Background()
	info, err := r.lc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open := func(payer, payee *wallet.PrivateKey, deposit uint64, service string, nonce uint64) speed.ChannelID {
		o := speed.OpenRequest{Ledger: info.Ledger, Payer: payer.Address(), Payee: payee.Address(), Deposit: deposit,
			Deadline: time.Now().Add(time.Hour).Unix(), Nonce: nonce, Service: service}
		s, err := o.Sign(payer)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := r.lc.OpenChannel(ctx, s)
		if err != nil {
			t.Fatalf("opening a %s channel: %v", service, err)
		}
		return ch.ID
	}
	closeCh := func(id speed.ChannelID, payer, payee *wallet.PrivateKey, paid uint64) {
		st := speed.State{Channel: id, Seq: 1, Paid: paid}
		ps, _ := st.Sign(payer)
		qs, _ := st.Sign(payee)
		if _, err := r.lc.CloseChannel(ctx, speed.CloseRequest{State: st, PayerSig: ps, PayeeSig: qs}); err != nil {
			t.Fatal(err)
		}
	}
	nonce := uint64(time.Now().UnixNano())
	closeCh(open(r.buyerKey, r.payeeKey, proxyDeposit, speed.ServiceProxy, nonce), r.buyerKey, r.payeeKey, proxyPaid)
	open(r.buyerKey, r.payeeKey, storageHeld, speed.ServiceStorage, nonce+1)
	closeCh(open(r.payeeKey, r.buyerKey, storageDeposit, speed.ServiceStorage, nonce+2), r.payeeKey, r.buyerKey, storageEarned)
	buyer, payee := r.balances(t)
	if buyer != r.buyerWas-proxyPaid-storageHeld+storageEarned || payee != r.payeeWas+proxyPaid-storageEarned {
		t.Fatalf("after the channels: buyer %d (was %d), payee %d (was %d)", buyer, r.buyerWas, payee, r.payeeWas)
	}
	r.buyerWas, r.payeeWas = buyer, payee
}

// wantChannelRows checks the services card's Proxy and Storage rows
// (name, spent, earned) against payChannels, and the note of what storage
// holds in its open channel.
func (r *payRig) wantChannelRows(t *testing.T, app *browsertest.Page, rows [][]string) {
	t.Helper()
	want := [][]string{
		{"Proxy", btt(speed.FormatBTT(proxyPaid)) + " BTT", "0 BTT"},
		{"Storage", "0 BTT", btt(speed.FormatBTT(storageEarned)) + " BTT"},
	}
	for i, w := range want {
		if got := rows[2+i]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("services row %d: %q, want %q", 2+i, got, w)
		}
	}
	var note string
	app.Eval(t, `document.querySelector('#services-table tbody tr:nth-child(4) th .muted').textContent`, &note)
	if !strings.Contains(note, "0.5 BTT more is held in channels still open") {
		t.Errorf("the storage row's note: %q", note)
	}
}
