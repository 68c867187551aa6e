package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// ProviderConfig configures a storage provider.
type ProviderConfig struct {
	Key          *wallet.PrivateKey // the account that signs contracts and is paid
	Ledger       speed.Ledger
	LedgerID     string
	Dir          string // where ciphertext and records live
	Quota        uint64 // bytes stored for everyone together
	AccountQuota uint64 // bytes stored for one requester (0: Quota)
	MinPrice     uint64 // base units per MiB per period, at least
	Rate         uint64 // retrieval, base units per MiB, at least
	MinTTL       time.Duration
	MaxConns     int // connections served at once (0: DefaultMaxConns); more are closed at once
	// Now is the provider's clock for contract periods (time.Now if nil);
	// ledger deadlines are always checked against the real clock.
	Now func() time.Time
	Log *slog.Logger
}

// Provider stores requesters' ciphertext under quotas, answers challenges,
// serves retrieval one unpaid chunk at a time, and takes payments through
// channels it checks on the ledger and closes when they are used up or the
// requester leaves.
type Provider struct {
	cfg    ProviderConfig
	mu     sync.Mutex
	objs   map[ObjectID]*object
	used   uint64
	usedBy map[wallet.Address]uint64
	chans  map[speed.ChannelID]*chanRecord
	// owed is each requester's retrieved chunk not yet paid, across its
	// connections: at most one (section 12.5).
	owed map[wallet.Address]*owed
}

type object struct {
	meta objMeta
	tree *Tree
}

// NewProvider loads what Dir already holds.
func NewProvider(cfg ProviderConfig) (*Provider, error) {
	if cfg.Key == nil || cfg.Ledger == nil || cfg.Dir == "" || cfg.Quota == 0 {
		return nil, errors.New("store: a provider needs a key, a ledger, a directory and a quota")
	}
	if cfg.AccountQuota == 0 || cfg.AccountQuota > cfg.Quota {
		cfg.AccountQuota = cfg.Quota
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MinTTL == 0 {
		cfg.MinTTL = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg, objs: map[ObjectID]*object{}, usedBy: map[wallet.Address]uint64{}, chans: map[speed.ChannelID]*chanRecord{}, owed: map[wallet.Address]*owed{}}
	return p, p.load()
}

// DefaultMaxConns caps the connections a provider serves at once.
const DefaultMaxConns = 64

// Serve accepts storage connections on ln until ctx ends, then closes them
// and waits for their handlers.
func (p *Provider) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the wait: an accept error stops the sweep and the connections too
	slots := make(chan struct{}, p.cfg.MaxConns)
	wg.Go(func() { p.sweepLoop(ctx) })
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("store: accepting: %w", err)
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			stopConn := context.AfterFunc(ctx, func() { c.Close() })
			defer stopConn()
			p.serveConn(c)
		}()
	}
}

// idleTimeout closes a connection that sends nothing for this long.
const idleTimeout = 5 * time.Minute

func (p *Provider) serveConn(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := Handshake(nc, speed.Handshake{Version: speed.Version, Account: p.cfg.Key.Address(), Ledger: p.cfg.LedgerID})
	if err != nil {
		p.cfg.Log.Debug("storage handshake", "peer", nc.RemoteAddr(), "err", err)
		return
	}
	if c.Peer.Ledger != p.cfg.LedgerID || c.Peer.Account == p.cfg.Key.Address() {
		c.Send(Refused{Why: ReasonOther, Text: "another ledger: this provider is paid on " + p.cfg.LedgerID})
		return
	}
	s := &session{p: p, c: c, touched: map[speed.ChannelID]bool{}}
	defer s.closeChannels()
	for {
		nc.SetDeadline(time.Now().Add(idleTimeout))
		m, err := c.Recv()
		if err != nil {
			p.cfg.Log.Debug("storage connection ends", "peer", c.Peer.Account, "err", err)
			return
		}
		if err := s.handle(m); err != nil {
			p.cfg.Log.Info("storage connection closed", "peer", c.Peer.Account, "err", err)
			return
		}
	}
}

// session is one requester's connection.
type session struct {
	p       *Provider
	c       *Conn
	touched map[speed.ChannelID]bool
}

type owed struct {
	obj ObjectID
	idx uint64
	due uint64
}

// refuse answers a message with Refused; errClose also ends the connection.
func (s *session) refuse(obj ObjectID, why Reason, format string, args ...any) error {
	text := fmt.Sprintf(format, args...)
	if len(text) > MaxTextLen {
		text = text[:MaxTextLen]
	}
	return s.c.Send(Refused{Obj: obj, Why: why, Text: text})
}

func (s *session) handle(m Message) error {
	switch m := m.(type) {
	case Propose:
		return s.propose(m)
	case Put:
		return s.put(m)
	case Challenge:
		return s.challenge(m)
	case Get:
		return s.get(m)
	case Pay:
		return s.pay(m)
	case End:
		return s.end(m)
	default:
		return nil // messages for requesters
	}
}

// own returns the requester's object, or nil.
func (s *session) own(obj ObjectID) *object {
	o := s.p.objs[obj]
	if o == nil || o.meta.Account != s.c.Peer.Account {
		return nil
	}
	return o
}

func (s *session) propose(m Propose) error {
	p, t, acct := s.p, m.Terms, s.c.Peer.Account
	if NewObjectID(m.Nonce, acct) != m.Obj {
		return s.refuse(m.Obj, ReasonOther, "the object id is not sha256(tag, nonce, your account)")
	}
	if t.Price < speed.Price(p.cfg.MinPrice, t.Length) || t.Rate < p.cfg.Rate {
		return s.refuse(m.Obj, ReasonRate, "this provider asks %s BTT per period and %s BTT per MiB retrieved",
			speed.FormatBTT(speed.Price(p.cfg.MinPrice, t.Length)), speed.FormatBTT(p.cfg.Rate))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.objs[m.Obj]; o != nil {
		if o.meta.Terms != t || o.meta.Complete {
			return s.refuse(m.Obj, ReasonOther, "the object is already stored")
		}
	} else {
		switch {
		case t.Length > p.cfg.AccountQuota:
			return s.refuse(m.Obj, ReasonTooLarge, "objects are at most %d bytes here", p.cfg.AccountQuota)
		case p.used+t.Length > p.cfg.Quota || p.usedBy[acct]+t.Length > p.cfg.AccountQuota:
			return s.refuse(m.Obj, ReasonQuota, "no room: %d bytes free for your account", min(p.cfg.Quota-p.used, p.cfg.AccountQuota-p.usedBy[acct]))
		}
		groups := (Segments(t.Length) + segsPerBlock - 1) / segsPerBlock
		o := &object{meta: objMeta{Account: acct, Obj: m.Obj, Nonce: m.Nonce[:], Terms: t, Received: make([]bool, groups), Proposed: p.cfg.Now().Unix()}}
		if err := p.saveMeta(&o.meta); err != nil {
			return err
		}
		p.objs[m.Obj] = o
		p.used += t.Length
		p.usedBy[acct] += t.Length
	}
	sig, err := p.cfg.Key.Sign(DomainContract, ContractBytes(m.Obj, t))
	if err != nil {
		return err
	}
	return s.c.Send(Accept{Obj: m.Obj, Payee: p.cfg.Key.Address(), Ledger: p.cfg.LedgerID, MinTTL: uint32(p.cfg.MinTTL / time.Second), Sig: sig})
}

// put checks a group of segments against the root before writing it, so the
// provider never holds data it could be blamed for; a bad one closes.
func (s *session) put(m Put) error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	o := s.own(m.Obj)
	if o == nil || o.meta.Complete {
		s.refuse(m.Obj, ReasonUnknown, "no object waiting for data")
		return errors.New("a put for no object")
	}
	meta := &o.meta
	if err := VerifyPut(meta.Terms.Root, meta.Terms.Length, m); err != nil {
		s.refuse(m.Obj, ReasonBadProof, "segment %d does not match the root", m.Seg)
		return err
	}
	f, err := os.OpenFile(p.dataPath(meta), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = f.WriteAt(m.Data, int64(m.Seg*SegmentSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: writing object %s: %w", meta.Obj, err)
	}
	meta.Received[m.Seg/segsPerBlock] = true
	for _, r := range meta.Received {
		if !r {
			return nil
		}
	}
	return s.complete(o)
}

// complete signs the receipt once every group is on disk.
func (s *session) complete(o *object) error {
	p, meta := s.p, &o.meta
	if _, err := p.tree(o); err != nil {
		return err
	}
	if o.tree.Root() != meta.Terms.Root {
		return fmt.Errorf("store: object %s does not hash to its root on disk", meta.Obj)
	}
	meta.Complete, meta.Start = true, uint64(p.cfg.Now().Unix())
	if err := p.saveMeta(meta); err != nil {
		return err
	}
	sig, err := p.cfg.Key.Sign(DomainStored, StoredBytes(meta.Obj, meta.Terms.Root, meta.Start))
	if err != nil {
		return err
	}
	p.cfg.Log.Info("storage object stored", "obj", meta.Obj, "bytes", meta.Terms.Length, "requester", meta.Account)
	return s.c.Send(Stored{Obj: meta.Obj, Start: meta.Start, Sig: sig})
}

// challenge answers with the picked segments as they are on disk now.
func (s *session) challenge(m Challenge) error {
	p := s.p
	p.mu.Lock()
	o := s.own(m.Obj)
	if o == nil || !o.meta.Complete {
		p.mu.Unlock()
		return s.refuse(m.Obj, ReasonUnknown, "no such object")
	}
	meta := o.meta
	tree, err := p.tree(o)
	p.mu.Unlock()
	if err != nil {
		p.cfg.Log.Warn("storage object unreadable", "obj", meta.Obj, "err", err)
		return s.refuse(m.Obj, ReasonUnknown, "the data is not all here")
	}
	body, err := BuildProof(tree, meta.Terms.Length, m.N, m.K, func(i uint64) ([]byte, error) {
		b := make([]byte, SegmentLen(i, meta.Terms.Length))
		return b, p.readAt(&meta, b, int64(i*SegmentSize))
	})
	if err != nil {
		p.cfg.Log.Warn("storage challenge failed", "obj", meta.Obj, "err", err)
		return s.refuse(m.Obj, ReasonUnknown, "the data is not all here")
	}
	return s.c.Send(Proof{Obj: m.Obj, N: m.N, Body: body})
}

// get sends one chunk, unless another is still unpaid.
func (s *session) get(m Get) error {
	p := s.p
	p.mu.Lock()
	o := s.own(m.Obj)
	var meta objMeta
	var tree *Tree
	var err error
	if o != nil && o.meta.Complete {
		meta = o.meta
		tree, err = p.tree(o)
	}
	unpaid := p.owed[s.c.Peer.Account]
	p.mu.Unlock()
	switch {
	case o == nil || !meta.Complete || err != nil:
		return s.refuse(m.Obj, ReasonUnknown, "no such object")
	case m.Index*ChunkSize >= meta.Terms.Length:
		return s.refuse(m.Obj, ReasonUnknown, "no chunk %d", m.Index)
	case unpaid != nil:
		return s.refuse(m.Obj, ReasonUnpaid, "chunk %d is not paid yet", unpaid.idx)
	}
	chunk := make([]byte, ChunkLen(m.Index, meta.Terms.Length))
	if err := p.readAt(&meta, chunk, int64(m.Index*ChunkSize)); err != nil {
		return s.refuse(m.Obj, ReasonUnknown, "chunk %d is not here", m.Index)
	}
	if due := speed.Price(meta.Terms.Rate, uint64(len(chunk))); due > 0 {
		p.mu.Lock()
		p.owed[s.c.Peer.Account] = &owed{obj: m.Obj, idx: m.Index, due: due}
		p.mu.Unlock()
	}
	for off := 0; off < len(chunk); off += MaxBlock {
		d := Data{Obj: m.Obj, Index: m.Index, Offset: uint32(off), Block: chunk[off:min(off+MaxBlock, len(chunk))]}
		if off == 0 {
			d.Proof = tree.ChunkPath(m.Index)
		}
		if err := s.c.Send(d); err != nil {
			return err
		}
	}
	return nil
}

// end: the requester ends its contract; the data goes.
func (s *session) end(m End) error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	o := s.own(m.Obj)
	if o == nil {
		return nil
	}
	delete(p.objs, m.Obj)
	p.cfg.Log.Info("storage contract ended by the requester", "obj", m.Obj)
	return p.remove(o)
}
