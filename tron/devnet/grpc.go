package devnet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// txLifetime is how long a transaction the node builds stays valid, as on
// TRON (60 s after the head block).
const txLifetime = 60_000

// Wallet is the chain's protocol.Wallet gRPC service (the methods the
// project and gotron-sdk's client use); the rest answer Unimplemented.
type Wallet struct {
	api.UnimplementedWalletServer
	c *Chain
}

// Register adds the chain's Wallet and WalletSolidity services to s, as
// one node serving both.
func (c *Chain) Register(s *grpc.Server) {
	api.RegisterWalletServer(s, &Wallet{c: c})
	api.RegisterWalletSolidityServer(s, &Solidity{c: c})
}

// GetAccount returns the account (empty when it does not exist, as TRON).
func (w *Wallet) GetAccount(_ context.Context, in *core.Account) (*core.Account, error) {
	a, err := toAddress(in.GetAddress())
	if err != nil {
		return &core.Account{}, nil
	}
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	acc := c.accounts[a]
	if acc == nil {
		return &core.Account{}, nil
	}
	out := &core.Account{Address: a[:], Balance: acc.trx, CreateTime: acc.created, AssetV2: map[string]int64{}}
	for id, n := range acc.assets {
		out.AssetV2[id] = n
	}
	return out, nil
}

// CreateTransaction2 builds an unsigned TRX transfer.
func (w *Wallet) CreateTransaction2(_ context.Context, in *core.TransferContract) (*api.TransactionExtention, error) {
	return w.build(core.Transaction_Contract_TransferContract, in)
}

// TransferAsset2 builds an unsigned TRC-10 transfer.
func (w *Wallet) TransferAsset2(_ context.Context, in *core.TransferAssetContract) (*api.TransactionExtention, error) {
	return w.build(core.Transaction_Contract_TransferAssetContract, in)
}

// build makes a transaction referencing the head block, valid for 60 s,
// after checking the contract against the current state (as a node does).
func (w *Wallet) build(typ core.Transaction_Contract_ContractType, m proto.Message) (*api.TransactionExtention, error) {
	param, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	c := w.c
	c.mu.Lock()
	head := c.blocks[len(c.blocks)-1]
	now := c.cfg.Now().UnixMilli()
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], uint64(head.num))
	tx := &core.Transaction{RawData: &core.TransactionRaw{
		RefBlockBytes: num[6:8], RefBlockHash: append([]byte(nil), head.id[8:16]...),
		Expiration: max(now, head.timestamp) + txLifetime, Timestamp: now,
		Contract: []*core.Transaction_Contract{{Type: typ, Parameter: param}},
	}}
	raw, _ := proto.Marshal(tx.RawData)
	verr := c.trial(append(append([]*core.Transaction(nil), c.pending...), tx))
	c.mu.Unlock()
	if verr != nil {
		return &api.TransactionExtention{Result: &api.Return{Result: false, Code: code(verr), Message: []byte(verr.Error())}}, nil
	}
	id := sha256.Sum256(raw)
	return &api.TransactionExtention{Transaction: tx, Txid: id[:], Result: &api.Return{Result: true, Code: api.Return_SUCCESS}}, nil
}

// code maps a refusal to TRON's response code.
func code(err error) api.ReturnResponseCode {
	switch {
	case errors.Is(err, ErrSignature):
		return api.Return_SIGERROR
	case errors.Is(err, ErrDuplicate):
		return api.Return_DUP_TRANSACTION_ERROR
	case errors.Is(err, ErrRefBlock):
		return api.Return_TAPOS_ERROR
	case errors.Is(err, ErrExpired):
		return api.Return_TRANSACTION_EXPIRATION_ERROR
	case errors.Is(err, ErrContract), errors.Is(err, ErrBalance), errors.Is(err, ErrUnsupported):
		return api.Return_CONTRACT_VALIDATE_ERROR
	}
	return api.Return_OTHER_ERROR
}

// BroadcastTransaction validates a signed transaction and queues it.
func (w *Wallet) BroadcastTransaction(_ context.Context, in *core.Transaction) (*api.Return, error) {
	if _, err := w.c.Submit(in); err != nil {
		return &api.Return{Result: false, Code: code(err), Message: []byte(err.Error())}, nil
	}
	return &api.Return{Result: true, Code: api.Return_SUCCESS}, nil
}

func txID(in *api.BytesMessage) ([32]byte, bool) {
	var id [32]byte
	if len(in.GetValue()) != 32 {
		return id, false
	}
	copy(id[:], in.Value)
	return id, true
}

// GetTransactionById returns a transaction in a block or the pool (empty
// when unknown).
func (w *Wallet) GetTransactionById(_ context.Context, in *api.BytesMessage) (*core.Transaction, error) {
	id, ok := txID(in)
	if !ok {
		return &core.Transaction{}, nil
	}
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.txs[id]; r != nil {
		return r.tx, nil
	}
	for _, t := range c.pending {
		raw, _ := proto.Marshal(t.RawData)
		if sha256.Sum256(raw) == id {
			return t, nil
		}
	}
	return &core.Transaction{}, nil
}

// GetTransactionInfoById returns a transaction's block, time and fee once
// it is in a block (empty before).
func (w *Wallet) GetTransactionInfoById(_ context.Context, in *api.BytesMessage) (*core.TransactionInfo, error) {
	id, ok := txID(in)
	if !ok {
		return &core.TransactionInfo{}, nil
	}
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txInfo(id, c.blocks[len(c.blocks)-1].num), nil
}

// txInfo describes transaction id if a block up to upto has it (empty
// otherwise). The caller holds c.mu.
func (c *Chain) txInfo(id [32]byte, upto int64) *core.TransactionInfo {
	r := c.txs[id]
	if r == nil || r.blockNum > upto {
		return &core.TransactionInfo{}
	}
	info := &core.TransactionInfo{Id: id[:], Fee: r.fee, BlockNumber: r.blockNum, BlockTimeStamp: r.blockTime,
		Receipt: &core.ResourceReceipt{NetFee: r.fee, Result: core.Transaction_Result_SUCCESS}}
	if ct := r.tx.RawData.Contract[0]; ct.Type == core.Transaction_Contract_TransferAssetContract {
		info.AssetIssueID = c.cfg.Asset.ID
	}
	return info
}

// GetNowBlock2 returns the head block.
func (w *Wallet) GetNowBlock2(_ context.Context, _ *api.EmptyMessage) (*api.BlockExtention, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blockExt(c.blocks[len(c.blocks)-1]), nil
}

// GetBlockByNum2 returns block n (empty when there is none).
func (w *Wallet) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := in.GetNum()
	if n < 0 || n >= int64(len(c.blocks)) {
		return &api.BlockExtention{}, nil
	}
	return c.blockExt(c.blocks[n]), nil
}

func (c *Chain) blockExt(b *block) *api.BlockExtention {
	out := &api.BlockExtention{Blockid: append([]byte(nil), b.id[:]...), BlockHeader: &core.BlockHeader{RawData: &core.BlockHeaderRaw{
		Number: b.num, Timestamp: b.timestamp, ParentHash: append([]byte(nil), b.parent[:]...)}}}
	for _, t := range b.txs {
		raw, _ := proto.Marshal(t.RawData)
		id := sha256.Sum256(raw)
		out.Transactions = append(out.Transactions, &api.TransactionExtention{Transaction: t, Txid: id[:], Result: &api.Return{Result: true}})
	}
	return out
}

// GetAssetIssueById describes the chain's TRC-10 asset.
func (w *Wallet) GetAssetIssueById(_ context.Context, in *api.BytesMessage) (*core.AssetIssueContract, error) {
	a := w.c.cfg.Asset
	if string(in.GetValue()) != a.ID {
		return &core.AssetIssueContract{}, nil
	}
	owner := a.Owner
	return &core.AssetIssueContract{Id: a.ID, Name: []byte(a.Name), Abbr: []byte(a.Abbr), Precision: a.Precision,
		TotalSupply: a.TotalSupply, OwnerAddress: owner[:]}, nil
}
