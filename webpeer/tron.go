//go:build !btspeed_embed

package webpeer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/fetch"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/deposit"
	"github.com/btspeed/btspeed/tron/txcheck"
)

// The wallet on TRON: its address there is the same as on the ledger.
// Deposits are TRC-10 transfers of BTT from that address to the ledger's
// exchange, which credits the ledger account once the transfer has its
// confirmations; withdrawals are signed requests to the ledger, which
// debits at once and has the exchange send the BTT on TRON. Both go
// through the relay: TRON's HTTP API at /tron/, the ledger at /ledger/.

// DefaultToken is BTT's TRC-10 id on TRON's mainnet: the token TronAccount
// reads when the ledger has no exchange to name its own.
const DefaultToken = "1002000"

// Errors of the TRON operations a user can act on; the errors returned
// wrap them with the detail.
var (
	ErrNoExchange    = errors.New("this relay's ledger has no exchange to TRON")
	ErrNoTron        = errors.New("this relay serves no TRON API")
	ErrTronBalance   = errors.New("not enough on TRON")
	ErrLedgerBalance = errors.New("the ledger balance does not cover it")
	ErrReserve       = errors.New("the exchange's reserve cannot cover this withdrawal")
	ErrBelowMinimum  = errors.New("below the smallest withdrawal")
	ErrNodeBuilt     = deposit.ErrNodeBuilt
)

// maxDepositAmount keeps amounts within TRON's int64.
const maxDepositAmount = 1 << 62

// maxDone caps the finished withdrawals remembered (more are read again
// from the ledger).
const maxDone = 256

// tronState is the wallet's TRON side: the API, the exchange's fixed
// facts once read, finished withdrawals (they no longer change) and the
// last nonce used.
type tronState struct {
	api *tronAPI

	mu        sync.Mutex
	exchange  *api.ExchangeInfo
	done      map[string]api.WithdrawalStatus
	lastNonce uint64
}

// newTronState is the TRON side of a wallet whose relay is relay.
func newTronState(relay string, hc fetch.Doer) *tronState {
	return &tronState{api: &tronAPI{base: relay + "/tron", hc: hc}}
}

// TronAccount is what an address holds on TRON, in base units (sun for
// TRX; 1 TRX = 1,000,000 sun).
type TronAccount struct {
	Address string
	TRX     uint64
	BTT     uint64
	Token   string // BTT's TRC-10 id
	Exists  bool   // TRON knows the account (it has received something)
}

// exchangeErr turns the ledger's no_exchange into ErrNoExchange.
func exchangeErr(err error) error {
	if api.CodeOf(err) == api.CodeNoExchange {
		return ErrNoExchange
	}
	return fmt.Errorf("webpeer: the ledger's exchange: %w", err)
}

// Exchange returns the ledger's exchange to TRON: where deposits go, the
// token, the confirmations a deposit waits for, the smallest withdrawal
// and how much withdrawals can still take out.
func (w *Wallet) Exchange(ctx context.Context) (api.ExchangeInfo, error) {
	info, err := w.ledger.Exchange(ctx)
	if err != nil {
		return api.ExchangeInfo{}, exchangeErr(err)
	}
	w.tron.mu.Lock()
	w.tron.exchange = &info
	w.tron.mu.Unlock()
	return info, nil
}

// token is BTT's TRC-10 id: the exchange's (read once), or DefaultToken
// when the ledger has none.
func (w *Wallet) token(ctx context.Context) (string, error) {
	w.tron.mu.Lock()
	x := w.tron.exchange
	w.tron.mu.Unlock()
	if x != nil {
		return x.Token, nil
	}
	info, err := w.Exchange(ctx)
	if errors.Is(err, ErrNoExchange) {
		return DefaultToken, nil
	}
	return info.Token, err
}

// TronAccount reads the wallet's TRX and BTT on TRON.
func (w *Wallet) TronAccount(ctx context.Context) (TronAccount, error) {
	addr := w.Address()
	if addr == "" {
		return TronAccount{}, ErrNoWallet
	}
	token, err := w.token(ctx)
	if err != nil {
		return TronAccount{}, err
	}
	return w.tronAccount(ctx, addr, token)
}

func (w *Wallet) tronAccount(ctx context.Context, addr, token string) (TronAccount, error) {
	a, err := w.tron.api.account(ctx, addr)
	if errors.Is(err, ErrNoTron) {
		return TronAccount{}, err
	}
	if err != nil {
		return TronAccount{}, fmt.Errorf("webpeer: the TRON account %s: %w", addr, err)
	}
	out := TronAccount{Address: addr, Token: token, Exists: a.Address != "", TRX: uint64(max(a.Balance, 0))}
	for _, kv := range a.AssetV2 {
		if kv.Key == token {
			out.BTT = uint64(max(kv.Value, 0))
		}
	}
	return out, nil
}

// DepositSent is a deposit broadcast to TRON.
type DepositSent struct {
	TxID       string // the TRON transaction (hex)
	Amount     uint64
	Exchange   string    // the address it goes to
	Expiration time.Time // TRON drops it unless a block has it by then
}

// depositRecord is a deposit this page sent, kept in the KV store until
// the ledger credits it (for TronHistory).
type depositRecord struct {
	Account    string `json:"account"`
	TxID       string `json:"txid"`
	Amount     uint64 `json:"amount"`
	Time       int64  `json:"time"`       // unix milliseconds
	Expiration int64  `json:"expiration"` // unix milliseconds
}

const (
	depositsKey = "btspeed.deposits"
	maxDeposits = 20
)

// Deposit moves amount base units of BTT from the wallet's TRON address
// to the ledger: it has the node build the TRC-10 transfer to the
// exchange, checks that the node built exactly that transfer (txcheck),
// signs it and broadcasts it. The ledger credits the same account once
// the transfer has the exchange's confirmations (TronHistory follows it).
func (w *Wallet) Deposit(ctx context.Context, amount uint64) (DepositSent, error) {
	k := w.unlocked()
	if k == nil {
		return DepositSent{}, ErrLocked
	}
	if amount == 0 || amount > maxDepositAmount {
		return DepositSent{}, ErrBadAmount
	}
	info, err := w.Exchange(ctx)
	if err != nil {
		return DepositSent{}, err
	}
	from := k.Address().String()
	acct, err := w.tronAccount(ctx, from, info.Token)
	if err != nil {
		return DepositSent{}, err
	}
	// The fee in TRX is the node's to judge: on TRON, free bandwidth may
	// pay it.
	if acct.BTT < amount {
		return DepositSent{}, fmt.Errorf("%w: %s has %s BTT on TRON; the deposit is %s", ErrTronBalance, from, speed.FormatBTT(acct.BTT), speed.FormatBTT(amount))
	}
	t := txcheck.Transfer{From: k.Address(), To: info.Address, Token: info.Token, Amount: int64(amount)}
	sent, err := deposit.Send(ctx, httpNode{w.tron.api}, k, t, w.now())
	if err != nil {
		return DepositSent{}, fmt.Errorf("webpeer: deposit: %w", err)
	}
	txid, r := sent.TxID, sent.Raw
	out := DepositSent{TxID: txid, Amount: amount, Exchange: info.Address.String(), Expiration: time.UnixMilli(r.Expiration)}
	w.recordDeposit(depositRecord{Account: from, TxID: txid, Amount: amount, Time: w.now().UnixMilli(), Expiration: r.Expiration})
	return out, nil
}

// httpNode is deposit.Node over TRON's HTTP API; it reports a node's
// refusal for want of BTT, TRX or bandwidth as ErrTronBalance.
type httpNode struct{ api *tronAPI }

func (n httpNode) Build(ctx context.Context, t txcheck.Transfer) (deposit.Built, error) {
	tx, err := n.api.transferAsset(ctx, t.From.String(), t.To.String(), t.Token, t.Amount)
	if err != nil {
		var refusal *tronRefusal
		if errors.As(err, &refusal) && balanceRefusal("", refusal.msg) {
			return deposit.Built{}, fmt.Errorf("%w for the transfer and its fee in TRX (the node says: %s)", ErrTronBalance, refusal.msg)
		}
		return deposit.Built{}, err
	}
	return deposit.Built{TxID: tx.txID, RawHex: tx.raw, Tx: tx}, nil
}

func (n httpNode) Head(ctx context.Context) (time.Time, error) {
	_, head, err := n.api.head(ctx)
	return head, err
}

func (n httpNode) Broadcast(ctx context.Context, b deposit.Built, sig []byte) (string, error) {
	res, err := n.api.broadcast(ctx, b.Tx.(builtTx), sig)
	if err != nil {
		return "", err
	}
	if !res.Result && res.Code != "DUP_TRANSACTION_ERROR" {
		msg := res.text()
		if balanceRefusal(res.Code, msg) {
			return "", fmt.Errorf("%w for the transfer and its fee in TRX (the node says: %s)", ErrTronBalance, msg)
		}
		return "", fmt.Errorf("TRON refused the deposit: %s: %s", res.Code, msg)
	}
	return res.TxID, nil
}

// balanceRefusal tells whether a node refused a transaction for want of
// BTT, TRX or bandwidth: the devnet says "balance is not sufficient",
// java-tron "...balance is not sufficient" or BANDWITH_ERROR (sic).
func balanceRefusal(code, msg string) bool {
	m := strings.ToLower(msg)
	return code == "BANDWITH_ERROR" || strings.Contains(m, "not sufficient") || strings.Contains(m, "insufficient")
}

// deposits returns the deposits this page sent and the ledger has not
// credited yet (as far as the page knows).
func (w *Wallet) deposits() []depositRecord {
	raw, ok := w.kv.Get(depositsKey)
	if !ok || len(raw) > 64<<10 {
		return nil
	}
	var ds []depositRecord
	if json.Unmarshal([]byte(raw), &ds) != nil {
		return nil
	}
	return ds
}

func (w *Wallet) recordDeposit(d depositRecord) {
	w.tron.mu.Lock()
	defer w.tron.mu.Unlock()
	ds := append(w.deposits(), d)
	if len(ds) > maxDeposits {
		ds = ds[len(ds)-maxDeposits:]
	}
	w.storeDeposits(ds)
}

// storeDeposits writes the list; the caller holds tron.mu.
func (w *Wallet) storeDeposits(ds []depositRecord) {
	b, _ := json.Marshal(ds)
	_ = w.kv.Set(depositsKey, string(b)) // a full localStorage loses only the pending list shown
}

// Withdraw asks the ledger to send amount base units of BTT to the TRON
// address to ("" or the wallet's own address: back to the wallet on
// TRON). The ledger debits the account at once and queues the withdrawal
// for its exchange; Withdrawal follows it until it is done.
func (w *Wallet) Withdraw(ctx context.Context, amount uint64, to string) (api.WithdrawalStatus, error) {
	k := w.unlocked()
	if k == nil {
		return api.WithdrawalStatus{}, ErrLocked
	}
	if amount == 0 || amount > maxDepositAmount {
		return api.WithdrawalStatus{}, ErrBadAmount
	}
	dest := k.Address()
	if to = strings.TrimSpace(to); to != "" {
		a, err := wallet.ParseAddress(to)
		if err != nil {
			return api.WithdrawalStatus{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, truncate(to, 48), err)
		}
		dest = a
	}
	info, err := w.Exchange(ctx)
	if err != nil {
		return api.WithdrawalStatus{}, err
	}
	switch {
	case amount < uint64(info.MinWithdrawal):
		return api.WithdrawalStatus{}, fmt.Errorf("%w: the smallest is %s BTT", ErrBelowMinimum, speed.FormatBTT(uint64(info.MinWithdrawal)))
	case amount > uint64(info.Available):
		return api.WithdrawalStatus{}, fmt.Errorf("%w: it can pay out %s BTT more", ErrReserve, speed.FormatBTT(uint64(info.Available)))
	}
	req, err := api.Withdrawal{Ledger: w.ledgerID, Account: k.Address(), To: dest, Amount: amount, Nonce: w.nonce()}.Sign(k)
	if err != nil {
		return api.WithdrawalStatus{}, fmt.Errorf("webpeer: signing the withdrawal: %w", err)
	}
	st, err := w.ledger.Withdraw(ctx, req)
	if err != nil {
		var e *api.Error
		if errors.As(err, &e) {
			switch e.Code {
			case api.CodeNoExchange:
				return api.WithdrawalStatus{}, ErrNoExchange
			case api.CodeReserve:
				return api.WithdrawalStatus{}, fmt.Errorf("%w: %s", ErrReserve, e.Message)
			case api.CodeInsufficientFunds:
				return api.WithdrawalStatus{}, fmt.Errorf("%w: %s", ErrLedgerBalance, e.Message)
			}
		}
		return api.WithdrawalStatus{}, fmt.Errorf("webpeer: the ledger refused the withdrawal: %w", err)
	}
	return st, nil
}

// nonce is unique among the account's withdrawals from this page: the
// time in nanoseconds, and always above the last one.
func (w *Wallet) nonce() uint64 {
	w.tron.mu.Lock()
	defer w.tron.mu.Unlock()
	n := max(uint64(w.now().UnixNano()), w.tron.lastNonce+1)
	w.tron.lastNonce = n
	return n
}

// Withdrawal returns a withdrawal's status; id is its hex id.
func (w *Wallet) Withdrawal(ctx context.Context, id string) (api.WithdrawalStatus, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if b, err := hex.DecodeString(id); err != nil || len(b) != 32 {
		return api.WithdrawalStatus{}, fmt.Errorf("webpeer: withdrawal id %q: want 64 hex digits", truncate(id, 80))
	}
	w.tron.mu.Lock()
	st, ok := w.tron.done[id]
	w.tron.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := w.ledger.Withdrawal(ctx, id)
	if err != nil {
		if api.CodeOf(err) == api.CodeNoExchange {
			return api.WithdrawalStatus{}, ErrNoExchange
		}
		return api.WithdrawalStatus{}, fmt.Errorf("webpeer: withdrawal %s: %w", id, err)
	}
	if st.Status == api.WithdrawalDone || st.Status == api.WithdrawalFailed { // final
		w.tron.mu.Lock()
		if w.tron.done == nil || len(w.tron.done) >= maxDone {
			w.tron.done = map[string]api.WithdrawalStatus{}
		}
		w.tron.done[id] = st
		w.tron.mu.Unlock()
	}
	return st, nil
}

// Movement is a deposit from TRON or a withdrawal to it.
type Movement struct {
	Kind   string // "deposit" or "withdrawal"
	Amount uint64
	// Status of a deposit: "sent" (waiting for a block), "confirming" (in
	// block Block, waiting for confirmations), "done" (credited on the
	// ledger), "expired" (no block took it in time: nothing moved) or
	// "failed" (TRON says it failed in its block: nothing moved). Of a
	// withdrawal: the ledger's "queued", "sent", "done" or "failed".
	Status string
	Time   time.Time
	TxID   string // the TRON transaction, once there is one
	ID     string // a withdrawal's id
	To     string // a withdrawal's TRON recipient
	Block  int64  // the TRON block, once in one
}

// Movement kinds and a deposit's states.
const (
	KindDeposit       = "deposit"
	KindWithdrawal    = "withdrawal"
	DepositSentState  = "sent"
	DepositConfirming = "confirming"
	DepositDone       = "done"
	DepositExpired    = "expired"
	DepositFailed     = "failed"
)

// historyDepth is how many of the account's newest ledger entries
// TronHistory reads; maxLookups caps the withdrawals it asks the ledger
// about.
const (
	historyDepth = 100
	maxLookups   = 10
)

// TronHistory returns the wallet's recent deposits and withdrawals, newest
// first: what the ledger's history shows (credited deposits, withdrawals
// with their current status) and the deposits this page sent that the
// ledger has not credited yet, with where they are on TRON.
func (w *Wallet) TronHistory(ctx context.Context) ([]Movement, error) {
	addr := w.Address()
	if addr == "" {
		return nil, ErrNoWallet
	}
	a, err := wallet.ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	entries, err := w.ledger.History(ctx, a, 0, historyDepth)
	if err != nil {
		return nil, fmt.Errorf("webpeer: the ledger's history: %w", err)
	}
	var out []Movement
	credited := map[string]bool{}
	lookups := 0
	for _, e := range entries {
		switch e.Kind {
		case KindDeposit:
			credited[strings.ToLower(e.Ref)] = true
			out = append(out, Movement{Kind: KindDeposit, Amount: uint64(e.Credit), Status: DepositDone, Time: time.Unix(e.Time, 0), TxID: e.Ref})
		case KindWithdrawal:
			m := Movement{Kind: KindWithdrawal, Amount: uint64(e.Debit), Status: api.WithdrawalQueued, Time: time.Unix(e.Time, 0), ID: e.Ref}
			if !e.Counterparty.IsZero() {
				m.To = e.Counterparty.String()
			}
			w.tron.mu.Lock()
			st, done := w.tron.done[strings.ToLower(e.Ref)]
			w.tron.mu.Unlock()
			if !done && lookups < maxLookups {
				lookups++
				st, err = w.Withdrawal(ctx, e.Ref)
				if err != nil {
					return nil, err
				}
				done = true
			}
			if done {
				m.Status, m.TxID, m.Block, m.To = st.Status, st.TxID, st.Block, st.To.String()
			}
			out = append(out, m)
		}
	}
	pending, err := w.pendingDeposits(ctx, addr, credited)
	if err != nil {
		return nil, err
	}
	out = append(out, pending...)
	slices.SortStableFunc(out, func(x, y Movement) int { return y.Time.Compare(x.Time) })
	return out, nil
}

// pendingDeposits follows the deposits this page sent that the ledger has
// not credited: on TRON, in a block or not, or expired. Credited ones
// leave the stored list.
func (w *Wallet) pendingDeposits(ctx context.Context, addr string, credited map[string]bool) ([]Movement, error) {
	all := w.deposits()
	var mine, keep []depositRecord
	for _, d := range all {
		if credited[strings.ToLower(d.TxID)] {
			continue
		}
		keep = append(keep, d)
		if d.Account == addr {
			mine = append(mine, d)
		}
	}
	if len(keep) != len(all) {
		w.tron.mu.Lock()
		w.storeDeposits(keep)
		w.tron.mu.Unlock()
	}
	if len(mine) == 0 {
		return nil, nil
	}
	_, head, err := w.tron.api.head(ctx)
	if err != nil {
		return nil, fmt.Errorf("webpeer: TRON's head block: %w", err)
	}
	out := make([]Movement, 0, len(mine))
	for _, d := range mine {
		m := Movement{Kind: KindDeposit, Amount: d.Amount, Status: DepositSentState, Time: time.UnixMilli(d.Time), TxID: d.TxID}
		block, failed, err := w.tron.api.txInfo(ctx, d.TxID)
		switch {
		case err != nil:
			return nil, fmt.Errorf("webpeer: deposit %s on TRON: %w", d.TxID, err)
		case failed:
			m.Status, m.Block = DepositFailed, block
		case block > 0:
			m.Status, m.Block = DepositConfirming, block
		case head.UnixMilli() > d.Expiration:
			m.Status = DepositExpired
		}
		out = append(out, m)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
