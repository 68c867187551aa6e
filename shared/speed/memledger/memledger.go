// Package memledger is an in-memory speed.Ledger for tests and simulations.
// It enforces the rules the real ledger (package ledger) enforces: the payer's
// signature on every open and both signatures on every close, one use of each
// (payer, nonce), balances that cover deposits, deadlines in the future and
// not too far, idempotent retries, a closed channel never reopening, and
// channels closing by themselves at their deadline with everything back to
// the payer. Money is conserved: the sum of balances and open deposits always
// equals what was minted, and Check verifies it.
package memledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// MaxChannelTTL is the furthest deadline an open request may ask for.
const MaxChannelTTL = 7 * 24 * time.Hour

// ErrUnavailable is returned while the ledger is set unavailable.
var ErrUnavailable = errors.New("memledger: unavailable")

// Ledger is safe for concurrent use.
type Ledger struct {
	id  string           // static after construction
	now func() time.Time // static after construction

	mu          sync.Mutex
	unavailable bool
	balances    map[wallet.Address]uint64
	channels    map[speed.ChannelID]*speed.Channel
	nonces      map[nonceKey]speed.ChannelID
	minted      uint64
}

type nonceKey struct {
	payer wallet.Address
	nonce uint64
}

var _ speed.Ledger = (*Ledger)(nil)

// New returns an empty ledger named id, reading time from now.
func New(id string, now func() time.Time) *Ledger {
	return &Ledger{
		id:       id,
		now:      now,
		balances: make(map[wallet.Address]uint64),
		channels: make(map[speed.ChannelID]*speed.Channel),
		nonces:   make(map[nonceKey]speed.ChannelID),
	}
}

// Mint credits amount to account out of thin air, as a genesis would.
func (l *Ledger) Mint(account wallet.Address, amount uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.balances[account] += amount
	l.minted += amount
}

// SetUnavailable makes every call fail with ErrUnavailable (or stops that).
func (l *Ledger) SetUnavailable(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unavailable = v
}

// expire closes channels past their deadline; the caller holds mu.
func (l *Ledger) expire() error {
	if l.unavailable {
		return ErrUnavailable
	}
	now := l.now()
	for _, ch := range l.channels {
		if !ch.Closed && !now.Before(ch.Deadline) {
			ch.Closed = true
			l.balances[ch.Payer] += ch.Deposit
		}
	}
	return nil
}

// Balance implements speed.Ledger.
func (l *Ledger) Balance(_ context.Context, account wallet.Address) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.expire(); err != nil {
		return 0, err
	}
	return l.balances[account], nil
}

// OpenChannel implements speed.Ledger.
func (l *Ledger) OpenChannel(_ context.Context, req speed.SignedOpen) (speed.Channel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.expire(); err != nil {
		return speed.Channel{}, err
	}
	o := req.Request
	if o.Ledger != l.id {
		return speed.Channel{}, fmt.Errorf("%w: request for ledger %q, this is %q", speed.ErrBadRequest, o.Ledger, l.id)
	}
	if err := req.Verify(); err != nil {
		return speed.Channel{}, fmt.Errorf("%w: open request: %v", speed.ErrBadRequest, err)
	}
	id := o.ID()
	if prev, ok := l.nonces[nonceKey{o.Payer, o.Nonce}]; ok {
		if prev == id {
			return *l.channels[id], nil // a retry: same answer, nothing more
		}
		return speed.Channel{}, fmt.Errorf("%w: %d", speed.ErrNonceUsed, o.Nonce)
	}
	now := l.now()
	deadline := time.Unix(o.Deadline, 0)
	switch {
	case !deadline.After(now):
		return speed.Channel{}, fmt.Errorf("%w: deadline %s is not in the future", speed.ErrBadRequest, deadline)
	case deadline.Sub(now) > MaxChannelTTL:
		return speed.Channel{}, fmt.Errorf("%w: deadline more than %s ahead", speed.ErrBadRequest, MaxChannelTTL)
	case l.balances[o.Payer] < o.Deposit:
		return speed.Channel{}, fmt.Errorf("%w: balance %d, deposit %d", speed.ErrInsufficientFunds, l.balances[o.Payer], o.Deposit)
	}
	l.balances[o.Payer] -= o.Deposit
	ch := &speed.Channel{ID: id, Payer: o.Payer, Payee: o.Payee, Deposit: o.Deposit, Deadline: deadline}
	l.channels[id] = ch
	l.nonces[nonceKey{o.Payer, o.Nonce}] = id
	return *ch, nil
}

// Channel implements speed.Ledger.
func (l *Ledger) Channel(_ context.Context, id speed.ChannelID) (speed.Channel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.expire(); err != nil {
		return speed.Channel{}, err
	}
	ch, ok := l.channels[id]
	if !ok {
		return speed.Channel{}, fmt.Errorf("%w: %s", speed.ErrChannelNotFound, id)
	}
	return *ch, nil
}

// CloseChannel implements speed.Ledger.
func (l *Ledger) CloseChannel(_ context.Context, req speed.CloseRequest) (speed.Channel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.expire(); err != nil {
		return speed.Channel{}, err
	}
	st := req.State
	ch, ok := l.channels[st.Channel]
	if !ok {
		return speed.Channel{}, fmt.Errorf("%w: %s", speed.ErrChannelNotFound, st.Channel)
	}
	if ch.Closed {
		if ch.Seq == st.Seq && ch.Paid == st.Paid && st.Seq > 0 {
			return *ch, nil // a retry of the close that closed it
		}
		return speed.Channel{}, fmt.Errorf("%w: %s", speed.ErrChannelClosed, st.Channel)
	}
	switch {
	case st.Seq == 0:
		return speed.Channel{}, fmt.Errorf("%w: state with seq 0", speed.ErrBadRequest)
	case st.Paid > ch.Deposit:
		return speed.Channel{}, fmt.Errorf("%w: paid %d above deposit %d", speed.ErrBadRequest, st.Paid, ch.Deposit)
	}
	if err := st.Verify(ch.Payer, req.PayerSig); err != nil {
		return speed.Channel{}, fmt.Errorf("%w: payer signature: %v", speed.ErrBadRequest, err)
	}
	if err := st.Verify(ch.Payee, req.PayeeSig); err != nil {
		return speed.Channel{}, fmt.Errorf("%w: payee signature: %v", speed.ErrBadRequest, err)
	}
	ch.Closed, ch.Seq, ch.Paid = true, st.Seq, st.Paid
	l.balances[ch.Payee] += st.Paid
	l.balances[ch.Payer] += ch.Deposit - st.Paid
	return *ch, nil
}

// Escrow returns the sum of open channels' deposits.
func (l *Ledger) Escrow() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.escrow()
}

func (l *Ledger) escrow() uint64 {
	var sum uint64
	for _, ch := range l.channels {
		if !ch.Closed {
			sum += ch.Deposit
		}
	}
	return sum
}

// Check verifies the supply invariant: balances plus open deposits equal
// everything minted.
func (l *Ledger) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum uint64
	for _, b := range l.balances {
		sum += b
	}
	sum += l.escrow()
	if sum != l.minted {
		return fmt.Errorf("memledger: balances and escrow sum to %d, minted %d", sum, l.minted)
	}
	return nil
}

// Channels returns every channel, open and closed.
func (l *Ledger) Channels() []speed.Channel {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]speed.Channel, 0, len(l.channels))
	for _, ch := range l.channels {
		out = append(out, *ch)
	}
	return out
}
