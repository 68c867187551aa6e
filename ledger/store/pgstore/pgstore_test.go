package pgstore

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
	"github.com/btspeed/btspeed/ledger/store/storetest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/jackc/pgx/v5"
)

// The tests run against a real PostgreSQL server: see pgtest for which one,
// and for how they skip (or, with BTSPEED_REQUIRE_PG set, fail) without one.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openAt opens the store at u, closed when t ends.
func openAt(t testing.TB, u string) *Store {
	t.Helper()
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openFresh(t *testing.T) store.Store { return openAt(t, pgtest.NewDB(t)) }

func TestConformance(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, openFresh)
}

func TestReopen(t *testing.T) {
	pgtest.Require(t)
	var mu sync.Mutex
	urls := map[store.Store]string{}
	storetest.RunReopen(t,
		func(t *testing.T) store.Store {
			u := pgtest.NewDB(t)
			s := openAt(t, u)
			mu.Lock()
			urls[s] = u
			mu.Unlock()
			return s
		},
		func(t *testing.T, old store.Store) store.Store {
			mu.Lock()
			u := urls[old]
			mu.Unlock()
			return openAt(t, u)
		})
}

func schemaVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.pool.QueryRow(context.Background(), `SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateFresh(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	if v := schemaVersion(t, s); v != len(migrations) {
		t.Errorf("schema version %d, want %d", v, len(migrations))
	}
	for _, table := range []string{"schema_version", "accounts", "channels", "records", "entries", "meta"} {
		var ok bool
		if err := s.pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s: %v, %v", table, ok, err)
		}
	}
	for _, index := range []string{"channels_open_deadline", "channels_payer", "channels_payee"} {
		var ok bool
		if err := s.pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, index).Scan(&ok); err != nil || !ok {
			t.Errorf("index %s: %v, %v", index, ok, err)
		}
	}
}

func TestReopenIsNoop(t *testing.T) {
	u := pgtest.NewDB(t)
	s := openAt(t, u)
	a := addr(1)
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.SetBalance(a, 42) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		s = openAt(t, u)
		if v := schemaVersion(t, s); v != len(migrations) {
			t.Errorf("schema version %d after reopening, want %d", v, len(migrations))
		}
		var rows int
		if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
			t.Errorf("schema_version has %d rows (%v), want 1", rows, err)
		}
		err := s.View(context.Background(), func(tx store.Tx) error {
			b, err := tx.Balance(a)
			if err == nil && b != 42 {
				t.Errorf("balance %d after reopening, want 42", b)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestFutureVersionRefused(t *testing.T) {
	u := pgtest.NewDB(t)
	openAt(t, u).Close()
	pgtest.Exec(t, u, `UPDATE schema_version SET version = $1`, len(migrations)+1)
	s, err := Open(context.Background(), u)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v, want an error saying it is newer", err)
	}
	t.Logf("refused: %v", err)
}

func TestConcurrentOpen(t *testing.T) {
	u := pgtest.NewDB(t)
	const n = 6
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), u)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open #%d: %v", i, errs[i])
			continue
		}
		if v := schemaVersion(t, stores[i]); v != len(migrations) {
			t.Errorf("Open #%d: schema version %d, want %d", i, v, len(migrations))
		}
		stores[i].Close()
	}
}

func addr(n byte) wallet.Address {
	var a wallet.Address
	a[0] = wallet.AddressPrefix
	a[20] = n
	return a
}

// TestWriteSkew runs the classic write skew: two transactions each read both
// accounts and, seeing 2 units in all, take one from their own. Snapshot
// isolation would let both commit; here the key locks make the second wait
// for the first (or run again), see 1, and take nothing.
func TestWriteSkew(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	s.g.max = 1 // one transaction each, on two workers
	a, b := addr(1), addr(2)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetBalance(a, 1); err != nil {
			return err
		}
		return tx.SetBalance(b, 1)
	}); err != nil {
		t.Fatal(err)
	}
	var (
		runs       [2]int
		wg         sync.WaitGroup
		results    [2]error
		read, done [2]atomic.Bool
	)
	for i, own := range []wallet.Address{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done[i].Store(true)
			results[i] = s.Update(ctx, func(tx store.Tx) error {
				runs[i]++
				ba, err := tx.Balance(a)
				if err != nil {
					return err
				}
				bb, err := tx.Balance(b)
				if err != nil {
					return err
				}
				read[i].Store(true)
				if runs[i] == 1 {
					overlap(t, s, &read[1-i], &done[1-i])
				}
				if ba+bb < 2 {
					return nil
				}
				mine := ba
				if own == b {
					mine = bb
				}
				return tx.SetBalance(own, mine-1)
			})
		}()
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			t.Errorf("Update %d: %v", i, err)
		}
	}
	var sum uint64
	if err := s.View(ctx, func(tx store.Tx) error {
		bal, _, err := tx.Totals()
		sum = bal
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if sum != 1 {
		t.Errorf("after the write skew the balances sum to %d, want 1 (one transaction must have been serialized after the other)", sum)
	}
	t.Logf("fn ran %v times, %d retries", runs, s.retries.Load())
}

// overlap holds a transaction of TestWriteSkew's, after its reads, until
// the other one has read too, waits for a lock (its key locks: it waits
// for this one), or has ended: the two overlap as far as the store lets
// them. It polls the database's lock waits, for up to 30 s.
func overlap(t *testing.T, s *Store, otherRead, otherDone *atomic.Bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !otherRead.Load() && !otherDone.Load() {
		var waiting int
		err := s.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Errorf("reading the lock waits: %v", err)
			return
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Error("the other transaction neither read nor waited for a lock in 30 s")
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLimits checks the values the schema cannot hold are refused, not
// wrapped or truncated.
func TestLimits(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	ctx := context.Background()
	a := addr(1)
	now := time.Now()
	ch := store.Channel{Channel: speed.Channel{ID: speed.ChannelID{1}, Payer: a, Payee: addr(2), Deposit: 5, Deadline: now}, OpenedAt: now}
	for name, fn := range map[string]func(tx store.Tx) error{
		"balance 2^63": func(tx store.Tx) error { return tx.SetBalance(a, 1<<63) },
		"balance max":  func(tx store.Tx) error { return tx.SetBalance(a, math.MaxUint64) },
		"deposit 2^63": func(tx store.Tx) error { c := ch; c.Deposit = 1 << 63; return tx.PutChannel(c) },
		"paid 2^63":    func(tx store.Tx) error { c := ch; c.Paid = 1 << 63; return tx.PutChannel(c) },
		"deadline 2300": func(tx store.Tx) error {
			c := ch
			c.Deadline = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
			return tx.PutChannel(c)
		},
		"opened 1600": func(tx store.Tx) error {
			c := ch
			c.OpenedAt = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
			return tx.PutChannel(c)
		},
		"credit 2^63": func(tx store.Tx) error {
			_, err := tx.AddEntry(store.Entry{Account: a, Time: now, Credit: 1 << 63})
			return err
		},
		"balance entry 2^63": func(tx store.Tx) error {
			_, err := tx.AddEntry(store.Entry{Account: a, Time: now, Balance: 1 << 63})
			return err
		},
		"NUL in ref": func(tx store.Tx) error {
			_, err := tx.AddEntry(store.Entry{Account: a, Time: now, Ref: "a\x00b"})
			return err
		},
		"invalid UTF-8 kind": func(tx store.Tx) error {
			_, err := tx.AddEntry(store.Entry{Account: a, Time: now, Kind: "\xff"})
			return err
		},
		"empty record key": func(tx store.Tx) error { return tx.PutRecord(nil, []byte("v")) },
	} {
		err := s.Update(ctx, fn)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	err := s.View(ctx, func(tx store.Tx) error {
		if b, err := tx.Balance(a); err != nil || b != 0 {
			t.Errorf("balance = %d, %v; want 0", b, err)
		}
		if _, err := tx.Channel(ch.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Channel: %v, want ErrNotFound", err)
		}
		if h, err := tx.History(a, 0, 10); err != nil || len(h) != 0 {
			t.Errorf("History = %v, %v; want none", h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFailedStatementIgnored: if fn swallows the error of a failed
// statement, the transaction is aborted and Update must say so rather than
// report success.
func TestFailedStatementIgnored(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	a := addr(1)
	err := s.Update(context.Background(), func(st store.Tx) error {
		_ = st.SetBalance(a, 5)
		// Break the transaction under the store's feet, as a failing
		// statement would.
		_ = st.(*tx).flush()
		_, err := st.(*tx).c.Exec(st.(*tx).ctx, `SELECT 1/0`)
		st.(*tx).failed("test", err)
		_ = st.SetBalance(a, 6)
		return nil
	})
	if err == nil {
		t.Fatal("Update succeeded after a statement failed")
	}
	_ = s.View(context.Background(), func(tx store.Tx) error {
		if b, _ := tx.Balance(a); b != 0 {
			t.Errorf("balance %d, want 0", b)
		}
		return nil
	})
}

func TestClosed(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	s.Close()
	if err := s.Update(context.Background(), func(tx store.Tx) error { return nil }); err == nil {
		t.Error("Update after Close succeeded")
	}
	if err := s.View(context.Background(), func(tx store.Tx) error { return nil }); err == nil {
		t.Error("View after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSynchronousCommit: the store's connections commit durably even where
// the database default says otherwise.
func TestSynchronousCommit(t *testing.T) {
	u := pgtest.NewDB(t)
	c, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	if err := c.QueryRow(context.Background(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	pgtest.Exec(t, u, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` SET synchronous_commit = off`)
	s := openAt(t, u)
	var v string
	if err := s.pool.QueryRow(context.Background(), `SHOW synchronous_commit`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "on" {
		t.Errorf("synchronous_commit = %s on the store's connection, want on", v)
	}
}

// TestTxAfterReturn: a Tx kept past its Update fails instead of touching
// another transaction.
func TestTxAfterReturn(t *testing.T) {
	s := openAt(t, pgtest.NewDB(t))
	var kept store.Tx
	if err := s.Update(context.Background(), func(tx store.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept.SetBalance(addr(1), 1); err == nil {
		t.Error("SetBalance on a finished Tx succeeded")
	}
	if _, err := kept.Balance(addr(1)); err == nil {
		t.Error("Balance on a finished Tx succeeded")
	}
}

// TestMigrateLastSeq takes a database written before accounts.last_seq
// (schema version 3: an account with a row and a history, one with a
// history and no row) through the migration, and checks that the entries
// added after it continue each history where it stopped.
func TestMigrateLastSeq(t *testing.T) {
	u := pgtest.NewDB(t)
	openAt(t, u).Close()
	a, b, c := addr(1), addr(2), addr(3)
	pgtest.Exec(t, u, `ALTER TABLE accounts DROP COLUMN last_seq`)
	pgtest.Exec(t, u, `UPDATE schema_version SET version = 3`)
	pgtest.Exec(t, u, `INSERT INTO accounts (address, balance) VALUES ($1, 7)`, a[:])
	for _, e := range []struct {
		a   wallet.Address
		seq int
	}{{a, 1}, {a, 2}, {a, 3}, {b, 1}, {b, 2}} {
		pgtest.Exec(t, u, `INSERT INTO entries (account, seq, time_ns, kind, credit, debit, balance, ref, counterparty)
			VALUES ($1, $2, 0, 'transfer', 1, 0, 1, '', $3)`, e.a[:], e.seq, c[:])
	}
	s := openAt(t, u)
	if v := schemaVersion(t, s); v != len(migrations) {
		t.Fatalf("schema version %d, want %d", v, len(migrations))
	}
	want := map[wallet.Address]uint64{a: 4, b: 3, c: 1}
	for _, x := range []wallet.Address{a, b, c} {
		err := s.Update(context.Background(), func(tx store.Tx) error {
			seq, err := tx.AddEntry(store.Entry{Account: x, Kind: "transfer", Credit: 1, Balance: 1, Counterparty: a})
			if err == nil && seq != want[x] {
				t.Errorf("entry of %s after the migration got seq %d, want %d", x, seq, want[x])
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.View(context.Background(), func(tx store.Tx) error {
		for x, n := range want {
			h, err := tx.History(x, 0, 10)
			if err != nil {
				return err
			}
			if uint64(len(h)) != n || h[0].Seq != n {
				t.Errorf("history of %s: %d entries, want %d ending at seq %d", x, len(h), n, n)
			}
		}
		if bal, err := tx.Balance(a); err != nil || bal != 7 {
			t.Errorf("balance of %s after the migration: %d, %v; want 7", a, bal, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
