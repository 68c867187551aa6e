package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
)

// session is the provider's side of one connection. Its run loop owns
// everything in it; a reader goroutine feeds it messages.
type session struct {
	p    *Provider
	c    *proxy.Conn
	log  *slog.Logger
	pay  *speed.ProviderSession
	rate uint64
	fctx context.Context // origin requests: cancelled when the connection ends
	host string          // the requester's address, banned with its account
	buf  []byte          // the chunk being sent: one per connection

	fetches []*fetch // in progress, at most proxy.MaxFetches, served in order
	// unpaid maps a chunk sent at a non-zero rate and not yet paid to its
	// key in pay (a piece number there).
	unpaid  map[chunkRef]uint32
	nextKey uint32
}

type chunkRef struct {
	id  uint32
	idx uint64
}

func newSession(p *Provider, c *proxy.Conn, log *slog.Logger, host string) *session {
	s := &session{p: p, c: c, log: log, host: host, rate: p.cfg.Rate, unpaid: make(map[chunkRef]uint32)}
	s.pay = speed.NewProviderSession(p.speed, c.Peer.Account)
	s.pay.Grant(0, p.cfg.Rate)
	return s
}

// errBanned ends a session whose requester reached the strike limit.
var errBanned = errors.New("provider: requester banned after repeated late or bogus payments")

// run serves the connection until it fails, the requester is banned or ctx
// ends; then it closes the channels that paid it.
func (s *session) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { s.c.Close() }) // a stop unblocks a write too
	defer stop()
	var fcancel context.CancelFunc
	s.fctx, fcancel = context.WithCancel(ctx) // origin requests end with the connection
	msgs := make(chan any, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer fcancel()
		defer close(msgs)
		for {
			m, err := s.c.Read()
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	err := s.loop(ctx, msgs)
	if err != nil && ctx.Err() == nil && !errors.Is(err, errGone) {
		s.log.Info("proxy session ends", "err", err)
	}
	cancel()
	s.c.Close()
	wg.Wait()
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer ccancel()
	for m := range msgs { // payments that arrived still count
		if m, ok := m.(proxy.Pay); ok {
			_ = s.payment(cctx, m)
		}
	}
	for _, f := range s.fetches {
		f.close()
	}
	if err := s.pay.CloseAll(cctx); err != nil {
		s.log.Warn("closing channels", "err", err)
	}
	s.p.count(func(st *Stats) { st.Earned += s.pay.Earned(); st.Open-- })
}

func (s *session) loop(ctx context.Context, msgs <-chan any) error {
	tick := time.NewTicker(s.p.cfg.TickEvery)
	defer tick.Stop()
	for {
		if f := s.ready(); f != nil {
			if err := s.sendChunk(ctx, f); err != nil {
				return err
			}
			select { // between chunks, a message waiting goes first
			case m, ok := <-msgs:
				if err := s.handleOrEnd(ctx, m, ok); err != nil {
					return err
				}
			default:
			}
			continue
		}
		select {
		case m, ok := <-msgs:
			if err := s.handleOrEnd(ctx, m, ok); err != nil {
				return err
			}
		case <-tick.C:
			if err := s.tick(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ready returns the first fetch with a chunk to send that may be sent now:
// none while a chunk sent at a price is unpaid (M22).
func (s *session) ready() *fetch {
	if len(s.unpaid) > 0 || s.pay.Banned() {
		return nil
	}
	for _, f := range s.fetches {
		if f.next < f.pin.Chunks() {
			return f
		}
	}
	return nil
}

// errGone ends a session whose requester closed the connection.
var errGone = errors.New("provider: the requester closed the connection")

func (s *session) handleOrEnd(ctx context.Context, m any, ok bool) error {
	if !ok {
		return errGone
	}
	return s.handle(ctx, m)
}

func (s *session) handle(ctx context.Context, m any) error {
	switch m := m.(type) {
	case proxy.Fetch:
		return s.fetch(ctx, m)
	case proxy.Pay:
		return s.payment(ctx, m)
	case proxy.Cancel:
		s.drop(m.ID)
	}
	return nil // Speed messages from a requester (bids) mean nothing here
}

func (s *session) refuse(id uint32, why proxy.Reason, text string, pin proxy.Pin) error {
	s.p.count(func(st *Stats) { st.Refused++ })
	if len(text) > proxy.MaxTextLen {
		text = text[:proxy.MaxTextLen]
	}
	return s.c.Write(proxy.Refused{ID: id, Why: why, Text: text, Pin: pin})
}

func (s *session) fetch(ctx context.Context, m proxy.Fetch) error {
	switch {
	case s.pay.Banned():
		return s.refuse(m.ID, proxy.ReasonUnpaid, "banned", proxy.Pin{})
	case len(s.fetches) >= proxy.MaxFetches:
		return s.refuse(m.ID, proxy.ReasonBusy, fmt.Sprintf("%d fetches in progress", len(s.fetches)), proxy.Pin{})
	case s.find(m.ID) != nil:
		return s.refuse(m.ID, proxy.ReasonOther, "fetch id in use", proxy.Pin{})
	case m.MaxRate < s.rate:
		return s.refuse(m.ID, proxy.ReasonRate, fmt.Sprintf("the price is %s BTT per MiB", speed.FormatBTT(s.rate)), proxy.Pin{})
	}
	f, r := s.p.open(s.fctx, m)
	if r != nil {
		return s.refuse(m.ID, r.Why, r.Text, r.Pin)
	}
	s.p.count(func(st *Stats) { st.Fetches++ })
	s.fetches = append(s.fetches, f)
	return s.c.Write(proxy.Head{ID: m.ID, Pin: f.pin, ContentType: f.ctype, Rate: s.rate, Payee: s.p.cfg.Key.Address(),
		Ledger: s.p.cfg.LedgerID, MinTTL: uint32(speed.DefaultMinTTL / time.Second)})
}

func (s *session) find(id uint32) *fetch {
	for _, f := range s.fetches {
		if f.id == id {
			return f
		}
	}
	return nil
}

// drop ends fetch id (cancelled, done or failed). A whole chunk it sent
// stays owed.
func (s *session) drop(id uint32) {
	for i, f := range s.fetches {
		if f.id == id {
			f.close()
			s.fetches = append(s.fetches[:i], s.fetches[i+1:]...)
			return
		}
	}
}

// sendChunk reads the next chunk of f from its origin and sends it in
// blocks, paced by the upload cap.
func (s *session) sendChunk(ctx context.Context, f *fetch) error {
	idx := f.next
	n := chunkLen(f.pin, idx)
	if uint64(len(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	buf, err := f.read(s.buf[:n])
	if err != nil {
		s.drop(f.id)
		return s.refuse(f.id, proxy.ReasonOrigin, fmt.Sprintf("reading the origin: %v", err), proxy.Pin{})
	}
	key := s.nextKey
	s.nextKey++
	if s.rate > 0 {
		s.unpaid[chunkRef{f.id, idx}] = key
	}
	for off := uint64(0); off < n; off += proxy.MaxBlock {
		block := buf[off:min(off+proxy.MaxBlock, n)]
		if s.p.limiter != nil {
			if err := s.p.limiter.WaitN(ctx, len(block)); err != nil {
				return err
			}
		}
		if err := s.c.Write(proxy.Data{ID: f.id, Index: idx, Offset: uint32(off), Block: block}); err != nil {
			return err
		}
		s.pay.Sent(time.Now(), key, uint64(len(block)), n)
		s.p.count(func(st *Stats) { st.BytesSent += uint64(len(block)) })
	}
	f.next++
	if f.next >= f.pin.Chunks() {
		s.drop(f.id)
	}
	return nil
}

// chunkLen is the length of chunk idx of the content pin names.
func chunkLen(pin proxy.Pin, idx uint64) uint64 {
	start := idx * uint64(pin.Chunk)
	return min(uint64(pin.Chunk), pin.Length-start)
}

// payment checks a payment for a chunk with speed.ProviderSession: the
// signature, the channel on the ledger, the amount.
func (s *session) payment(ctx context.Context, m proxy.Pay) error {
	ref := chunkRef{m.ID, m.Index}
	key, ok := s.unpaid[ref]
	if !ok {
		key = ^uint32(0) // owes nothing: rejected as not owed
	}
	rej, err := s.pay.Receive(ctx, time.Now(), speed.Payment{State: m.State, Piece: key, Sig: m.Sig})
	if err != nil {
		s.log.Warn("payment", "err", err)
	}
	if rej != nil {
		if err := s.c.WriteSpeed(*rej); err != nil {
			return err
		}
		if s.pay.Banned() {
			s.p.ban(s.c.Peer.Account, s.host)
			return errBanned
		}
		return nil
	}
	delete(s.unpaid, ref)
	return nil
}

// tick checks payment and channel deadlines.
func (s *session) tick(ctx context.Context) error {
	r := s.pay.Tick(time.Now())
	if r.Ban {
		s.p.ban(s.c.Peer.Account, s.host)
		return errBanned
	}
	for _, id := range r.Close {
		m, err := s.pay.Close(ctx, id)
		if err != nil {
			s.log.Warn("closing a channel", "channel", id.String(), "err", err)
			continue
		}
		if err := s.c.WriteSpeed(*m); err != nil {
			return err
		}
	}
	return nil
}
