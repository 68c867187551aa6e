// Package api is the ledger's HTTP JSON interface as both sides see it: the
// request and response bodies, the signed requests with their canonical
// bytes and signing domains, and the error codes. docs/ledger-api.md
// documents it for people; the ledger server and the client (native and in
// the browser) share these types. It has no server or storage code.
//
// Amounts and nonces travel as decimal strings ("1000000"): they are 64-bit
// integers, and JavaScript numbers lose precision above 2^53.
package api

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Signing domains of the ledger's own requests (channel opens and states use
// speed's domains).
const (
	DomainTransfer wallet.Domain = "btspeed/ledger/transfer/v1"
	// DomainTransferV2 signs a transfer with a memo (Transfer.Bytes).
	DomainTransferV2 wallet.Domain = "btspeed/ledger/transfer/v2"
	DomainFaucet     wallet.Domain = "btspeed/ledger/faucet/v1"
	DomainWithdraw   wallet.Domain = "btspeed/ledger/withdraw/v1"
)

// U64 is a uint64 that travels in JSON as a decimal string.
type U64 uint64

// MarshalText implements encoding.TextMarshaler.
func (u U64) MarshalText() ([]byte, error) { return strconv.AppendUint(nil, uint64(u), 10), nil }

// UnmarshalText accepts only a plain decimal string: no sign, no spaces, no
// leading zeros, at most 20 digits, no overflow.
func (u *U64) UnmarshalText(b []byte) error {
	if len(b) == 0 || len(b) > 20 || (len(b) > 1 && b[0] == '0') {
		return fmt.Errorf("%q is not a decimal amount", truncate(string(b), 24))
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a 64-bit decimal amount", truncate(string(b), 24))
	}
	*u = U64(v)
	return nil
}

// Transfer moves Amount base units from From to To. Nonce makes it unique
// among From's transfers; Ledger binds it to one ledger. Memo (at most
// MaxMemo bytes of UTF-8, no NUL) says what it pays for; the ledger keeps it
// in both accounts' history.
type Transfer struct {
	Ledger string
	From   wallet.Address
	To     wallet.Address
	Amount uint64
	Nonce  uint64
	Memo   string
}

// MaxMemo bounds a transfer's memo, in bytes.
const MaxMemo = 140

// Bytes is the canonical signed encoding:
//
//	len(ledger) (1) | ledger | from (21) | to (21) | amount (8) | nonce (8)
//
// followed, for a transfer with a memo (signed under DomainTransferV2), by
//
//	len(memo) (1) | memo
func (t Transfer) Bytes() []byte {
	b := []byte{byte(len(t.Ledger))}
	b = append(b, t.Ledger...)
	b = append(b, t.From[:]...)
	b = append(b, t.To[:]...)
	b = binary.BigEndian.AppendUint64(b, t.Amount)
	b = binary.BigEndian.AppendUint64(b, t.Nonce)
	if t.Memo != "" {
		b = append(b, byte(len(t.Memo)))
		b = append(b, t.Memo...)
	}
	return b
}

// Domain is the transfer's signing domain: DomainTransfer without a memo,
// DomainTransferV2 with one.
func (t Transfer) Domain() wallet.Domain {
	if t.Memo != "" {
		return DomainTransferV2
	}
	return DomainTransfer
}

// CheckMemo says what is wrong with memo, or nil: at most MaxMemo bytes of
// valid UTF-8 without NUL.
func CheckMemo(memo string) error {
	switch {
	case len(memo) > MaxMemo:
		return fmt.Errorf("memo of %d bytes, at most %d", len(memo), MaxMemo)
	case !utf8.ValidString(memo):
		return errors.New("memo is not valid UTF-8")
	case strings.ContainsRune(memo, 0):
		return errors.New("memo has a NUL character")
	}
	return nil
}

// ID is sha256("btspeed/transfer-id/v1" || Bytes()).
func (t Transfer) ID() [32]byte {
	return sha256.Sum256(append([]byte("btspeed/transfer-id/v1"), t.Bytes()...))
}

// Sign signs the transfer with the sender's key.
func (t Transfer) Sign(k *wallet.PrivateKey) (TransferRequest, error) {
	if k.Address() != t.From {
		return TransferRequest{}, fmt.Errorf("api: transfer from %s signed by %s", t.From, k.Address())
	}
	if err := CheckMemo(t.Memo); err != nil {
		return TransferRequest{}, fmt.Errorf("api: %w", err)
	}
	sig, err := k.Sign(t.Domain(), t.Bytes())
	if err != nil {
		return TransferRequest{}, err
	}
	return TransferRequest{Ledger: t.Ledger, From: t.From, To: t.To, Amount: U64(t.Amount), Nonce: U64(t.Nonce), Memo: t.Memo, Sig: sig}, nil
}

// TransferRequest is POST /v1/transfers.
type TransferRequest struct {
	Ledger string           `json:"ledger"`
	From   wallet.Address   `json:"from"`
	To     wallet.Address   `json:"to"`
	Amount U64              `json:"amount"`
	Nonce  U64              `json:"nonce"`
	Memo   string           `json:"memo,omitempty"` // signed under DomainTransferV2
	Sig    wallet.Signature `json:"sig"`
}

// Transfer returns the signed content.
func (r TransferRequest) Transfer() Transfer {
	return Transfer{Ledger: r.Ledger, From: r.From, To: r.To, Amount: uint64(r.Amount), Nonce: uint64(r.Nonce), Memo: r.Memo}
}

// TransferResult answers a transfer.
type TransferResult struct {
	ID     string         `json:"id"` // hex
	From   wallet.Address `json:"from"`
	To     wallet.Address `json:"to"`
	Amount U64            `json:"amount"`
	Time   int64          `json:"time"` // unix seconds
	Memo   string         `json:"memo,omitempty"`
}

// OpenRequest is POST /v1/channels: speed.OpenRequest with the payer's
// signature.
type OpenRequest struct {
	Ledger   string           `json:"ledger"`
	Payer    wallet.Address   `json:"payer"`
	Payee    wallet.Address   `json:"payee"`
	Deposit  U64              `json:"deposit"`
	Deadline int64            `json:"deadline"` // unix seconds
	Nonce    U64              `json:"nonce"`
	Service  string           `json:"service,omitempty"` // signed under speed.DomainChannelOpenV2
	Sig      wallet.Signature `json:"sig"`
}

// FromSignedOpen converts speed's signed open request.
func FromSignedOpen(s speed.SignedOpen) OpenRequest {
	o := s.Request
	return OpenRequest{Ledger: o.Ledger, Payer: o.Payer, Payee: o.Payee, Deposit: U64(o.Deposit), Deadline: o.Deadline, Nonce: U64(o.Nonce),
		Service: o.Service, Sig: s.Sig}
}

// Signed converts back to speed's type.
func (r OpenRequest) Signed() speed.SignedOpen {
	return speed.SignedOpen{Request: speed.OpenRequest{Ledger: r.Ledger, Payer: r.Payer, Payee: r.Payee, Deposit: uint64(r.Deposit), Deadline: r.Deadline,
		Nonce: uint64(r.Nonce), Service: r.Service}, Sig: r.Sig}
}

// CloseRequest is POST /v1/channels/{id}/close.
type CloseRequest struct {
	Seq      U64              `json:"seq"`
	Paid     U64              `json:"paid"`
	PayerSig wallet.Signature `json:"payer_sig"`
	PayeeSig wallet.Signature `json:"payee_sig"`
}

// Channel is a channel in responses.
type Channel struct {
	ID        speed.ChannelID `json:"id"`
	Payer     wallet.Address  `json:"payer"`
	Payee     wallet.Address  `json:"payee"`
	Deposit   U64             `json:"deposit"`
	Deadline  int64           `json:"deadline"` // unix seconds
	Closed    bool            `json:"closed"`
	Seq       U64             `json:"seq"`
	Paid      U64             `json:"paid"`
	CloseKind string          `json:"close_kind,omitempty"` // "state" or "timeout"
	OpenedAt  int64           `json:"opened_at"`
	ClosedAt  int64           `json:"closed_at,omitempty"`
}

// Speed converts to the protocol's view.
func (c Channel) Speed() speed.Channel {
	return speed.Channel{ID: c.ID, Payer: c.Payer, Payee: c.Payee, Deposit: uint64(c.Deposit), Deadline: time.Unix(c.Deadline, 0), Closed: c.Closed, Seq: uint64(c.Seq), Paid: uint64(c.Paid)}
}

// Account answers GET /v1/accounts/{address}.
type Account struct {
	Address wallet.Address `json:"address"`
	Balance U64            `json:"balance"`
}

// Entry is a line of GET /v1/accounts/{address}/history.
type Entry struct {
	Seq          U64            `json:"seq"`
	Time         int64          `json:"time"`
	Kind         string         `json:"kind"`
	Credit       U64            `json:"credit"`
	Debit        U64            `json:"debit"`
	Balance      U64            `json:"balance"`
	Ref          string         `json:"ref,omitempty"`
	Counterparty wallet.Address `json:"counterparty,omitzero"`
	Memo         string         `json:"memo,omitempty"` // a transfer's memo
	// Service is what a channel entry's channel paid for (speed.ServiceProxy...);
	// "" for other entries and for channels opened without one (Speed).
	Service string `json:"service,omitempty"`
}

// FaucetClaim asks for the faucet's grant for Account in Period, proving
// work with Nonce (see ledger/faucet).
type FaucetClaim struct {
	Ledger  string
	Account wallet.Address
	Period  uint64
	Nonce   uint64
}

// Bytes is the canonical signed encoding:
//
//	len(ledger) (1) | ledger | account (21) | period (8) | nonce (8)
func (c FaucetClaim) Bytes() []byte {
	b := []byte{byte(len(c.Ledger))}
	b = append(b, c.Ledger...)
	b = append(b, c.Account[:]...)
	b = binary.BigEndian.AppendUint64(b, c.Period)
	return binary.BigEndian.AppendUint64(b, c.Nonce)
}

// Sign signs the claim with the account's key.
func (c FaucetClaim) Sign(k *wallet.PrivateKey) (FaucetRequest, error) {
	if k.Address() != c.Account {
		return FaucetRequest{}, fmt.Errorf("api: faucet claim for %s signed by %s", c.Account, k.Address())
	}
	sig, err := k.Sign(DomainFaucet, c.Bytes())
	if err != nil {
		return FaucetRequest{}, err
	}
	return FaucetRequest{Ledger: c.Ledger, Account: c.Account, Period: U64(c.Period), Nonce: U64(c.Nonce), Sig: sig}, nil
}

// FaucetRequest is POST /v1/faucet.
type FaucetRequest struct {
	Ledger  string           `json:"ledger"`
	Account wallet.Address   `json:"account"`
	Period  U64              `json:"period"`
	Nonce   U64              `json:"nonce"`
	Sig     wallet.Signature `json:"sig"`
}

// Claim returns the signed content.
func (r FaucetRequest) Claim() FaucetClaim {
	return FaucetClaim{Ledger: r.Ledger, Account: r.Account, Period: uint64(r.Period), Nonce: uint64(r.Nonce)}
}

// FaucetInfo answers GET /v1/faucet: what to solve now.
type FaucetInfo struct {
	Ledger     string `json:"ledger"`
	Period     U64    `json:"period"`
	Challenge  string `json:"challenge"` // hex
	Difficulty int    `json:"difficulty"`
	Amount     U64    `json:"amount"`
	PeriodEnds int64  `json:"period_ends"` // unix seconds
}

// FaucetResult answers a successful claim.
type FaucetResult struct {
	Account wallet.Address `json:"account"`
	Amount  U64            `json:"amount"`
	Period  U64            `json:"period"`
	Balance U64            `json:"balance"`
	// TRX is the test TRX (sun) sent with a new grant to the account's
	// address on the embedded TRON devnet, for TRON's fees (0: none).
	TRX U64 `json:"trx,omitempty"`
}

// Info answers GET /v1/info.
type Info struct {
	Ledger  string `json:"ledger"`
	Version string `json:"version"`
	Supply  U64    `json:"supply"`
	Time    int64  `json:"time"`
}

// Invariant answers GET /v1/invariant: the books balance when balances +
// escrow == supply; with an exchange, Reserve says whether its BTT on TRON
// still covers what the ledger owes (OK needs both).
type Invariant struct {
	Supply    U64      `json:"supply"`
	Balances  U64      `json:"balances"`
	Escrow    U64      `json:"escrow"`
	Deposited U64      `json:"deposited"` // credited by deposits from TRON, ever
	Withdrawn U64      `json:"withdrawn"` // debited by withdrawals to TRON, ever
	Reserve   *Reserve `json:"reserve,omitempty"`
	// DevGenesis: the ledger holds the public development genesis (whose
	// keys anyone can derive) while its exchange runs on a real TRON
	// network; withdrawals are refused and OK is false.
	DevGenesis bool `json:"dev_genesis,omitempty"`
	OK         bool `json:"ok"`
}

// Reserve is the exchange's side of the invariant: the BTT its TRON address
// holds must cover Required = backing + deposited - withdrawn, where backing
// is what the operator put there for the genesis supply. Deposits waiting
// for confirmations and withdrawals not yet in a block only add to Balance.
type Reserve struct {
	Address  wallet.Address `json:"address"`
	Token    string         `json:"token"`
	Balance  U64            `json:"balance"`  // on TRON, at block Block
	Required U64            `json:"required"` // backing + deposited - withdrawn
	Block    int64          `json:"block"`
	OK       bool           `json:"ok"`
	Error    string         `json:"error,omitempty"` // TRON could not be read
}

// Withdrawal asks the ledger to debit Amount from Account and have the
// exchange send as much BTT on TRON to To. Nonce makes it unique among
// Account's withdrawals.
type Withdrawal struct {
	Ledger  string
	Account wallet.Address
	To      wallet.Address
	Amount  uint64
	Nonce   uint64
}

// Bytes is the canonical signed encoding:
//
//	len(ledger) (1) | ledger | account (21) | to (21) | amount (8) | nonce (8)
func (w Withdrawal) Bytes() []byte {
	return Transfer{Ledger: w.Ledger, From: w.Account, To: w.To, Amount: w.Amount, Nonce: w.Nonce}.Bytes()
}

// ID is sha256("btspeed/withdrawal-id/v1" || Bytes()).
func (w Withdrawal) ID() [32]byte {
	return sha256.Sum256(append([]byte("btspeed/withdrawal-id/v1"), w.Bytes()...))
}

// Sign signs the withdrawal with the account's key.
func (w Withdrawal) Sign(k *wallet.PrivateKey) (WithdrawRequest, error) {
	if k.Address() != w.Account {
		return WithdrawRequest{}, fmt.Errorf("api: withdrawal from %s signed by %s", w.Account, k.Address())
	}
	sig, err := k.Sign(DomainWithdraw, w.Bytes())
	if err != nil {
		return WithdrawRequest{}, err
	}
	return WithdrawRequest{Ledger: w.Ledger, Account: w.Account, To: w.To, Amount: U64(w.Amount), Nonce: U64(w.Nonce), Sig: sig}, nil
}

// WithdrawRequest is POST /v1/withdrawals.
type WithdrawRequest struct {
	Ledger  string           `json:"ledger"`
	Account wallet.Address   `json:"account"`
	To      wallet.Address   `json:"to"`
	Amount  U64              `json:"amount"`
	Nonce   U64              `json:"nonce"`
	Sig     wallet.Signature `json:"sig"`
}

// Withdrawal returns the signed content.
func (r WithdrawRequest) Withdrawal() Withdrawal {
	return Withdrawal{Ledger: r.Ledger, Account: r.Account, To: r.To, Amount: uint64(r.Amount), Nonce: uint64(r.Nonce)}
}

// ExchangeInfo answers GET /v1/exchange: where to send BTT on TRON to
// deposit it, and the rules of withdrawals.
type ExchangeInfo struct {
	Address       wallet.Address `json:"address"`       // send TRC-10 BTT here to deposit
	Token         string         `json:"token"`         // the TRC-10 token id
	Confirmations int64          `json:"confirmations"` // blocks a deposit waits for
	MinWithdrawal U64            `json:"min_withdrawal"`
	Available     U64            `json:"available"` // what withdrawals can still take out in all
	// Scanned is the last TRON block the exchange has scanned for
	// deposits (0: none yet); it follows the head by Confirmations.
	Scanned int64 `json:"scanned"`
}

// Withdrawal states.
const (
	WithdrawalQueued = "queued" // debited; the exchange has not made its TRON transaction yet
	WithdrawalSent   = "sent"   // the TRON transaction is signed, recorded and broadcast
	WithdrawalDone   = "done"   // the transaction is in block Block with enough confirmations
	// WithdrawalFailed: TRON refused the withdrawal too many times (Error
	// says why) and no transaction of it can land any more; the amount is
	// back in the account (history entry kind withdrawal-refund).
	WithdrawalFailed = "failed"
)

// WithdrawalStatus answers POST /v1/withdrawals and GET /v1/withdrawals/{id}.
type WithdrawalStatus struct {
	ID      string         `json:"id"` // hex
	Account wallet.Address `json:"account"`
	To      wallet.Address `json:"to"`
	Amount  U64            `json:"amount"`
	Time    int64          `json:"time"` // when the ledger debited it, unix seconds
	Status  string         `json:"status"`
	Queue   U64            `json:"queue"` // its place in the exchange's queue
	// TxID is the current TRON transaction (hex); a transaction that
	// expired without reaching a block is replaced, counting Attempts.
	TxID       string `json:"txid,omitempty"`
	Expiration int64  `json:"expiration,omitempty"` // of TxID, unix milliseconds (TRON's unit)
	Attempts   int    `json:"attempts,omitempty"`
	Block      int64  `json:"block,omitempty"` // with Status done
	// Refusals counts TRON's refusals of the withdrawal (to build or to
	// accept its transaction); Error is the last one.
	Refusals int    `json:"refusals,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Batch is POST /v1/batch: up to MaxBatch operations applied independently
// (each succeeds or fails on its own), answered in order.
type Batch struct {
	Ops []BatchOp `json:"ops"`
}

// MaxBatch caps the operations in one batch.
const MaxBatch = 256

// BatchOp is one operation; exactly one field is set.
type BatchOp struct {
	Transfer *TransferRequest `json:"transfer,omitempty"`
	Open     *OpenRequest     `json:"open,omitempty"`
	Close    *BatchClose      `json:"close,omitempty"`
}

// BatchClose is a close inside a batch: the channel id and the state.
type BatchClose struct {
	Channel speed.ChannelID `json:"channel"`
	CloseRequest
}

// BatchResult is one operation's answer: its HTTP status and either the
// result or an error.
type BatchResult struct {
	Status   int             `json:"status"`
	Transfer *TransferResult `json:"transfer,omitempty"`
	Channel  *Channel        `json:"channel,omitempty"`
	Error    *ErrorBody      `json:"error,omitempty"`
}

// Error codes, the "code" of every error response.
const (
	CodeBadRequest        = "bad_request"        // malformed JSON, fields, or sizes
	CodeTooLarge          = "too_large"          // body above the size limit
	CodeBadSignature      = "bad_signature"      // the signature does not match the signer
	CodeWrongLedger       = "wrong_ledger"       // signed for another ledger
	CodeInsufficientFunds = "insufficient_funds" // the balance does not cover it
	CodeNonceUsed         = "nonce_used"         // the nonce was used for another request
	CodeNotFound          = "not_found"          // no such channel
	CodeChannelClosed     = "channel_closed"     // closed, and not by this same request
	CodeChannelExpired    = "channel_expired"    // past its deadline: refunded to the payer
	CodeBadDeadline       = "bad_deadline"       // channel deadline in the past or too far ahead
	CodeBadState          = "bad_state"          // seq 0 or paid above the deposit
	CodeFaucetWork        = "faucet_work"        // proof of work missing or too weak
	CodeFaucetPeriod      = "faucet_period"      // the claim is for another period than the current one
	CodeFaucetClaimed     = "faucet_claimed"     // this account already claimed this period
	CodeFaucetEmpty       = "faucet_empty"       // the faucet's account is empty
	CodeRateLimited       = "rate_limited"       // too many requests from this address
	CodeNoExchange        = "no_exchange"        // this ledger does not withdraw to TRON
	CodeReserve           = "reserve"            // the exchange's reserve cannot cover this withdrawal
	CodeBadRecipient      = "bad_recipient"      // a withdrawal to the exchange's own TRON address
	CodeTooManyPending    = "too_many_pending"   // the account has too many withdrawals not done yet
	CodeUnavailable       = "unavailable"        // storage failed; retry
	CodeDevGenesis        = "dev_genesis"        // the public development genesis on a real TRON network: no withdrawals
)

// ErrorBody is the body of every error response: {"error": {...}}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorResponse wraps ErrorBody.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// Error is an API error, returned by the ledger's rules and by the client.
// The rules set only Code and Message; the ledger's HTTP layer maps the
// code to a status (ledger.HTTPStatus), and the client sets Status to the
// one it received.
type Error struct {
	Status  int // HTTP status, when the error came over HTTP
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("ledger: %s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, speed.ErrChannelNotFound) and friends work on API
// errors, so speed's state machines understand the real ledger.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeNotFound:
		return target == speed.ErrChannelNotFound
	case CodeChannelClosed, CodeChannelExpired:
		return target == speed.ErrChannelClosed
	case CodeInsufficientFunds:
		return target == speed.ErrInsufficientFunds
	case CodeNonceUsed:
		return target == speed.ErrNonceUsed
	case CodeBadRequest, CodeBadSignature, CodeWrongLedger, CodeBadDeadline, CodeBadState, CodeBadRecipient:
		return target == speed.ErrBadRequest
	}
	return false
}

// CodeOf returns the API code of err, or "" when it is not an *Error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
