package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	ledgerapi "github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/txcheck"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// withdrawBatch bounds the withdrawals one pass looks at. Passes take
// turns through the queue (each starts after the last one the previous
// pass looked at), so every pending withdrawal is looked at within a few
// passes, whatever the others do.
const withdrawBatch = 64

// DefaultMaxRefusals is Config.MaxRefusals's default.
const DefaultMaxRefusals = 10

// tip is TRON's head block as the full node sees it.
type tip struct{ num, time int64 }

// Withdraw moves pending withdrawals one step on: it makes, records and
// broadcasts a transaction for a queued one, broadcasts again a sent one
// that is not in a block yet and can still be, replaces one whose
// transaction can no longer land, fails and refunds one that TRON refused
// MaxRefusals times, and marks done one whose transaction has the
// confirmations. It returns the first error; one withdrawal's failure
// does not hold up the others.
func (e *Exchange) Withdraw(ctx context.Context) error {
	if e.cfg.Key == nil {
		return errors.New("exchange: no key to sign withdrawals with")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pend, err := e.cfg.Ledger.PendingWithdrawals(ctx, e.next, withdrawBatch)
	if err != nil {
		return err
	}
	if len(pend) < withdrawBatch {
		e.next = 0 // the end of the queue: the next pass starts over
	} else {
		e.next = uint64(pend[len(pend)-1].Queue) + 1
	}
	if len(pend) == 0 {
		return nil
	}
	head, err := e.cfg.Node.GetNowBlockCtx(ctx)
	if err != nil {
		return fmt.Errorf("exchange: reading TRON's head: %w", err)
	}
	hdr := head.GetBlockHeader().GetRawData()
	var first error
	for _, w := range pend {
		if err := e.advance(ctx, w, tip{hdr.GetNumber(), hdr.GetTimestamp()}); err != nil {
			e.log.Warn("withdrawal", "id", w.ID, "err", err)
			if first == nil {
				first = fmt.Errorf("exchange: withdrawal %s: %w", w.ID, err)
			}
		}
	}
	return first
}

func (e *Exchange) advance(ctx context.Context, w ledgerapi.WithdrawalStatus, head tip) error {
	id, err := hex32(w.ID)
	if err != nil {
		return fmt.Errorf("withdrawal id: %w", err)
	}
	if w.TxID != "" {
		var free bool
		if w, free, err = e.follow(ctx, id, w, head); err != nil || !free {
			return err
		}
	}
	// No transaction of the withdrawal can land (none was recorded, or the
	// recorded one never will): make one, or give up.
	if w.Refusals >= e.cfg.MaxRefusals {
		return e.fail(ctx, id, w)
	}
	return e.send(ctx, id, w, head.time)
}

// follow looks for a withdrawal's recorded transaction. It marks the
// withdrawal done once the transaction has the confirmations, broadcasts
// it again while it can still land, and says free when it never can: it
// expired outside any block (which the solidity node confirms, not only
// the full node), or it failed in a confirmed block.
func (e *Exchange) follow(ctx context.Context, id [32]byte, w ledgerapi.WithdrawalStatus, head tip) (ledgerapi.WithdrawalStatus, bool, error) {
	txid, err := hex32(w.TxID)
	if err != nil {
		return w, false, fmt.Errorf("recorded txid: %w", err)
	}
	info, found, err := e.txInfo(ctx, txid)
	if err != nil {
		return w, false, err
	}
	final := false
	if !found && head.time > w.Expiration {
		// Expired, and in no block the full node knows of; a lagging full
		// node says that too, so the solidity node decides.
		var gone bool
		if info, found, gone, err = e.solidified(ctx, txid, w.Expiration); err != nil || gone {
			if gone {
				e.log.Warn("withdrawal transaction expired outside any block; making a new one", "id", w.ID, "txid", w.TxID, "expiration", w.Expiration, "head", head.num)
			}
			return w, gone, err
		}
		if !found {
			return w, false, nil // the solidified chain has not passed the expiration yet
		}
		final = true // in a solidified block
	}
	if !found {
		return w, false, e.rebroadcast(ctx, id, txid, w)
	}
	if !final && head.num-info.GetBlockNumber() < e.cfg.Confirmations {
		return w, false, nil // wait for confirmations
	}
	if info.GetResult() == core.TransactionInfo_FAILED {
		// It moved nothing, and a transaction in a block never lands again.
		w, err = e.refused(ctx, id, fmt.Sprintf("TRON transaction %s failed: %.200s", w.TxID, info.GetResMessage()))
		return w, err == nil, err
	}
	e.cfg.Step(StepWithdrawLanded)
	done, err := e.cfg.Ledger.CompleteWithdrawal(ctx, id, txid, info.GetBlockNumber())
	if err != nil {
		return w, false, err
	}
	e.log.Info("withdrawal done", "id", w.ID, "to", done.To.String(), "amount", uint64(done.Amount), "txid", w.TxID, "block", done.Block)
	return done, false, nil
}

// fail ends a withdrawal TRON kept refusing, refunding it on the ledger.
func (e *Exchange) fail(ctx context.Context, id [32]byte, w ledgerapi.WithdrawalStatus) error {
	f, err := e.cfg.Ledger.FailWithdrawal(ctx, id)
	if err != nil {
		return fmt.Errorf("failing it after %d refusals: %w", w.Refusals, err)
	}
	e.log.Warn("withdrawal failed and refunded", "id", w.ID, "account", f.Account.String(), "to", f.To.String(),
		"amount", uint64(f.Amount), "refusals", f.Refusals, "error", f.Error)
	return nil
}

// refused counts a refusal by TRON in the ledger.
func (e *Exchange) refused(ctx context.Context, id [32]byte, reason string) (ledgerapi.WithdrawalStatus, error) {
	w, err := e.cfg.Ledger.NoteWithdrawalRefusal(ctx, id, reason)
	if err != nil {
		return w, fmt.Errorf("recording TRON's refusal (%s): %w", reason, err)
	}
	return w, nil
}

// send makes, checks, signs, records and broadcasts a new transaction.
func (e *Exchange) send(ctx context.Context, id [32]byte, w ledgerapi.WithdrawalStatus, headTime int64) error {
	if uint64(w.Amount) > 1<<62 {
		return fmt.Errorf("amount %d too large", w.Amount)
	}
	ext, err := e.cfg.Node.TransferAssetCtx(ctx, e.cfg.Address.String(), w.To.String(), e.cfg.Token, int64(w.Amount))
	if err != nil {
		if _, isRPC := status.FromError(err); isRPC {
			return fmt.Errorf("building the TRON transaction: %w", err) // the node could not be asked
		}
		// gotron-sdk reports the node's refusal as a plain error.
		_, nerr := e.refused(ctx, id, "the node refused to build the transfer: "+err.Error())
		return errors.Join(fmt.Errorf("the node refused to build the TRON transaction: %w", err), nerr)
	}
	tx := ext.GetTransaction()
	raw, err := proto.Marshal(tx.GetRawData())
	if err != nil {
		return err
	}
	txid := sha256.Sum256(raw)
	if !bytes.Equal(ext.GetTxid(), txid[:]) {
		return fmt.Errorf("refusing to sign what the node built: its txid %.64x is not the hash of its raw data (%x)", ext.GetTxid(), txid)
	}
	if err := e.checkBuilt(raw, w, headTime); err != nil {
		return fmt.Errorf("refusing to sign what the node built: %w", err)
	}
	txid, sig := e.cfg.Key.SignTransaction(raw)
	if err := e.checkSigned(raw, sig[:]); err != nil {
		return err
	}
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
	err = e.broadcast(ctx, id, tx)
	e.cfg.Step(StepWithdrawBroadcast)
	return err
}

// checkBuilt makes sure the node built exactly the transfer asked for:
// the key signs whatever it is given.
func (e *Exchange) checkBuilt(raw []byte, w ledgerapi.WithdrawalStatus, headTime int64) error {
	id := sha256.Sum256(raw)
	_, _, err := txcheck.CheckTransferAsset(hex.EncodeToString(id[:]), hex.EncodeToString(raw),
		txcheck.Transfer{From: e.cfg.Address, To: w.To, Token: e.cfg.Token, Amount: int64(w.Amount)}, time.UnixMilli(headTime))
	return err
}

// checkSigned makes sure sig over raw is the exchange's.
func (e *Exchange) checkSigned(raw, sig []byte) error {
	s, err := wallet.SignatureFromBytes(sig)
	if err != nil {
		return fmt.Errorf("the transaction's signature: %w", err)
	}
	if signer, err := wallet.RecoverTransaction(raw, s); err != nil || signer != e.cfg.Address {
		return fmt.Errorf("the transaction is not signed by the exchange address %s (recovered %v, %v)", e.cfg.Address, signer, err)
	}
	return nil
}

// rebroadcast broadcasts again the transaction recorded for a withdrawal,
// after checking it is the one recorded, signed by the exchange.
func (e *Exchange) rebroadcast(ctx context.Context, id, txid [32]byte, w ledgerapi.WithdrawalStatus) error {
	signed, err := e.cfg.Ledger.SignedWithdrawalTx(ctx, id)
	if err != nil {
		return fmt.Errorf("reading the recorded transaction: %w", err)
	}
	var tx core.Transaction
	if err := proto.Unmarshal(signed, &tx); err != nil {
		return fmt.Errorf("the recorded transaction: %w", err)
	}
	raw, err := proto.Marshal(tx.GetRawData())
	if err != nil {
		return err
	}
	if got := sha256.Sum256(raw); got != txid {
		return fmt.Errorf("the recorded transaction hashes to %x, not its txid %s", got, w.TxID)
	}
	if len(tx.Signature) != 1 {
		return fmt.Errorf("the recorded transaction has %d signatures", len(tx.Signature))
	}
	if err := e.checkSigned(raw, tx.Signature[0]); err != nil {
		return fmt.Errorf("the recorded transaction: %w", err)
	}
	return e.broadcast(ctx, id, &tx)
}

// broadcast sends tx; a node that already has it is no error. A node's
// refusal is counted in the ledger (not a failure to reach it, nor a busy
// node).
func (e *Exchange) broadcast(ctx context.Context, id [32]byte, tx *core.Transaction) error {
	ret, err := e.cfg.Node.BroadcastCtx(ctx, tx)
	if err == nil || ret.GetCode() == api.Return_DUP_TRANSACTION_ERROR {
		return nil
	}
	switch {
	case ret == nil, ret.GetCode() == api.Return_SERVER_BUSY, ret.GetCode() == api.Return_NO_CONNECTION,
		ret.GetCode() == api.Return_NOT_ENOUGH_EFFECTIVE_CONNECTION:
		return fmt.Errorf("broadcasting: %w", err) // not reached, or busy
	}
	_, nerr := e.refused(ctx, id, fmt.Sprintf("the node refused the transaction (%s): %s", ret.GetCode(), ret.GetMessage()))
	return errors.Join(fmt.Errorf("broadcasting: %w", err), nerr)
}

// txInfo looks a transaction up in the full node's blocks: found is false
// when no block has it (yet).
func (e *Exchange) txInfo(ctx context.Context, txid [32]byte) (*core.TransactionInfo, bool, error) {
	info, err := e.cfg.Node.GetTransactionInfoByIDCtx(ctx, hex.EncodeToString(txid[:]))
	if err == nil {
		if info.GetBlockNumber() > 0 && !bytes.Equal(info.GetId(), txid[:]) {
			return nil, false, fmt.Errorf("asked for transaction %x, the node answered for %.64x", txid, info.GetId())
		}
		return info, info.GetBlockNumber() > 0, nil
	}
	// gotron-sdk reports "not found" as a plain error; a failed call is a
	// gRPC status.
	if _, isRPC := status.FromError(err); !isRPC && strings.Contains(err.Error(), "not found") {
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("looking up transaction %x: %w", txid, err)
}

// solidified asks the solidity node about an expired transaction the full
// node has in no block: found when a solidified block has it; gone when
// the solidified chain has passed its expiration without it, so that it
// can never land (TRON puts no expired transaction in a block, and
// solidified blocks are final).
func (e *Exchange) solidified(ctx context.Context, txid [32]byte, expiration int64) (info *core.TransactionInfo, found, gone bool, err error) {
	// The head first: the lookups after it see at least the blocks up to it.
	head, err := e.cfg.Solidity.GetNowBlock2(ctx, &api.EmptyMessage{})
	if err != nil {
		return nil, false, false, fmt.Errorf("reading the solidity node's head: %w", err)
	}
	msg := &api.BytesMessage{Value: txid[:]}
	if info, err = e.cfg.Solidity.GetTransactionInfoById(ctx, msg); err != nil {
		return nil, false, false, fmt.Errorf("looking up transaction %x on the solidity node: %w", txid, err)
	}
	if info.GetBlockNumber() > 0 {
		if !bytes.Equal(info.GetId(), txid[:]) {
			return nil, false, false, fmt.Errorf("asked the solidity node for transaction %x, it answered for %.64x", txid, info.GetId())
		}
		return info, true, false, nil
	}
	tx, err := e.cfg.Solidity.GetTransactionById(ctx, msg)
	if err != nil {
		return nil, false, false, fmt.Errorf("looking up transaction %x on the solidity node: %w", txid, err)
	}
	if tx.GetRawData() != nil {
		return nil, false, false, nil // it knows the transaction: wait for its info
	}
	return nil, false, head.GetBlockHeader().GetRawData().GetTimestamp() > expiration, nil
}

func hex32(s string) ([32]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("%.70q is not 32 bytes in hex", s)
	}
	return [32]byte(b), nil
}

// Reserve reads the exchange's BTT on TRON (ledger.ReserveFunc). It takes
// no lock: /v1/invariant must not hold up the exchange's passes, nor wait
// for them (ledger.CheckAll says why the reading needs none).
func (e *Exchange) Reserve(ctx context.Context) *ledgerapi.Reserve {
	r := &ledgerapi.Reserve{Address: e.cfg.Address, Token: e.cfg.Token}
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
	r.Balance = ledgerapi.U64(max(acct.GetAssetV2()[e.cfg.Token], 0))
	return r
}
