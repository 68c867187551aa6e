package engine

import (
	"context"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// balanceTTL is how long a read of our own ledger balance is reused.
const balanceTTL = time.Second

// balanceCache is the Speed ledger with our own balance read at most once
// per ttl. Every requester session reads it before buying a piece or
// opening a channel; through a relay's rate-limited gateway (a browser
// peer) that adds up to more requests than the gateway allows. Opening or
// closing a channel through it drops the cached value, and the ledger
// checks the balance on every open anyway, so a stale read costs at most
// one refused open, which the engine retries.
type balanceCache struct {
	speed.Ledger
	me  wallet.Address
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	val uint64
	at  time.Time
	ok  bool
	gen uint64 // bumped by every change we make; a read older than it is not kept
}

func newBalanceCache(l speed.Ledger, me wallet.Address, ttl time.Duration, now func() time.Time) *balanceCache {
	return &balanceCache{Ledger: l, me: me, ttl: ttl, now: now}
}

// Balance returns account's balance, ours from the cache when fresh.
func (b *balanceCache) Balance(ctx context.Context, account wallet.Address) (uint64, error) {
	if account != b.me {
		return b.Ledger.Balance(ctx, account)
	}
	b.mu.Lock()
	if b.ok && b.now().Sub(b.at) < b.ttl {
		v := b.val
		b.mu.Unlock()
		return v, nil
	}
	gen := b.gen
	b.mu.Unlock()
	v, err := b.Ledger.Balance(ctx, account)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	if gen == b.gen {
		b.val, b.at, b.ok = v, b.now(), true
	}
	b.mu.Unlock()
	return v, nil
}

func (b *balanceCache) invalidate() {
	b.mu.Lock()
	b.ok = false
	b.gen++
	b.mu.Unlock()
}

// OpenChannel opens a channel (its deposit leaves our balance).
func (b *balanceCache) OpenChannel(ctx context.Context, req speed.SignedOpen) (speed.Channel, error) {
	ch, err := b.Ledger.OpenChannel(ctx, req)
	b.invalidate()
	return ch, err
}

// CloseChannel closes a channel (paying us, as payee, or refunding us).
func (b *balanceCache) CloseChannel(ctx context.Context, req speed.CloseRequest) (speed.Channel, error) {
	ch, err := b.Ledger.CloseChannel(ctx, req)
	b.invalidate()
	return ch, err
}
