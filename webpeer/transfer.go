package webpeer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Errors of the amounts and addresses a user gives (transfers, deposits,
// withdrawals); the errors returned wrap them with the detail.
var (
	ErrBadAddress = errors.New("not a TRON address")
	ErrBadAmount  = errors.New("want a positive amount of BTT")
)

// ErrSelfTransfer refuses a transfer to the wallet's own account.
var ErrSelfTransfer = errors.New("that is this wallet's own address: pay another account")

// ErrBadMemo refuses a memo the ledger would not keep.
var ErrBadMemo = fmt.Errorf("a memo is at most %d bytes of text", api.MaxMemo)

// Transfer pays amount base units from the wallet's ledger account to the
// ledger account to (T...), a signed ledger transfer with a random nonce
// (docs/ledger-api.md): one call pays once. A memo (may be "") is signed
// with it and kept in both accounts' ledger history.
func (w *Wallet) Transfer(ctx context.Context, to string, amount uint64, memo string) (api.TransferResult, error) {
	k := w.unlocked()
	if k == nil {
		return api.TransferResult{}, ErrLocked
	}
	dst, err := wallet.ParseAddress(to)
	if err != nil {
		return api.TransferResult{}, fmt.Errorf("%w: %q", ErrBadAddress, to)
	}
	if dst == k.Address() {
		return api.TransferResult{}, ErrSelfTransfer
	}
	if amount == 0 {
		return api.TransferResult{}, ErrBadAmount
	}
	if err := api.CheckMemo(memo); err != nil {
		return api.TransferResult{}, fmt.Errorf("%w (%v)", ErrBadMemo, err)
	}
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return api.TransferResult{}, fmt.Errorf("webpeer: transfer nonce: %w", err)
	}
	// The ledger keeps nonces as signed 64-bit integers: the top bit stays 0.
	req, err := api.Transfer{Ledger: w.ledgerID, From: k.Address(), To: dst, Amount: amount, Nonce: binary.BigEndian.Uint64(nb[:]) >> 1,
		Memo: memo}.Sign(k)
	if err != nil {
		return api.TransferResult{}, fmt.Errorf("webpeer: signing the transfer: %w", err)
	}
	res, err := w.ledger.Transfer(ctx, req)
	if err != nil {
		return api.TransferResult{}, fmt.Errorf("webpeer: transfer: %w", err)
	}
	return res, nil
}

// maxTransferHistory caps how many of the account's latest ledger entries
// Transfers reads (pages of api's 100).
const maxTransferHistory = 1000

// Transfers returns the ledger transfers in the wallet's latest history
// entries (at most maxTransferHistory entries read), newest first, and
// whether older entries were left unread.
func (w *Wallet) Transfers(ctx context.Context) (out []api.Entry, more bool, err error) {
	h, err := w.Payments(ctx)
	return h.Transfers, h.More, err
}

// Payments is what the wallet's latest ledger history says it paid and
// was paid, newest first: its transfers and the entries of its payment
// channels (channel-deposit, channel-payout, channel-refund, each naming the
// service the channel paid for, "" for Speed channels of old clients).
type Payments struct {
	Transfers []api.Entry
	Channels  []api.Entry
	// More is set when older entries were left unread (at most
	// maxTransferHistory entries are read).
	More bool
}

// Payments reads the wallet's latest ledger history (at most
// maxTransferHistory entries, in pages of api's 100).
func (w *Wallet) Payments(ctx context.Context) (out Payments, err error) {
	addr := w.Address()
	if addr == "" {
		return out, ErrNoWallet
	}
	a, err := wallet.ParseAddress(addr)
	if err != nil {
		return out, err
	}
	var before uint64
	for read := 0; read < maxTransferHistory; {
		page, err := w.ledger.History(ctx, a, before, 100)
		if err != nil {
			return out, fmt.Errorf("webpeer: ledger history: %w", err)
		}
		for _, e := range page {
			switch {
			case e.Kind == "transfer":
				out.Transfers = append(out.Transfers, e)
			case strings.HasPrefix(e.Kind, "channel-"):
				out.Channels = append(out.Channels, e)
			}
		}
		read += len(page)
		if len(page) < 100 || page[len(page)-1].Seq <= 1 {
			return out, nil
		}
		before = uint64(page[len(page)-1].Seq)
	}
	out.More = true
	return out, nil
}
