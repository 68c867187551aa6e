//go:build js

package main

import (
	"context"
	"strings"
	"syscall/js"

	"github.com/btspeed/btspeed/shared/speed"
)

// The wallet's methods of the binding (see bind.go). Amounts cross to JS
// as decimal BTT strings.

func (b binding) walletCreate(a args) any {
	pw := a.str(0)
	return promise(func() (any, error) {
		phrase, addr, err := b.w.Create(pw)
		return toJSON(map[string]string{"phrase": phrase, "address": addr}), err
	})
}

func (b binding) walletRestore(a args) any {
	phrase, pw := a.str(0), a.str(1)
	return promise(func() (any, error) {
		addr, err := b.w.Restore(phrase, pw)
		return toJSON(map[string]string{"address": addr}), err
	})
}

func (b binding) walletUnlock(a args) any {
	pw := a.str(0)
	return promise(func() (any, error) { return nil, b.w.Unlock(pw) })
}

func (b binding) walletLock(args) any {
	return promise(func() (any, error) { b.w.Lock(); return nil, nil })
}

func (b binding) walletExport(args) any {
	return promise(func() (any, error) { return b.w.ExportKeystore() })
}

func (b binding) walletBalance(args) any {
	return promise(func() (any, error) {
		bal, err := b.w.Balance(context.Background())
		return toJSON(walletBalance{speed.FormatBTT(bal.Ledger), speed.FormatBTT(bal.Locked)}), err
	})
}

// walletFaucet claims the faucet; argument 0, a function, is called with
// the proof of work's tries so far.
func (b binding) walletFaucet(a args) any {
	progress := a.at(0)
	return promise(func() (any, error) {
		res, err := b.w.Faucet(context.Background(), func(tries uint64) {
			if progress.Type() == js.TypeFunction {
				progress.Invoke(float64(tries))
			}
		})
		return toJSON(map[string]string{"amount": speed.FormatBTT(uint64(res.Amount)), "balance": speed.FormatBTT(uint64(res.Balance)),
			"trx": speed.FormatBTT(uint64(res.TRX))}), err
	})
}

// walletTransfer pays argument 1 (BTT) to the ledger account argument 0
// with the memo argument 2: the confirmation page's transfer (web/pay.js).
// It resolves to {id, to, amount, memo, time} (time in unix milliseconds).
func (b binding) walletTransfer(a args) any {
	to, amount, memo := a.str(0), a.str(1), a.str(2)
	return promise(func() (any, error) {
		v, err := parseAmount(amount)
		if err != nil {
			return nil, err
		}
		res, err := b.w.Transfer(context.Background(), strings.TrimSpace(to), v, memo)
		if err != nil {
			return nil, err
		}
		return toJSON(map[string]any{"id": res.ID, "to": res.To.String(), "amount": speed.FormatBTT(uint64(res.Amount)),
			"memo": res.Memo, "time": res.Time * 1000}), nil
	})
}

// transferJS is a ledger transfer of the wallet's history for JavaScript.
type transferJS struct {
	ID           string `json:"id"`
	Time         int64  `json:"time"` // unix milliseconds
	Sent         string `json:"sent"`
	Received     string `json:"received"`
	Counterparty string `json:"counterparty"`
	Memo         string `json:"memo,omitempty"`
}

// channelEntryJS is an entry of one of the wallet's payment channels for
// JavaScript (amounts in BTT).
type channelEntryJS struct {
	Channel string `json:"channel"`
	Kind    string `json:"kind"` // channel-deposit, channel-payout or channel-refund
	Service string `json:"service"`
	Credit  string `json:"credit"`
	Debit   string `json:"debit"`
}

// walletTransfers resolves to {transfers: [...], channels: [...], more}:
// the ledger transfers and channel entries among the account's latest
// history entries, newest first.
func (b binding) walletTransfers(args) any {
	return promise(func() (any, error) {
		h, err := b.w.Payments(context.Background())
		out := make([]transferJS, 0, len(h.Transfers))
		for _, e := range h.Transfers {
			out = append(out, transferJS{ID: e.Ref, Time: e.Time * 1000, Sent: speed.FormatBTT(uint64(e.Debit)),
				Received: speed.FormatBTT(uint64(e.Credit)), Counterparty: e.Counterparty.String(), Memo: e.Memo})
		}
		chs := make([]channelEntryJS, 0, len(h.Channels))
		for _, e := range h.Channels {
			chs = append(chs, channelEntryJS{Channel: e.Ref, Kind: e.Kind, Service: e.Service,
				Credit: speed.FormatBTT(uint64(e.Credit)), Debit: speed.FormatBTT(uint64(e.Debit))})
		}
		return toJSON(map[string]any{"transfers": out, "channels": chs, "more": h.More}), err
	})
}
