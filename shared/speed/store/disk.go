package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// The provider's disk: DIR/<account hex>/<object id>.dat holds the
// ciphertext, .json beside it what the provider knows of the contract; DIR/
// channels.json the latest state of every channel paying it. Only ciphertext
// is ever written.

// objMeta is a stored object's record.
type objMeta struct {
	Account     wallet.Address
	Obj         ObjectID
	Nonce       []byte // the object's nonce: not secret, kept for the requester
	Terms       Terms
	Received    []bool   // per Put group
	Complete    bool     // every group received and checked
	Proposed    int64    // unix seconds of the proposal
	Start       uint64   // unix seconds: period 0 begins
	PaidPeriods []uint64 // periods paid, in order of payment
	Income      uint64   // base units paid for this object, periods and retrieval
}

// chanRecord is a channel paying the provider and the latest state it holds.
type chanRecord struct {
	Info     speed.Channel
	State    speed.State
	PayerSig wallet.Signature
	Closed   bool
}

func (p *Provider) objDir(a wallet.Address) string { return filepath.Join(p.cfg.Dir, a.Hex()) }

func (p *Provider) dataPath(m *objMeta) string {
	return filepath.Join(p.objDir(m.Account), m.Obj.String()+".dat")
}

func (p *Provider) metaPath(m *objMeta) string {
	return filepath.Join(p.objDir(m.Account), m.Obj.String()+".json")
}

// writeJSON writes v to path atomically (a temporary file renamed).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (p *Provider) saveMeta(m *objMeta) error {
	if err := os.MkdirAll(p.objDir(m.Account), 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := writeJSON(p.metaPath(m), m); err != nil {
		return fmt.Errorf("store: saving object %s: %w", m.Obj, err)
	}
	return nil
}

func (p *Provider) saveChannels() error {
	if err := writeJSON(filepath.Join(p.cfg.Dir, "channels.json"), p.chans); err != nil {
		return fmt.Errorf("store: saving channel states: %w", err)
	}
	return nil
}

// load reads every record under the directory.
func (p *Provider) load() error {
	if err := os.MkdirAll(p.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(p.cfg.Dir, "channels.json"))
	if err == nil {
		err = json.Unmarshal(b, &p.chans)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: reading channel states: %w", err)
	}
	metas, err := filepath.Glob(filepath.Join(p.cfg.Dir, "*", "*.json"))
	if err != nil {
		return err
	}
	for _, path := range metas {
		var m objMeta
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			return fmt.Errorf("store: reading %s: %w", path, err)
		}
		p.objs[m.Obj] = &object{meta: m}
		p.used += m.Terms.Length
		p.usedBy[m.Account] += m.Terms.Length
	}
	return nil
}

// readAt reads len(b) bytes of an object's ciphertext at off.
func (p *Provider) readAt(m *objMeta, b []byte, off int64) error {
	f, err := os.Open(p.dataPath(m))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	return nil
}

// tree returns an object's tree, built from its data the first time.
func (p *Provider) tree(o *object) (*Tree, error) {
	if o.tree != nil {
		return o.tree, nil
	}
	m := &o.meta
	var leaves []Hash
	buf := make([]byte, ChunkSize)
	for idx := uint64(0); idx*ChunkSize < m.Terms.Length; idx++ {
		c := buf[:ChunkLen(idx, m.Terms.Length)]
		if err := p.readAt(m, c, int64(idx*ChunkSize)); err != nil {
			return nil, fmt.Errorf("store: reading object %s: %w", m.Obj, err)
		}
		leaves = append(leaves, ChunkLeaves(idx, c)...)
	}
	o.tree = NewTree(leaves)
	return o.tree, nil
}
