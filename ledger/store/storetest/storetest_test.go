package storetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// memStore is a trivially correct store.Store, to check the suite itself: a
// lock serializes Updates, each of which works on a copy of the state that
// replaces it on success. It is a test of the tests, not a backend. Its bugs
// field, zero in TestMemStore, injects faults the suite must catch.
type memStore struct {
	data *memData // shared by reopened stores
	bugs bugs
}

type bugs struct {
	noRollback   bool // an Update whose fn fails still commits
	lostUpdates  bool // Updates run concurrently on snapshots, last commit wins
	writableView bool // writes in View are accepted (and dropped)
	closedExpire bool // closed channels count as open
	shareBuffers bool // values are stored and returned without copying
	oldestFirst  bool // History and ChannelsOf in the wrong order
	ignoreCtx    bool // Update ignores its context
}

func (b bugs) String() string {
	var s []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{b.noRollback, "noRollback"}, {b.lostUpdates, "lostUpdates"}, {b.writableView, "writableView"},
		{b.closedExpire, "closedExpire"}, {b.shareBuffers, "shareBuffers"}, {b.oldestFirst, "oldestFirst"},
		{b.ignoreCtx, "ignoreCtx"},
	} {
		if f.on {
			s = append(s, f.name)
		}
	}
	return strings.Join(s, "+")
}

type memData struct {
	mu    sync.RWMutex
	state *memState
}

type memState struct {
	balances map[wallet.Address]uint64
	channels map[speed.ChannelID]store.Channel
	records  map[string][]byte
	entries  map[wallet.Address][]store.Entry
	meta     map[string][]byte
}

func newMemState() *memState {
	return &memState{
		balances: map[wallet.Address]uint64{},
		channels: map[speed.ChannelID]store.Channel{},
		records:  map[string][]byte{},
		entries:  map[wallet.Address][]store.Entry{},
		meta:     map[string][]byte{},
	}
}

func (s *memState) clone() *memState {
	c := &memState{
		balances: maps.Clone(s.balances),
		channels: maps.Clone(s.channels),
		records:  maps.Clone(s.records), // values are never modified in place
		entries:  map[wallet.Address][]store.Entry{},
		meta:     maps.Clone(s.meta),
	}
	for a, es := range s.entries {
		c.entries[a] = slices.Clone(es)
	}
	return c
}

func (m *memStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil && !m.bugs.ignoreCtx {
		return err
	}
	if m.bugs.lostUpdates {
		m.data.mu.RLock()
		tx := &memTx{s: m.data.state.clone(), bugs: m.bugs}
		m.data.mu.RUnlock()
		runtime.Gosched()
		if err := fn(tx); err != nil {
			return err
		}
		m.data.mu.Lock()
		m.data.state = tx.s
		m.data.mu.Unlock()
		return nil
	}
	m.data.mu.Lock()
	defer m.data.mu.Unlock()
	tx := &memTx{s: m.data.state.clone(), bugs: m.bugs}
	err := fn(tx)
	if err == nil || m.bugs.noRollback {
		m.data.state = tx.s
	}
	return err
}

func (m *memStore) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.data.mu.RLock()
	defer m.data.mu.RUnlock()
	if m.bugs.writableView {
		return fn(&memTx{s: m.data.state.clone(), bugs: m.bugs})
	}
	return fn(&memTx{s: m.data.state, ro: true, bugs: m.bugs})
}

func (m *memStore) Close() error { return nil }

type memTx struct {
	s    *memState
	ro   bool
	bugs bugs
}

func (t *memTx) clone(b []byte) []byte {
	if t.bugs.shareBuffers {
		return b
	}
	return bytes.Clone(b)
}

func (t *memTx) Balance(a wallet.Address) (uint64, error) { return t.s.balances[a], nil }

func (t *memTx) SetBalance(a wallet.Address, v uint64) error {
	if t.ro {
		return store.ErrReadOnly
	}
	t.s.balances[a] = v
	return nil
}

func (t *memTx) Channel(id speed.ChannelID) (store.Channel, error) {
	ch, ok := t.s.channels[id]
	if !ok {
		return store.Channel{}, store.ErrNotFound
	}
	return ch, nil
}

func (t *memTx) PutChannel(ch store.Channel) error {
	if t.ro {
		return store.ErrReadOnly
	}
	t.s.channels[ch.ID] = ch
	return nil
}

func (t *memTx) open(ch store.Channel) bool { return !ch.Closed || t.bugs.closedExpire }

func (t *memTx) ChannelsOf(a wallet.Address, limit int) ([]store.Channel, error) {
	var out []store.Channel
	for _, ch := range t.s.channels {
		if ch.Payer == a || ch.Payee == a {
			out = append(out, ch)
		}
	}
	slices.SortFunc(out, func(x, y store.Channel) int {
		if c := y.OpenedAt.Compare(x.OpenedAt); c != 0 {
			return c
		}
		return bytes.Compare(y.ID[:], x.ID[:])
	})
	if t.bugs.oldestFirst {
		slices.Reverse(out)
	}
	return out[:min(len(out), max(limit, 0))], nil
}

func (t *memTx) Expired(now time.Time, limit int) ([]speed.ChannelID, error) {
	var out []store.Channel
	for _, ch := range t.s.channels {
		if t.open(ch) && !ch.Deadline.After(now) {
			out = append(out, ch)
		}
	}
	slices.SortFunc(out, func(x, y store.Channel) int {
		if c := x.Deadline.Compare(y.Deadline); c != 0 {
			return c
		}
		return bytes.Compare(x.ID[:], y.ID[:])
	})
	ids := make([]speed.ChannelID, 0, len(out))
	for _, ch := range out[:min(len(out), max(limit, 0))] {
		ids = append(ids, ch.ID)
	}
	return ids, nil
}

func (t *memTx) Record(key []byte) ([]byte, error) {
	v, ok := t.s.records[string(key)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return t.clone(v), nil
}

func (t *memTx) PutRecord(key, value []byte) error {
	if t.ro {
		return store.ErrReadOnly
	}
	if len(key) == 0 || len(key) > store.MaxRecordKey {
		return fmt.Errorf("memstore: record key of %d bytes", len(key))
	}
	t.s.records[string(key)] = t.clone(value)
	return nil
}

func (t *memTx) AddEntry(e store.Entry) (uint64, error) {
	if t.ro {
		return 0, store.ErrReadOnly
	}
	es := t.s.entries[e.Account]
	e.Seq = uint64(len(es)) + 1
	t.s.entries[e.Account] = append(es, e)
	return e.Seq, nil
}

func (t *memTx) History(a wallet.Address, before uint64, limit int) ([]store.Entry, error) {
	var out []store.Entry
	es := t.s.entries[a]
	for i := len(es) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || es[i].Seq < before {
			out = append(out, es[i])
		}
	}
	if t.bugs.oldestFirst {
		slices.Reverse(out)
	}
	return out, nil
}

func (t *memTx) Totals() (balances, escrow uint64, err error) {
	for _, b := range t.s.balances {
		balances += b
	}
	for _, ch := range t.s.channels {
		if t.open(ch) {
			escrow += ch.Deposit
		}
	}
	return balances, escrow, nil
}

func (t *memTx) Meta(key string) ([]byte, error) {
	v, ok := t.s.meta[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return t.clone(v), nil
}

func (t *memTx) PutMeta(key string, value []byte) error {
	if t.ro {
		return store.ErrReadOnly
	}
	t.s.meta[key] = t.clone(value)
	return nil
}

func openMem(t *testing.T) store.Store {
	return &memStore{data: &memData{state: newMemState()}}
}

func TestMemStore(t *testing.T) {
	Run(t, openMem)
}

func TestMemStoreReopen(t *testing.T) {
	RunReopen(t, openMem, func(t *testing.T, old store.Store) store.Store {
		return &memStore{data: old.(*memStore).data}
	})
}

// TestSuiteCatchesBugs runs subtests of the suite against stores with one
// bug each and checks that they fail, so that a pass means something.
func TestSuiteCatchesBugs(t *testing.T) {
	for _, tc := range []struct {
		test string
		bug  bugs
	}{
		{"Rollback", bugs{noRollback: true}},
		{"ConcurrentTransfers", bugs{lostUpdates: true}},
		{"ViewReadOnly", bugs{writableView: true}},
		{"ChannelReplace", bugs{closedExpire: true}},
		{"Totals", bugs{closedExpire: true}},
		{"BuffersNotShared", bugs{shareBuffers: true}},
		{"History", bugs{oldestFirst: true}},
		{"CancelledContext", bugs{ignoreCtx: true}},
		{"ChannelsOf", bugs{oldestFirst: true}},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.test, tc.bug), func(t *testing.T) {
			i := slices.IndexFunc(suite, func(s struct {
				name string
				fn   func(t testing.TB, s store.Store)
			}) bool {
				return s.name == tc.test
			})
			if i < 0 {
				t.Fatalf("no test %s in the suite", tc.test)
			}
			ft := &failT{TB: t}
			done := make(chan struct{})
			go func() { // Fatal ends this goroutine with runtime.Goexit
				defer close(done)
				suite[i].fn(ft, &memStore{data: &memData{state: newMemState()}, bugs: tc.bug})
			}()
			<-done
			if !ft.hasFailed() {
				t.Errorf("the suite's %s test passed against a store with bugs %+v", tc.test, tc.bug)
			} else {
				t.Logf("caught: %s", ft.first)
			}
		})
	}
	// And the fault injection itself is off by default: a correct store
	// passes every test (checked by TestMemStore).
}

// failT records failures instead of reporting them.
type failT struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	first  string
}

func (f *failT) fail(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failed {
		f.failed, f.first = true, msg
	}
}

func (f *failT) hasFailed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *failT) Helper()                        {}
func (f *failT) Logf(string, ...any)            {}
func (f *failT) Log(...any)                     {}
func (f *failT) Error(args ...any)              { f.fail(fmt.Sprint(args...)) }
func (f *failT) Errorf(format string, a ...any) { f.fail(fmt.Sprintf(format, a...)) }
func (f *failT) Fatal(args ...any)              { f.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (f *failT) Fatalf(format string, a ...any) { f.fail(fmt.Sprintf(format, a...)); runtime.Goexit() }
func (f *failT) Fail()                          { f.fail("Fail") }
func (f *failT) FailNow()                       { f.fail("FailNow"); runtime.Goexit() }
func (f *failT) Failed() bool                   { return f.hasFailed() }
func (f *failT) Skip(...any)                    { runtime.Goexit() }
func (f *failT) Skipf(string, ...any)           { runtime.Goexit() }
func (f *failT) SkipNow()                       { runtime.Goexit() }
