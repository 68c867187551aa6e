//go:build !js

package webpeer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/webpeer"
)

// The wallet pays another ledger account with a signed memo, and lists its
// transfers (sent and received, newest first, not the faucet's grant);
// a locked wallet, a bad address, its own address, a zero amount, a long
// memo and an overdraft are refused and move nothing.
func TestWalletTransfer(t *testing.T) {
	url := startRelay(t)
	ctx := context.Background()
	w := newPeer(t, url, &webpeer.MapKV{}).Wallet()
	if _, _, err := w.Create("password1234"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Faucet(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bob := newPeer(t, url, &webpeer.MapKV{}).Wallet()
	if _, _, err := bob.Create("password1234"); err != nil {
		t.Fatal(err)
	}
	before, err := w.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Transfer(ctx, bob.Address(), 1_500_000, "Order #42")
	if err != nil || res.Memo != "Order #42" || uint64(res.Amount) != 1_500_000 || res.To.String() != bob.Address() {
		t.Fatalf("transfer: %+v %v", res, err)
	}
	if _, err := bob.Transfer(ctx, w.Address(), 250_000, ""); err != nil {
		t.Fatal(err)
	}
	got, more, err := w.Transfers(ctx)
	if err != nil || more || len(got) != 2 {
		t.Fatalf("transfers: %+v more %v, %v", got, more, err)
	}
	if got[0].Credit != 250_000 || got[0].Memo != "" || got[1].Debit != 1_500_000 || got[1].Ref != res.ID || got[1].Memo != "Order #42" {
		t.Fatalf("transfers, newest first: %+v", got)
	}

	after, _ := w.Balance(ctx)
	for name, tc := range map[string]struct {
		to     string
		amount uint64
		memo   string
		is     error
		code   string
	}{
		"a bad address": {"Tnope", 1, "", webpeer.ErrBadAddress, ""},
		"its own":       {w.Address(), 1, "", webpeer.ErrSelfTransfer, ""},
		"zero":          {bob.Address(), 0, "", webpeer.ErrBadAmount, ""},
		"a long memo":   {bob.Address(), 1, strings.Repeat("m", api.MaxMemo+1), webpeer.ErrBadMemo, ""},
		"an overdraft":  {bob.Address(), before.Ledger * 2, "", nil, api.CodeInsufficientFunds},
	} {
		_, err := w.Transfer(ctx, tc.to, tc.amount, tc.memo)
		if tc.is != nil && !errors.Is(err, tc.is) || tc.code != "" && api.CodeOf(err) != tc.code || err == nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	w.Lock()
	if _, err := w.Transfer(ctx, bob.Address(), 1, ""); !errors.Is(err, webpeer.ErrLocked) {
		t.Errorf("locked: %v", err)
	}
	if b, _ := w.Balance(ctx); b.Ledger != after.Ledger || after.Ledger != before.Ledger-1_500_000+250_000 {
		t.Fatalf("balance %d, after the two transfers %d, before %d", b.Ledger, after.Ledger, before.Ledger)
	}
}
