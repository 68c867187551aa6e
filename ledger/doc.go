// Package ledger is btspeed's private ledger (mechanics M14-M19, M23, M26,
// M27): accounts, payment channels with timeouts, signed transfers, the
// proof-of-work faucet and the development-network genesis, behind an HTTP
// JSON API documented in docs/ledger-api.md, on embedded storage or
// PostgreSQL. Every request is signed with shared/wallet's domain-separated
// signatures and is replay-proof and idempotent.
//
// The ledger lands with issue 4; this file marks the package's place.
package ledger
