package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/jackc/pgx/v5"
)

// tx implements store.Tx on one PostgreSQL connection: a whole View, or one
// Update's share of a group's transaction (the first Update of a group runs
// in it directly, the later ones each between a savepoint and its release).
//
// Round trips: writes are queued and sent with the next read, or at the end
// of fn, in one pipelined batch (pgx.Batch); so are the statements that
// open the transaction or the savepoint (pre). What a write needs from the
// database is read beforehand: Balance reads the account's row, its balance
// and the last seq of its history (accounts.last_seq), so that AddEntry can
// number the entry itself, and remembers whether the row exists, so that
// the balances, last seqs and new entries are written back in one statement
// (moneyWrites) rather than one per account and entry. In an Update, Channel reads (and locks) the
// channel's payer and payee accounts in the same round trip, since what
// reads a channel to change it mostly moves its money. These caches live as
// long as the tx, inside one transaction, where nothing else can change
// what they hold.
type tx struct {
	ctx  context.Context
	c    *pgx.Conn
	ro   bool
	sp   bool  // runs between a savepoint and its release
	try  bool  // wait for no lock: its group holds others (wait-die, see group.go)
	done bool  // fn returned
	err  error // the first statement that failed; PostgreSQL aborted the transaction
	// pre is sent before anything else (BEGIN, SAVEPOINT); sent says it
	// was.
	pre  []string
	sent bool
	q    []queued // writes not sent yet
	// carry is what earlier members of the group left to send, sent
	// first; carryFrom is the member whose statement among them failed.
	carry     []queued
	carryFrom *request

	acct     map[wallet.Address]*acctState // accounts read or written
	dirty    []wallet.Address              // accounts whose row is to be written
	entries  []any                         // entries to insert, entryCols each
	channels map[speed.ChannelID]bool      // channels whose row exists
	locked   map[lockKey]bool              // keys this tx has locked
	records  map[string]cachedRecord       // records prefetched (and locked)
}

// acctState is what an Update's tx knows of an account it holds locked.
type acctState struct {
	bal      int64
	seq      int64 // the last seq of its history, if seqKnown
	seqKnown bool  // bal and seq were read (or the row is known absent)
	exists   bool  // its row exists
	dirty    bool  // in tx.dirty
}

// lockKey is a key's advisory lock: (keyClass+table, hash of the key).
type lockKey struct{ class, obj int32 }

// keyClass is the base of the lock classes, one per table: "bt" in ASCII,
// then the table's letter.
const keyClass = 0x62740000

// lock takes (queues) the transaction-level advisory lock of a key in a
// table. Every Update locks what it reads or writes, present or absent,
// until it commits: strict two-phase locking on keys, which makes Updates
// serializable while they run under READ COMMITTED, where each statement
// sees all that committed before it. Accounts and channels, read often and
// present mostly, are locked by their row (FOR UPDATE, or the UPDATE
// itself); an absent channel, and an account written without being read,
// by the key's advisory lock before they are read again or inserted (an
// account read absent gets a row, see insertAccount); records and meta keys
// always by the advisory lock. Hash collisions only make unrelated keys wait for each other.
func (t *tx) lock(table byte, key []byte) {
	if t.ro {
		return
	}
	h := fnv.New32a()
	h.Write(key)
	k := lockKey{keyClass + int32(table), int32(h.Sum32())}
	if t.locked[k] {
		return
	}
	t.locked[k] = true
	if t.try {
		t.q = append(t.q, queued{what: "lock", sql: `SELECT pg_try_advisory_xact_lock($1::int4, $2::int4)`, args: []any{k.class, k.obj}, try: true})
		return
	}
	t.queue("lock", `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, k.class, k.obj)
}

// errWouldWait is a lock another transaction holds, met by an Update that
// must not wait for it (tx.try).
var errWouldWait = errors.New("pgstore: a key is locked by another transaction")

// queued is a write waiting for the next round trip.
type queued struct {
	what string
	sql  string
	args []any
	try  bool // pg_try_advisory_xact_lock: its result must be true
	// rec is a prefetched record's key (PrefetchRecord): the statement
	// reads it into tx.records.
	rec *string
	// from is the earlier member of the group whose write this is,
	// carried to this tx to send (see tryGroup); nil for the tx's own.
	from *request
}

var errDone = errors.New("pgstore: transaction used after its Update or View returned")

func newTx(ctx context.Context, c *pgx.Conn, ro bool, pre ...string) *tx {
	t := &tx{ctx: ctx, c: c, ro: ro, pre: pre}
	if !ro { // a View caches nothing
		t.acct, t.channels, t.locked = map[wallet.Address]*acctState{}, map[speed.ChannelID]bool{}, map[lockKey]bool{}
	}
	return t
}

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

func (t *tx) queue(what, sql string, args ...any) {
	t.q = append(t.q, queued{what: what, sql: sql, args: args})
}

// batch returns what waits to be sent (what an earlier member of the group
// left to send, pre, then the queued writes) as a batch, with then
// appended, and clears it; ws are its statements.
func (t *tx) batch(then ...queued) (b *pgx.Batch, ws []queued) {
	b = &pgx.Batch{}
	ws, t.carry = t.carry, nil
	ws = t.pending(ws, nil, then...)
	for _, w := range ws {
		b.Queue(w.sql, w.args...)
	}
	return b, ws
}

// pending appends to ws what this tx has not sent (pre, then the queued
// writes), then then, marked as from's, and clears it.
func (t *tx) pending(ws []queued, from *request, then ...queued) []queued {
	n := len(ws)
	if !t.sent {
		for _, p := range t.pre {
			ws = append(ws, queued{what: "begin", sql: p})
		}
		t.sent = true
	}
	ws = append(t.moneyWrites(append(ws, t.q...)), then...)
	t.q = nil
	for i := n; i < len(ws); i++ {
		ws[i].from = from
	}
	return ws
}

// execAll reads the results of a batch's statements, ws. A statement an
// earlier member left (carried) that failed is noted in carryFrom.
func (t *tx) execAll(br pgx.BatchResults, ws []queued) error {
	for _, w := range ws {
		if err := t.exec(br, w); err != nil {
			if w.from != nil {
				t.carryFrom = w.from
			}
			return t.failed(w.what, err)
		}
	}
	return nil
}

// exec reads the result of a batch's next statement, w.
func (t *tx) exec(br pgx.BatchResults, w queued) error {
	switch {
	case w.try:
		var got bool
		if err := br.QueryRow().Scan(&got); err != nil {
			return err
		}
		if !got {
			// What the batch does after it is rolled back with the
			// savepoint.
			return errWouldWait
		}
		return nil
	case w.rec != nil:
		return t.scanRecord(br, *w.rec)
	}
	_, err := br.Exec()
	return err
}

// flush sends what waits, and then, in one round trip.
func (t *tx) flush(then ...queued) error {
	if (t.sent || len(t.pre) == 0) && len(t.q) == 0 && len(t.dirty) == 0 && len(t.carry) == 0 && len(then) == 0 {
		return nil
	}
	b, ws := t.batch(then...)
	br := t.c.SendBatch(t.ctx, b)
	err := t.execAll(br, ws)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = t.failed("batch", cerr)
	}
	return err
}

// queryRow runs a one-row query after what waits, in one round trip, and
// scans its row; pgx.ErrNoRows comes back as is.
func (t *tx) queryRow(what, sql string, args []any, dest ...any) error {
	if t.sent && len(t.q) == 0 && len(t.dirty) == 0 && len(t.carry) == 0 {
		err := t.c.QueryRow(t.ctx, sql, args...).Scan(dest...)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return t.failed(what, err)
		}
		return err
	}
	return t.queryRows(what, rowQuery{sql, args, dest})[0]
}

// rowQuery is a one-row query for queryRows.
type rowQuery struct {
	sql  string
	args []any
	dest []any
}

// queryRows runs one-row queries after what waits, in one round trip, each
// (a statement of its own) seeing what committed before it, and scans their
// rows; pgx.ErrNoRows comes back as is, one error per query.
func (t *tx) queryRows(what string, qs ...rowQuery) []error {
	errs := make([]error, len(qs))
	b, ws := t.batch()
	for _, q := range qs {
		b.Queue(q.sql, q.args...)
	}
	br := t.c.SendBatch(t.ctx, b)
	err := t.execAll(br, ws)
	for i, q := range qs {
		if err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = br.QueryRow().Scan(q.dest...); errs[i] != nil && !errors.Is(errs[i], pgx.ErrNoRows) {
			err = t.failed(what, errs[i])
			errs[i] = err
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = t.failed(what, cerr)
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// query runs a query of several rows after what waits, collecting them
// with fn.
func query[T any](t *tx, what, sql string, fn func(pgx.CollectableRow) (T, error), args ...any) ([]T, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	rows, err := t.c.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, t.failed(what, err)
	}
	out, err := pgx.CollectRows(rows, fn)
	if err != nil {
		return nil, t.failed(what, err)
	}
	return out, nil
}

// Balances.

func (t *tx) Balance(a wallet.Address) (uint64, error) {
	if err := t.check(false); err != nil {
		return 0, err
	}
	if t.ro {
		var v int64
		err := t.queryRow("balance", `SELECT balance FROM accounts WHERE address = $1`, []any{a[:]}, &v)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return unamount(v), err
	}
	if ac, ok := t.acct[a]; ok {
		return unamount(ac.bal), nil
	}
	ac, err := t.load(a)
	if err != nil {
		return 0, err
	}
	return unamount(ac.bal), nil
}

// load reads and locks an account's row (its balance and last seq), an
// absent one under the key's lock, and caches it; a balance already set
// here is kept.
func (t *tx) load(a wallet.Address) (*acctState, error) {
	var v, seq int64
	sql := `SELECT balance, last_seq FROM accounts WHERE address = $1` + t.forUpdate()
	err := t.queryRow("balance", sql, []any{a[:]}, &v, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		// Absent: inserted with a zero balance (after waiting for an
		// Update inserting it meanwhile), then locked by its row.
		t.queue("balance", insertAccount, a[:])
		err = t.queryRow("balance", sql, []any{a[:]}, &v, &seq)
	}
	if err != nil {
		return nil, err
	}
	ac := t.acct[a]
	if ac == nil {
		ac = &acctState{bal: v}
		t.acct[a] = ac
	}
	ac.seq, ac.seqKnown, ac.exists = seq, true, true
	return ac, nil
}

// insertAccount gives an account absent when read a row, with a zero
// balance and no history, which Balance reports as it would the absent
// account: locking the row then locks the key. Reads of accounts rely on
// row locks only, so that two Updates reading the same absent account
// never both see it absent.
const insertAccount = `INSERT INTO accounts (address, balance) VALUES ($1, 0) ON CONFLICT (address) DO NOTHING`

// touch marks an account as to be written.
func (t *tx) touch(a wallet.Address, ac *acctState) {
	if !ac.dirty {
		ac.dirty = true
		t.dirty = append(t.dirty, a)
	}
}

// forUpdate is the locking clause of an Update's row reads: rows locked
// until commit, and in a group's later Updates (wait-die) no waiting.
func (t *tx) forUpdate() string {
	if t.try {
		return ` FOR UPDATE NOWAIT`
	}
	return ` FOR UPDATE`
}

func (t *tx) SetBalance(a wallet.Address, v uint64) error {
	if err := t.check(true); err != nil {
		return err
	}
	b, err := amount("balance", v)
	if err != nil {
		return err
	}
	// Written with the next round trip (accountWrites): an UPDATE of a
	// row read (and locked) here, a HOT update with no index probe;
	// otherwise the key's lock, then an upsert.
	ac := t.acct[a]
	if ac == nil {
		t.lock('a', a[:])
		ac = &acctState{}
		t.acct[a] = ac
	}
	ac.bal = b
	t.touch(a, ac)
	return nil
}

// Channels.

func (t *tx) Channel(id speed.ChannelID) (store.Channel, error) {
	if err := t.check(false); err != nil {
		return store.Channel{}, err
	}
	var r channelRow
	sql := `SELECT ` + channelCols + ` FROM channels WHERE id = $1`
	var err error
	if t.ro {
		err = t.queryRow("channel", sql, []any{id[:]}, r.dest()...)
	} else {
		// The row locked (Expired skips it), with its accounts; an absent
		// one under the key's lock, then read again.
		sql += t.forUpdate()
		err = t.channelAndAccounts(sql, id, &r)
		if errors.Is(err, pgx.ErrNoRows) {
			t.lock('c', id[:])
			err = t.queryRow("channel", sql, []any{id[:]}, r.dest()...)
		}
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Channel{}, store.ErrNotFound
	case err != nil:
		return store.Channel{}, err
	}
	ch, err := r.channel()
	if err != nil {
		return ch, t.failed("channel", err)
	}
	if !t.ro {
		t.channels[id] = true
	}
	return ch, nil
}

// channelAccounts reads and locks the accounts of a channel (its payer and
// payee), in the statement after the one that locked the channel and the
// one that inserted them if absent (see insertAccount): a statement of its
// own, so that it sees what committed before those locks were granted.
const insertChannelAccounts = `INSERT INTO accounts (address, balance)
	SELECT DISTINCT x, 0 FROM channels c CROSS JOIN LATERAL (VALUES (c.payer), (c.payee)) v(x) WHERE c.id = $1
	ORDER BY x ON CONFLICT (address) DO NOTHING`

const channelAccounts = `SELECT address, balance, last_seq FROM accounts WHERE address IN
	(SELECT payer FROM channels WHERE id = $1 UNION ALL SELECT payee FROM channels WHERE id = $1)
	ORDER BY address`

// channelAndAccounts reads (sql) and locks a channel and then its accounts,
// in one round trip after what waits, and caches the accounts as Balance
// would; pgx.ErrNoRows comes back as is.
func (t *tx) channelAndAccounts(sql string, id speed.ChannelID, r *channelRow) error {
	b, ws := t.batch()
	b.Queue(sql, id[:])
	b.Queue(insertChannelAccounts, id[:])
	b.Queue(channelAccounts+t.forUpdate(), id[:])
	br := t.c.SendBatch(t.ctx, b)
	err := t.execAll(br, ws)
	if err == nil {
		if err = br.QueryRow().Scan(r.dest()...); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			err = t.failed("channel", err)
		}
	}
	if err == nil {
		if _, aerr := br.Exec(); aerr != nil {
			err = t.failed("channel's accounts", aerr)
		}
	}
	if err == nil {
		if aerr := t.scanAccounts(br); aerr != nil {
			err = t.failed("channel's accounts", aerr)
		}
	}
	if cerr := br.Close(); cerr != nil && (err == nil || errors.Is(err, pgx.ErrNoRows)) {
		err = t.failed("channel", cerr)
	}
	return err
}

// scanAccounts caches the accounts a batch's next result holds.
func (t *tx) scanAccounts(br pgx.BatchResults) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		addr     []byte
		bal, seq int64
	)
	for rows.Next() {
		if err := rows.Scan(&addr, &bal, &seq); err != nil {
			return err
		}
		var a wallet.Address
		if len(addr) != len(a) {
			return fmt.Errorf("pgstore: malformed account row")
		}
		copy(a[:], addr)
		if t.acct[a] == nil { // else known already, maybe changed here
			t.acct[a] = &acctState{bal: bal, seq: seq, seqKnown: true, exists: true}
		}
	}
	return rows.Err()
}

func (t *tx) PutChannel(ch store.Channel) error {
	if err := t.check(true); err != nil {
		return err
	}
	args, err := channelArgs(ch)
	if err != nil {
		return err
	}
	if t.channels[ch.ID] { // read and locked here
		t.queue("put channel", `UPDATE channels SET payer = $2, payee = $3, deposit = $4, deadline_ns = $5,
			closed = $6, seq = $7, paid = $8, nonce = $9, opened_ns = $10, closed_ns = $11, close_kind = $12
			WHERE id = $1`, args...)
		return nil
	}
	t.lock('c', ch.ID[:])
	t.queue("put channel", `INSERT INTO channels (`+channelCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (id) DO UPDATE SET payer = excluded.payer, payee = excluded.payee,
			deposit = excluded.deposit, deadline_ns = excluded.deadline_ns, closed = excluded.closed,
			seq = excluded.seq, paid = excluded.paid, nonce = excluded.nonce, opened_ns = excluded.opened_ns,
			closed_ns = excluded.closed_ns, close_kind = excluded.close_kind`, args...)
	t.channels[ch.ID] = true
	return nil
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
	return query(t, "channels of", `
		(SELECT `+channelCols+` FROM channels WHERE payer = $1 ORDER BY opened_ns DESC, id DESC LIMIT $2)
		UNION
		(SELECT `+channelCols+` FROM channels WHERE payee = $1 ORDER BY opened_ns DESC, id DESC LIMIT $2)
		ORDER BY opened_ns DESC, id DESC LIMIT $2`,
		func(r pgx.CollectableRow) (store.Channel, error) {
			var c channelRow
			if err := r.Scan(c.dest()...); err != nil {
				return store.Channel{}, err
			}
			return c.channel()
		}, a[:], limit)
}

func (t *tx) Expired(now time.Time, limit int) ([]speed.ChannelID, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	// In an Update, locking the channels it returns (whose Update then
	// finds them as they are) and skipping those another Update holds.
	sql := `SELECT id FROM channels WHERE NOT closed AND deadline_ns <= $1 ORDER BY deadline_ns, id LIMIT $2`
	if !t.ro {
		sql += ` FOR UPDATE SKIP LOCKED`
	}
	return query(t, "expired", sql,
		func(r pgx.CollectableRow) (speed.ChannelID, error) {
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
		}, clampNanos(now), limit)
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
	if v, ok, err := t.prefetched(key); ok {
		return v, err
	}
	return t.value("record", 'r', key, `SELECT value FROM records WHERE key = $1`, key)
}

func (t *tx) PutRecord(key, value []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := recordKey(key); err != nil {
		return err
	}
	t.lock('r', key)
	if _, ok := t.records[string(key)]; ok {
		t.records[string(key)] = cachedRecord{append([]byte{}, value...), true}
	}
	t.queue("put record", `INSERT INTO records (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, append([]byte(nil), key...), append([]byte{}, value...))
	return nil
}

// History.

func (t *tx) AddEntry(e store.Entry) (uint64, error) {
	if err := t.check(true); err != nil {
		return 0, err
	}
	args, err := entryArgs(e)
	if err != nil {
		return 0, err
	}
	ac := t.acct[e.Account]
	if ac == nil || !ac.seqKnown {
		// Lock the account and learn its last seq.
		if ac, err = t.load(e.Account); err != nil {
			return 0, err
		}
	}
	last := ac.seq
	if last == math.MaxInt64 {
		return 0, fmt.Errorf("pgstore: history of %s is full", e.Account)
	}
	ac.seq = last + 1
	t.touch(e.Account, ac)
	// Written with the next round trip, with the balances (moneyWrites).
	t.entries = append(t.entries, args[0], last+1)
	t.entries = append(t.entries, args[1:]...)
	return uint64(last + 1), nil
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
	return query(t, "history", `SELECT seq, time_ns, kind, credit, debit, balance, ref, counterparty, memo, service
		FROM entries WHERE account = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
		func(r pgx.CollectableRow) (store.Entry, error) { return scanEntry(r, a) }, a[:], b, limit)
}

// Totals.

func (t *tx) Totals() (balances, escrow uint64, err error) {
	if err := t.check(false); err != nil {
		return 0, 0, err
	}
	// sum(bigint) is numeric, exact; it comes back as text so that a sum
	// beyond uint64 is an error rather than a wrong number.
	var b, e string
	err = t.queryRow("totals", `SELECT
		(SELECT COALESCE(sum(balance), 0) FROM accounts)::text,
		(SELECT COALESCE(sum(deposit), 0) FROM channels WHERE NOT closed)::text`, nil, &b, &e)
	if err != nil {
		return 0, 0, err
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
	return t.value("meta", 'm', []byte(key), `SELECT value FROM meta WHERE key = $1`, key)
}

// value locks lockKey in table, then reads the one value query selects
// with arg as $1: store.ErrNotFound when there is no row.
func (t *tx) value(what string, table byte, lockKey []byte, query string, arg any) ([]byte, error) {
	t.lock(table, lockKey)
	var v []byte
	err := t.queryRow(what, query, []any{arg}, &v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, err
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
	t.lock('m', []byte(key))
	t.queue("put meta", `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, append([]byte{}, value...))
	return nil
}
