// Package store defines the ledger's storage: one transactional interface
// with two backends, boltstore (embedded, the default) and pgstore
// (PostgreSQL), both checked by the conformance suite in storetest.
//
// The store knows nothing of signatures or rules: the ledger package decides
// what to write and calls Update; the store makes each Update atomic,
// isolated and durable. Amounts are uint64 base units; backends that store
// signed 64-bit integers can hold them all, since the total supply (9.9e17)
// is below 2^63.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// ErrNotFound is returned by lookups of absent channels, records and meta
// keys.
var ErrNotFound = errors.New("store: not found")

// CloseKind says how a channel closed.
type CloseKind uint8

// How channels close.
const (
	Open      CloseKind = 0
	ByState   CloseKind = 1 // the payee submitted a state both parties signed
	ByTimeout CloseKind = 2 // its deadline passed; everything went back to the payer
)

// Channel is a channel as stored: the protocol's view plus bookkeeping.
type Channel struct {
	speed.Channel
	Nonce     uint64 // the open request's nonce
	OpenedAt  time.Time
	ClosedAt  time.Time // zero while open
	CloseKind CloseKind
}

// Entry is one line of an account's history: a credit or a debit, with the
// balance after it.
type Entry struct {
	Account wallet.Address
	// Seq orders an account's entries; the store assigns it (increasing
	// per account, starting at 1) in AddEntry.
	Seq          uint64
	Time         time.Time
	Kind         string // genesis, transfer, faucet, channel-deposit, channel-payout, channel-refund, ...
	Credit       uint64
	Debit        uint64
	Balance      uint64 // after this entry
	Ref          string // what caused it: a transfer id, a channel id (hex)
	Counterparty wallet.Address
	Memo         string // a transfer's memo (at most 255 bytes; api.MaxMemo), "" for none
	// Service is what a channel entry's channel pays for (at most
	// speed.MaxServiceLen bytes), "" for other entries and untagged channels.
	Service string
}

// Tx is a transaction. Its methods are only valid inside the Update or View
// call that provided it, from that call's goroutine; in View, the writing
// methods return ErrReadOnly. Limits every backend enforces: amounts and
// balances below 2^63, times between 1678 and 2262 (kept as instants, read
// back in UTC), strings valid UTF-8 without NUL bytes, Record keys of 1 to
// MaxRecordKey bytes, limits of at least 1. Ties are ordered by id: ChannelsOf
// by (OpenedAt, id) descending, Expired by (Deadline, id) ascending.
type Tx interface {
	// Balance returns an account's balance, 0 for an account never seen.
	Balance(a wallet.Address) (uint64, error)
	SetBalance(a wallet.Address, v uint64) error

	Channel(id speed.ChannelID) (Channel, error)
	// PutChannel inserts or replaces a channel, keeping the index of open
	// channels by deadline and the index by account in step.
	PutChannel(ch Channel) error
	// ChannelsOf returns up to limit channels where a is payer or payee,
	// most recently opened first.
	ChannelsOf(a wallet.Address, limit int) ([]Channel, error)
	// Expired returns up to limit ids of open channels whose deadline is
	// not after now, earliest deadline first.
	Expired(now time.Time, limit int) ([]speed.ChannelID, error)

	// Record and PutRecord keep small values under opaque keys (at most
	// 128 bytes): the answers to applied requests, so retries return the
	// first answer, and the nonces accounts have used.
	Record(key []byte) ([]byte, error)
	PutRecord(key, value []byte) error

	// AddEntry appends to e.Account's history, assigning e.Seq.
	AddEntry(e Entry) (uint64, error)
	// History returns up to limit entries of a, newest first, with Seq
	// below before (0: from the newest).
	History(a wallet.Address, before uint64, limit int) ([]Entry, error)

	// Totals returns the sum of all balances and of open channels'
	// deposits, scanning everything. Call it in View: inside Update it
	// conflicts with every concurrent writer.
	Totals() (balances, escrow uint64, err error)

	Meta(key string) ([]byte, error)
	PutMeta(key string, value []byte) error
}

// Store is a ledger's storage.
type Store interface {
	// Update runs fn in a serializable read-write transaction and commits
	// it durably (synced to stable storage) before returning nil. If fn
	// returns an error nothing is written. Backends may run fn more than
	// once (to batch concurrent updates into one commit, or to retry a
	// serialization conflict), so fn must have no effects outside tx.
	// An error from the commit itself (a dropped database connection) leaves
	// the outcome unknown: callers make their writes idempotent, as the
	// ledger's request records do, and retry.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction over a consistent snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// ErrReadOnly is returned by writes inside View.
var ErrReadOnly = errors.New("store: write in a read-only transaction")

// MaxRecordKey bounds Record keys.
const MaxRecordKey = 128

// RecordPrefetcher is an optional interface of a Tx whose reads cost a
// round trip each (pgstore): PrefetchRecord announces a Record read to come,
// which the Tx may send with its next statement. The Record call that
// follows answers as it would have anyway.
type RecordPrefetcher interface {
	PrefetchRecord(key []byte)
}

// PrefetchRecord announces to tx a Record read of key to come, if tx takes
// such hints (RecordPrefetcher); it is a no-op otherwise.
func PrefetchRecord(tx Tx, key []byte) {
	if p, ok := tx.(RecordPrefetcher); ok {
		p.PrefetchRecord(key)
	}
}

// ChannelReader is an optional interface of a Store whose View costs more
// than one read (pgstore: a transaction begun and ended): ReadChannel reads
// one channel as committed at the time of the read, as a View making only
// that read would, or returns ErrNotFound.
type ChannelReader interface {
	ReadChannel(ctx context.Context, id speed.ChannelID) (Channel, error)
}
