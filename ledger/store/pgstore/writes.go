package pgstore

import (
	"fmt"
	"strings"
	"sync"
)

// entryCols are the columns of an entry as tx.entries holds them.
const entryCols = `account, seq, time_ns, kind, credit, debit, balance, ref, counterparty, memo, service`

// entryTypes are entryCols' types, for the casts of moneySQL's parameters.
var entryTypes = [...]string{"bytea", "bigint", "bigint", "text", "bigint", "bigint", "bigint", "text", "bytea", "text", "text"}

// moneyWrites appends to ws the writes of the accounts changed and the
// entries added since the last ones, and marks them written. Accounts read
// here (locked by their row, see insertAccount) and the entries go in one
// statement: a close's two balances and two entries are one statement, not
// four. Accounts written and never read (locked by their key) are upserted
// first, each on its own.
func (t *tx) moneyWrites(ws []queued) []queued {
	var args []any
	for _, a := range t.dirty {
		ac := t.acct[a]
		ac.dirty = false
		switch {
		case ac.exists && ac.seqKnown:
			args = append(args, a[:], ac.bal, ac.seq)
		default: // never read: its key is locked, its history left as is
			ws = append(ws, queued{what: "set balance", sql: `INSERT INTO accounts (address, balance) VALUES ($1, $2)
				ON CONFLICT (address) DO UPDATE SET balance = excluded.balance`, args: []any{a[:], ac.bal}})
		}
		ac.exists = true
	}
	t.dirty = t.dirty[:0]
	nu, ne := len(args)/3, len(t.entries)/len(entryTypes)
	if nu+ne == 0 {
		return ws
	}
	args = append(args, t.entries...)
	t.entries = t.entries[:0]
	return append(ws, queued{what: "write balances and history", sql: moneySQL(nu, ne), args: args})
}

// moneySQLs caches moneySQL's statements by their shape.
var moneySQLs sync.Map // [2]int -> string

// moneySQL is the statement that sets nu accounts' balance and last seq
// (parameters address, balance, last_seq each) and inserts ne entries
// (entryCols each, after the accounts').
func moneySQL(nu, ne int) string {
	key := [2]int{nu, ne}
	if s, ok := moneySQLs.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	n := 0
	param := func(typ string) {
		n++
		fmt.Fprintf(&b, "$%d::%s", n, typ)
	}
	if nu > 0 {
		if ne > 0 {
			b.WriteString("WITH u AS (")
		}
		b.WriteString("UPDATE accounts a SET balance = v.b, last_seq = v.s FROM (VALUES ")
		for i := range nu {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			param("bytea")
			b.WriteString(", ")
			param("bigint")
			b.WriteString(", ")
			param("bigint")
			b.WriteString(")")
		}
		b.WriteString(") v(addr, b, s) WHERE a.address = v.addr")
		if ne > 0 {
			b.WriteString(") ")
		}
	}
	if ne > 0 {
		b.WriteString("INSERT INTO entries (" + entryCols + ") VALUES ")
		for i := range ne {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j, typ := range entryTypes {
				if j > 0 {
					b.WriteString(", ")
				}
				param(typ)
			}
			b.WriteString(")")
		}
	}
	s, _ := moneySQLs.LoadOrStore(key, b.String())
	return s.(string)
}
