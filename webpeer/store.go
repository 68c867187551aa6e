//go:build !btspeed_embed

package webpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/btspeed/btspeed/shared/speed/store"
)

// Paid storage from the browser (docs/speed-protocol.md section 12,
// docs/js-api.md client.store): the relay's storage provider is reached
// over GET /store/ws. Data is encrypted in the browser with keys derived
// from the wallet, so only this wallet can read it back; the records
// (contracts, never data or keys) are kept in the KV store.

// storeKey is where the storage records live in the KV store.
const storeKey = "btspeed.store"

// Caps of storage from the browser.
const (
	// MaxStorePut is the largest file put from a page: it is held in
	// memory while it is encrypted and sent.
	MaxStorePut = 64 << 20
	// maxStoreRecords caps the records kept.
	maxStoreRecords = 1000
)

// Errors of storage a page can act on.
var (
	ErrNoStorage   = errors.New("the relay is not a storage provider")
	ErrStoreTooBig = fmt.Errorf("files of at most %d MiB can be stored from a page", MaxStorePut>>20)
	ErrNoObject    = errors.New("no stored object with this id in this browser")
	ErrStoreFull   = fmt.Errorf("this browser keeps at most %d storage records", maxStoreRecords)
)

// StoreRecords are the stored objects' records, oldest first.
func (p *Peer) StoreRecords() []store.Record {
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	return p.loadStore()
}

func (p *Peer) loadStore() []store.Record {
	var rs []store.Record
	if raw, ok := p.cfg.KV.Get(storeKey); ok {
		if err := json.Unmarshal([]byte(raw), &rs); err != nil {
			p.log.Warn("stored storage records unreadable", "err", err)
		}
	}
	return rs
}

func (p *Peer) saveStore(rs []store.Record) error {
	b, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	if err := p.cfg.KV.Set(storeKey, string(b)); err != nil {
		return fmt.Errorf("webpeer: saving the storage records: %w", err)
	}
	return nil
}

// updateStore applies f to the record of obj and saves the records.
func (p *Peer) updateStore(obj store.ObjectID, f func(*store.Record)) error {
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	rs := p.loadStore()
	for i := range rs {
		if rs[i].Contract.Obj == obj {
			f(&rs[i])
			return p.saveStore(rs)
		}
	}
	return ErrNoObject
}

// storeClient connects to the relay's storage provider with the wallet.
func (p *Peer) storeClient(ctx context.Context) (*store.Client, error) {
	key := p.wallet.unlocked()
	if key == nil {
		if p.wallet.State() == StateNone {
			return nil, ErrNoWallet
		}
		return nil, ErrLocked
	}
	if err := p.serviceOn(ctx, "/store", ErrNoStorage); err != nil {
		return nil, err
	}
	u := "ws" + strings.TrimPrefix(p.cfg.Relay, "http") + "/store/ws"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ws, resp, err := websocket.Dial(dctx, u, nil)
	cancel()
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w (%s answers 404)", ErrNoStorage, u)
	}
	if err != nil {
		return nil, fmt.Errorf("webpeer: dialling the relay's storage %s: %w", u, err)
	}
	ws.SetReadLimit(proxyWSReadLimit)
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	return store.NewClient(nc, key, p.ledger, p.ledgerID)
}

// StorePut encrypts data with a key from the wallet and stores it with the
// relay's storage provider on the terms of o; the record is kept.
func (p *Peer) StorePut(ctx context.Context, name string, data []byte, o store.Offer) (store.Record, error) {
	if len(data) > MaxStorePut {
		return store.Record{}, ErrStoreTooBig
	}
	if len(p.StoreRecords()) >= maxStoreRecords {
		return store.Record{}, ErrStoreFull
	}
	cl, err := p.storeClient(ctx)
	if err != nil {
		return store.Record{}, err
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	ct, err := cl.Put(bytes.NewReader(data), uint64(len(data)), o)
	if err != nil {
		return store.Record{}, fmt.Errorf("webpeer: storing %s: %w", name, err)
	}
	ct.Provider = p.cfg.Relay
	rec := store.Record{Contract: ct, Name: name, PlainLen: uint64(len(data))}
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	return rec, p.saveStore(append(p.loadStore(), rec))
}

// StoreGet gets a stored object back from the relay's provider, paying per
// chunk as each arrives checked against the root; it returns the plaintext
// and what it paid.
func (p *Peer) StoreGet(ctx context.Context, id string) (store.Record, []byte, uint64, error) {
	rec, err := p.findStore(id)
	if err != nil {
		return rec, nil, 0, err
	}
	cl, err := p.storeClient(ctx)
	if err != nil {
		return rec, nil, 0, err
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	var out bytes.Buffer
	out.Grow(int(min(rec.PlainLen, MaxStorePut)))
	paid, err := cl.Get(ctx, rec.Contract, &out)
	if paid > 0 {
		if uerr := p.updateStore(rec.Contract.Obj, func(r *store.Record) { r.Retrieved += paid }); uerr != nil {
			err = errors.Join(err, uerr)
		}
		rec.Retrieved += paid
	}
	if err != nil {
		return rec, nil, paid, fmt.Errorf("webpeer: getting %s back: %w", rec.Name, err)
	}
	return rec, out.Bytes(), paid, nil
}

// findStore is the record whose object id is id.
func (p *Peer) findStore(id string) (store.Record, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	for _, r := range p.StoreRecords() {
		if r.Contract.Obj.String() == id {
			return r, nil
		}
	}
	return store.Record{}, fmt.Errorf("%w: %q", ErrNoObject, id)
}

// StoreCheck runs the challenges that are due and pays the periods that
// passed, for every record of this relay, as btspeed store check does.
func (p *Peer) StoreCheck(ctx context.Context) error {
	var errs []error
	for _, r := range p.StoreRecords() {
		now := p.cfg.Now()
		if r.Ended || r.Failure != nil || !r.Due(now) {
			continue
		}
		cl, err := p.storeClient(ctx)
		if err != nil {
			return err
		}
		err = r.Check(ctx, now, cl)
		cl.Close()
		errs = append(errs, err, p.updateStore(r.Contract.Obj, func(s *store.Record) { *s = r }))
	}
	return errors.Join(errs...)
}
