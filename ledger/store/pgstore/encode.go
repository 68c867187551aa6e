package pgstore

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/jackc/pgx/v5"
)

// Encoding.

func amount(what string, v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("pgstore: %s %d is not below 2^63", what, v)
	}
	return int64(v), nil
}

func unamount(v int64) uint64 { return uint64(v) } // columns CHECK v >= 0

var (
	minTime = time.Unix(0, math.MinInt64) // stands for the zero time
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos encodes t as Unix nanoseconds, the zero time as MinInt64.
func nanos(what string, t time.Time) (int64, error) {
	switch {
	case t.IsZero():
		return math.MinInt64, nil
	case !t.After(minTime) || t.After(maxTime):
		return 0, fmt.Errorf("pgstore: %s %v is outside the years 1678 to 2262", what, t)
	}
	return t.UnixNano(), nil
}

func fromNanos(ns int64) time.Time {
	if ns == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// clampNanos encodes a time to compare with stored ones.
func clampNanos(t time.Time) int64 {
	switch {
	case t.IsZero() || !t.After(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func text(what, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("pgstore: %s %q is not UTF-8 without NUL bytes", what, s)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const channelCols = `id, payer, payee, deposit, deadline_ns, closed, seq, paid, nonce, opened_ns, closed_ns, close_kind`

// channelRow is a channels row as scanned.
type channelRow struct {
	id, payer, payee                    []byte
	deposit, deadline, seq, paid, nonce int64
	opened                              int64
	closed                              bool
	closedAt                            *int64
	kind                                int16
}

func (r *channelRow) dest() []any {
	return []any{&r.id, &r.payer, &r.payee, &r.deposit, &r.deadline, &r.closed, &r.seq, &r.paid, &r.nonce, &r.opened, &r.closedAt, &r.kind}
}

func (r *channelRow) channel() (store.Channel, error) {
	var ch store.Channel
	if len(r.id) != len(ch.ID) || len(r.payer) != len(ch.Payer) || len(r.payee) != len(ch.Payee) {
		return ch, fmt.Errorf("pgstore: malformed channel row")
	}
	copy(ch.ID[:], r.id)
	copy(ch.Payer[:], r.payer)
	copy(ch.Payee[:], r.payee)
	ch.Closed = r.closed
	ch.Deposit = unamount(r.deposit)
	ch.Deadline = fromNanos(r.deadline)
	ch.Seq = uint64(r.seq)
	ch.Paid = unamount(r.paid)
	ch.Nonce = uint64(r.nonce)
	ch.OpenedAt = fromNanos(r.opened)
	if r.closedAt != nil {
		ch.ClosedAt = fromNanos(*r.closedAt)
	}
	ch.CloseKind = store.CloseKind(r.kind)
	return ch, nil
}

// channelArgs encodes ch as the arguments $1 to $12 of channelCols.
func channelArgs(ch store.Channel) ([]any, error) {
	deposit, err := amount("deposit", ch.Deposit)
	if err != nil {
		return nil, err
	}
	paid, err := amount("paid", ch.Paid)
	if err != nil {
		return nil, err
	}
	deadline, err := nanos("deadline", ch.Deadline)
	if err != nil {
		return nil, err
	}
	opened, err := nanos("opening time", ch.OpenedAt)
	if err != nil {
		return nil, err
	}
	var closedAt *int64
	if !ch.ClosedAt.IsZero() {
		ns, err := nanos("closing time", ch.ClosedAt)
		if err != nil {
			return nil, err
		}
		closedAt = &ns
	}
	return []any{ch.ID[:], ch.Payer[:], ch.Payee[:], deposit, deadline, ch.Closed, int64(ch.Seq), paid,
		int64(ch.Nonce), opened, closedAt, int16(ch.CloseKind)}, nil
}

// entryArgs encodes e (but its seq) as $1 account, $2 time_ns, $3 kind,
// $4 credit, $5 debit, $6 balance, $7 ref, $8 counterparty, $9 memo,
// $10 service.
func entryArgs(e store.Entry) ([]any, error) {
	credit, err := amount("credit", e.Credit)
	if err != nil {
		return nil, err
	}
	debit, err := amount("debit", e.Debit)
	if err != nil {
		return nil, err
	}
	bal, err := amount("balance", e.Balance)
	if err != nil {
		return nil, err
	}
	at, err := nanos("entry time", e.Time)
	if err != nil {
		return nil, err
	}
	if err := text("entry kind", e.Kind); err != nil {
		return nil, err
	}
	if err := text("entry ref", e.Ref); err != nil {
		return nil, err
	}
	if err := text("entry memo", e.Memo); err != nil {
		return nil, err
	}
	if err := text("entry service", e.Service); err != nil {
		return nil, err
	}
	return []any{e.Account[:], at, e.Kind, credit, debit, bal, e.Ref, e.Counterparty[:], e.Memo, e.Service}, nil
}

func scanEntry(r pgx.CollectableRow, a wallet.Address) (store.Entry, error) {
	var (
		e                           store.Entry
		seq, at, credit, debit, bal int64
		cp                          []byte
	)
	if err := r.Scan(&seq, &at, &e.Kind, &credit, &debit, &bal, &e.Ref, &cp, &e.Memo, &e.Service); err != nil {
		return e, err
	}
	if len(cp) != len(e.Counterparty) {
		return e, fmt.Errorf("pgstore: malformed entry row")
	}
	e.Account = a
	e.Seq = uint64(seq)
	e.Time = fromNanos(at)
	e.Credit, e.Debit, e.Balance = unamount(credit), unamount(debit), unamount(bal)
	copy(e.Counterparty[:], cp)
	return e, nil
}
