package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
)

// ledgerTimeout bounds one ledger call.
const ledgerTimeout = 30 * time.Second

// pay checks a payment as section 8.3 does for pieces (signature, channel on
// the ledger, amounts), stores it durably, closes the channel once its
// deposit is used up, and acknowledges it.
func (s *session) pay(m Pay) error {
	p := s.p
	due, err := s.due(m)
	if err != nil {
		return s.refuse(m.Obj, ReasonUnpaid, "%v", err)
	}
	if err := m.State.Verify(s.c.Peer.Account, m.Sig); err != nil {
		return s.refuse(m.Obj, ReasonUnpaid, "the payment's signature is not yours")
	}
	info, err := s.channel(m.State.Channel)
	if err != nil {
		return s.refuse(m.Obj, ReasonUnpaid, "%v", err)
	}
	p.mu.Lock()
	rec := p.chans[m.State.Channel]
	if rec == nil {
		rec = &chanRecord{Info: info}
	}
	switch {
	case rec.Closed:
		err = errors.New("the channel is closed")
	case m.State.Paid > info.Deposit:
		err = fmt.Errorf("the state pays %d, above the deposit %d", m.State.Paid, info.Deposit)
	case m.State.Seq <= rec.State.Seq || m.State.Paid < rec.State.Paid:
		err = errors.New("the state is older than one already paid")
	case m.State.Paid-rec.State.Paid < due:
		err = fmt.Errorf("the state pays %d, %d is due", m.State.Paid-rec.State.Paid, due)
	}
	if err != nil {
		p.mu.Unlock()
		return s.refuse(m.Obj, ReasonUnpaid, "%v", err)
	}
	amount := m.State.Paid - rec.State.Paid
	rec.State, rec.PayerSig = m.State, m.Sig
	p.chans[m.State.Channel] = rec
	err = s.credit(m, amount)
	if err == nil {
		err = p.saveChannels()
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	s.touched[m.State.Channel] = true
	if m.State.Paid == info.Deposit {
		if err := s.p.closeChannel(m.State.Channel); err != nil {
			p.cfg.Log.Warn("storage channel close", "channel", m.State.Channel, "err", err)
		}
	}
	return s.c.Send(Paid{Obj: m.Obj, What: m.What, N: m.N, Seq: m.State.Seq})
}

// due is what m must pay: a period's price, once, or the unpaid chunk's.
func (s *session) due(m Pay) (uint64, error) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	o := s.own(m.Obj)
	if o == nil || !o.meta.Complete {
		return 0, errors.New("no such object")
	}
	if m.What == PayRetrieve {
		u := p.owed[s.c.Peer.Account]
		if u == nil || u.obj != m.Obj || u.idx != m.N {
			return 0, fmt.Errorf("nothing is owed for chunk %d", m.N)
		}
		return u.due, nil
	}
	if m.N >= uint64(o.meta.Terms.Periods) || slices.Contains(o.meta.PaidPeriods, m.N) {
		return 0, fmt.Errorf("period %d is not owed", m.N)
	}
	return o.meta.Terms.Price, nil
}

// credit records a payment on its object (p.mu held).
func (s *session) credit(m Pay, amount uint64) error {
	o := s.own(m.Obj)
	if o == nil {
		return nil
	}
	if m.What == PayRetrieve {
		delete(s.p.owed, s.c.Peer.Account)
	}
	if m.What == PayPeriod {
		o.meta.PaidPeriods = append(o.meta.PaidPeriods, m.N)
	}
	o.meta.Income += amount
	return s.p.saveMeta(&o.meta)
}

// channel fetches a channel from the ledger the first time (M16) and checks
// it pays this provider from this requester with time left.
func (s *session) channel(id speed.ChannelID) (speed.Channel, error) {
	p := s.p
	p.mu.Lock()
	rec := p.chans[id]
	p.mu.Unlock()
	info := speed.Channel{}
	if rec != nil {
		info = rec.Info
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
		defer cancel()
		var err error
		if info, err = p.cfg.Ledger.Channel(ctx, id); err != nil {
			return info, fmt.Errorf("channel %s: %w", id, err)
		}
	}
	switch {
	case info.Payer != s.c.Peer.Account || info.Payee != p.cfg.Key.Address():
		return info, errors.New("the channel does not pay this provider from your account")
	case info.Closed:
		return info, errors.New("the channel is closed")
	case time.Until(info.Deadline) < p.cfg.MinTTL:
		return info, errors.New("the channel expires too soon")
	}
	return info, nil
}

// closeChannel countersigns the latest state and closes the channel on the
// ledger (M18).
func (p *Provider) closeChannel(id speed.ChannelID) error {
	p.mu.Lock()
	rec := p.chans[id]
	if rec == nil || rec.Closed || rec.State.Seq == 0 {
		p.mu.Unlock()
		return nil
	}
	st, payerSig := rec.State, rec.PayerSig
	p.mu.Unlock()
	sig, err := st.Sign(p.cfg.Key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
	defer cancel()
	if _, err := p.cfg.Ledger.CloseChannel(ctx, speed.CloseRequest{State: st, PayerSig: payerSig, PayeeSig: sig}); err != nil && !errors.Is(err, speed.ErrChannelClosed) {
		return fmt.Errorf("store: closing channel %s: %w", id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rec.Closed = true
	return p.saveChannels()
}

// closeChannels closes what the requester paid on this connection when it
// leaves.
func (s *session) closeChannels() {
	for id := range s.touched {
		if err := s.p.closeChannel(id); err != nil {
			s.p.cfg.Log.Warn("storage channel close", "channel", id, "err", err)
		}
	}
}
