package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Withdrawals to TRON (M25): a signed request debits the account and lowers
// the supply at once, and queues the withdrawal; the exchange
// (ledger/exchange) takes it from the queue, records the TRON transaction
// it signed before broadcasting it, and marks it done once the transaction
// is confirmed.
const (
	recWithdrawal      = 'w' // withdrawal id -> api.WithdrawalStatus JSON
	recWithdrawNonce   = 'W' // account | nonce -> withdrawal id
	recWithdrawQueue   = 'q' // queue seq -> withdrawal id
	recWithdrawTx      = 'x' // withdrawal id -> the signed TRON transaction (protobuf)
	metaWithdrawn      = "withdrawn"
	metaWithdrawNext   = "withdraw-next" // the next queue seq
	metaWithdrawCursor = "withdraw-done" // every queue seq below it is done
	entryKindWithdraw  = "withdrawal"
	maxSignedTx        = 4 << 10 // a TRC-10 transfer is about 200 bytes
)

// Exchange is what the ledger needs to know of its exchange to TRON.
type Exchange struct {
	// Address is the exchange's TRON address, Token BTT's TRC-10 id and
	// Confirmations the depth deposits wait for: what GET /v1/exchange
	// tells depositors.
	Address       wallet.Address
	Token         string
	Confirmations int64
	// Backing is the BTT the exchange's TRON address holds for the
	// genesis supply (0 on a ledger whose money all came in by deposit):
	// withdrawals never take out more than Backing + deposited.
	Backing uint64
	// MinWithdrawal is the smallest withdrawal accepted (default 1 BTT):
	// each one costs the exchange a TRON transaction.
	MinWithdrawal uint64
}

// ReserveFunc reads the exchange's reserve on TRON and compares it with
// what it must cover.
type ReserveFunc func(ctx context.Context, required uint64) *api.Reserve

// SetReserve installs the exchange's reserve reader; from then on
// CheckAll (and GET /v1/invariant) includes the reserve.
func (l *Ledger) SetReserve(fn ReserveFunc) { l.reserve.Store(&fn) }

// CheckAll is Check plus, with an exchange, its reserve on TRON: the
// reserve must cover backing + deposited - withdrawn.
func (l *Ledger) CheckAll(ctx context.Context) (api.Invariant, error) {
	inv, err := l.Check(ctx)
	if err != nil || l.cfg.Exchange == nil {
		return inv, err
	}
	fn := l.reserve.Load()
	if fn == nil {
		return inv, nil
	}
	owed := l.cfg.Exchange.Backing + uint64(inv.Deposited)
	if owed < uint64(inv.Withdrawn) {
		inv.OK = false
		return inv, nil
	}
	inv.Reserve = (*fn)(ctx, owed-uint64(inv.Withdrawn))
	inv.OK = inv.OK && inv.Reserve.OK
	return inv, nil
}

func noExchange() *api.Error {
	return apiErr(http.StatusNotFound, api.CodeNoExchange, "this ledger has no exchange to TRON")
}

// Withdraw applies a signed withdrawal request: it debits the account,
// lowers the supply and queues the withdrawal for the exchange, in one
// durable write. A retry returns the withdrawal's current status.
func (l *Ledger) Withdraw(ctx context.Context, r api.WithdrawRequest) (api.WithdrawalStatus, error) {
	x := l.cfg.Exchange
	if x == nil {
		return api.WithdrawalStatus{}, noExchange()
	}
	w := r.Withdrawal()
	if e := l.checkLedger(w.Ledger); e != nil {
		return api.WithdrawalStatus{}, e
	}
	switch {
	case w.Amount == 0:
		return api.WithdrawalStatus{}, badRequest("zero amount")
	case w.Amount < x.MinWithdrawal:
		return api.WithdrawalStatus{}, badRequest("a withdrawal of %d is below the minimum of %d", w.Amount, x.MinWithdrawal)
	case w.Amount > 1<<62:
		return api.WithdrawalStatus{}, badRequest("amount %d is too large", w.Amount)
	case w.To[0] != wallet.AddressPrefix:
		return api.WithdrawalStatus{}, badRequest("recipient is not a TRON address")
	}
	if err := api.DomainWithdraw.Verify(w.Account, w.Bytes(), r.Sig); err != nil {
		return api.WithdrawalStatus{}, sigErr("withdrawal", err)
	}
	id := w.ID()
	now := l.cfg.Now()
	var out api.WithdrawalStatus
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		nk := key(recWithdrawNonce, w.Account[:], u64(w.Nonce))
		if retry, err := replayed(tx, key(recWithdrawal, id[:]), nk, &out, w.Account, w.Nonce); retry || err != nil {
			return err // a retry gets where the withdrawal is now
		}
		dep, wd, err := bridged(tx)
		if err != nil {
			return err
		}
		if room := x.Backing + dep - min(wd, x.Backing+dep); w.Amount > room {
			return apiErr(http.StatusConflict, api.CodeReserve, "the exchange can pay out %d more; this withdrawal is %d", room, w.Amount)
		}
		idHex := hex.EncodeToString(id[:])
		if err := debit(tx, w.Account, w.Amount, now, entryKindWithdraw, idHex, w.To); err != nil {
			return err
		}
		if err := subMeta(tx, metaSupply, w.Amount); err != nil {
			return err
		}
		if err := addMeta(tx, metaWithdrawn, w.Amount); err != nil {
			return err
		}
		seq, err := getMeta(tx, metaWithdrawNext)
		if err != nil {
			return err
		}
		if err := tx.PutMeta(metaWithdrawNext, u64(seq+1)); err != nil {
			return err
		}
		if err := tx.PutRecord(key(recWithdrawQueue, u64(seq)), id[:]); err != nil {
			return err
		}
		if err := tx.PutRecord(nk, id[:]); err != nil {
			return err
		}
		out = api.WithdrawalStatus{ID: idHex, Account: w.Account, To: w.To, Amount: api.U64(w.Amount), Time: now.Unix(),
			Status: api.WithdrawalQueued, Queue: api.U64(seq)}
		return putWithdrawal(tx, id, out)
	})
	return out, storeErr(err)
}

// ExchangeInfo says where deposits go and what withdrawals can take.
func (l *Ledger) ExchangeInfo(ctx context.Context) (api.ExchangeInfo, error) {
	x := l.cfg.Exchange
	if x == nil {
		return api.ExchangeInfo{}, noExchange()
	}
	out := api.ExchangeInfo{Address: x.Address, Token: x.Token, Confirmations: x.Confirmations, MinWithdrawal: api.U64(x.MinWithdrawal)}
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		dep, wd, err := bridged(tx)
		out.Available = api.U64(x.Backing + dep - min(wd, x.Backing+dep))
		return err
	})
	return out, storeErr(err)
}

// bridged reads the totals deposited from and withdrawn to TRON.
func bridged(tx store.Tx) (deposited, withdrawn uint64, err error) {
	if deposited, err = getMeta(tx, metaDeposited); err != nil {
		return 0, 0, err
	}
	withdrawn, err = getMeta(tx, metaWithdrawn)
	return deposited, withdrawn, err
}

func putWithdrawal(tx store.Tx, id [32]byte, w api.WithdrawalStatus) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return tx.PutRecord(key(recWithdrawal, id[:]), b)
}

func getWithdrawal(tx store.Tx, id [32]byte) (api.WithdrawalStatus, error) {
	var w api.WithdrawalStatus
	b, err := tx.Record(key(recWithdrawal, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return w, apiErr(http.StatusNotFound, api.CodeNotFound, "no withdrawal %x", id)
	}
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return w, fmt.Errorf("ledger: corrupt withdrawal record %x: %w", id, err)
	}
	return w, nil
}

// Withdrawal returns a withdrawal's status.
func (l *Ledger) Withdrawal(ctx context.Context, id [32]byte) (api.WithdrawalStatus, error) {
	var w api.WithdrawalStatus
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		w, err = getWithdrawal(tx, id)
		return err
	})
	return w, storeErr(err)
}

// PendingWithdrawals returns up to limit withdrawals not done yet, oldest
// first: the exchange's queue.
func (l *Ledger) PendingWithdrawals(ctx context.Context, limit int) ([]api.WithdrawalStatus, error) {
	var out []api.WithdrawalStatus
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		_, err := eachQueued(tx, func(w api.WithdrawalStatus) bool {
			if w.Status != api.WithdrawalDone {
				out = append(out, w)
			}
			return len(out) < limit
		})
		return err
	})
	return out, storeErr(err)
}

// SignedWithdrawalTx returns the signed TRON transaction recorded for a
// withdrawal (ErrNotFound before the exchange made one).
func (l *Ledger) SignedWithdrawalTx(ctx context.Context, id [32]byte) ([]byte, error) {
	var raw []byte
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		raw, err = tx.Record(key(recWithdrawTx, id[:]))
		raw = append([]byte(nil), raw...)
		return err
	})
	return raw, err
}

// RecordWithdrawalTx records the TRON transaction the exchange signed for
// a withdrawal, before it is broadcast: txid, its expiration (unix
// milliseconds) and the signed transaction itself, so that after a crash
// the exchange looks for this transaction, or broadcasts it again, instead
// of paying twice. It replaces a previous transaction only when the
// caller has made sure that one expired outside any block.
func (l *Ledger) RecordWithdrawalTx(ctx context.Context, id, txid [32]byte, expiration int64, signed []byte) (api.WithdrawalStatus, error) {
	if len(signed) == 0 || len(signed) > maxSignedTx {
		return api.WithdrawalStatus{}, fmt.Errorf("ledger: a signed transaction of %d bytes", len(signed))
	}
	var out api.WithdrawalStatus
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := getWithdrawal(tx, id)
		if err != nil {
			return err
		}
		if w.Status == api.WithdrawalDone {
			return fmt.Errorf("ledger: withdrawal %x is done", id)
		}
		w.Status, w.TxID, w.Expiration = api.WithdrawalSent, hex.EncodeToString(txid[:]), expiration
		w.Attempts++
		out = w
		if err := tx.PutRecord(key(recWithdrawTx, id[:]), signed); err != nil {
			return err
		}
		return putWithdrawal(tx, id, w)
	})
	return out, storeErr(err)
}

// CompleteWithdrawal marks a withdrawal done: its transaction txid is in
// block with enough confirmations.
func (l *Ledger) CompleteWithdrawal(ctx context.Context, id, txid [32]byte, block int64) (api.WithdrawalStatus, error) {
	var out api.WithdrawalStatus
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := getWithdrawal(tx, id)
		if err != nil {
			return err
		}
		if w.Status == api.WithdrawalDone {
			out = w
			return nil
		}
		if w.TxID != hex.EncodeToString(txid[:]) {
			return fmt.Errorf("ledger: withdrawal %x has transaction %s, not %x", id, w.TxID, txid)
		}
		w.Status, w.Block = api.WithdrawalDone, block
		out = w
		if err := putWithdrawal(tx, id, w); err != nil {
			return err
		}
		return advanceWithdrawCursor(tx)
	})
	return out, storeErr(err)
}

// queued reads the id at place seq of the queue.
func queued(tx store.Tx, seq uint64) ([32]byte, error) {
	b, err := tx.Record(key(recWithdrawQueue, u64(seq)))
	if err != nil {
		return [32]byte{}, fmt.Errorf("ledger: withdrawal queue entry %d: %w", seq, err)
	}
	if len(b) != 32 {
		return [32]byte{}, fmt.Errorf("ledger: corrupt withdrawal queue entry %d", seq)
	}
	return [32]byte(b), nil
}

// eachQueued calls fn with the withdrawals of the queue from its cursor
// on, oldest first, while fn returns true; it returns the place of the
// first one fn refused (the end of the queue when none).
func eachQueued(tx store.Tx, fn func(api.WithdrawalStatus) bool) (uint64, error) {
	cur, err := getMeta(tx, metaWithdrawCursor)
	if err != nil {
		return 0, err
	}
	next, err := getMeta(tx, metaWithdrawNext)
	if err != nil {
		return 0, err
	}
	for ; cur < next; cur++ {
		id, err := queued(tx, cur)
		if err != nil {
			return 0, err
		}
		w, err := getWithdrawal(tx, id)
		if err != nil {
			return 0, err
		}
		if !fn(w) {
			break
		}
	}
	return cur, nil
}

// advanceWithdrawCursor moves the queue's cursor past the done
// withdrawals at its front.
func advanceWithdrawCursor(tx store.Tx) error {
	cur, err := getMeta(tx, metaWithdrawCursor)
	if err != nil {
		return err
	}
	end, err := eachQueued(tx, func(w api.WithdrawalStatus) bool { return w.Status == api.WithdrawalDone })
	if err != nil || end == cur {
		return err
	}
	return tx.PutMeta(metaWithdrawCursor, u64(end))
}
