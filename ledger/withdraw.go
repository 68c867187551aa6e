package ledger

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	recWithdrawPending = 'p' // account -> its withdrawals not done nor failed (u64)
	metaWithdrawn      = "withdrawn"
	metaWithdrawNext   = "withdraw-next" // the next queue seq
	metaWithdrawCursor = "withdraw-done" // every queue seq below it is done
	entryKindWithdraw  = "withdrawal"
	entryKindRefund    = "withdrawal-refund"
	maxRefusalText     = 300     // bytes of a node's refusal kept in a withdrawal
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
	// Devnet says the exchange's TRON is the embedded development
	// network, whose BTT is worthless: only there may the ledger hold the
	// public development genesis (ledger/genesis Dev). Otherwise Init
	// refuses it, and on a store that already holds it withdrawals are
	// refused and the invariant fails (DevGenesis).
	Devnet bool
	// MaxPending caps the withdrawals an account may have queued or sent
	// at once (default DefaultMaxPending).
	MaxPending int
}

// DefaultMaxPending is Exchange.MaxPending's default.
const DefaultMaxPending = 8

// ReserveFunc reads the exchange's reserve on TRON: its address, token,
// balance and block, or Error when TRON could not be read. The ledger
// fills in Required and OK.
type ReserveFunc func(ctx context.Context) *api.Reserve

// SetReserve installs the exchange's reserve reader; from then on
// CheckAll (and GET /v1/invariant) includes the reserve.
func (l *Ledger) SetReserve(fn ReserveFunc) { l.reserve.Store(&fn) }

// CheckAll is Check plus, with an exchange, its reserve on TRON: the
// reserve must cover backing + deposited - withdrawn.
//
// On a store holding the development genesis while the exchange runs on a
// real TRON network, DevGenesis is set and OK is false.
//
// TRON is read first and the books after, with no lock on the exchange:
// a withdrawal counts as withdrawn from the moment the ledger queues it,
// before TRON pays it, and a deposit reaches the books only after its
// confirmations on TRON, so between the two reads TRON's balance can only
// have been read too high for what the books then say by money that is
// on its way, never too low.
func (l *Ledger) CheckAll(ctx context.Context) (api.Invariant, error) {
	var res *api.Reserve
	if fn := l.reserve.Load(); fn != nil && l.cfg.Exchange != nil {
		res = (*fn)(ctx)
	}
	inv, err := l.totals(ctx)
	if err != nil {
		return inv, err
	}
	if l.devOnTron {
		inv.DevGenesis, inv.OK = true, false
	}
	if res == nil {
		return inv, nil
	}
	owed := l.cfg.Exchange.Backing + uint64(inv.Deposited)
	if owed < uint64(inv.Withdrawn) {
		inv.OK = false
		return inv, nil
	}
	res.Required = api.U64(owed - uint64(inv.Withdrawn))
	res.OK = res.Error == "" && res.Balance >= res.Required
	inv.Reserve = res
	inv.OK = inv.OK && res.OK
	return inv, nil
}

func noExchange() *api.Error {
	return apiErr(api.CodeNoExchange, "this ledger has no exchange to TRON")
}

func devGenesisRefusal() *api.Error {
	return apiErr(api.CodeDevGenesis,
		"this ledger holds the public development genesis but its exchange runs on a real TRON network: withdrawals are off until the operator starts a new ledger with -genesis none")
}

// Withdraw applies a signed withdrawal request: it debits the account,
// lowers the supply and queues the withdrawal for the exchange, in one
// durable write. A retry returns the withdrawal's current status.
func (l *Ledger) Withdraw(ctx context.Context, r api.WithdrawRequest) (api.WithdrawalStatus, error) {
	x := l.cfg.Exchange
	if x == nil {
		return api.WithdrawalStatus{}, noExchange()
	}
	if l.devOnTron {
		return api.WithdrawalStatus{}, devGenesisRefusal()
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
	case w.To == x.Address:
		// TRON refuses a transfer to oneself: it could never be paid.
		return api.WithdrawalStatus{}, apiErr(api.CodeBadRecipient,
			"%s is the exchange's own TRON address; withdraw to another address", w.To)
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
			return apiErr(api.CodeReserve, "the exchange can pay out %d more; this withdrawal is %d", room, w.Amount)
		}
		if err := l.addPending(tx, w.Account); err != nil {
			return err
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
		if err != nil {
			return err
		}
		out.Available = api.U64(x.Backing + dep - min(wd, x.Backing+dep))
		scanned, err := getMeta(tx, metaTronCursor)
		out.Scanned = int64(scanned)
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
		return w, apiErr(api.CodeNotFound, "no withdrawal %x", id)
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

// PendingWithdrawals returns up to limit withdrawals neither done nor
// failed, from place from of the queue on, oldest first: the exchange's
// queue.
func (l *Ledger) PendingWithdrawals(ctx context.Context, from uint64, limit int) ([]api.WithdrawalStatus, error) {
	var out []api.WithdrawalStatus
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		_, err := eachQueued(tx, from, func(w api.WithdrawalStatus) bool {
			if !finished(w) {
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
	return l.updateOpenWithdrawal(ctx, id, func(tx store.Tx, w *api.WithdrawalStatus) error {
		w.Status, w.TxID, w.Expiration = api.WithdrawalSent, hex.EncodeToString(txid[:]), expiration
		w.Attempts++
		return tx.PutRecord(key(recWithdrawTx, id[:]), signed)
	})
}

// updateOpenWithdrawal changes withdrawal id with change in one durable
// write, refusing a withdrawal already finished, and returns it changed.
func (l *Ledger) updateOpenWithdrawal(ctx context.Context, id [32]byte, change func(store.Tx, *api.WithdrawalStatus) error) (api.WithdrawalStatus, error) {
	var out api.WithdrawalStatus
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := getWithdrawal(tx, id)
		if err != nil {
			return err
		}
		if finished(w) {
			return fmt.Errorf("ledger: withdrawal %x is %s", id, w.Status)
		}
		if err := change(tx, &w); err != nil {
			return err
		}
		out = w
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
		if w.Status == api.WithdrawalFailed {
			return fmt.Errorf("ledger: withdrawal %x failed and was refunded", id)
		}
		if w.TxID != hex.EncodeToString(txid[:]) {
			return fmt.Errorf("ledger: withdrawal %x has transaction %s, not %x", id, w.TxID, txid)
		}
		w.Status, w.Block = api.WithdrawalDone, block
		out = w
		return finishWithdrawal(tx, id, w)
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
// (or from, if later) on, oldest first, while fn returns true; it returns
// the place of the first one fn refused (the end of the queue when none).
func eachQueued(tx store.Tx, from uint64, fn func(api.WithdrawalStatus) bool) (uint64, error) {
	cur, err := getMeta(tx, metaWithdrawCursor)
	if err != nil {
		return 0, err
	}
	cur = max(cur, from)
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

// advanceWithdrawCursor moves the queue's cursor past the done and
// failed withdrawals at its front.
func advanceWithdrawCursor(tx store.Tx) error {
	cur, err := getMeta(tx, metaWithdrawCursor)
	if err != nil {
		return err
	}
	end, err := eachQueued(tx, 0, finished)
	if err != nil || end == cur {
		return err
	}
	return tx.PutMeta(metaWithdrawCursor, u64(end))
}

// finished says whether a withdrawal has reached a final status.
func finished(w api.WithdrawalStatus) bool {
	return w.Status == api.WithdrawalDone || w.Status == api.WithdrawalFailed
}

// NoteWithdrawalRefusal records that TRON refused a withdrawal (to build
// its transaction, or to accept it) with reason, and returns it with its
// refusals counted.
func (l *Ledger) NoteWithdrawalRefusal(ctx context.Context, id [32]byte, reason string) (api.WithdrawalStatus, error) {
	return l.updateOpenWithdrawal(ctx, id, func(_ store.Tx, w *api.WithdrawalStatus) error {
		w.Refusals++
		w.Error = truncate(strings.ToValidUTF8(reason, "?"), maxRefusalText)
		return nil
	})
}

// FailWithdrawal ends a withdrawal that TRON kept refusing: in one durable
// write it marks it failed and credits the amount back to the account
// (history entry kind withdrawal-refund, ref = the withdrawal id), raising
// the supply and lowering the total withdrawn by as much. A withdrawal
// already failed is returned as it is: the refund happens once. The
// caller must have made sure that no transaction of the withdrawal can
// still land on TRON.
func (l *Ledger) FailWithdrawal(ctx context.Context, id [32]byte) (api.WithdrawalStatus, error) {
	var out api.WithdrawalStatus
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := getWithdrawal(tx, id)
		if err != nil {
			return err
		}
		switch w.Status {
		case api.WithdrawalFailed:
			out = w
			return nil
		case api.WithdrawalDone:
			return fmt.Errorf("ledger: withdrawal %x is done", id)
		}
		amount := uint64(w.Amount)
		if err := credit(tx, w.Account, amount, l.cfg.Now(), entryKindRefund, w.ID, w.To); err != nil {
			return err
		}
		if err := addMeta(tx, metaSupply, amount); err != nil {
			return err
		}
		if err := subMeta(tx, metaWithdrawn, amount); err != nil {
			return err
		}
		w.Status = api.WithdrawalFailed
		out = w
		return finishWithdrawal(tx, id, w)
	})
	return out, storeErr(err)
}

// finishWithdrawal stores w in its final state (done or failed): it no
// longer counts as pending for its account, and the queue's front moves past
// it when it is first.
func finishWithdrawal(tx store.Tx, id [32]byte, w api.WithdrawalStatus) error {
	if err := putWithdrawal(tx, id, w); err != nil {
		return err
	}
	if err := subPending(tx, w.Account); err != nil {
		return err
	}
	return advanceWithdrawCursor(tx)
}

// addPending counts a new withdrawal of a, or refuses it when a has
// MaxPending unfinished already.
func (l *Ledger) addPending(tx store.Tx, a wallet.Address) error {
	limit := uint64(DefaultMaxPending)
	if n := l.cfg.Exchange.MaxPending; n > 0 {
		limit = uint64(n)
	}
	k := key(recWithdrawPending, a[:])
	n, err := pendingOf(tx, k)
	if err != nil {
		return err
	}
	if n >= limit {
		return apiErr(api.CodeTooManyPending,
			"%s has %d withdrawals waiting for TRON, the most allowed; wait until one is done", a, n)
	}
	return tx.PutRecord(k, u64(n+1))
}

// subPending uncounts a finished withdrawal of a (withdrawals queued
// before the count existed were never counted: it stays at 0).
func subPending(tx store.Tx, a wallet.Address) error {
	k := key(recWithdrawPending, a[:])
	n, err := pendingOf(tx, k)
	if err != nil || n == 0 {
		return err
	}
	return tx.PutRecord(k, u64(n-1))
}

func pendingOf(tx store.Tx, k []byte) (uint64, error) {
	b, err := tx.Record(k)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, errors.New("ledger: corrupt pending withdrawals count")
	}
	return binary.BigEndian.Uint64(b), nil
}
