package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/jackc/pgx/v5"
)

// Group commit: Update hands its fn to the store's workers, each of which
// owns one connection at a time. A worker takes every Update waiting (up to
// maxGroup), since the ones that arrive while its previous commit was in
// flight are what make groups, and runs them in one transaction, each fn
// but the first between a SAVEPOINT and its RELEASE, each one's writes sent
// with the next one's first read, then commits once: one commit record
// and one fsync for the group. An fn that fails (its own error, or a
// statement PostgreSQL refused) is rolled back to its savepoint and gets
// its error; the others go on. Deadlocks between groups are avoided by
// wait-die: only a group's first Update (holding nothing else yet) waits for
// a key another transaction holds; a later one that would wait is rolled
// back to its savepoint (releasing its locks) and runs again once the group
// has committed, first in the next one. A lock wait longer than
// lockTimeout, a deadlock or a serialization failure likewise defers the
// Update it hit; an Update runs at most maxAttempts times.

// beginUpdate starts a group's transaction (see the package doc for why
// READ COMMITTED with key locks is serializable). Updates wait at most
// lockTimeout for a lock (the pool's connections have it as their
// lock_timeout, see ensureDurableCommit), then fail (55P03) and run again
// after a backoff, rather than wait deadlock_timeout (1 s by default,
// settable only by superusers) for PostgreSQL to break a deadlock between
// two groups.
const (
	beginUpdate = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
	beginView   = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	savepoint   = "SAVEPOINT u"
	lockTimeout = 100 * time.Millisecond
	// maxAttempts bounds how many times Update runs fn when transactions
	// conflict.
	maxAttempts = 40
	// maxGroup bounds the Updates in one transaction.
	maxGroup = 64
	// maxQueue bounds the Updates waiting for a worker; more callers
	// wait to hand theirs over.
	maxQueue = 1024
)

var errClosed = errors.New("pgstore: the store is closed")

// request is one Update for the workers.
type request struct {
	ctx      context.Context
	fn       func(store.Tx) error
	err      error
	attempts int  // runs that met a conflict
	sp       bool // its last run was in a savepoint (not a group's first)
	done     chan struct{}
}

// group is the workers and their queue.
type group struct {
	max     int // Updates per transaction; tests set 1
	workers int
	mu      sync.RWMutex
	closed  bool
	reqs    chan *request
	ctx     context.Context // the workers' statements; cancelled after they end
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// queued, when set (by tests, before any Update), runs each time an
	// Update enters the queue.
	queued func()
}

func (g *group) start(s *Store, workers, max int) {
	g.max, g.workers = max, workers
	g.reqs = make(chan *request, maxQueue)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for range workers {
		g.wg.Add(1)
		go g.work(s)
	}
}

// stop lets the workers finish what was submitted, then waits for them.
func (g *group) stop() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.reqs)
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.cancel()
}

func (g *group) work(s *Store) {
	defer g.wg.Done()
	for r := range g.reqs {
		reqs := []*request{r}
	fill:
		for len(reqs) < g.max {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break fill
				}
				reqs = append(reqs, r)
			default:
				break fill
			}
		}
		s.runGroup(g.ctx, reqs)
		for _, r := range reqs {
			close(r.done)
		}
	}
}

// Update implements store.Store: fn runs in a serializable transaction
// (key locks, see the package doc),
// maybe with other Updates (group commit, above), again after a
// serialization failure, deadlock or lock timeout (up to maxAttempts runs),
// and Update returns nil once PostgreSQL has committed it durably. It returns
// fn's error as is (nothing is written), or an error from the database. fn
// runs on one of the store's goroutines; Update waits for it to return,
// even when ctx ends, and ctx's end only stops fn from starting.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan struct{})}
	g := &s.g
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return errClosed
	}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		g.mu.RUnlock()
		return fmt.Errorf("pgstore: %w", ctx.Err())
	}
	g.mu.RUnlock()
	if g.queued != nil {
		g.queued()
	}
	<-r.done
	if r.err == nil {
		s.updates.Add(1)
	}
	return r.err
}

// runGroup runs reqs until they are committed or have failed, setting each
// one's err. Each request runs at most maxAttempts times; every round
// commits or fails at least its first member, which waits for its locks.
func (s *Store) runGroup(ctx context.Context, reqs []*request) {
	pending := reqs
	for round := 1; len(pending) > 0; round++ {
		deferred, err := s.tryGroup(ctx, pending)
		if err != nil {
			if !retryable(err) || ctx.Err() != nil {
				for _, r := range pending {
					if r.err == nil {
						r.err = err
					}
				}
				return
			}
			s.retries.Add(1)
			deferred = pending
		} else {
			s.retries.Add(int64(len(deferred)))
		}
		pending = pending[:0:0]
		for _, r := range deferred {
			if r.attempts++; r.attempts < maxAttempts {
				pending = append(pending, r)
			} else if r.err == nil {
				r.err = err
			}
		}
		if round < 3 && err == nil {
			continue // the deferred go first, waiting for their locks
		}
		// Random backoff, growing with the rounds, so that the
		// transactions that conflicted do not meet again.
		d := time.Duration(rand.Int64N(int64(min(time.Duration(1<<min(round, 10))*100*time.Microsecond, 50*time.Millisecond)) + 1))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// tryGroup runs reqs in one transaction. Each member that succeeds is
// committed; one that fails on its own gets its error; one that met a
// conflict (a key another transaction holds, see tx.lock) is rolled back to
// its savepoint, which releases its locks, and returned in deferred, to run
// again. An error is for the whole group: nothing committed, or a commit
// whose outcome is unknown.
//
// A member's writes (and its savepoint's release) are not sent when its fn
// returns but carried to the next member, sent ahead of that one's first
// read, and the last member's with the COMMIT: one round trip per member
// rather than two. Should a carried write fail, its member is rolled back
// to its savepoint and gets the error, and the members after it run again.
func (s *Store) tryGroup(ctx context.Context, reqs []*request) (deferred []*request, err error) {
	for _, r := range reqs {
		r.err = nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	defer conn.Release() // a connection left in a transaction is destroyed
	g := groupTx{s: s, ctx: ctx, c: conn.Conn()}
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("pgstore: %w", err)
			continue
		}
		if err := g.run(r); err != nil {
			return nil, err
		}
	}
	if err := g.commit(); err != nil {
		return nil, err
	}
	return g.deferred, nil
}

// groupTx is a group's transaction as tryGroup runs it.
type groupTx struct {
	s        *Store
	ctx      context.Context
	c        *pgx.Conn
	begun    bool       // BEGIN sent or carried
	held     bool       // a member's locks are held (wait-die)
	carry    []queued   // writes of the members in carried, not sent yet
	carried  []*request // members that succeeded, with writes in carry
	deferred []*request
}

// run runs one member.
func (g *groupTx) run(r *request) error {
	// The first member runs in the transaction itself: should it fail,
	// the transaction is rolled back whole and the next one begins
	// another.
	t := newTx(g.ctx, g.c, false, savepoint)
	if !g.begun {
		t = newTx(g.ctx, g.c, false, beginUpdate)
	}
	t.sp, t.try, t.carry = g.begun, g.held, g.carry
	r.sp = t.sp
	ferr := member(t, r.fn)
	if t.carryFrom != nil {
		return g.carryFailed(t, r)
	}
	if t.carry == nil { // sent
		g.carry, g.carried = nil, nil
	}
	if ferr == nil {
		g.held = g.held || t.sent
		if !t.sent && len(t.q) == 0 && len(t.dirty) == 0 {
			return nil // nothing read nor written
		}
		var release []queued
		if t.sp {
			release = []queued{{what: "release savepoint", sql: "RELEASE SAVEPOINT u"}}
		}
		g.carry = t.pending(t.carry, r, release...)
		g.carried = append(g.carried, r)
		g.begun = true
		return nil
	}
	if t.sent {
		if err := undo(g.ctx, t); err != nil {
			return err
		}
		if !t.sp {
			g.begun = false
		}
	} else {
		g.carry = t.carry // for the next member
	}
	if cerr := conflict(t.err, ferr); cerr != nil {
		r.err = cerr
		g.deferred = append(g.deferred, r)
		return nil
	}
	r.err = ferr
	return nil
}

// errRerun defers the members after one whose carried write failed.
var errRerun = errors.New("pgstore: an earlier update in the same transaction failed; running again")

// carryFailed handles a carried write of an earlier member that failed
// (t.carryFrom) in t's batch, which PostgreSQL then skipped: that member is
// rolled back to its savepoint (a group's first, the whole transaction)
// and gets the error (or runs again, for a conflict); the members carried
// after it and r run again.
func (g *groupTx) carryFailed(t *tx, r *request) error {
	from := t.carryFrom
	i := slices.Index(g.carried, from)
	undoTx := &tx{c: g.c, sent: true, sp: from.sp}
	if err := undo(g.ctx, undoTx); err != nil {
		return err
	}
	if !from.sp {
		g.begun, g.held = false, false
	}
	if retryable(t.err) {
		from.err = t.err
		g.deferred = append(g.deferred, from)
	} else {
		from.err = fmt.Errorf("pgstore: %w", t.err)
	}
	later := g.carried[i+1:]
	if r != nil {
		later = append(later, r)
	}
	for _, l := range later {
		l.err = errRerun
		g.deferred = append(g.deferred, l)
	}
	g.carry, g.carried = nil, nil
	return nil
}

// commit sends what the members left, with the COMMIT.
func (g *groupTx) commit() error {
	for g.begun {
		t := &tx{ctx: g.ctx, c: g.c, sent: true, carry: g.carry}
		err := t.flush(queued{what: "commit", sql: "COMMIT"})
		if t.carryFrom != nil {
			// No member of its own to run again (nil), but the
			// carried ones after the one that failed.
			if err := g.carryFailed(t, nil); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			abort(g.ctx, g.c)
			return fmt.Errorf("pgstore: commit: %w", err)
		}
		g.s.commits.Add(1)
		return nil
	}
	return nil
}

// undo rolls back what a failed member sent: to its savepoint, or the
// whole transaction for a group's first.
func undo(ctx context.Context, t *tx) error {
	switch {
	case !t.sent:
		return nil
	case !t.sp:
		if _, err := t.c.Exec(ctx, "ROLLBACK"); err != nil {
			abort(ctx, t.c)
			return fmt.Errorf("pgstore: rolling back: %w", err)
		}
	default:
		if _, err := t.c.Exec(ctx, "ROLLBACK TO SAVEPOINT u; RELEASE SAVEPOINT u"); err != nil {
			abort(ctx, t.c)
			return fmt.Errorf("pgstore: rolling back to a savepoint: %w", err)
		}
	}
	return nil
}

// member runs one Update's fn on t, returning its error; what fn wrote
// waits in t, unsent.
func member(t *tx, fn func(store.Tx) error) error {
	ferr := runFn(t, fn)
	t.done = true
	switch {
	case ferr != nil:
		return ferr
	case t.err != nil:
		// fn ignored a failed statement; the transaction is aborted.
		return fmt.Errorf("pgstore: a statement failed and fn went on: %w", t.err)
	}
	return nil
}

// runFn calls fn, turning a panic into its error: fn runs on a worker
// goroutine, where a panic would end the process rather than one request.
func runFn(t *tx, fn func(store.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pgstore: the update panicked: %v", p)
		}
	}()
	return fn(t)
}

// conflict says whether a member failed for a conflict with another
// transaction (retryable), so that it runs again, rather than on its own.
// fn failing because a statement hit a conflict, and hiding that, runs again
// too.
func conflict(stmtErr, fnErr error) error {
	switch {
	case stmtErr != nil && retryable(stmtErr) && !retryable(fnErr):
		return fmt.Errorf("pgstore: %w (fn returned: %v)", stmtErr, fnErr)
	case retryable(fnErr):
		return fnErr
	}
	return nil
}

// abort rolls the connection's transaction back; should that fail, the
// pool destroys the connection, which is not idle.
func abort(ctx context.Context, c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = c.Exec(ctx, "ROLLBACK")
}

// View implements store.Store: fn runs in a REPEATABLE READ READ ONLY
// transaction, so all its reads see one snapshot. The transaction begins
// with fn's first statement, in the same round trip.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	defer conn.Release()
	t := newTx(ctx, conn.Conn(), true, beginView)
	ferr := fn(t)
	t.done = true
	if t.sent {
		abort(ctx, conn.Conn()) // read only: nothing to commit
	}
	switch {
	case ferr != nil:
		return ferr
	case t.err != nil:
		return fmt.Errorf("pgstore: a statement failed and fn went on: %w", t.err)
	}
	return nil
}

var _ store.ChannelReader = (*Store)(nil)

// ReadChannel implements store.ChannelReader: one statement on a pooled
// connection, outside any transaction of its own (one round trip, where a
// View takes two).
func (s *Store) ReadChannel(ctx context.Context, id speed.ChannelID) (store.Channel, error) {
	var r channelRow
	err := s.pool.QueryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE id = $1`, id[:]).Scan(r.dest()...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Channel{}, store.ErrNotFound
	case err != nil:
		return store.Channel{}, fmt.Errorf("pgstore: channel: %w", err)
	}
	return r.channel()
}
