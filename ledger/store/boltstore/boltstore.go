// Package boltstore is the ledger's embedded storage backend, the default: a
// single bbolt file. Every Update is one bbolt read-write transaction synced
// to disk before it returns; concurrent Updates are grouped into one
// transaction and one fsync (group commit), which is what lets one process
// apply thousands of ledger operations a second: while one commit is being
// written, the Updates that arrive queue up, and the next commit takes them
// all (up to MaxBatchSize), so commits grow with the load without a fixed
// delay. A failing Update does not fail the others: if it wrote nothing (a
// refused request) its error is final once the others commit; otherwise the
// transaction is rolled back, run again without it, and it runs alone.
//
// Buckets and keys (all integers big endian):
//
//	meta      name -> value ("schema" holds the schema version)
//	accounts  address(21) -> balance(8)
//	channels  id(32) -> channel record (see encodeChannel)
//	open      deadline(8) | id(32) -> empty, for open channels only
//	byacct    address(21) | opened(8) | id(32) -> empty, for payer and payee
//	records   key -> value
//	entries   address(21) | seq(8) -> entry (see encodeEntry)
//	entryseq  address(21) -> last seq(8)
//
// Times are stored as Unix nanoseconds with the sign bit flipped, so byte
// order is time order; the zero time is stored as 0.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes. History:
//
//	1: the buckets above.
const SchemaVersion = 1

var (
	bMeta     = []byte("meta")
	bAccounts = []byte("accounts")
	bChannels = []byte("channels")
	bOpen     = []byte("open")
	bByAcct   = []byte("byacct")
	bRecords  = []byte("records")
	bEntries  = []byte("entries")
	bEntrySeq = []byte("entryseq")
)

// migrations[i] takes a store from schema version i to i+1.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMeta, bAccounts, bChannels, bOpen, bByAcct, bRecords, bEntries, bEntrySeq} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

// Options tune the store; the zero value is the default.
type Options struct {
	// MaxBatchDelay is how long an Update arriving at an idle store waits
	// for others to share its commit (default 0: it commits at once).
	// Updates arriving while a commit is being written always share the
	// next one, so under load commits grow without any delay.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps Updates per commit (default 1000).
	MaxBatchSize int
}

// Store is a bbolt-backed store.Store.
type Store struct {
	db       *bolt.DB      // static after Open
	path     string        // static after Open
	maxBatch int           // static after Open
	delay    time.Duration // static after Open

	mu      sync.Mutex
	queue   []*call // Updates waiting for the next commit
	running bool    // a committer goroutine runs (it empties queue)
}

// call is a queued Update; err receives its outcome, or errTrySolo.
type call struct {
	fn  func(store.Tx) error
	err chan error
}

// errTrySolo tells an Update that its fn failed (or panicked) in a group
// commit, which went on without it: it runs alone, in its own goroutine.
var errTrySolo = errors.New("boltstore: run alone")

var _ store.Store = (*Store)(nil)

// Open opens or creates the store at path, migrating it to SchemaVersion.
// A file written by a newer version is refused.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	s := &Store{db: db, path: path, maxBatch: 1000, delay: max(opts.MaxBatchDelay, 0)}
	if opts.MaxBatchSize > 0 {
		s.maxBatch = opts.MaxBatchSize
	}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: %s: %w", path, err)
	}
	return s, nil
}

func migrate(tx *bolt.Tx) error {
	version := 0
	if m := tx.Bucket(bMeta); m != nil {
		if v := m.Get([]byte("schema")); len(v) == 8 {
			version = int(binary.BigEndian.Uint64(v))
		}
	}
	if version > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", version, SchemaVersion)
	}
	for ; version < SchemaVersion; version++ {
		if err := migrations[version](tx); err != nil {
			return fmt.Errorf("migrating to schema %d: %w", version+1, err)
		}
	}
	return tx.Bucket(bMeta).Put([]byte("schema"), u64(SchemaVersion))
}

// Update implements store.Store with group commit: fn may run more than
// once.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{fn: fn, err: make(chan error, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, c)
	if !s.running {
		s.running = true
		go s.commit()
	}
	s.mu.Unlock()
	err := <-c.err
	if err == errTrySolo {
		err = s.db.Update(func(btx *bolt.Tx) error { return fn(&tx{tx: btx, write: true}) })
	}
	return err
}

// commit applies the queued Updates, up to maxBatch per transaction, until
// the queue is empty.
func (s *Store) commit() {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	for {
		s.mu.Lock()
		calls := s.queue
		if len(calls) > s.maxBatch {
			calls = calls[:s.maxBatch:s.maxBatch]
			s.queue = append([]*call(nil), s.queue[s.maxBatch:]...)
		} else {
			s.queue = nil
		}
		if len(calls) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.apply(calls)
	}
}

// apply runs calls in one transaction. A call that fails without having
// written anything leaves the transaction as it was: its error is its answer
// once the others commit (it saw their writes, so it is serialized after
// them). When a call fails after writing, or panics, the transaction is
// rolled back, that call is told to run alone, and the others run again
// without it.
func (s *Store) apply(calls []*call) {
	refused := make([]error, len(calls))
	for len(calls) > 0 {
		failed := -1
		refused = refused[:len(calls)]
		clear(refused)
		err := s.db.Update(func(btx *bolt.Tx) error {
			for i, c := range calls {
				t := &tx{tx: btx, write: true}
				panicked, err := safely(c.fn, t)
				switch {
				case err == nil:
				case !t.wrote && !panicked:
					refused[i] = err
				default:
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			calls[failed].err <- errTrySolo
			calls = slices.Delete(calls, failed, failed+1)
			continue
		}
		for i, c := range calls {
			if err == nil && refused[i] != nil {
				c.err <- refused[i]
			} else {
				c.err <- err // nil, or the commit's error
			}
		}
		return
	}
}

// safely runs fn, turning a panic into an error (the call then panics again
// when it runs alone, in its caller's goroutine).
func safely(fn func(store.Tx) error, t *tx) (panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked, err = true, fmt.Errorf("boltstore: panic: %v", p)
		}
	}()
	return false, fn(t)
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&tx{tx: btx}) })
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

type tx struct {
	tx    *bolt.Tx
	write bool
	wrote bool // a writing method was called
}

func (t *tx) b(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// ro is called first by every writing method.
func (t *tx) ro() error {
	if !t.write {
		return store.ErrReadOnly
	}
	t.wrote = true
	return nil
}

func (t *tx) Balance(a wallet.Address) (uint64, error) {
	v := t.b(bAccounts).Get(a[:])
	if v == nil {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

func (t *tx) SetBalance(a wallet.Address, v uint64) error {
	if err := t.ro(); err != nil {
		return err
	}
	return t.b(bAccounts).Put(a[:], u64(v))
}

func (t *tx) Channel(id speed.ChannelID) (store.Channel, error) {
	v := t.b(bChannels).Get(id[:])
	if v == nil {
		return store.Channel{}, fmt.Errorf("%w: channel %s", store.ErrNotFound, id)
	}
	return decodeChannel(v)
}

func (t *tx) PutChannel(ch store.Channel) error {
	if err := t.ro(); err != nil {
		return err
	}
	// The index entries are keyed by fields that rarely change (a close
	// changes none but the open index's): only those that differ are
	// deleted and written, since every page a commit touches is written.
	var oldOpen, oldAcct [][]byte
	if old := t.b(bChannels).Get(ch.ID[:]); old != nil {
		prev, err := decodeChannel(old)
		if err != nil {
			return err
		}
		if !prev.Closed {
			oldOpen = [][]byte{openKey(prev)}
		}
		oldAcct = [][]byte{acctKey(prev.Payer, prev), acctKey(prev.Payee, prev)}
	}
	var newOpen [][]byte
	if !ch.Closed {
		newOpen = [][]byte{openKey(ch)}
	}
	newAcct := [][]byte{acctKey(ch.Payer, ch), acctKey(ch.Payee, ch)}
	if err := t.b(bChannels).Put(ch.ID[:], encodeChannel(ch)); err != nil {
		return err
	}
	if err := replaceKeys(t.b(bOpen), oldOpen, newOpen); err != nil {
		return err
	}
	return replaceKeys(t.b(bByAcct), oldAcct, newAcct)
}

// replaceKeys deletes the keys of old that are not in new and puts (with
// empty values) those of new that are not in old.
func replaceKeys(b *bolt.Bucket, old, new [][]byte) error {
	has := func(keys [][]byte, k []byte) bool {
		return slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
	}
	for _, k := range old {
		if !has(new, k) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	for _, k := range new {
		if !has(old, k) {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *tx) ChannelsOf(a wallet.Address, limit int) ([]store.Channel, error) {
	var out []store.Channel
	end := append(append([]byte(nil), a[:]...), bytes.Repeat([]byte{0xff}, 40)...)
	c := t.b(bByAcct).Cursor()
	for k, _ := lastBelow(c, end); k != nil && bytes.HasPrefix(k, a[:]) && len(out) < limit; k, _ = c.Prev() {
		var id speed.ChannelID
		copy(id[:], k[wallet.AddressLen+8:])
		ch, err := t.Channel(id)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// lastBelow positions c on the last key below bound and returns it.
func lastBelow(c *bolt.Cursor, bound []byte) (k, v []byte) {
	if k, _ = c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}

func (t *tx) Expired(now time.Time, limit int) ([]speed.ChannelID, error) {
	var out []speed.ChannelID
	max := timeKey(now)
	c := t.b(bOpen).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		if binary.BigEndian.Uint64(k[:8]) > max {
			break
		}
		var id speed.ChannelID
		copy(id[:], k[8:])
		out = append(out, id)
	}
	return out, nil
}

func checkKey(key []byte) error {
	if len(key) == 0 || len(key) > store.MaxRecordKey {
		return fmt.Errorf("boltstore: record key of %d bytes (1..%d)", len(key), store.MaxRecordKey)
	}
	return nil
}

func (t *tx) Record(key []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	v := t.b(bRecords).Get(key)
	if v == nil {
		return nil, store.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

func (t *tx) PutRecord(key, value []byte) error {
	if err := t.ro(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return t.b(bRecords).Put(key, append([]byte(nil), value...))
}

func (t *tx) AddEntry(e store.Entry) (uint64, error) {
	if err := t.ro(); err != nil {
		return 0, err
	}
	seq := uint64(1)
	if v := t.b(bEntrySeq).Get(e.Account[:]); v != nil {
		seq = binary.BigEndian.Uint64(v) + 1
	}
	e.Seq = seq
	enc, err := encodeEntry(e)
	if err != nil {
		return 0, err
	}
	if err := t.b(bEntries).Put(entryKey(e.Account, seq), enc); err != nil {
		return 0, err
	}
	return seq, t.b(bEntrySeq).Put(e.Account[:], u64(seq))
}

func (t *tx) History(a wallet.Address, before uint64, limit int) ([]store.Entry, error) {
	if before == 0 {
		before = ^uint64(0)
	}
	var out []store.Entry
	c := t.b(bEntries).Cursor()
	for k, v := lastBelow(c, entryKey(a, before)); k != nil && bytes.HasPrefix(k, a[:]) && len(out) < limit; k, v = c.Prev() {
		e, err := decodeEntry(a, binary.BigEndian.Uint64(k[wallet.AddressLen:]), v)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *tx) Totals() (balances, escrow uint64, err error) {
	err = t.b(bAccounts).ForEach(func(_, v []byte) error {
		balances += binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	err = t.b(bOpen).ForEach(func(k, _ []byte) error {
		var id speed.ChannelID
		copy(id[:], k[8:])
		ch, err := t.Channel(id)
		if err != nil {
			return err
		}
		escrow += ch.Deposit
		return nil
	})
	return balances, escrow, err
}

func (t *tx) Meta(key string) ([]byte, error) {
	v := t.b(bMeta).Get([]byte("m/" + key))
	if v == nil {
		return nil, fmt.Errorf("%w: meta %q", store.ErrNotFound, key)
	}
	return append([]byte(nil), v...), nil
}

func (t *tx) PutMeta(key string, value []byte) error {
	if err := t.ro(); err != nil {
		return err
	}
	return t.b(bMeta).Put([]byte("m/"+key), append([]byte(nil), value...))
}

// Encodings.

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func timeKey(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()) ^ 1<<63
}

func keyTime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v^1<<63)).UTC()
}

func openKey(ch store.Channel) []byte {
	return append(u64(timeKey(ch.Deadline)), ch.ID[:]...)
}

func acctKey(a wallet.Address, ch store.Channel) []byte {
	k := append([]byte(nil), a[:]...)
	k = binary.BigEndian.AppendUint64(k, timeKey(ch.OpenedAt))
	return append(k, ch.ID[:]...)
}

func entryKey(a wallet.Address, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), a[:]...), seq)
}

const channelRecordLen = 1 + 32 + 2*wallet.AddressLen + 8 + 8 + 1 + 8 + 8 + 8 + 8 + 8 + 1

// encodeChannel: version(1)=1 | id | payer | payee | deposit | deadline |
// closed | seq | paid | nonce | opened | closedAt | kind.
func encodeChannel(ch store.Channel) []byte {
	b := make([]byte, 0, channelRecordLen)
	b = append(b, 1)
	b = append(b, ch.ID[:]...)
	b = append(b, ch.Payer[:]...)
	b = append(b, ch.Payee[:]...)
	b = binary.BigEndian.AppendUint64(b, ch.Deposit)
	b = binary.BigEndian.AppendUint64(b, timeKey(ch.Deadline))
	closed := byte(0)
	if ch.Closed {
		closed = 1
	}
	b = append(b, closed)
	b = binary.BigEndian.AppendUint64(b, ch.Seq)
	b = binary.BigEndian.AppendUint64(b, ch.Paid)
	b = binary.BigEndian.AppendUint64(b, ch.Nonce)
	b = binary.BigEndian.AppendUint64(b, timeKey(ch.OpenedAt))
	b = binary.BigEndian.AppendUint64(b, timeKey(ch.ClosedAt))
	return append(b, byte(ch.CloseKind))
}

var errCorrupt = errors.New("boltstore: corrupt record")

func decodeChannel(b []byte) (store.Channel, error) {
	var ch store.Channel
	if len(b) != channelRecordLen || b[0] != 1 {
		return ch, fmt.Errorf("%w: channel record of %d bytes", errCorrupt, len(b))
	}
	r := b[1:]
	take := func(n int) []byte { v := r[:n]; r = r[n:]; return v }
	u := func() uint64 { return binary.BigEndian.Uint64(take(8)) }
	copy(ch.ID[:], take(32))
	copy(ch.Payer[:], take(wallet.AddressLen))
	copy(ch.Payee[:], take(wallet.AddressLen))
	ch.Deposit = u()
	ch.Deadline = keyTime(u())
	closed := take(1)[0]
	ch.Seq, ch.Paid, ch.Nonce = u(), u(), u()
	ch.OpenedAt, ch.ClosedAt = keyTime(u()), keyTime(u())
	kind := take(1)[0]
	if closed > 1 || kind > byte(store.ByTimeout) {
		return ch, fmt.Errorf("%w: channel flags %d/%d", errCorrupt, closed, kind)
	}
	ch.Closed, ch.CloseKind = closed == 1, store.CloseKind(kind)
	return ch, nil
}

// encodeEntry: version(1)=1 | time(8) | credit(8) | debit(8) | balance(8) |
// counterparty(21) | len(kind)(1) | kind | len(ref)(1) | ref; an entry with
// a memo is version 2, followed by len(memo)(1) | memo; an entry with a
// service is version 3, followed by len(memo)(1) | memo (maybe empty) |
// len(service)(1) | service.
func encodeEntry(e store.Entry) ([]byte, error) {
	if len(e.Kind) > 255 || len(e.Ref) > 255 || len(e.Memo) > 255 || len(e.Service) > 255 {
		return nil, fmt.Errorf("boltstore: entry kind, ref, memo or service longer than 255 bytes")
	}
	version := byte(1)
	switch {
	case e.Service != "":
		version = 3
	case e.Memo != "":
		version = 2
	}
	b := []byte{version}
	b = binary.BigEndian.AppendUint64(b, timeKey(e.Time))
	b = binary.BigEndian.AppendUint64(b, e.Credit)
	b = binary.BigEndian.AppendUint64(b, e.Debit)
	b = binary.BigEndian.AppendUint64(b, e.Balance)
	b = append(b, e.Counterparty[:]...)
	b = append(b, byte(len(e.Kind)))
	b = append(b, e.Kind...)
	b = append(b, byte(len(e.Ref)))
	b = append(b, e.Ref...)
	if version >= 2 {
		b = append(b, byte(len(e.Memo)))
		b = append(b, e.Memo...)
	}
	if version == 3 {
		b = append(b, byte(len(e.Service)))
		b = append(b, e.Service...)
	}
	return b, nil
}

func decodeEntry(a wallet.Address, seq uint64, b []byte) (store.Entry, error) {
	e := store.Entry{Account: a, Seq: seq}
	const fixed = 1 + 4*8 + wallet.AddressLen
	if len(b) < fixed+2 || b[0] < 1 || b[0] > 3 {
		return e, fmt.Errorf("%w: entry of %d bytes", errCorrupt, len(b))
	}
	version := b[0]
	e.Time = keyTime(binary.BigEndian.Uint64(b[1:]))
	e.Credit = binary.BigEndian.Uint64(b[9:])
	e.Debit = binary.BigEndian.Uint64(b[17:])
	e.Balance = binary.BigEndian.Uint64(b[25:])
	copy(e.Counterparty[:], b[33:33+wallet.AddressLen])
	r := b[fixed:]
	// field takes a length-prefixed string off r; a non-empty one must
	// not be empty.
	field := func(name string, out *string, nonEmpty bool) error {
		if len(r) < 1 || len(r) < 1+int(r[0]) || nonEmpty && r[0] == 0 {
			return fmt.Errorf("%w: entry %s", errCorrupt, name)
		}
		*out, r = string(r[1:1+int(r[0])]), r[1+int(r[0]):]
		return nil
	}
	if err := field("kind", &e.Kind, false); err != nil {
		return e, err
	}
	if err := field("ref", &e.Ref, false); err != nil {
		return e, err
	}
	if version >= 2 {
		if err := field("memo", &e.Memo, version == 2); err != nil {
			return e, err
		}
	}
	if version == 3 {
		if err := field("service", &e.Service, true); err != nil {
			return e, err
		}
	}
	if len(r) != 0 {
		return e, fmt.Errorf("%w: entry of %d bytes, %d left over", errCorrupt, len(b), len(r))
	}
	return e, nil
}
