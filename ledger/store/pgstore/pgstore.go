// Package pgstore is the ledger's PostgreSQL backend (pgx): a store.Store
// kept in one PostgreSQL database, for operators who want the ledger's state
// in a server they already back up and replicate.
//
// # Transactions
//
// Every Update is one SERIALIZABLE read-write transaction. PostgreSQL's
// serializable snapshot isolation aborts one of two transactions whose
// interleaving no serial order could produce (SQLSTATE 40001) and breaks
// deadlocks (40P01); and since, under serializable isolation, waiting for a
// row lock another transaction holds can only end in a serialization failure
// when that transaction commits, an Update waits for a lock at most
// lockTimeout (55P03) instead of up to deadlock_timeout. In all these cases
// Update rolls back and runs fn again, in a new transaction, after a short
// random backoff, up to maxAttempts times. This is why fn must have no
// effects outside its Tx. A commit returns only after PostgreSQL reports it
// durable: where a server, database or role default turns
// synchronous_commit off, the store turns it back on for its own
// connections (a server run with fsync=off is beyond its reach).
//
// Every View is a REPEATABLE READ READ ONLY transaction: one snapshot of
// committed data for all of fn's reads, which never waits for writers nor
// makes them fail.
//
// A Tx must not be used concurrently, nor after fn returns.
//
// # Schema
//
// The tables live in the connection's current schema (the first of its
// search_path, see the URL's search_path option). Integers the store is
// given as uint64 are kept in bigint columns: amounts (balances, deposits,
// payouts, entries' credit, debit and balance) must be below 2^63 and are
// refused otherwise, never wrapped; the total supply is below 2^63. Counters
// and nonces that may take any uint64 value (channel seq and nonce) are kept
// as the bigint with the same bit pattern, so they round-trip exactly though
// negative numbers show in SQL for values of 2^63 and above. Times are Unix
// nanoseconds (UTC), exact to the nanosecond, within years 1678 to 2262; the
// zero time.Time is stored as -2^63 (so it sorts first, as in Go), except in
// channels.closed_ns where it is NULL.
//
//	schema_version (one boolean PRIMARY KEY CHECK (one), version integer)
//	    one row: the number of migrations applied
//	accounts (address bytea PRIMARY KEY, balance bigint CHECK (balance >= 0))
//	channels (id bytea PRIMARY KEY, payer bytea, payee bytea, deposit bigint,
//	          deadline_ns bigint, closed boolean, seq bigint, paid bigint,
//	          nonce bigint, opened_ns bigint, closed_ns bigint NULL,
//	          close_kind smallint)
//	    channels_open_deadline (deadline_ns, id) WHERE NOT closed: Expired
//	    channels_payer (payer, opened_ns DESC, id DESC): ChannelsOf
//	    channels_payee (payee, opened_ns DESC, id DESC): ChannelsOf
//	records (key bytea PRIMARY KEY, 1 to 128 bytes, value bytea)
//	entries (account bytea, seq bigint, time_ns bigint, kind text,
//	         credit bigint, debit bigint, balance bigint, ref text,
//	         counterparty bytea, memo text (a transfer's, else ''),
//	         service text (a channel entry's service, else ''),
//	         PRIMARY KEY (account, seq))
//	    AddEntry assigns max(seq)+1 of the account, in the serializable
//	    transaction; History scans the primary key backwards.
//	meta (key text PRIMARY KEY, value bytea)
//
// Text columns (entries.kind and ref, meta.key) must be valid UTF-8 without
// NUL bytes, which PostgreSQL cannot store; the store refuses other strings.
//
// # Migrations
//
// migrations lists the schema's versions in order; Open applies the ones a
// database lacks, each in its own transaction that also records the new
// version, holding a transaction-level advisory lock so that processes
// opening the same database at once apply each migration once. A database
// whose version is newer than the code's is refused, so an old binary never
// writes a layout it does not know.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations[i] takes a database from schema version i to i+1. Append only:
// never edit a migration that has shipped.
var migrations = []migration{
	{"initial schema", []string{
		`CREATE TABLE accounts (
			address bytea PRIMARY KEY CHECK (length(address) = 21),
			balance bigint NOT NULL CHECK (balance >= 0)
		)`,
		`CREATE TABLE channels (
			id          bytea PRIMARY KEY CHECK (length(id) = 32),
			payer       bytea NOT NULL CHECK (length(payer) = 21),
			payee       bytea NOT NULL CHECK (length(payee) = 21),
			deposit     bigint NOT NULL CHECK (deposit >= 0),
			deadline_ns bigint NOT NULL,
			closed      boolean NOT NULL,
			seq         bigint NOT NULL,
			paid        bigint NOT NULL CHECK (paid >= 0),
			nonce       bigint NOT NULL,
			opened_ns   bigint NOT NULL,
			closed_ns   bigint,
			close_kind  smallint NOT NULL CHECK (close_kind BETWEEN 0 AND 255)
		)`,
		`CREATE INDEX channels_open_deadline ON channels (deadline_ns, id) WHERE NOT closed`,
		`CREATE INDEX channels_payer ON channels (payer, opened_ns DESC, id DESC)`,
		`CREATE INDEX channels_payee ON channels (payee, opened_ns DESC, id DESC)`,
		`CREATE TABLE records (
			key   bytea PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128),
			value bytea NOT NULL
		)`,
		`CREATE TABLE entries (
			account      bytea NOT NULL CHECK (length(account) = 21),
			seq          bigint NOT NULL CHECK (seq >= 1),
			time_ns      bigint NOT NULL,
			kind         text NOT NULL,
			credit       bigint NOT NULL CHECK (credit >= 0),
			debit        bigint NOT NULL CHECK (debit >= 0),
			balance      bigint NOT NULL CHECK (balance >= 0),
			ref          text NOT NULL,
			counterparty bytea NOT NULL CHECK (length(counterparty) = 21),
			PRIMARY KEY (account, seq)
		)`,
		`CREATE TABLE meta (
			key   text PRIMARY KEY,
			value bytea NOT NULL
		)`,
	}},
	// Transfers signed with a memo (api.DomainTransferV2) keep it in both
	// accounts' history.
	{"entry memos", []string{
		`ALTER TABLE entries ADD COLUMN memo text NOT NULL DEFAULT ''`,
	}},
	// Channel entries name the service their channel paid for
	// (speed.DomainChannelOpenV2).
	{"entry services", []string{
		`ALTER TABLE entries ADD COLUMN service text NOT NULL DEFAULT ''`,
	}},
}

type migration struct {
	name  string
	stmts []string
}

// migrateLock is the advisory lock key Open holds while it migrates
// ("btspeed" in ASCII).
const migrateLock int64 = 0x62747370656564

// beginUpdate starts Update's transactions. Under serializable isolation,
// waiting for a row lock is futile: when its holder commits, the waiter fails
// with a serialization error anyway, and when two transactions wait for each
// other PostgreSQL takes deadlock_timeout (1 s by default, settable only by
// superusers) to notice. So Updates wait at most lockTimeout for a lock, then
// fail (55P03) and run again after a backoff.
var beginUpdate = fmt.Sprintf("BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE; SET LOCAL lock_timeout = %d",
	lockTimeout.Milliseconds())

const lockTimeout = 20 * time.Millisecond

// maxAttempts bounds how many times Update runs fn when transactions
// conflict.
const maxAttempts = 40

// Store is a PostgreSQL-backed store.Store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	retries atomic.Int64 // transactions run again after a conflict, for tests
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// connection string, as pgx accepts, including pool_max_conns and
// search_path), migrates its schema to the latest version and returns the
// store. The caller closes it.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	cfg.AfterConnect = ensureDurableCommit
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// ensureDurableCommit turns synchronous_commit back on for a connection if
// the server or role default has it off, since Update promises durable
// commits. Stronger settings (remote_write, remote_apply, local) are kept.
func ensureDurableCommit(ctx context.Context, c *pgx.Conn) error {
	var v string
	if err := c.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
		return err
	}
	if v == "off" {
		_, err := c.Exec(ctx, `SET synchronous_commit TO on`)
		return err
	}
	return nil
}

// migrate applies the migrations the database lacks, one transaction each.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	for {
		done, err := migrateOne(ctx, pool)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateOne applies the next migration, or reports that there is none.
func migrateOne(ctx context.Context, pool *pgxpool.Pool) (done bool, err error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return false, fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer rollback(ctx, tx)
	// Taken first: every later statement's snapshot includes what the
	// previous holder committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return false, fmt.Errorf("pgstore: migrate: lock: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil {
		return false, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if !exists {
		for _, q := range []string{
			`CREATE TABLE schema_version (
				one     boolean PRIMARY KEY DEFAULT true CHECK (one),
				version integer NOT NULL CHECK (version >= 0)
			)`,
			`INSERT INTO schema_version (version) VALUES (0)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return false, fmt.Errorf("pgstore: migrate: create schema_version: %w", err)
			}
		}
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return false, fmt.Errorf("pgstore: migrate: read schema version: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("pgstore: the database has schema version %d, newer than this program's %d: run a newer btspeed ledger", v, len(migrations))
	case v == len(migrations):
		return true, tx.Commit(ctx)
	}
	m := migrations[v]
	for i, q := range m.stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return false, fmt.Errorf("pgstore: migration %d (%s), statement %d: %w", v+1, m.name, i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, v+1); err != nil {
		return false, fmt.Errorf("pgstore: migration %d: %w", v+1, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("pgstore: migration %d (%s): commit: %w", v+1, m.name, err)
	}
	return false, nil
}

func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx) // a no-op after Commit; on failure pgx closes the connection
}

// Update implements store.Store: fn runs in a SERIALIZABLE transaction,
// again after a serialization failure, deadlock or lock timeout (up to
// maxAttempts runs),
// and Update returns nil once PostgreSQL has committed it durably. It returns
// fn's error as is (nothing is written), or an error from the database.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.run(ctx, pgx.TxOptions{BeginQuery: beginUpdate}, false, fn)
		if err == nil || !retryable(err) || attempt >= maxAttempts {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		s.retries.Add(1)
		// Random backoff, growing with the attempts, so that the
		// transactions that conflicted do not meet again.
		d := time.Duration(rand.Int64N(int64(min(time.Duration(1<<min(attempt, 10))*100*time.Microsecond, 50*time.Millisecond)) + 1))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// View implements store.Store: fn runs in a REPEATABLE READ READ ONLY
// transaction, so all its reads see one snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, true, fn)
}

// Close waits for the running Updates and Views to return their connections
// and closes them all; later Updates and Views fail.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, ro bool, fn func(store.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	ptx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	t := &tx{ctx: ctx, tx: ptx, ro: ro}
	defer func() {
		t.done = true
		rollback(ctx, ptx)
	}()
	ferr := fn(t)
	t.done = true
	switch {
	case ferr != nil && t.err != nil && retryable(t.err) && !retryable(ferr):
		// fn failed because a statement hit a conflict, and hid that:
		// run it again rather than report its error.
		return fmt.Errorf("pgstore: %w (fn returned: %v)", t.err, ferr)
	case ferr != nil:
		return ferr
	case t.err != nil:
		// fn ignored a failed statement; the transaction is aborted.
		return fmt.Errorf("pgstore: a statement failed and fn went on: %w", t.err)
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return nil
}

// retryable reports whether err means the transaction may succeed if run
// again: a serialization failure, a deadlock, a lock wait that timed out, or
// a connection that failed
// before anything was sent.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03"
	}
	return pgconn.SafeToRetry(err)
}

// tx implements store.Tx on one PostgreSQL transaction.
type tx struct {
	ctx  context.Context
	tx   pgx.Tx
	ro   bool
	done bool  // fn returned
	err  error // the first statement that failed; PostgreSQL aborted the transaction
}

var errDone = errors.New("pgstore: transaction used after its Update or View returned")

// check is called before every statement.
func (t *tx) check(write bool) error {
	switch {
	case t.done:
		return errDone
	case write && t.ro:
		return store.ErrReadOnly
	}
	return nil
}

// failed records and wraps a statement's error.
func (t *tx) failed(what string, err error) error {
	if t.err == nil {
		t.err = err
	}
	return fmt.Errorf("pgstore: %s: %w", what, err)
}

func (t *tx) exec(what, sql string, args ...any) error {
	if _, err := t.tx.Exec(t.ctx, sql, args...); err != nil {
		return t.failed(what, err)
	}
	return nil
}

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

// Balances.

func (t *tx) Balance(a wallet.Address) (uint64, error) {
	if err := t.check(false); err != nil {
		return 0, err
	}
	var v int64
	err := t.tx.QueryRow(t.ctx, `SELECT balance FROM accounts WHERE address = $1`, a[:]).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, t.failed("balance", err)
	}
	return unamount(v), nil
}

func (t *tx) SetBalance(a wallet.Address, v uint64) error {
	if err := t.check(true); err != nil {
		return err
	}
	b, err := amount("balance", v)
	if err != nil {
		return err
	}
	// UPDATE first: a HOT update of an existing row conflicts (under
	// serializable isolation) only with transactions that read that row,
	// where the upsert's unique-index probe would conflict with every
	// transaction that read any account on the same index page.
	tag, err := t.tx.Exec(t.ctx, `UPDATE accounts SET balance = $2 WHERE address = $1`, a[:], b)
	if err != nil {
		return t.failed("set balance", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return t.exec("set balance", `INSERT INTO accounts (address, balance) VALUES ($1, $2)
		ON CONFLICT (address) DO UPDATE SET balance = excluded.balance`, a[:], b)
}

// Channels.

const channelCols = `id, payer, payee, deposit, deadline_ns, closed, seq, paid, nonce, opened_ns, closed_ns, close_kind`

func scanChannel(row pgx.Row) (store.Channel, error) {
	var (
		ch                                  store.Channel
		id, payer, payee                    []byte
		deposit, deadline, seq, paid, nonce int64
		opened                              int64
		closedAt                            *int64
		kind                                int16
	)
	if err := row.Scan(&id, &payer, &payee, &deposit, &deadline, &ch.Closed, &seq, &paid, &nonce, &opened, &closedAt, &kind); err != nil {
		return ch, err
	}
	if len(id) != len(ch.ID) || len(payer) != len(ch.Payer) || len(payee) != len(ch.Payee) {
		return ch, fmt.Errorf("pgstore: malformed channel row")
	}
	copy(ch.ID[:], id)
	copy(ch.Payer[:], payer)
	copy(ch.Payee[:], payee)
	ch.Deposit = unamount(deposit)
	ch.Deadline = fromNanos(deadline)
	ch.Seq = uint64(seq)
	ch.Paid = unamount(paid)
	ch.Nonce = uint64(nonce)
	ch.OpenedAt = fromNanos(opened)
	if closedAt != nil {
		ch.ClosedAt = fromNanos(*closedAt)
	}
	ch.CloseKind = store.CloseKind(kind)
	return ch, nil
}

func (t *tx) Channel(id speed.ChannelID) (store.Channel, error) {
	if err := t.check(false); err != nil {
		return store.Channel{}, err
	}
	ch, err := scanChannel(t.tx.QueryRow(t.ctx, `SELECT `+channelCols+` FROM channels WHERE id = $1`, id[:]))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Channel{}, store.ErrNotFound
	case err != nil:
		return store.Channel{}, t.failed("channel", err)
	}
	return ch, nil
}

func (t *tx) PutChannel(ch store.Channel) error {
	if err := t.check(true); err != nil {
		return err
	}
	deposit, err := amount("deposit", ch.Deposit)
	if err != nil {
		return err
	}
	paid, err := amount("paid", ch.Paid)
	if err != nil {
		return err
	}
	deadline, err := nanos("deadline", ch.Deadline)
	if err != nil {
		return err
	}
	opened, err := nanos("opening time", ch.OpenedAt)
	if err != nil {
		return err
	}
	var closedAt *int64
	if !ch.ClosedAt.IsZero() {
		ns, err := nanos("closing time", ch.ClosedAt)
		if err != nil {
			return err
		}
		closedAt = &ns
	}
	return t.exec("put channel", `INSERT INTO channels (`+channelCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (id) DO UPDATE SET payer = excluded.payer, payee = excluded.payee,
			deposit = excluded.deposit, deadline_ns = excluded.deadline_ns, closed = excluded.closed,
			seq = excluded.seq, paid = excluded.paid, nonce = excluded.nonce, opened_ns = excluded.opened_ns,
			closed_ns = excluded.closed_ns, close_kind = excluded.close_kind`,
		ch.ID[:], ch.Payer[:], ch.Payee[:], deposit, deadline, ch.Closed, int64(ch.Seq), paid,
		int64(ch.Nonce), opened, closedAt, int16(ch.CloseKind))
}

func (t *tx) ChannelsOf(a wallet.Address, limit int) ([]store.Channel, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	// One index scan per role; UNION also drops the second copy of a
	// channel whose payer is its payee.
	rows, err := t.tx.Query(t.ctx, `
		(SELECT `+channelCols+` FROM channels WHERE payer = $1 ORDER BY opened_ns DESC, id DESC LIMIT $2)
		UNION
		(SELECT `+channelCols+` FROM channels WHERE payee = $1 ORDER BY opened_ns DESC, id DESC LIMIT $2)
		ORDER BY opened_ns DESC, id DESC LIMIT $2`, a[:], limit)
	if err != nil {
		return nil, t.failed("channels of", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Channel, error) { return scanChannel(r) })
	if err != nil {
		return nil, t.failed("channels of", err)
	}
	return out, nil
}

func (t *tx) Expired(now time.Time, limit int) ([]speed.ChannelID, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(t.ctx, `SELECT id FROM channels WHERE NOT closed AND deadline_ns <= $1
		ORDER BY deadline_ns, id LIMIT $2`, clampNanos(now), limit)
	if err != nil {
		return nil, t.failed("expired", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (speed.ChannelID, error) {
		var id speed.ChannelID
		var b []byte
		if err := r.Scan(&b); err != nil {
			return id, err
		}
		if len(b) != len(id) {
			return id, fmt.Errorf("pgstore: malformed channel id")
		}
		copy(id[:], b)
		return id, nil
	})
	if err != nil {
		return nil, t.failed("expired", err)
	}
	return out, nil
}

// Records.

func recordKey(key []byte) error {
	if len(key) == 0 || len(key) > store.MaxRecordKey {
		return fmt.Errorf("pgstore: record key of %d bytes, want 1 to %d", len(key), store.MaxRecordKey)
	}
	return nil
}

func (t *tx) Record(key []byte) ([]byte, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if err := recordKey(key); err != nil {
		return nil, err
	}
	var v []byte
	err := t.tx.QueryRow(t.ctx, `SELECT value FROM records WHERE key = $1`, key).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, t.failed("record", err)
	}
	return nonNil(v), nil
}

func (t *tx) PutRecord(key, value []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := recordKey(key); err != nil {
		return err
	}
	return t.exec("put record", `INSERT INTO records (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, nonNil(value))
}

// History.

func (t *tx) AddEntry(e store.Entry) (uint64, error) {
	if err := t.check(true); err != nil {
		return 0, err
	}
	credit, err := amount("credit", e.Credit)
	if err != nil {
		return 0, err
	}
	debit, err := amount("debit", e.Debit)
	if err != nil {
		return 0, err
	}
	bal, err := amount("balance", e.Balance)
	if err != nil {
		return 0, err
	}
	at, err := nanos("entry time", e.Time)
	if err != nil {
		return 0, err
	}
	if err := text("entry kind", e.Kind); err != nil {
		return 0, err
	}
	if err := text("entry ref", e.Ref); err != nil {
		return 0, err
	}
	if err := text("entry memo", e.Memo); err != nil {
		return 0, err
	}
	if err := text("entry service", e.Service); err != nil {
		return 0, err
	}
	var seq int64
	err = t.tx.QueryRow(t.ctx, `INSERT INTO entries
			(account, seq, time_ns, kind, credit, debit, balance, ref, counterparty, memo, service)
		SELECT $1::bytea, COALESCE(max(seq), 0) + 1, $2::bigint, $3::text, $4::bigint, $5::bigint, $6::bigint,
			$7::text, $8::bytea, $9::text, $10::text
		FROM entries WHERE account = $1::bytea
		RETURNING seq`,
		e.Account[:], at, e.Kind, credit, debit, bal, e.Ref, e.Counterparty[:], e.Memo, e.Service).Scan(&seq)
	if err != nil {
		return 0, t.failed("add entry", err)
	}
	return uint64(seq), nil
}

func (t *tx) History(a wallet.Address, before uint64, limit int) ([]store.Entry, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	b := int64(math.MaxInt64) // seqs are below 2^63
	if before != 0 && before < math.MaxInt64 {
		b = int64(before)
	}
	rows, err := t.tx.Query(t.ctx, `SELECT seq, time_ns, kind, credit, debit, balance, ref, counterparty, memo, service
		FROM entries WHERE account = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, a[:], b, limit)
	if err != nil {
		return nil, t.failed("history", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Entry, error) {
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
	})
	if err != nil {
		return nil, t.failed("history", err)
	}
	return out, nil
}

// Totals.

func (t *tx) Totals() (balances, escrow uint64, err error) {
	if err := t.check(false); err != nil {
		return 0, 0, err
	}
	// sum(bigint) is numeric, exact; it comes back as text so that a sum
	// beyond uint64 is an error rather than a wrong number.
	var b, e string
	err = t.tx.QueryRow(t.ctx, `SELECT
		(SELECT COALESCE(sum(balance), 0) FROM accounts)::text,
		(SELECT COALESCE(sum(deposit), 0) FROM channels WHERE NOT closed)::text`).Scan(&b, &e)
	if err != nil {
		return 0, 0, t.failed("totals", err)
	}
	if balances, err = strconv.ParseUint(b, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("pgstore: sum of balances: %w", err)
	}
	if escrow, err = strconv.ParseUint(e, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("pgstore: sum of deposits: %w", err)
	}
	return balances, escrow, nil
}

// Meta.

func (t *tx) Meta(key string) ([]byte, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if err := text("meta key", key); err != nil {
		return nil, err
	}
	var v []byte
	err := t.tx.QueryRow(t.ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, t.failed("meta", err)
	}
	return nonNil(v), nil
}

func (t *tx) PutMeta(key string, value []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := text("meta key", key); err != nil {
		return err
	}
	return t.exec("put meta", `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, nonNil(value))
}
