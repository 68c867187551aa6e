package pgstore

import (
	"errors"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/jackc/pgx/v5"
)

// cachedRecord is a record as a tx read it (prefetched) or wrote it.
type cachedRecord struct {
	value []byte
	found bool
}

var _ store.RecordPrefetcher = (*tx)(nil)

// PrefetchRecord implements store.RecordPrefetcher: the record's lock and
// read are queued, sent with the tx's next statement, and Record answers
// from what they read, saving it a round trip. A key Record would refuse is
// ignored here (Record refuses it).
func (t *tx) PrefetchRecord(key []byte) {
	if t.check(false) != nil || recordKey(key) != nil {
		return
	}
	if _, ok := t.records[string(key)]; ok {
		return
	}
	if t.records == nil {
		t.records = map[string]cachedRecord{}
	}
	for _, w := range t.q {
		if w.rec != nil && *w.rec == string(key) {
			return // already queued
		}
	}
	t.lock('r', key)
	k := string(key)
	t.q = append(t.q, queued{what: "record", sql: `SELECT value FROM records WHERE key = $1`, args: []any{[]byte(k)}, rec: &k})
}

// scanRecord reads a prefetched record's row from a batch's next result.
func (t *tx) scanRecord(br pgx.BatchResults, key string) error {
	var v []byte
	err := br.QueryRow().Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		t.records[key] = cachedRecord{}
	case err != nil:
		return err
	default:
		t.records[key] = cachedRecord{nonNil(v), true}
	}
	return nil
}

// prefetched answers Record from a prefetch, sending it first if it is
// still queued; ok is false for a record not prefetched.
func (t *tx) prefetched(key []byte) (v []byte, ok bool, err error) {
	if t.records == nil {
		return nil, false, nil
	}
	c, ok := t.records[string(key)]
	if !ok {
		queued := false
		for _, w := range t.q {
			queued = queued || (w.rec != nil && *w.rec == string(key))
		}
		if !queued {
			return nil, false, nil
		}
		if err := t.flush(); err != nil {
			return nil, true, err
		}
		c = t.records[string(key)]
	}
	if !c.found {
		return nil, true, store.ErrNotFound
	}
	return append([]byte{}, c.value...), true, nil
}
