package ledger

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Deposits from TRON (M25): a confirmed TRC-10 transfer of BTT to the
// exchange address credits the sender's ledger account, once.
const (
	recDeposit       = 'd' // TRON transaction id -> account | amount
	metaDeposited    = "deposited"
	metaTronCursor   = "tron-cursor"
	entryKindDeposit = "deposit"
)

// Deposit credits account with amount for the TRON transaction txid and
// grows the supply (and the deposited total) by it, in one durable write
// keyed by txid: the same txid again changes nothing and returns false,
// whether it comes from a retry, a rescan or a restart.
func (l *Ledger) Deposit(ctx context.Context, txid [32]byte, account wallet.Address, amount uint64) (bool, error) {
	if amount == 0 {
		return false, errors.New("ledger: a deposit of 0")
	}
	rk := key(recDeposit, txid[:])
	credited := false
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		credited = false
		if _, err := tx.Record(rk); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := credit(tx, account, amount, l.cfg.Now(), entryKindDeposit, hex.EncodeToString(txid[:]), wallet.Address{}); err != nil {
			return err
		}
		for _, m := range []string{metaSupply, metaDeposited} {
			if err := addMeta(tx, m, amount); err != nil {
				return err
			}
		}
		credited = true
		return tx.PutRecord(rk, append(account.Bytes(), u64(amount)...))
	})
	if err != nil {
		return false, storeErr(err)
	}
	return credited, nil
}

// getMeta reads a counter kept in meta (absent is 0).
func getMeta(tx store.Tx, name string) (uint64, error) {
	b, err := tx.Meta(name)
	switch {
	case err == nil && len(b) == 8:
		return binary.BigEndian.Uint64(b), nil
	case err == nil:
		return 0, fmt.Errorf("ledger: corrupt %s record", name)
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	}
	return 0, err
}

// subMeta takes v from a counter kept in meta.
func subMeta(tx store.Tx, name string, v uint64) error {
	cur, err := getMeta(tx, name)
	if err != nil {
		return err
	}
	if cur < v {
		return fmt.Errorf("ledger: %s %d is below %d", name, cur, v)
	}
	return tx.PutMeta(name, u64(cur-v))
}

// addMeta adds v to a counter kept in meta (absent is 0).
func addMeta(tx store.Tx, name string, v uint64) error {
	cur, err := getMeta(tx, name)
	if err != nil {
		return err
	}
	n, carry := bits.Add64(cur, v, 0)
	if carry != 0 {
		return fmt.Errorf("ledger: %s overflows", name)
	}
	return tx.PutMeta(name, u64(n))
}

// Deposited is the total credited by deposits.
func (l *Ledger) Deposited(ctx context.Context) (uint64, error) {
	return l.metaU64(ctx, metaDeposited)
}

// TronCursor is the last TRON block the exchange has scanned (0: none).
func (l *Ledger) TronCursor(ctx context.Context) (int64, error) {
	v, err := l.metaU64(ctx, metaTronCursor)
	return int64(v), err
}

// SetTronCursor records the last TRON block scanned. Deposits are keyed by
// transaction, so a cursor that lags (a crash between a deposit and this)
// only means a rescan that credits nothing twice.
func (l *Ledger) SetTronCursor(ctx context.Context, n int64) error {
	if n < 0 {
		return errors.New("ledger: negative block number")
	}
	return storeErr(l.cfg.Store.Update(ctx, func(tx store.Tx) error { return tx.PutMeta(metaTronCursor, u64(uint64(n))) }))
}

func (l *Ledger) metaU64(ctx context.Context, name string) (uint64, error) {
	var v uint64
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = getMeta(tx, name)
		return err
	})
	return v, err
}
