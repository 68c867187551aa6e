// Package pgstore is the ledger's PostgreSQL backend (pgx): a store.Store
// kept in one PostgreSQL database, for operators who want the ledger's state
// in a server they already back up and replicate.
//
// # Transactions
//
// Updates are serializable by strict two-phase locking on keys: every
// Update runs in a READ COMMITTED transaction and locks each key it reads
// or writes (an account, a channel, a record, a meta key, present or
// absent) until commit: an existing account or channel by its row (SELECT
// ... FOR UPDATE), an account absent when read by the row it then inserts
// with a zero balance (which reads as the absent account), anything else by
// the key's transaction-level advisory lock (see tx.lock). Two Updates touching a common key thus run one after
// the other, whichever front-end process runs them, and each statement
// sees all that committed before it; Expired skips rows other Updates hold
// (SKIP LOCKED), so the expiry of a channel and its close never both
// apply. Range reads (ChannelsOf,
// History, Totals) take no locks: make them in View. A lock wait longer
// than lockTimeout (two Updates each waiting for the other's key) fails
// with 55P03, and a serialization failure (40001) or deadlock (40P01) may
// still come from the server: Update rolls back and runs fn again, in a new
// transaction, after a short random backoff, up to maxAttempts times. This
// is why fn must have no effects outside its Tx.
//
// Concurrent Updates share transactions (group commit, see group.go): one
// commit, one fsync, for all the Updates a worker finds waiting, each but
// the first between a savepoint and its release so that one failing leaves
// the others alone. Writes are pipelined: sent with the next read, in one
// round trip (pgx.Batch); those left when fn returns go with the next
// member's first read, or with the COMMIT (see tryGroup). pgx prepares and
// caches every statement per connection. A channel read in an Update locks
// and reads the channel's two accounts in the same round trip, records
// announced by store.PrefetchRecord come with it too, and an Update's
// balances, history seqs and entries go in one statement (see tx): a
// channel close is one round trip of its own in a group and seven
// statements (nine with a savepoint and its release), and its lookup
// before the Update one more (ReadChannel). A commit returns only after PostgreSQL reports
// it durable: where a server, database or role default turns
// synchronous_commit off, the store turns it back on for its own
// connections (a server run with fsync=off is beyond its reach).
//
// Every View is a REPEATABLE READ READ ONLY transaction, begun in the same
// round trip as its first statement: one snapshot of committed data for
// all of fn's reads, which never waits for writers nor makes them fail.
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
//	accounts (address bytea PRIMARY KEY, balance bigint CHECK (balance >= 0),
//	          last_seq bigint: the seq of its newest history entry, 0 for none)
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
//	    AddEntry assigns the account's last_seq+1 (read with its balance,
//	    written back with it), holding the account's lock; History scans
//	    the primary key backwards.
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
	"strings"
	"sync/atomic"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
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
	// Each account's last history seq kept on its row, read with its
	// balance in one statement: every account with a history has a row.
	{"account last seq", []string{
		`ALTER TABLE accounts ADD COLUMN last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0)`,
		`INSERT INTO accounts (address, balance) SELECT DISTINCT account, 0 FROM entries ON CONFLICT (address) DO NOTHING`,
		`UPDATE accounts a SET last_seq = s.last FROM (SELECT account, max(seq) AS last FROM entries GROUP BY account) s
			WHERE a.address = s.account`,
	}},
}

type migration struct {
	name  string
	stmts []string
}

// migrateLock is the advisory lock key Open holds while it migrates
// ("btspeed" in ASCII).
const migrateLock int64 = 0x62747370656564

// Store is a PostgreSQL-backed store.Store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for Lead's own connections
	retries atomic.Int64    // transactions run again after a conflict, for tests
	commits atomic.Int64    // transactions committed
	updates atomic.Int64    // Updates that returned nil
	g       group
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// connection string, as pgx accepts, including pool_max_conns and
// search_path), migrates its schema to the latest version and returns the
// store. The caller closes it.
//
// Without pool_max_conns the pool holds up to 16 connections. Of them up
// to 2 (fewer with pool_max_conns below 4; fewer writers make bigger groups) run the groups of Updates
// (group commit, see Update); the others serve Views.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 16
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
	s := &Store{pool: pool, connCfg: cfg.ConnConfig.Copy()}
	s.g.start(s, max(1, min(2, int(cfg.MaxConns)/2)), maxGroup)
	return s, nil
}

// Stats counts what the store did since Open: Updates that succeeded, the
// transactions that committed them (fewer, thanks to group commit) and the
// transactions run again after a conflict.
type Stats struct{ Updates, Commits, Retries int64 }

// Stats returns the counts so far.
func (s *Store) Stats() Stats {
	return Stats{Updates: s.updates.Load(), Commits: s.commits.Load(), Retries: s.retries.Load()}
}

// Close waits for the Updates already submitted, then for the running Views
// to return their connections, and closes them all; later Updates and Views
// fail.
func (s *Store) Close() error {
	s.g.stop()
	s.pool.Close()
	return nil
}

// ensureDurableCommit turns synchronous_commit back on for a connection if
// the server or role default has it off, since Update promises durable
// commits. Stronger settings (remote_write, remote_apply, local) are kept.
// It also sets the connection's lock_timeout for Updates.
func ensureDurableCommit(ctx context.Context, c *pgx.Conn) error {
	var v string
	if err := c.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
		return err
	}
	if v == "off" {
		if _, err := c.Exec(ctx, `SET synchronous_commit TO on`); err != nil {
			return err
		}
	}
	// For Updates (see beginUpdate); migrateOne waits as long as it takes.
	_, err := c.Exec(ctx, fmt.Sprintf(`SET lock_timeout = %d`, lockTimeout.Milliseconds()))
	return err
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
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = 0`); err != nil {
		return false, fmt.Errorf("pgstore: migrate: %w", err)
	}
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

// retryable reports whether err means the transaction may succeed if run
// again: a serialization failure, a deadlock, a lock wait that timed out, or
// a connection that failed
// before anything was sent.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03"
	}
	if errors.Is(err, errWouldWait) {
		return true
	}
	return pgconn.SafeToRetry(err)
}
