package pgstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// leadLock is the session-level advisory lock that elects, among the
// processes sharing a database, the one that runs Lead's fn
// ("btspeee" in ASCII, migrateLock + 1).
const leadLock int64 = migrateLock + 1

// Lead runs fn while this store's process leads the processes sharing its
// database, and returns when ctx ends. Leading is holding a session-level
// advisory lock on a connection of its own (outside the pool): the first
// to take it leads, the others try again every retry. The lock goes with
// the connection, so a leader that dies (even by SIGKILL) or loses its
// connection stops leading as soon as PostgreSQL sees the connection gone;
// the leader checks its connection every retry and cancels fn's context
// when the check fails, then tries to lead again. fn should return soon
// after its context ends; Lead waits for it.
//
// Loops that must not run twice at once (the exchange's withdrawals) run
// under Lead; so does the expiry loop, which would be safe twice over but
// need not be.
func (s *Store) Lead(ctx context.Context, retry time.Duration, fn func(ctx context.Context)) error {
	for {
		c, err := s.tryLead(ctx)
		if err == nil && c != nil {
			s.lead(ctx, c, retry, fn)
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// tryLead connects and takes the lock, returning the connection holding it,
// or nil if another process holds it.
func (s *Store) tryLead(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("pgstore: lead: %w", err)
	}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leadLock).Scan(&got); err != nil || !got {
		c.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return c, nil
}

// lead runs fn until ctx ends, fn returns or c fails, then closes c, which
// lets the lock go.
func (s *Store) lead(ctx context.Context, c *pgx.Conn, every time.Duration, fn func(ctx context.Context)) {
	closeCtx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer ccancel()
	defer c.Close(closeCtx)
	// The grace: a previous leader that lost its connection without dying
	// has checked it (every) and stopped by then.
	g := time.NewTimer(leadGrace * every)
	select {
	case <-ctx.Done():
		g.Stop()
		return
	case <-g.C:
	}
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		fn(lctx)
	}()
	t := time.NewTicker(every)
	for lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-t.C:
			pctx, pcancel := context.WithTimeout(lctx, every)
			if err := c.Ping(pctx); err != nil && lctx.Err() == nil {
				cancel() // the lock may be gone with the connection
			}
			pcancel()
		}
	}
	t.Stop()
	wg.Wait()
}

// leadGrace is how many retry intervals a new leader waits before it runs
// fn.
const leadGrace = 3
