package ledger_test

import (
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger/api"
)

// A transfer with a memo is signed under btspeed/ledger/transfer/v2 over the
// v1 bytes and the memo; the ledger keeps the memo in both accounts'
// history. A memo changed after signing, one signed under v1, a memo too
// long or not UTF-8 are refused and move nothing.
func TestTransferMemo(t *testing.T) {
	e := newEnv(t)
	memo := "Order #42 — merci"
	tr := api.Transfer{Ledger: ledgerID, From: e.alice.Address(), To: e.bob.Address(), Amount: 3 * btt, Nonce: e.nextNonce(), Memo: memo}
	req, err := tr.Sign(e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if req.Memo != memo || tr.Domain() != api.DomainTransferV2 {
		t.Fatalf("signed request %+v, domain %s", req, tr.Domain())
	}
	res, err := e.l.Transfer(e.ctx, req)
	if err != nil || res.Memo != memo {
		t.Fatalf("transfer: %+v %v", res, err)
	}
	for _, who := range []*struct {
		name string
		key  [21]byte
	}{{"alice", e.alice.Address()}, {"bob", e.bob.Address()}} {
		hist, err := e.l.History(e.ctx, who.key, 0, 1)
		if err != nil || len(hist) != 1 || hist[0].Memo != memo || hist[0].Ref != res.ID {
			t.Fatalf("%s's history: %+v %v", who.name, hist, err)
		}
	}
	// Without a memo the transfer is v1, and its history has none.
	plain := e.mustTransfer(e.alice, e.bob.Address(), btt)
	if hist, _ := e.l.History(e.ctx, e.bob.Address(), 0, 1); hist[0].Ref != plain.ID || hist[0].Memo != "" {
		t.Fatalf("a transfer without a memo: %+v", hist[0])
	}

	changed, _ := api.Transfer{Ledger: ledgerID, From: e.alice.Address(), To: e.bob.Address(), Amount: btt, Nonce: e.nextNonce(), Memo: "for the book"}.Sign(e.alice)
	changed.Memo = "for the car"
	dropped, _ := api.Transfer{Ledger: ledgerID, From: e.alice.Address(), To: e.bob.Address(), Amount: btt, Nonce: e.nextNonce(), Memo: "kept"}.Sign(e.alice)
	dropped.Memo = ""
	added := e.transferReq(e.alice, e.bob.Address(), btt) // signed under v1
	added.Memo = "added after signing"
	long := e.transferReq(e.alice, e.bob.Address(), btt)
	long.Memo = strings.Repeat("x", api.MaxMemo+1)
	bad := e.transferReq(e.alice, e.bob.Address(), btt)
	bad.Memo = "\xff"
	for name, tc := range map[string]struct {
		req  api.TransferRequest
		code string
	}{
		"memo changed":   {changed, api.CodeBadSignature},
		"memo dropped":   {dropped, api.CodeBadSignature},
		"memo added":     {added, api.CodeBadSignature},
		"memo too long":  {long, api.CodeBadRequest},
		"memo not UTF-8": {bad, api.CodeBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.balance(e.alice.Address())
			_, err := e.l.Transfer(e.ctx, tc.req)
			wantCode(t, err, tc.code)
			if e.balance(e.alice.Address()) != before {
				t.Fatal("a refused transfer moved money")
			}
		})
	}
	if _, err := (api.Transfer{Ledger: ledgerID, From: e.alice.Address(), To: e.bob.Address(), Amount: 1, Nonce: 1, Memo: long.Memo}).Sign(e.alice); err == nil {
		t.Fatal("Sign took a memo over MaxMemo")
	}
}
