// Package devnet is a TRON development network in one process: the part of
// a TRON node that btspeed and TRON's own client libraries use for
// accounts and TRX/TRC-10 transfers, checking what a node checks.
//
// A transaction is accepted only when its single signature recovers its
// owner, its reference block is one of the chain's recent blocks, it has
// not expired (and expires within 24 h), it has not been seen before, and
// the owner's balances cover the amount and the fee. Accepted
// transactions wait in a pool and go into the next block; a block is made
// every BlockInterval (3 s by default) and stored, so the chain survives a
// restart (state is the genesis replayed through the stored blocks).
//
// Fees, simplified: every transaction costs its owner Fee sun (default
// 1,000, that is 0.001 TRX; a real node charges bandwidth, which is free
// up to a daily allowance and then burns TRX), and a transfer that creates
// its recipient's account costs AccountCreateFee more (default 1 TRX, as
// on TRON). TRC-10 transfers pay the fee in TRX too.
package devnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Errors a transaction can be refused with (wrapped with detail).
var (
	ErrSignature   = errors.New("devnet: signature error")
	ErrExpired     = errors.New("devnet: transaction expired")
	ErrRefBlock    = errors.New("devnet: reference block not found")
	ErrDuplicate   = errors.New("devnet: duplicate transaction")
	ErrBalance     = errors.New("devnet: balance is not sufficient")
	ErrContract    = errors.New("devnet: contract validate error")
	ErrUnsupported = errors.New("devnet: contract type not supported")
)

// Asset is the chain's TRC-10 token.
type Asset struct {
	ID          string // e.g. "1000001"; mainnet BTT is "1002000"
	Name, Abbr  string
	Precision   int32 // decimals
	TotalSupply int64
	Owner       wallet.Address
}

// Account is a genesis allocation.
type Account struct {
	Address wallet.Address
	TRX     int64 // sun
	Asset   int64 // base units of the asset
}

// Config configures a chain.
type Config struct {
	// Path is the chain's bbolt file.
	Path string
	// Asset is the TRC-10 token; Accounts are funded at genesis.
	Asset    Asset
	Accounts []Account
	// BlockInterval is the time between blocks (default 3 s).
	BlockInterval time.Duration
	// Fee and AccountCreateFee are in sun (defaults 1,000 and 1,000,000).
	Fee, AccountCreateFee int64
	// SolidDepth is how many blocks must follow a block before the
	// solidity API (Solidity) shows it. The default, 0, is the truth for
	// the devnet: it has one block producer, so a block is final when made
	// (TRON's is about 19 blocks behind the head).
	SolidDepth int64
	Now        func() time.Time
	Logger     *slog.Logger
}

type account struct {
	trx     int64
	assets  map[string]int64
	created int64 // ms
}

type block struct {
	num       int64
	id        [32]byte
	parent    [32]byte
	timestamp int64 // ms
	txs       []*core.Transaction
}

type txRecord struct {
	tx        *core.Transaction
	blockNum  int64
	blockTime int64
	fee       int64
}

// Chain is a running development network.
type Chain struct {
	cfg  Config
	log  *slog.Logger
	db   *bolt.DB
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	accounts map[wallet.Address]*account
	blocks   []*block
	txs      map[[32]byte]*txRecord
	pending  []*core.Transaction
	pendIDs  map[[32]byte]bool
	closed   bool
}

var blocksBucket = []byte("blocks")

// Open opens (or creates) the chain at cfg.Path and starts making blocks.
func Open(cfg Config) (*Chain, error) {
	if cfg.BlockInterval <= 0 {
		cfg.BlockInterval = 3 * time.Second
	}
	if cfg.Fee == 0 {
		cfg.Fee = 1_000
	}
	if cfg.AccountCreateFee == 0 {
		cfg.AccountCreateFee = 1_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Asset.ID == "" || cfg.Asset.Precision < 0 {
		return nil, errors.New("devnet: the genesis needs a TRC-10 asset id")
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("devnet: open %s: %w", cfg.Path, err)
	}
	c := &Chain{cfg: cfg, log: cfg.Logger, db: db, stop: make(chan struct{}), done: make(chan struct{}),
		accounts: map[wallet.Address]*account{}, txs: map[[32]byte]*txRecord{}, pendIDs: map[[32]byte]bool{}}
	if err := c.load(); err != nil {
		db.Close()
		return nil, err
	}
	go c.produce()
	return c, nil
}

// load applies the genesis and replays the stored blocks.
func (c *Chain) load() error {
	for _, a := range c.cfg.Accounts {
		acc := c.account(a.Address, 0)
		acc.trx += a.TRX
		acc.assets[c.cfg.Asset.ID] += a.Asset
	}
	genesis := &block{num: 0, timestamp: 0}
	genesis.id = blockID(genesis)
	c.blocks = []*block{genesis}
	return c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(blocksBucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var stored core.Block
			if err := proto.Unmarshal(v, &stored); err != nil {
				return fmt.Errorf("devnet: stored block %x: %w", k, err)
			}
			blk := &block{num: stored.BlockHeader.RawData.Number, timestamp: stored.BlockHeader.RawData.Timestamp, txs: stored.Transactions}
			copy(blk.parent[:], stored.BlockHeader.RawData.ParentHash)
			blk.id = blockID(blk)
			for _, t := range blk.txs {
				raw, _ := proto.Marshal(t.RawData)
				fee, err := c.apply(t, raw)
				if err != nil {
					return fmt.Errorf("devnet: replaying block %d: %w", blk.num, err)
				}
				c.txs[sha256.Sum256(raw)] = &txRecord{tx: t, blockNum: blk.num, blockTime: blk.timestamp, fee: fee}
			}
			c.blocks = append(c.blocks, blk)
			return nil
		})
	})
}

// blockID is TRON's form: the block number in the first 8 bytes, then a
// hash of the header.
func blockID(b *block) [32]byte {
	h := sha256.New()
	binary.Write(h, binary.BigEndian, b.num)
	binary.Write(h, binary.BigEndian, b.timestamp)
	h.Write(b.parent[:])
	for _, t := range b.txs {
		raw, _ := proto.Marshal(t.RawData)
		id := sha256.Sum256(raw)
		h.Write(id[:])
	}
	var id [32]byte
	copy(id[:], h.Sum(nil))
	binary.BigEndian.PutUint64(id[:8], uint64(b.num))
	return id
}

func (c *Chain) account(a wallet.Address, now int64) *account {
	acc := c.accounts[a]
	if acc == nil {
		acc = &account{assets: map[string]int64{}, created: now}
		c.accounts[a] = acc
	}
	return acc
}

// Close stops making blocks and closes the store.
func (c *Chain) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	return c.db.Close()
}

// produce makes a block every interval.
func (c *Chain) produce() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if err := c.MakeBlock(); err != nil {
			c.log.Error("devnet: making a block", "err", err)
		}
	}
}

// MakeBlock puts the pending transactions still valid into a new block
// and stores it.
func (c *Chain) MakeBlock() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	head := c.blocks[len(c.blocks)-1]
	now := c.cfg.Now().UnixMilli()
	blk := &block{num: head.num + 1, parent: head.id, timestamp: max(now, head.timestamp+1)}
	fees := map[[32]byte]int64{}
	for _, t := range c.pending {
		raw, _ := proto.Marshal(t.RawData)
		id := sha256.Sum256(raw)
		if err := c.check(t, raw, blk.timestamp); err != nil {
			c.log.Info("devnet: dropping a pending transaction", "txid", fmt.Sprintf("%x", id), "err", err)
			continue
		}
		fee, err := c.apply(t, raw)
		if err != nil {
			c.log.Info("devnet: dropping a pending transaction", "txid", fmt.Sprintf("%x", id), "err", err)
			continue
		}
		fees[id] = fee
		blk.txs = append(blk.txs, t)
	}
	blk.id = blockID(blk)
	stored := &core.Block{Transactions: blk.txs, BlockHeader: &core.BlockHeader{RawData: &core.BlockHeaderRaw{
		Number: blk.num, Timestamp: blk.timestamp, ParentHash: blk.parent[:]}}}
	enc, err := proto.Marshal(stored)
	if err != nil {
		return err
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(blk.num))
	if err := c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(blocksBucket).Put(key[:], enc) }); err != nil {
		// The block is not made: undo by replaying from the store.
		return fmt.Errorf("devnet: storing block %d: %w", blk.num, errors.Join(err, c.reload()))
	}
	for _, t := range blk.txs {
		raw, _ := proto.Marshal(t.RawData)
		id := sha256.Sum256(raw)
		c.txs[id] = &txRecord{tx: t, blockNum: blk.num, blockTime: blk.timestamp, fee: fees[id]}
	}
	c.blocks = append(c.blocks, blk)
	c.pending, c.pendIDs = nil, map[[32]byte]bool{}
	return nil
}

// reload rebuilds the state from the store (after a failed write).
func (c *Chain) reload() error {
	c.accounts, c.txs, c.pending, c.pendIDs = map[wallet.Address]*account{}, map[[32]byte]*txRecord{}, nil, map[[32]byte]bool{}
	return c.load()
}

// Submit validates t against the chain and the pool and queues it for the
// next block; it returns the transaction id.
func (c *Chain) Submit(t *core.Transaction) ([32]byte, error) {
	if t.GetRawData() == nil {
		return [32]byte{}, fmt.Errorf("%w: no raw data", ErrContract)
	}
	raw, err := proto.Marshal(t.RawData)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %v", ErrContract, err)
	}
	id := sha256.Sum256(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return id, errors.New("devnet: closed")
	}
	if c.txs[id] != nil || c.pendIDs[id] {
		return id, ErrDuplicate
	}
	if err := c.check(t, raw, c.cfg.Now().UnixMilli()); err != nil {
		return id, err
	}
	// Balances: apply to a copy of the state with the pool applied.
	if err := c.trial(append(append([]*core.Transaction(nil), c.pending...), t)); err != nil {
		return id, err
	}
	c.pending = append(c.pending, proto.Clone(t).(*core.Transaction))
	c.pendIDs[id] = true
	return id, nil
}

// trial applies txs to a copy of the state.
func (c *Chain) trial(txs []*core.Transaction) error {
	saved := c.accounts
	c.accounts = make(map[wallet.Address]*account, len(saved))
	for k, v := range saved {
		cp := *v
		cp.assets = make(map[string]int64, len(v.assets))
		for a, n := range v.assets {
			cp.assets[a] = n
		}
		c.accounts[k] = &cp
	}
	defer func() { c.accounts = saved }()
	for _, t := range txs {
		raw, _ := proto.Marshal(t.RawData)
		if _, err := c.apply(t, raw); err != nil {
			return err
		}
	}
	return nil
}

// check verifies what does not depend on balances: the signature, the
// reference block and the expiration.
func (c *Chain) check(t *core.Transaction, raw []byte, now int64) error {
	r := t.RawData
	if len(r.Contract) != 1 {
		return fmt.Errorf("%w: want exactly one contract, got %d", ErrContract, len(r.Contract))
	}
	owner, err := ownerOf(r.Contract[0])
	if err != nil {
		return err
	}
	if len(t.Signature) != 1 {
		return fmt.Errorf("%w: want one signature, got %d", ErrSignature, len(t.Signature))
	}
	sig, err := wallet.SignatureFromBytes(t.Signature[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	signer, err := wallet.RecoverTransaction(raw, sig)
	if err != nil || signer != owner {
		return fmt.Errorf("%w: signed by %v, owner %v", ErrSignature, signer, owner)
	}
	if r.Expiration <= now {
		return fmt.Errorf("%w: at %d, now %d", ErrExpired, r.Expiration, now)
	}
	if r.Expiration > now+24*3600*1000 {
		return fmt.Errorf("%w: expiration more than 24 h ahead", ErrExpired)
	}
	if len(r.RefBlockBytes) != 2 || len(r.RefBlockHash) != 8 {
		return fmt.Errorf("%w: malformed reference", ErrRefBlock)
	}
	for i := len(c.blocks) - 1; i >= 0 && i >= len(c.blocks)-65536; i-- {
		b := c.blocks[i]
		var num [8]byte
		binary.BigEndian.PutUint64(num[:], uint64(b.num))
		if bytes.Equal(num[6:8], r.RefBlockBytes) && bytes.Equal(b.id[8:16], r.RefBlockHash) {
			return nil
		}
	}
	return ErrRefBlock
}

// ownerOf returns a supported contract's owner.
func ownerOf(ct *core.Transaction_Contract) (wallet.Address, error) {
	var owner []byte
	switch ct.Type {
	case core.Transaction_Contract_TransferContract:
		var m core.TransferContract
		if err := anyTo(ct.Parameter, &m); err != nil {
			return wallet.Address{}, err
		}
		owner = m.OwnerAddress
	case core.Transaction_Contract_TransferAssetContract:
		var m core.TransferAssetContract
		if err := anyTo(ct.Parameter, &m); err != nil {
			return wallet.Address{}, err
		}
		owner = m.OwnerAddress
	default:
		return wallet.Address{}, fmt.Errorf("%w: %v", ErrUnsupported, ct.Type)
	}
	return toAddress(owner)
}

func anyTo(a *anypb.Any, m proto.Message) error {
	if a == nil {
		return fmt.Errorf("%w: no parameter", ErrContract)
	}
	if err := a.UnmarshalTo(m); err != nil {
		return fmt.Errorf("%w: parameter: %v", ErrContract, err)
	}
	return nil
}

func toAddress(b []byte) (wallet.Address, error) {
	var a wallet.Address
	if len(b) != wallet.AddressLen || b[0] != wallet.AddressPrefix {
		return a, fmt.Errorf("%w: invalid address %x", ErrContract, b)
	}
	copy(a[:], b)
	return a, nil
}

// apply changes the state by t (already checked) and returns its fee.
func (c *Chain) apply(t *core.Transaction, raw []byte) (int64, error) {
	ct := t.RawData.Contract[0]
	var owner, to []byte
	var amount int64
	asset := ""
	switch ct.Type {
	case core.Transaction_Contract_TransferContract:
		var m core.TransferContract
		if err := anyTo(ct.Parameter, &m); err != nil {
			return 0, err
		}
		owner, to, amount = m.OwnerAddress, m.ToAddress, m.Amount
	case core.Transaction_Contract_TransferAssetContract:
		var m core.TransferAssetContract
		if err := anyTo(ct.Parameter, &m); err != nil {
			return 0, err
		}
		owner, to, amount, asset = m.OwnerAddress, m.ToAddress, m.Amount, string(m.AssetName)
		if asset != c.cfg.Asset.ID {
			return 0, fmt.Errorf("%w: no asset %q (this chain has %s)", ErrContract, asset, c.cfg.Asset.ID)
		}
	default:
		return 0, fmt.Errorf("%w: %v", ErrUnsupported, ct.Type)
	}
	from, err := toAddress(owner)
	if err != nil {
		return 0, err
	}
	dest, err := toAddress(to)
	if err != nil {
		return 0, err
	}
	if amount <= 0 {
		return 0, fmt.Errorf("%w: amount must be greater than 0", ErrContract)
	}
	if from == dest {
		return 0, fmt.Errorf("%w: cannot transfer to yourself", ErrContract)
	}
	src := c.accounts[from]
	if src == nil {
		return 0, fmt.Errorf("%w: owner account %s does not exist", ErrContract, from)
	}
	fee := c.cfg.Fee
	if c.accounts[dest] == nil {
		fee += c.cfg.AccountCreateFee
	}
	if asset == "" {
		if src.trx < amount || src.trx-amount < fee {
			return 0, fmt.Errorf("%w: %s has %d sun, needs %d plus a fee of %d", ErrBalance, from, src.trx, amount, fee)
		}
	} else {
		if src.assets[asset] < amount {
			return 0, fmt.Errorf("%w: %s has %d of asset %s, needs %d", ErrBalance, from, src.assets[asset], asset, amount)
		}
		if src.trx < fee {
			return 0, fmt.Errorf("%w: %s has %d sun for a fee of %d", ErrBalance, from, src.trx, fee)
		}
	}
	dst := c.account(dest, t.RawData.Timestamp)
	src.trx -= fee
	if asset == "" {
		src.trx -= amount
		dst.trx += amount
	} else {
		src.assets[asset] -= amount
		dst.assets[asset] += amount
	}
	return fee, nil
}

// Balance returns an account's TRX (sun) and asset balance, and whether it
// exists.
func (c *Chain) Balance(a wallet.Address) (trx, asset int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	acc := c.accounts[a]
	if acc == nil {
		return 0, 0, false
	}
	return acc.trx, acc.assets[c.cfg.Asset.ID], true
}

// Head returns the newest block's number.
func (c *Chain) Head() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocks[len(c.blocks)-1].num
}
