//go:build js && !btspeed_embed

package main

import (
	"context"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/webpeer"
)

// build names this wasm for btspeed.js: "app", the whole API (the embed
// build, tag btspeed_embed, is bind_embed.go).
const build = "app"

// appErrorCodes are the codes of errors only the app's calls return: the
// wallet's TRON side, client.fetch and client.store.
var appErrorCodes = []struct {
	err  error
	code string
}{
	{webpeer.ErrNoExchange, "no_exchange"},
	{webpeer.ErrNoTron, "no_tron"},
	{webpeer.ErrTronBalance, "tron_balance"},
	{webpeer.ErrLedgerBalance, "insufficient_funds"},
	{webpeer.ErrReserve, "reserve"},
	{webpeer.ErrBelowMinimum, "below_minimum"},
	{webpeer.ErrNodeBuilt, "node_mismatch"},
	{webpeer.ErrFetchURL, "bad_url"},
	{webpeer.ErrNoProxy, "no_proxy"},
	{webpeer.ErrNoStorage, "no_storage"},
	{webpeer.ErrStoreTooBig, "too_large"},
	{webpeer.ErrNoObject, "unknown_object"},
	{webpeer.ErrStoreFull, "too_many_records"},
}

func init() { errorCodes = append(errorCodes, appErrorCodes...) }

// bindApp adds to fns the functions only the app uses (docs/wasm-size.md,
// "The embed build").
func (b binding) bindApp(fns map[string]func(args) any) {
	fns["walletTronBalance"] = b.walletTronBalance
	fns["walletExchange"] = b.walletExchange
	fns["walletDeposit"] = b.walletDeposit
	fns["walletWithdraw"] = b.walletWithdraw
	fns["walletWithdrawal"] = b.walletWithdrawal
	fns["walletTronHistory"] = b.walletTronHistory
	fns["proxyFetch"] = b.proxyFetch
	fns["storePut"] = b.storePut
	fns["storeGet"] = b.storeGet
	fns["storeList"] = b.storeList
	fns["storeCheck"] = b.storeCheck
}

// withdrawalJS is a withdrawal's status for JavaScript: amounts in BTT,
// times in unix milliseconds.
type withdrawalJS struct {
	ID         string `json:"id"`
	To         string `json:"to"`
	Amount     string `json:"amount"`
	Status     string `json:"status"`
	Time       int64  `json:"time"`
	Queue      uint64 `json:"queue"`
	TxID       string `json:"txid,omitempty"`
	Expiration int64  `json:"expiration,omitempty"`
	Attempts   int    `json:"attempts"`
	Block      int64  `json:"block,omitempty"`
}

func withdrawalView(w api.WithdrawalStatus) withdrawalJS {
	return withdrawalJS{ID: w.ID, To: w.To.String(), Amount: speed.FormatBTT(uint64(w.Amount)), Status: w.Status, Time: w.Time * 1000,
		Queue: uint64(w.Queue), TxID: w.TxID, Expiration: w.Expiration, Attempts: w.Attempts, Block: w.Block}
}

// movementJS is a deposit or withdrawal in tronHistory().
type movementJS struct {
	Kind   string `json:"kind"`
	Amount string `json:"amount"`
	Status string `json:"status"`
	Time   int64  `json:"time"`
	TxID   string `json:"txid,omitempty"`
	ID     string `json:"id,omitempty"`
	To     string `json:"to,omitempty"`
	Block  int64  `json:"block,omitempty"`
}

func (b binding) walletTronBalance(args) any {
	return promise(func() (any, error) {
		t, err := b.w.TronAccount(context.Background())
		return toJSON(map[string]any{"address": t.Address, "trx": speed.FormatBTT(t.TRX), "btt": speed.FormatBTT(t.BTT), "token": t.Token,
			"exists": t.Exists}), err
	})
}

func (b binding) walletExchange(args) any {
	return promise(func() (any, error) {
		x, err := b.w.Exchange(context.Background())
		return toJSON(map[string]any{"address": x.Address.String(), "token": x.Token, "confirmations": x.Confirmations,
			"minWithdrawal": speed.FormatBTT(uint64(x.MinWithdrawal)), "available": speed.FormatBTT(uint64(x.Available))}), err
	})
}

func (b binding) walletDeposit(a args) any {
	amount := a.str(0)
	return promise(func() (any, error) {
		v, err := parseAmount(amount)
		if err != nil {
			return nil, err
		}
		d, err := b.w.Deposit(context.Background(), v)
		return toJSON(map[string]any{"txid": d.TxID, "amount": speed.FormatBTT(d.Amount), "exchange": d.Exchange,
			"expiration": d.Expiration.UnixMilli()}), err
	})
}

func (b binding) walletWithdraw(a args) any {
	amount, to := a.str(0), a.str(1)
	return promise(func() (any, error) {
		v, err := parseAmount(amount)
		if err != nil {
			return nil, err
		}
		st, err := b.w.Withdraw(context.Background(), v, to)
		return toJSON(withdrawalView(st)), err
	})
}

func (b binding) walletWithdrawal(a args) any {
	id := a.str(0)
	return promise(func() (any, error) {
		st, err := b.w.Withdrawal(context.Background(), id)
		return toJSON(withdrawalView(st)), err
	})
}

func (b binding) walletTronHistory(args) any {
	return promise(func() (any, error) {
		ms, err := b.w.TronHistory(context.Background())
		out := make([]movementJS, 0, len(ms))
		for _, m := range ms {
			out = append(out, movementJS{Kind: m.Kind, Amount: speed.FormatBTT(m.Amount), Status: m.Status, Time: m.Time.UnixMilli(),
				TxID: m.TxID, ID: m.ID, To: m.To, Block: m.Block})
		}
		return toJSON(out), err
	})
}
