package devnet

import (
	"context"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
)

// Solidity is the chain's protocol.WalletSolidity gRPC service: what a
// node's solidity API answers, from the solidified blocks only (those
// Config.SolidDepth blocks or more below the head). The exchange asks it
// before it replaces a transaction that a full node says is in no block.
// The methods besides these answer Unimplemented.
type Solidity struct {
	api.UnimplementedWalletSolidityServer
	c *Chain
}

// solidHead returns the newest solidified block. The caller holds c.mu.
func (c *Chain) solidHead() *block {
	return c.blocks[max(0, int64(len(c.blocks))-1-c.cfg.SolidDepth)]
}

// GetNowBlock2 returns the newest solidified block.
func (s *Solidity) GetNowBlock2(_ context.Context, _ *api.EmptyMessage) (*api.BlockExtention, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blockExt(c.solidHead()), nil
}

// GetBlockByNum2 returns solidified block n (empty when there is none).
func (s *Solidity) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := in.GetNum()
	if n < 0 || n > c.solidHead().num {
		return &api.BlockExtention{}, nil
	}
	return c.blockExt(c.blocks[n]), nil
}

// GetTransactionById returns a transaction in a solidified block (empty
// otherwise: the pool and newer blocks are not solidified).
func (s *Solidity) GetTransactionById(_ context.Context, in *api.BytesMessage) (*core.Transaction, error) {
	id, ok := txID(in)
	if !ok {
		return &core.Transaction{}, nil
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.txs[id]; r != nil && r.blockNum <= c.solidHead().num {
		return r.tx, nil
	}
	return &core.Transaction{}, nil
}

// GetTransactionInfoById describes a transaction in a solidified block
// (empty otherwise).
func (s *Solidity) GetTransactionInfoById(_ context.Context, in *api.BytesMessage) (*core.TransactionInfo, error) {
	id, ok := txID(in)
	if !ok {
		return &core.TransactionInfo{}, nil
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txInfo(id, c.solidHead().num), nil
}
