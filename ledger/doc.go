// Package ledger is btspeed's private ledger (mechanics M14-M19, M23, M26,
// M27): accounts, signed transfers, payment channels that close with a state
// both parties signed or by themselves at their deadline, a proof-of-work
// faucet, and a genesis that reproduces BTT's issuance. Ledger holds the rules
// and serves them over HTTP (Handler; docs/ledger-api.md); package store
// keeps the state (boltstore embedded, pgstore on PostgreSQL); package client
// is the HTTP client, which implements shared/speed's Ledger interface.
//
// Every change is a signed request (shared/wallet, domain-separated) that
// names this ledger, is unique by its nonce, and is idempotent: a retried
// request returns the first answer and changes nothing more. Money is
// conserved: balances plus open channels' deposits always equal the supply
// written at genesis, which Check verifies (and New, at start-up).
package ledger
