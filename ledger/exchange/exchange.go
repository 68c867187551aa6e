// Package exchange moves BTT between TRON and the ledger (M25).
//
// Deposits: it watches TRON's blocks for TRC-10 transfers of the BTT token
// to the exchange address and, once they have enough confirmations,
// credits each sender's ledger account (the same address) with the
// amount. Every credit is keyed by the TRON transaction id in the same
// durable write (ledger.Deposit), so a crash anywhere, a rescan or a
// restart never credits a transfer twice; the scan cursor may lag behind
// the credits and is only an optimisation.
//
// The node is not trusted: the exchange computes every transaction id
// from the raw data itself (sha256) and refuses a node whose txid
// differs, credits only deposits signed by their sender, and signs only
// the exact transfer it asked for.
//
// Withdrawals: the ledger has already debited the account and queued the
// withdrawal (ledger.Withdraw). The exchange has the node build the TRC-10
// transfer, checks it, signs it with the exchange key and records the
// signed transaction and its id in the ledger before broadcasting it. From
// then on it only looks for that transaction: it broadcasts it again while
// it can still land, marks the withdrawal done once it is confirmed, and
// makes a new transaction only when the recorded one can never land: it
// expired outside any block, as the solidity node confirms (a lagging full
// node does not know of recent blocks), or it failed in a confirmed block.
// A crash between any two steps therefore neither loses a withdrawal nor
// pays it twice. A withdrawal TRON refused MaxRefusals times (to build or
// to accept its transaction) fails once no transaction of it can land:
// the ledger refunds it.
package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Node is what the exchange reads from TRON; gotron-sdk's
// client.GrpcClient is one.
type Node interface {
	GetNowBlockCtx(ctx context.Context) (*api.BlockExtention, error)
	GetBlockByNumCtx(ctx context.Context, num int64) (*api.BlockExtention, error)
	GetAccountCtx(ctx context.Context, addr string) (*core.Account, error)
	TransferAssetCtx(ctx context.Context, from, to, asset string, amount int64) (*api.TransactionExtention, error)
	BroadcastCtx(ctx context.Context, tx *core.Transaction) (*api.Return, error)
	GetTransactionInfoByIDCtx(ctx context.Context, id string) (*core.TransactionInfo, error)
}

// Solidity is what the exchange reads from a node's solidity API, which
// answers from solidified (final) blocks only; api.WalletSolidityClient
// is one.
type Solidity interface {
	GetNowBlock2(ctx context.Context, in *api.EmptyMessage, opts ...grpc.CallOption) (*api.BlockExtention, error)
	GetTransactionById(ctx context.Context, in *api.BytesMessage, opts ...grpc.CallOption) (*core.Transaction, error)
	GetTransactionInfoById(ctx context.Context, in *api.BytesMessage, opts ...grpc.CallOption) (*core.TransactionInfo, error)
}

// Config configures the exchange.
type Config struct {
	Ledger *ledger.Ledger
	Node   Node
	// Solidity is asked before a withdrawal's transaction that expired is
	// replaced, so that a lagging full node cannot make the exchange pay
	// twice (required with Key).
	Solidity Solidity
	// Address is the exchange's TRON address, where deposits are sent.
	Address wallet.Address
	// Key is Address's key, which signs withdrawals (nil: deposits only).
	Key *wallet.PrivateKey
	// Token is BTT's TRC-10 id (mainnet 1002000).
	Token string
	// Confirmations: a block is scanned once this many blocks follow it
	// (default 19, TRON's solidification depth).
	Confirmations int64
	// StartBlock is where a first scan starts (a new exchange need not
	// read all of TRON's history).
	StartBlock int64
	// MaxRefusals is how many times TRON may refuse a withdrawal before
	// it fails and is refunded (default DefaultMaxRefusals).
	MaxRefusals int
	// Poll is the time between scans in Run (default 3 s).
	Poll   time.Duration
	Logger *slog.Logger
	// Step, when set, is called between the steps of a deposit and of a
	// withdrawal with the step's name (see the Step constants): crash
	// tests stop the process there.
	Step func(name string)
}

// The steps Config.Step sees.
const (
	StepDepositSeen       = "deposit-seen"       // a confirmed deposit found, not credited yet
	StepDepositCredited   = "deposit-credited"   // credited, the cursor not moved yet
	StepWithdrawSigned    = "withdraw-signed"    // a transaction signed, not recorded yet
	StepWithdrawRecorded  = "withdraw-recorded"  // recorded, not broadcast yet
	StepWithdrawBroadcast = "withdraw-broadcast" // broadcast
	StepWithdrawLanded    = "withdraw-landed"    // confirmed on TRON, not marked done yet
)

// Exchange scans TRON for deposits and sends withdrawals. Its methods
// take turns (one scan or withdrawal pass at a time).
type Exchange struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	next uint64 // the queue place the next withdrawal pass starts at
}

// New checks cfg.
func New(cfg Config) (*Exchange, error) {
	if cfg.Ledger == nil || cfg.Node == nil {
		return nil, errors.New("exchange: needs a ledger and a TRON node")
	}
	if cfg.Key != nil {
		if cfg.Address.IsZero() {
			cfg.Address = cfg.Key.Address()
		}
		if cfg.Address != cfg.Key.Address() {
			return nil, errors.New("exchange: the key is not the exchange address's")
		}
		if cfg.Solidity == nil {
			return nil, errors.New("exchange: withdrawals need a solidity node, to confirm that a transaction can no longer land before replacing it")
		}
	}
	if cfg.Address.IsZero() || cfg.Token == "" {
		return nil, errors.New("exchange: needs the exchange address and the token id")
	}
	if cfg.Confirmations <= 0 {
		cfg.Confirmations = 19
	}
	if cfg.MaxRefusals <= 0 {
		cfg.MaxRefusals = DefaultMaxRefusals
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Step == nil {
		cfg.Step = func(string) {}
	}
	return &Exchange{cfg: cfg, log: cfg.Logger}, nil
}

// Deposit is one credit a scan made.
type Deposit struct {
	TxID    [32]byte
	Block   int64
	From    wallet.Address
	Amount  uint64
	Already bool // credited before (a rescan): nothing changed
}

// Scan reads every block from the cursor up to the newest confirmed one
// and credits the deposits in them; it returns what it found.
func (e *Exchange) Scan(ctx context.Context) ([]Deposit, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	head, err := e.cfg.Node.GetNowBlockCtx(ctx)
	if err != nil {
		return nil, fmt.Errorf("exchange: reading TRON's head: %w", err)
	}
	upto := head.GetBlockHeader().GetRawData().GetNumber() - e.cfg.Confirmations
	cursor, err := e.cfg.Ledger.TronCursor(ctx)
	if err != nil {
		return nil, err
	}
	if cursor == 0 && e.cfg.StartBlock > 0 {
		cursor = e.cfg.StartBlock - 1
	}
	var found []Deposit
	for n := cursor + 1; n <= upto; n++ {
		blk, err := e.cfg.Node.GetBlockByNumCtx(ctx, n)
		if err != nil {
			return found, fmt.Errorf("exchange: reading block %d: %w", n, err)
		}
		if got := blk.GetBlockHeader().GetRawData().GetNumber(); got != n {
			return found, fmt.Errorf("exchange: asked for block %d, got %d", n, got)
		}
		for _, t := range blk.Transactions {
			d, ok, err := e.deposit(t)
			if err != nil {
				return found, fmt.Errorf("exchange: block %d: %w", n, err)
			}
			if !ok {
				continue
			}
			d.Block = n
			e.cfg.Step(StepDepositSeen)
			credited, err := e.cfg.Ledger.Deposit(ctx, d.TxID, d.From, d.Amount)
			if err != nil {
				return found, fmt.Errorf("exchange: crediting %x: %w", d.TxID, err)
			}
			d.Already = !credited
			if credited {
				e.log.Info("deposit", "txid", fmt.Sprintf("%x", d.TxID), "from", d.From.String(), "amount", d.Amount, "block", n)
			}
			found = append(found, d)
			e.cfg.Step(StepDepositCredited)
		}
		if err := e.cfg.Ledger.SetTronCursor(ctx, n); err != nil {
			return found, err
		}
	}
	return found, nil
}

// deposit recognises a transfer of the token to the exchange address,
// signed by its sender. Its id is the hash of its raw data; a node that
// gives another is an error.
func (e *Exchange) deposit(t *api.TransactionExtention) (Deposit, bool, error) {
	tx := t.GetTransaction()
	if tx == nil || len(tx.GetRawData().GetContract()) != 1 {
		return Deposit{}, false, nil
	}
	for _, r := range tx.Ret {
		if r.GetContractRet() != core.Transaction_Result_DEFAULT && r.GetContractRet() != core.Transaction_Result_SUCCESS {
			return Deposit{}, false, nil
		}
	}
	ct := tx.RawData.Contract[0]
	if ct.Type != core.Transaction_Contract_TransferAssetContract {
		return Deposit{}, false, nil
	}
	var m core.TransferAssetContract
	if err := ct.Parameter.UnmarshalTo(&m); err != nil {
		return Deposit{}, false, nil
	}
	if string(m.AssetName) != e.cfg.Token || m.Amount <= 0 || len(m.ToAddress) != wallet.AddressLen || len(m.OwnerAddress) != wallet.AddressLen {
		return Deposit{}, false, nil
	}
	var to, from wallet.Address
	copy(to[:], m.ToAddress)
	copy(from[:], m.OwnerAddress)
	if to != e.cfg.Address || from == e.cfg.Address {
		return Deposit{}, false, nil
	}
	raw, err := proto.Marshal(tx.RawData)
	if err != nil {
		return Deposit{}, false, err
	}
	d := Deposit{TxID: sha256.Sum256(raw), From: from, Amount: uint64(m.Amount)}
	if !bytes.Equal(t.Txid, d.TxID[:]) {
		return Deposit{}, false, fmt.Errorf("the node gives transaction %x the txid %.64x", d.TxID, t.Txid)
	}
	if !signedBy(raw, tx.Signature, from) {
		e.log.Warn("a deposit not signed by its sender (multi-signature, or a node that lies): not credited",
			"txid", fmt.Sprintf("%x", d.TxID), "from", from.String(), "amount", m.Amount)
		return Deposit{}, false, nil
	}
	return d, true, nil
}

// signedBy says whether sigs is one signature of raw by a.
func signedBy(raw []byte, sigs [][]byte, a wallet.Address) bool {
	if len(sigs) != 1 {
		return false
	}
	sig, err := wallet.SignatureFromBytes(sigs[0])
	if err != nil {
		return false
	}
	signer, err := wallet.RecoverTransaction(raw, sig)
	return err == nil && signer == a
}

// Run scans for deposits and sends withdrawals every Poll until ctx ends.
func (e *Exchange) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := e.Scan(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("exchange scan", "err", err)
		}
		if e.cfg.Key != nil {
			if err := e.Withdraw(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("exchange withdrawals", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
