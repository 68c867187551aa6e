// Package requester is the paid proxy's requester (docs/speed-protocol.md
// section 11, white paper M32): it asks a provider for a URL, receives the
// content in chunks, pays for each chunk only once it holds every byte of
// it, through a Speed channel (speed.RequesterSession), and resumes after
// an interruption from the next chunk index with the pin (length, ETag,
// Last-Modified) it holds, so two versions are never glued together.
package requester

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Config configures a requester.
type Config struct {
	Key      *wallet.PrivateKey // the account that pays
	Ledger   speed.Ledger
	LedgerID string
	// MaxRate is the highest price paid, base units per MiB.
	MaxRate uint64
	// Budget caps what this fetch may spend, base units: a provider whose
	// price for the chunks left is above it is not used.
	Budget uint64
	// OnHead, when set, is told the provider's head once it is accepted.
	OnHead func(proxy.Head)
	// Stall ends a fetch when the provider sends nothing for this long
	// (default 3 minutes: longer than a provider's own wait for its origin).
	Stall time.Duration
}

// Progress is where a fetch stands: what a requester saves after each chunk
// to resume from Next with the same Pin.
type Progress struct {
	URL  string    `json:"url"`
	Pin  proxy.Pin `json:"pin"`  // zero before the first head
	Next uint64    `json:"next"` // the first chunk not held
}

// Done reports whether every chunk is held.
func (p Progress) Done() bool { return !p.Pin.IsZero() && p.Next >= p.Pin.Chunks() }

// Sink takes what a fetch receives: each whole chunk (before it is paid for)
// and the progress after each paid chunk.
type Sink interface {
	WriteChunk(offset uint64, data []byte) error
	Checkpoint(Progress) error
}

// Result says what a fetch did.
type Result struct {
	Progress Progress
	Head     proxy.Head
	Chunks   uint64 // chunks received whole and paid for on this connection
	Spent    uint64 // base units signed over to the provider
}

// ChangedError says the content changed at its origin since the pin was
// taken: nothing of the new version was paid for.
type ChangedError struct {
	Held, Total uint64    // chunks held of the old version, and its chunk count
	New         proxy.Pin // the origin's current version, when the provider said
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("the content changed at its origin after %d of %d chunks", e.Held, e.Total)
}

// RefusedError is a provider's refusal.
type RefusedError struct{ proxy.Refused }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the provider refused the fetch (%s): %s", e.Why, e.Text)
}

// Errors of a fetch.
var (
	ErrPrice    = errors.New("requester: the provider's price is above the maximum or the budget")
	ErrProtocol = errors.New("requester: the provider broke the protocol")
	ErrProvider = errors.New("requester: the provider is not the one it claims, or on another ledger")
)

// fetchID is the only fetch a requester runs on a connection.
const fetchID = 1

// Fetch runs one fetch on nc (closed when it returns), from prog.Next on
// with prog.Pin, until every chunk is held and paid for, the provider
// refuses or the connection ends. The returned Result holds the progress
// made even on error.
func Fetch(ctx context.Context, nc net.Conn, cfg Config, prog Progress, sink Sink) (Result, error) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	var peerID [20]byte
	copy(peerID[:], "-BS0001-")
	_, _ = rand.Read(peerID[8:]) // crypto/rand.Read never fails (Go 1.24+)
	c, err := proxy.Handshake(nc, peerID, speed.Handshake{Version: speed.Version, Account: cfg.Key.Address(), Ledger: cfg.LedgerID})
	if err != nil {
		return Result{Progress: prog}, err
	}
	if c.Peer.Ledger != cfg.LedgerID {
		return Result{Progress: prog}, fmt.Errorf("%w: it is paid on ledger %q, not %q", ErrProvider, c.Peer.Ledger, cfg.LedgerID)
	}
	f := &fetcher{c: c, cfg: cfg, sink: sink, res: Result{Progress: prog}}
	if err := c.Write(proxy.Fetch{ID: fetchID, URL: prog.URL, From: prog.Next, MaxRate: cfg.MaxRate, Pin: prog.Pin}); err != nil {
		return f.res, err
	}
	err = f.run(ctx)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return f.res, err
}

// fetcher is one fetch's state on its connection.
type fetcher struct {
	c    *proxy.Conn
	cfg  Config
	sink Sink
	res  Result
	pay  *speed.RequesterSession
	buf  []byte // the chunk being received
	// lastPaid is the chunk of the last payment sent, which a rejection
	// makes it pay again.
	lastPaid uint64
	// wait is how long to wait before sending a payment rejected as
	// "ledger unavailable" again: 1 s, doubling to 8 s for one payment.
	wait time.Duration
}

// Waits before a payment rejected as "ledger unavailable" goes again.
const (
	firstWait = time.Second
	maxWait   = 8 * time.Second
)

func (f *fetcher) backOff(ctx context.Context) error {
	f.wait = min(max(2*f.wait, firstWait), maxWait)
	t := time.NewTimer(f.wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fetcher) run(ctx context.Context) error {
	stall := f.cfg.Stall
	if stall <= 0 {
		stall = 3 * time.Minute
	}
	for !f.res.Progress.Done() || f.pay == nil {
		if err := f.c.SetReadDeadline(time.Now().Add(stall)); err != nil {
			return fmt.Errorf("requester: %w", err)
		}
		m, err := f.c.Read()
		if err != nil {
			return fmt.Errorf("requester: the connection to the provider ended after %d of %d chunks: %w", f.res.Progress.Next, f.res.Progress.Pin.Chunks(), err)
		}
		if err := f.handle(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (f *fetcher) handle(ctx context.Context, m any) error {
	switch m := m.(type) {
	case proxy.Head:
		return f.head(m)
	case proxy.Data:
		return f.data(ctx, m)
	case proxy.Refused:
		if m.Why == proxy.ReasonChanged {
			return &ChangedError{Held: f.res.Progress.Next, Total: f.res.Progress.Pin.Chunks(), New: m.Pin}
		}
		return &RefusedError{m}
	case speed.PaymentRejected:
		if f.pay == nil {
			return nil
		}
		again, err := f.pay.Rejected(ctx, time.Now(), m)
		if err != nil {
			return fmt.Errorf("requester: paying again: %w", err)
		}
		if again == nil {
			return nil
		}
		if m.Reason == speed.ReasonLedgerUnavailable {
			// The same payment again, never at once (section 8.2).
			if err := f.backOff(ctx); err != nil {
				return err
			}
		}
		return f.send(*again, f.lastPaid)
	case speed.ChannelClosing:
		if f.pay != nil {
			f.pay.Closing(m)
		}
	}
	return nil
}

func (f *fetcher) head(m proxy.Head) error {
	p := &f.res.Progress
	switch {
	case f.pay != nil || m.ID != fetchID:
		return fmt.Errorf("%w: a second head", ErrProtocol)
	case m.Payee != f.c.Peer.Account || m.Ledger != f.cfg.LedgerID:
		return fmt.Errorf("%w: its head names %s on %q", ErrProvider, m.Payee, m.Ledger)
	case !p.Pin.IsZero() && m.Pin != p.Pin:
		return &ChangedError{Held: p.Next, Total: p.Pin.Chunks(), New: m.Pin}
	case m.Rate > f.cfg.MaxRate:
		return fmt.Errorf("%w: %s BTT per MiB", ErrPrice, speed.FormatBTT(m.Rate))
	}
	p.Pin = m.Pin
	left := m.Pin.Length - min(m.Pin.Length, p.Next*uint64(m.Pin.Chunk))
	if cost := Cost(m.Pin, m.Rate, p.Next); cost > f.cfg.Budget {
		return fmt.Errorf("%w: the %d bytes left cost %s BTT, the budget is %s BTT", ErrPrice, left, speed.FormatBTT(cost), speed.FormatBTT(f.cfg.Budget))
	}
	f.res.Head = m
	f.pay = speed.NewRequesterSession(speed.RequesterConfig{Key: f.cfg.Key, Ledger: f.cfg.Ledger, LedgerID: f.cfg.LedgerID,
		Service: speed.ServiceProxy}, m.Payee)
	f.pay.Bid(f.cfg.MaxRate)
	if err := f.pay.Accept(speed.BidResponse{Rate: m.Rate, Payee: m.Payee, Ledger: m.Ledger, MinTTL: m.MinTTL}); err != nil {
		return fmt.Errorf("%w: %v", ErrProvider, err)
	}
	f.pay.SetLimit(f.cfg.Budget)
	f.pay.SetExpected(left)
	if f.cfg.OnHead != nil {
		f.cfg.OnHead(m)
	}
	return nil
}

// Cost is what chunks from..last of the content pin names cost at rate.
func Cost(pin proxy.Pin, rate, from uint64) uint64 {
	var sum uint64
	full := speed.Price(rate, uint64(pin.Chunk))
	for i := from; i < pin.Chunks(); i++ {
		if n := chunkLen(pin, i); n == uint64(pin.Chunk) {
			sum += full
		} else {
			sum += speed.Price(rate, n)
		}
	}
	return sum
}

func chunkLen(pin proxy.Pin, idx uint64) uint64 {
	return min(uint64(pin.Chunk), pin.Length-idx*uint64(pin.Chunk))
}

// data takes a block: it must be the next one of the chunk being received,
// in order. A whole chunk goes to the sink, then is paid for.
func (f *fetcher) data(ctx context.Context, m proxy.Data) error {
	p := &f.res.Progress
	if f.pay == nil || m.ID != fetchID || m.Index != p.Next || uint64(m.Offset) != uint64(len(f.buf)) {
		return fmt.Errorf("%w: block at %d of chunk %d, expected %d of chunk %d", ErrProtocol, m.Offset, m.Index, len(f.buf), p.Next)
	}
	n := chunkLen(p.Pin, p.Next)
	if uint64(len(f.buf)+len(m.Block)) > n {
		return fmt.Errorf("%w: chunk %d longer than %d bytes", ErrProtocol, m.Index, n)
	}
	f.buf = append(f.buf, m.Block...)
	f.pay.Received(uint32(m.Index), uint64(len(m.Block)))
	if uint64(len(f.buf)) < n {
		return nil
	}
	// Whole: it is kept, then paid for, then counted.
	if err := f.sink.WriteChunk(p.Next*uint64(p.Pin.Chunk), f.buf); err != nil {
		return fmt.Errorf("requester: writing chunk %d: %w", p.Next, err)
	}
	f.buf = f.buf[:0]
	pm, err := f.pay.Verified(ctx, time.Now(), uint32(m.Index))
	if err != nil {
		return fmt.Errorf("requester: paying for chunk %d: %w", m.Index, err)
	}
	if pm != nil {
		if err := f.send(*pm, m.Index); err != nil {
			return err
		}
	}
	f.res.Chunks++
	p.Next++
	return f.sink.Checkpoint(*p)
}

func (f *fetcher) send(pm speed.Payment, idx uint64) error {
	if idx != f.lastPaid {
		f.wait = 0 // a new payment
	}
	f.lastPaid = idx
	f.res.Spent = f.pay.Spent()
	return f.c.Write(proxy.Pay{ID: fetchID, Index: idx, State: pm.State, Sig: pm.Sig})
}
