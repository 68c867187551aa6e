// Package deposit is the one flow by which a wallet moves BTT from its TRON
// address to a ledger's exchange. The CLI (over TRON's gRPC API) and the
// browser (over its HTTP API) both use it, so they cannot drift:
//
//  1. the node builds the TRC-10 transfer (Node.Build);
//  2. txcheck checks that the node built exactly that transfer, expiring
//     after the earlier of the head block's time and the caller's clock, and
//     at most txcheck.MaxExpiration after the later of them;
//  3. the wallet's key signs the raw data (the txid is its SHA-256);
//  4. the node broadcasts it (Node.Broadcast); a txid the node names in its
//     answer must be the one signed.
//
// Nothing is signed that the check did not pass: a lying or broken node can
// refuse a deposit, never make the wallet sign another transfer. The ledger
// credits the deposit once the exchange sees it confirmed; following that
// is the caller's (it knows the ledger).
package deposit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/txcheck"
)

// Errors Send wraps, with the node's own error after them.
var (
	ErrBuild     = errors.New("the TRON node would not build the transfer")
	ErrNodeBuilt = errors.New("the TRON node built another transaction than the one asked for; not signing it")
	ErrBroadcast = errors.New("the TRON node did not take the signed transfer")
)

// Built is a transaction a node built and has not seen signed.
type Built struct {
	TxID   string // hex SHA-256 of the raw data, as the node says
	RawHex string // the raw data, hex
	Tx     any    // the node's own form of it, handed back to Broadcast
}

// Node is what a deposit needs from a TRON node.
type Node interface {
	// Build has the node make the TRC-10 transfer t, unsigned.
	Build(ctx context.Context, t txcheck.Transfer) (Built, error)
	// Head returns the time of the node's head block.
	Head(ctx context.Context) (time.Time, error)
	// Broadcast sends b with the signature sig and returns the txid the
	// node names in its answer ("" if it names none).
	Broadcast(ctx context.Context, b Built, sig []byte) (txid string, err error)
}

// Sent is a deposit the node took.
type Sent struct {
	TxID string      // hex
	Raw  txcheck.Raw // the transfer as signed (its Expiration bounds when it can still land)
}

// Send builds, checks, signs and broadcasts the transfer t from key's TRON
// address; t.From must be key's address. now is the caller's clock.
func Send(ctx context.Context, n Node, key *wallet.PrivateKey, t txcheck.Transfer, now time.Time) (Sent, error) {
	if t.From != key.Address() {
		return Sent{}, fmt.Errorf("deposit: the transfer is from %s, the key is %s's", t.From, key.Address())
	}
	b, err := n.Build(ctx, t)
	if err != nil {
		return Sent{}, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	head, err := n.Head(ctx)
	if err != nil {
		return Sent{}, fmt.Errorf("deposit: TRON's head block: %w", err)
	}
	raw, r, err := txcheck.CheckTransferAsset(b.TxID, b.RawHex, t, head, now)
	if err != nil {
		return Sent{}, fmt.Errorf("%w: %w", ErrNodeBuilt, err)
	}
	id, sig := key.SignTransaction(raw)
	txid := hex.EncodeToString(id[:])
	got, err := n.Broadcast(ctx, b, sig[:])
	if err != nil {
		return Sent{}, fmt.Errorf("%w: %w", ErrBroadcast, err)
	}
	if got != "" && !strings.EqualFold(got, txid) {
		return Sent{}, fmt.Errorf("%w: it answered the deposit %s with transaction %.64s", ErrBroadcast, txid, got)
	}
	return Sent{TxID: txid, Raw: r}, nil
}
