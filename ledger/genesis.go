package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// The genesis (M26): written once into an empty store, or never (a ledger
// whose money all comes from deposits).

// ErrDevGenesis is Init's refusal to write the development genesis on a
// ledger whose exchange runs on a real TRON network (Exchange.Devnet
// false): its keys derive from the public genesis.DevMnemonic, so anyone
// could withdraw the BTT others deposit.
var ErrDevGenesis = errors.New("ledger: the public development genesis cannot back an exchange to a real TRON network")

// devGenesisHash is the hash of genesis.Dev(), derived once.
var devGenesisHash = sync.OnceValues(func() ([32]byte, error) {
	allocs, err := genesis.Dev()
	if err != nil {
		return [32]byte{}, err
	}
	return genesisHash(allocs), nil
})

// holdsDevGenesis says whether the store holds the development genesis.
func (l *Ledger) holdsDevGenesis(ctx context.Context) (bool, error) {
	dev, err := devGenesisHash()
	if err != nil {
		return false, err
	}
	var held bool
	err = l.cfg.Store.View(ctx, func(tx store.Tx) error {
		h, err := tx.Meta(metaGenesisID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		held = err == nil && string(h) == string(dev[:])
		return err
	})
	return held, err
}

// Init writes the genesis allocations to an empty store. On a store that
// already has this genesis it does nothing; a different genesis is an
// error, and so is a genesis for a store that already holds money (from
// deposits) without one. With an exchange to a real TRON network it
// refuses the development genesis (ErrDevGenesis).
func (l *Ledger) Init(ctx context.Context, allocs []genesis.Allocation) error {
	if err := genesis.Validate(allocs); err != nil {
		return fmt.Errorf("ledger: genesis: %w", err)
	}
	h := genesisHash(allocs)
	if x := l.cfg.Exchange; x != nil && !x.Devnet {
		if dev, err := devGenesisHash(); err != nil || h == dev {
			return errors.Join(ErrDevGenesis, err)
		}
	}
	now := l.cfg.Now()
	return l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if prev, err := tx.Meta(metaGenesisID); err == nil {
			if string(prev) != string(h[:]) {
				return errors.New("ledger: the store holds a different genesis")
			}
			return nil
		}
		if _, err := tx.Meta(metaSupply); err == nil {
			return errors.New("ledger: the store has no genesis and already holds money (deposits): it cannot take a genesis now")
		}
		var supply uint64
		for _, a := range allocs {
			if err := credit(tx, a.Account, a.Amount, now, "genesis", a.Name, wallet.Address{}); err != nil {
				return err
			}
			supply += a.Amount
		}
		if err := tx.PutMeta(metaSupply, binary.BigEndian.AppendUint64(nil, supply)); err != nil {
			return err
		}
		return tx.PutMeta(metaGenesisID, h[:])
	})
}

func genesisHash(allocs []genesis.Allocation) [32]byte {
	b := []byte("btspeed/genesis/v1")
	for _, a := range allocs {
		b = append(b, a.Account[:]...)
		b = binary.BigEndian.AppendUint64(b, a.Amount)
	}
	return sha256.Sum256(b)
}
