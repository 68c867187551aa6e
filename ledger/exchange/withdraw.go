package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	ledgerapi "github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/tron/txcheck"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// withdrawBatch bounds the withdrawals one pass looks at.
const withdrawBatch = 64

// Withdraw moves every pending withdrawal one step on: it makes, records
// and broadcasts a transaction for a queued one, broadcasts again a sent
// one that is not in a block yet and can still be, replaces one whose
// transaction expired outside any block, and marks done one whose
// transaction has the confirmations. It returns the first error; one
// withdrawal's failure does not hold up the others.
func (e *Exchange) Withdraw(ctx context.Context) error {
	if e.cfg.Key == nil {
		return errors.New("exchange: no key to sign withdrawals with")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pend, err := e.cfg.Ledger.PendingWithdrawals(ctx, withdrawBatch)
	if err != nil || len(pend) == 0 {
		return err
	}
	head, err := e.cfg.Node.GetNowBlockCtx(ctx)
	if err != nil {
		return fmt.Errorf("exchange: reading TRON's head: %w", err)
	}
	hdr := head.GetBlockHeader().GetRawData()
	var first error
	for _, w := range pend {
		if err := e.advance(ctx, w, hdr.GetNumber(), hdr.GetTimestamp()); err != nil {
			e.log.Warn("withdrawal", "id", w.ID, "err", err)
			if first == nil {
				first = fmt.Errorf("exchange: withdrawal %s: %w", w.ID, err)
			}
		}
	}
	return first
}

func (e *Exchange) advance(ctx context.Context, w ledgerapi.WithdrawalStatus, headNum, headTime int64) error {
	b, err := hex.DecodeString(w.ID)
	if err != nil || len(b) != 32 {
		return errors.New("bad withdrawal id")
	}
	id := [32]byte(b)
	if w.TxID != "" {
		info, found, err := e.txInfo(ctx, w.TxID)
		if err != nil {
			return err
		}
		if found {
			if info.GetResult() == core.TransactionInfo_FAILED {
				return fmt.Errorf("TRON transaction %s failed: %s", w.TxID, info.GetResMessage())
			}
			if headNum-info.GetBlockNumber() < e.cfg.Confirmations {
				return nil // wait for confirmations
			}
			e.cfg.Step(StepWithdrawLanded)
			var txid [32]byte
			copy(txid[:], info.GetId())
			done, err := e.cfg.Ledger.CompleteWithdrawal(ctx, id, txid, info.GetBlockNumber())
			if err != nil {
				return err
			}
			e.log.Info("withdrawal done", "id", w.ID, "to", done.To.String(), "amount", uint64(done.Amount), "txid", w.TxID, "block", done.Block)
			return nil
		}
		if headTime <= w.Expiration {
			// It can still land: broadcast it again (a node that has it
			// answers that it is a duplicate).
			return e.rebroadcast(ctx, id, w)
		}
		e.log.Warn("withdrawal transaction expired outside any block; making a new one", "id", w.ID, "txid", w.TxID, "expiration", w.Expiration, "head", headNum)
	}
	return e.send(ctx, id, w, headTime)
}

// send makes, checks, signs, records and broadcasts a new transaction.
func (e *Exchange) send(ctx context.Context, id [32]byte, w ledgerapi.WithdrawalStatus, headTime int64) error {
	if uint64(w.Amount) > 1<<62 {
		return fmt.Errorf("amount %d too large", w.Amount)
	}
	ext, err := e.cfg.Node.TransferAssetCtx(ctx, e.cfg.Address.String(), w.To.String(), e.cfg.Token, int64(w.Amount))
	if err != nil {
		return fmt.Errorf("building the TRON transaction: %w", err)
	}
	tx := ext.GetTransaction()
	if err := e.checkBuilt(tx, w, headTime); err != nil {
		return fmt.Errorf("refusing to sign what the node built: %w", err)
	}
	tx.Signature = nil
	raw, err := proto.Marshal(tx.RawData)
	if err != nil {
		return err
	}
	txid, sig := e.cfg.Key.SignTransaction(raw)
	tx.Signature = [][]byte{sig[:]}
	signed, err := proto.Marshal(tx)
	if err != nil {
		return err
	}
	e.cfg.Step(StepWithdrawSigned)
	if _, err := e.cfg.Ledger.RecordWithdrawalTx(ctx, id, txid, tx.RawData.Expiration, signed); err != nil {
		return fmt.Errorf("recording transaction %x: %w", txid, err)
	}
	e.cfg.Step(StepWithdrawRecorded)
	e.log.Info("withdrawal sent", "id", w.ID, "to", w.To.String(), "amount", uint64(w.Amount), "txid", hex.EncodeToString(txid[:]), "attempt", w.Attempts+1)
	err = e.broadcast(ctx, tx)
	e.cfg.Step(StepWithdrawBroadcast)
	return err
}

// checkBuilt makes sure the node built exactly the transfer asked for:
// the key signs whatever it is given.
func (e *Exchange) checkBuilt(tx *core.Transaction, w ledgerapi.WithdrawalStatus, headTime int64) error {
	raw, err := proto.Marshal(tx.GetRawData())
	if err != nil {
		return err
	}
	id := sha256.Sum256(raw)
	_, _, err = txcheck.CheckTransferAsset(hex.EncodeToString(id[:]), hex.EncodeToString(raw),
		txcheck.Transfer{From: e.cfg.Address, To: w.To, Token: e.cfg.Token, Amount: int64(w.Amount)}, time.UnixMilli(headTime))
	return err
}

func (e *Exchange) rebroadcast(ctx context.Context, id [32]byte, w ledgerapi.WithdrawalStatus) error {
	signed, err := e.cfg.Ledger.SignedWithdrawalTx(ctx, id)
	if err != nil {
		return fmt.Errorf("reading the recorded transaction: %w", err)
	}
	var tx core.Transaction
	if err := proto.Unmarshal(signed, &tx); err != nil {
		return fmt.Errorf("the recorded transaction: %w", err)
	}
	return e.broadcast(ctx, &tx)
}

// broadcast sends tx; a node that already has it is no error.
func (e *Exchange) broadcast(ctx context.Context, tx *core.Transaction) error {
	ret, err := e.cfg.Node.BroadcastCtx(ctx, tx)
	if err != nil && ret.GetCode() != api.Return_DUP_TRANSACTION_ERROR {
		return fmt.Errorf("broadcasting: %w", err)
	}
	return nil
}

// txInfo looks a transaction up in TRON's blocks: found is false when no
// block has it (yet).
func (e *Exchange) txInfo(ctx context.Context, txid string) (*core.TransactionInfo, bool, error) {
	info, err := e.cfg.Node.GetTransactionInfoByIDCtx(ctx, txid)
	if err == nil {
		return info, info.GetBlockNumber() > 0, nil
	}
	// gotron-sdk reports "not found" as a plain error; a failed call is a
	// gRPC status.
	if _, isRPC := status.FromError(err); !isRPC && strings.Contains(err.Error(), "not found") {
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("looking up transaction %s: %w", txid, err)
}

// Reserve reads the exchange's BTT on TRON and compares it with required
// (ledger.ReserveFunc).
func (e *Exchange) Reserve(ctx context.Context, required uint64) *ledgerapi.Reserve {
	e.mu.Lock() // not between a broadcast and its record
	defer e.mu.Unlock()
	r := &ledgerapi.Reserve{Address: e.cfg.Address, Token: e.cfg.Token, Required: ledgerapi.U64(required)}
	head, err := e.cfg.Node.GetNowBlockCtx(ctx)
	if err != nil {
		r.Error = fmt.Sprintf("reading TRON's head: %v", err)
		return r
	}
	r.Block = head.GetBlockHeader().GetRawData().GetNumber()
	acct, err := e.cfg.Node.GetAccountCtx(ctx, e.cfg.Address.String())
	if err != nil && !strings.Contains(err.Error(), "not found") {
		r.Error = fmt.Sprintf("reading the exchange's account: %v", err)
		return r
	}
	bal := acct.GetAssetV2()[e.cfg.Token]
	if bal < 0 {
		bal = 0
	}
	r.Balance = ledgerapi.U64(bal)
	r.OK = uint64(bal) >= required
	return r
}
