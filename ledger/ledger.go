package ledger

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Config configures a Ledger.
type Config struct {
	ID     string      // the ledger id requests must name, e.g. "btspeed-devnet"
	Store  store.Store // owned by the caller, who closes it after the ledger stops
	Now    func() time.Time
	Logger *slog.Logger
	// MaxChannelTTL is the furthest ahead a channel deadline may be
	// (default 7 days).
	MaxChannelTTL time.Duration
	// Faucet enables the faucet when non-nil; grants are paid from
	// FaucetAccount, limited per network address by FaucetLimiter (nil:
	// 5 grants per address per period).
	Faucet        *faucet.Params
	FaucetAccount wallet.Address
	FaucetLimiter *faucet.Limiter
	// FaucetTRX (nil: none) sends test TRX for TRON's fees to a new
	// grant's account on the embedded TRON devnet and says how much (sun);
	// only with an Exchange whose Devnet is set: TRX on a real TRON
	// network is real money.
	FaucetTRX func(ctx context.Context, to wallet.Address) (uint64, error)
	// ClientAddr tells which client an HTTP request comes from, for the
	// faucet's per-address limit (nil: the connection's peer, see
	// package clientip for a Resolver that trusts proxies).
	ClientAddr func(*http.Request) netip.Addr
	// Version is reported by /v1/info.
	Version string
	// Exchange enables withdrawals to TRON when non-nil.
	Exchange *Exchange
}

// Ledger applies requests to a store. It is safe for concurrent use.
type Ledger struct {
	cfg     Config // static after New
	reserve atomic.Pointer[ReserveFunc]
	// devOnTron: the store holds the public development genesis and the
	// exchange runs on a TRON network that is not the embedded devnet
	// (static after New). Withdrawals are then refused and the invariant
	// fails: anyone can spend the dev accounts.
	devOnTron bool
	checks    checks
}

// Record key prefixes (store.Tx.Record).
const (
	recTransfer   = 't' // transfer id -> result JSON
	recTransferN  = 'n' // from | nonce -> transfer id
	recOpenNonce  = 'o' // payer | nonce -> channel id
	recService    = 's' // channel id -> its service tag (service.go)
	recFaucet     = 'f' // account | period -> claim nonce | result JSON
	metaSupply    = "supply"
	metaGenesisID = "genesis"
)

// New checks cfg and, if the store was initialized, the supply invariant: a
// ledger whose books do not balance refuses to start.
func New(ctx context.Context, cfg Config) (*Ledger, error) {
	if err := validID(cfg.ID); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		return nil, errors.New("ledger: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientip.Peer
	}
	if cfg.MaxChannelTTL <= 0 {
		cfg.MaxChannelTTL = 7 * 24 * time.Hour
	}
	if x := cfg.Exchange; x != nil {
		cp := *x
		if cp.MinWithdrawal == 0 {
			cp.MinWithdrawal = 1_000_000
		}
		cfg.Exchange = &cp
	}
	if cfg.Faucet != nil {
		if err := cfg.Faucet.Validate(); err != nil {
			return nil, fmt.Errorf("ledger: faucet: %w", err)
		}
		if cfg.FaucetLimiter == nil {
			cfg.FaucetLimiter = faucet.NewLimiter(5, cfg.Faucet.Period, 100_000)
		}
	}
	if cfg.FaucetTRX != nil && (cfg.Faucet == nil || cfg.Exchange == nil || !cfg.Exchange.Devnet) {
		return nil, errors.New("ledger: FaucetTRX needs a faucet and an exchange on the embedded TRON devnet: test TRX exists nowhere else")
	}
	l := &Ledger{cfg: cfg}
	inv, err := l.Check(ctx)
	switch {
	case err != nil:
		return nil, err
	case !inv.OK:
		return nil, fmt.Errorf("ledger: books do not balance: balances %d + escrow %d != supply %d", inv.Balances, inv.Escrow, inv.Supply)
	}
	if cfg.Exchange != nil && !cfg.Exchange.Devnet {
		if l.devOnTron, err = l.holdsDevGenesis(ctx); err != nil {
			return nil, err
		}
		if l.devOnTron {
			cfg.Logger.Error("the store holds the public development genesis and the exchange runs on a real TRON network: " +
				"withdrawals are refused and the invariant fails; start a new store with -genesis none")
		}
	}
	return l, nil
}

func validID(id string) error {
	if err := speed.ValidateLedgerID(id); err != nil {
		return fmt.Errorf("ledger: id %q: %w", id, err)
	}
	return nil
}

// ID returns the ledger id.
func (l *Ledger) ID() string { return l.cfg.ID }

// Check computes the supply invariant: balances + open deposits == supply.
// A store with no genesis and no deposits yet has a supply of 0.
func (l *Ledger) Check(ctx context.Context) (api.Invariant, error) {
	var inv api.Invariant
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		supply, err := getMeta(tx, metaSupply)
		if err != nil {
			return err
		}
		bal, esc, err := tx.Totals()
		if err != nil {
			return err
		}
		dep, wd, err := bridged(tx)
		if err != nil {
			return err
		}
		inv = api.Invariant{Supply: api.U64(supply), Balances: api.U64(bal), Escrow: api.U64(esc),
			Deposited: api.U64(dep), Withdrawn: api.U64(wd)}
		sum, carry := bits.Add64(bal, esc, 0)
		inv.OK = carry == 0 && sum == uint64(inv.Supply)
		return nil
	})
	return inv, err
}

// Errors.

func apiErr(code, format string, args ...any) *api.Error {
	return &api.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *api.Error {
	return apiErr(api.CodeBadRequest, format, args...)
}

// storeErr turns a storage failure into an API error (API errors pass).
func storeErr(err error) error {
	var e *api.Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &api.Error{Code: api.CodeUnavailable, Message: "storage: " + err.Error()}
}

func sigErr(what string, err error) *api.Error {
	return apiErr(api.CodeBadSignature, "%s: %v", what, err)
}

func (l *Ledger) checkLedger(id string) *api.Error {
	if id != l.cfg.ID {
		return apiErr(api.CodeWrongLedger, "request for ledger %q, this is %q", truncate(id, 70), l.cfg.ID)
	}
	return nil
}

// Balances and history.

func credit(tx store.Tx, a wallet.Address, amount uint64, now time.Time, kind, ref string, cp wallet.Address) error {
	return creditEntry(tx, store.Entry{Account: a, Time: now, Kind: kind, Credit: amount, Ref: ref, Counterparty: cp})
}

// creditEntry adds e.Credit to e.Account and records e with the balance after.
func creditEntry(tx store.Tx, e store.Entry) error {
	b, err := tx.Balance(e.Account)
	if err != nil {
		return err
	}
	nb, carry := bits.Add64(b, e.Credit, 0)
	if carry != 0 {
		return fmt.Errorf("ledger: balance of %s overflows", e.Account)
	}
	if err := tx.SetBalance(e.Account, nb); err != nil {
		return err
	}
	e.Balance = nb
	_, err = tx.AddEntry(e)
	return err
}

// debit takes amount from a, or fails with insufficient_funds.
func debit(tx store.Tx, a wallet.Address, amount uint64, now time.Time, kind, ref string, cp wallet.Address) error {
	return debitEntry(tx, store.Entry{Account: a, Time: now, Kind: kind, Debit: amount, Ref: ref, Counterparty: cp})
}

// debitEntry takes e.Debit from e.Account, or fails with insufficient_funds,
// and records e with the balance after.
func debitEntry(tx store.Tx, e store.Entry) error {
	b, err := tx.Balance(e.Account)
	if err != nil {
		return err
	}
	if b < e.Debit {
		return apiErr(api.CodeInsufficientFunds, "balance of %s is %d, needs %d", e.Account, b, e.Debit)
	}
	if err := tx.SetBalance(e.Account, b-e.Debit); err != nil {
		return err
	}
	e.Balance = b - e.Debit
	_, err = tx.AddEntry(e)
	return err
}

// Account returns an account's balance.
func (l *Ledger) Account(ctx context.Context, a wallet.Address) (api.Account, error) {
	var out api.Account
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Balance(a)
		out = api.Account{Address: a, Balance: api.U64(b)}
		return err
	})
	return out, storeErr(err)
}

// Balance implements speed.Ledger.
func (l *Ledger) Balance(ctx context.Context, a wallet.Address) (uint64, error) {
	acct, err := l.Account(ctx, a)
	return uint64(acct.Balance), err
}

// MaxPage caps history and channel listings.
const MaxPage = 500

// History returns up to limit entries of a's history, newest first, below
// seq before (0: from the newest).
func (l *Ledger) History(ctx context.Context, a wallet.Address, before uint64, limit int) ([]api.Entry, error) {
	limit = max(1, min(limit, MaxPage))
	var out []api.Entry
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		es, err := tx.History(a, before, limit)
		out = make([]api.Entry, len(es))
		for i, e := range es {
			out[i] = api.Entry{Seq: api.U64(e.Seq), Time: e.Time.Unix(), Kind: e.Kind, Credit: api.U64(e.Credit), Debit: api.U64(e.Debit),
				Balance: api.U64(e.Balance), Ref: e.Ref, Counterparty: e.Counterparty, Memo: e.Memo, Service: e.Service}
		}
		return err
	})
	return out, storeErr(err)
}

// Transfers.

// Transfer applies a signed transfer.
func (l *Ledger) Transfer(ctx context.Context, r api.TransferRequest) (api.TransferResult, error) {
	t := r.Transfer()
	if e := l.checkLedger(t.Ledger); e != nil {
		return api.TransferResult{}, e
	}
	switch {
	case t.Amount == 0:
		return api.TransferResult{}, badRequest("zero amount")
	case t.From == t.To:
		return api.TransferResult{}, badRequest("transfer to self")
	case t.To[0] != wallet.AddressPrefix:
		return api.TransferResult{}, badRequest("recipient is not a TRON address")
	}
	if err := api.CheckMemo(t.Memo); err != nil {
		return api.TransferResult{}, badRequest("%v", err)
	}
	if err := t.Domain().Verify(t.From, t.Bytes(), r.Sig); err != nil {
		return api.TransferResult{}, sigErr("transfer", err)
	}
	id := t.ID()
	idHex := hex.EncodeToString(id[:])
	now := l.cfg.Now()
	var out api.TransferResult
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		nk := key(recTransferN, t.From[:], u64(t.Nonce))
		if retry, err := replayed(tx, key(recTransfer, id[:]), nk, &out, t.From, t.Nonce); retry || err != nil {
			return err // a retry gets the first answer
		}
		if err := debitEntry(tx, store.Entry{Account: t.From, Time: now, Kind: "transfer", Debit: t.Amount, Ref: idHex, Counterparty: t.To, Memo: t.Memo}); err != nil {
			return err
		}
		if err := creditEntry(tx, store.Entry{Account: t.To, Time: now, Kind: "transfer", Credit: t.Amount, Ref: idHex, Counterparty: t.From, Memo: t.Memo}); err != nil {
			return err
		}
		out = api.TransferResult{ID: idHex, From: t.From, To: t.To, Amount: api.U64(t.Amount), Time: now.Unix(), Memo: t.Memo}
		res, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if err := tx.PutRecord(nk, id[:]); err != nil {
			return err
		}
		return tx.PutRecord(key(recTransfer, id[:]), res)
	})
	return out, storeErr(err)
}

// replayed tells a retry from a new request: with the request's record
// at rk it decodes the stored answer into out and reports a retry; a nonce
// (its record at nk) already used by another request is refused.
func replayed(tx store.Tx, rk, nk []byte, out any, who wallet.Address, nonce uint64) (bool, error) {
	if prev, err := tx.Record(rk); err == nil {
		return true, json.Unmarshal(prev, out)
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if _, err := tx.Record(nk); err == nil {
		return false, apiErr(api.CodeNonceUsed, "nonce %d already used by %s", nonce, who)
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return false, nil
}

// Channels.

// OpenChannel implements speed.Ledger.
func (l *Ledger) OpenChannel(ctx context.Context, s speed.SignedOpen) (speed.Channel, error) {
	ch, err := l.Open(ctx, s)
	return ch.Channel, err
}

// Open applies a signed channel open request.
func (l *Ledger) Open(ctx context.Context, s speed.SignedOpen) (store.Channel, error) {
	o := s.Request
	if e := l.checkLedger(o.Ledger); e != nil {
		return store.Channel{}, e
	}
	if err := o.Validate(); err != nil {
		return store.Channel{}, badRequest("%v", err)
	}
	if o.Payee[0] != wallet.AddressPrefix {
		return store.Channel{}, badRequest("payee is not a TRON address")
	}
	if err := s.Verify(); err != nil {
		return store.Channel{}, sigErr("channel open", err)
	}
	now := l.cfg.Now()
	deadline := time.Unix(o.Deadline, 0)
	id := o.ID()
	var out store.Channel
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if ch, err := tx.Channel(id); err == nil {
			out = ch // a retry: the same channel, nothing more
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// The deadline is checked after the retry lookup, so a retry
		// after the deadline still gets its answer.
		if !deadline.After(now) || deadline.Sub(now) > l.cfg.MaxChannelTTL {
			return apiErr(api.CodeBadDeadline, "deadline %s must be after now and at most %s ahead", deadline.UTC().Format(time.RFC3339), l.cfg.MaxChannelTTL)
		}
		nk := key(recOpenNonce, o.Payer[:], u64(o.Nonce))
		if _, err := tx.Record(nk); err == nil {
			return apiErr(api.CodeNonceUsed, "nonce %d already used by %s", o.Nonce, o.Payer)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := debitEntry(tx, store.Entry{Account: o.Payer, Time: now, Kind: "channel-deposit", Debit: o.Deposit,
			Ref: id.String(), Counterparty: o.Payee, Service: o.Service}); err != nil {
			return err
		}
		if o.Service != "" {
			if err := tx.PutRecord(key(recService, id[:]), []byte(o.Service)); err != nil {
				return err
			}
		}
		out = store.Channel{
			Channel:  speed.Channel{ID: id, Payer: o.Payer, Payee: o.Payee, Deposit: o.Deposit, Deadline: deadline},
			Nonce:    o.Nonce,
			OpenedAt: now,
		}
		if err := tx.PutChannel(out); err != nil {
			return err
		}
		return tx.PutRecord(nk, id[:])
	})
	return out, storeErr(err)
}

// Channel implements speed.Ledger. A channel past its deadline is reported
// closed even before the expiry loop has refunded it.
func (l *Ledger) Channel(ctx context.Context, id speed.ChannelID) (speed.Channel, error) {
	ch, err := l.ChannelRecord(ctx, id)
	return ch.Channel, err
}

// ChannelRecord returns a channel with its bookkeeping.
func (l *Ledger) ChannelRecord(ctx context.Context, id speed.ChannelID) (store.Channel, error) {
	var ch store.Channel
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		ch, err = tx.Channel(id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return ch, apiErr(api.CodeNotFound, "no channel %s", id)
	}
	if err != nil {
		return ch, storeErr(err)
	}
	return l.view(ch), nil
}

// view presents an open channel past its deadline as timed out.
func (l *Ledger) view(ch store.Channel) store.Channel { return l.viewAt(ch, l.cfg.Now()) }

func (l *Ledger) viewAt(ch store.Channel, now time.Time) store.Channel {
	if !ch.Closed && !now.Before(ch.Deadline) {
		ch.Closed, ch.CloseKind, ch.ClosedAt = true, store.ByTimeout, ch.Deadline
	}
	return ch
}

// ChannelsOf lists channels where a is payer or payee, newest first.
func (l *Ledger) ChannelsOf(ctx context.Context, a wallet.Address, limit int) ([]store.Channel, error) {
	limit = max(1, min(limit, MaxPage))
	var out []store.Channel
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ChannelsOf(a, limit)
		return err
	})
	for i := range out {
		out[i] = l.view(out[i])
	}
	return out, storeErr(err)
}

// CloseChannel implements speed.Ledger: the payee submits a state both
// signed. The first valid close is final (a closed channel never reopens);
// retrying it returns the closed channel.
func (l *Ledger) CloseChannel(ctx context.Context, req speed.CloseRequest) (speed.Channel, error) {
	ch, err := l.Close(ctx, req)
	return ch.Channel, err
}

// Close applies a close request.
//
// The channel is read first, and a close it refuses (no such channel,
// closed or expired, a state beyond its deposit) or a retry of the close
// that closed it is answered from that read, without recovering a
// signature: a batch of closes on bogus channels costs lookups, not
// signature recoveries. Otherwise both signers are recovered before the
// write transaction, so that the costly part of a close runs on all cores
// while commits are being written; inside the transaction one read of the
// channel decides the rest, in the order a client sees: not found, the
// channel's state, the signatures (the recovered signers must be its payer
// and its payee). A refused close writes nothing.
func (l *Ledger) Close(ctx context.Context, req speed.CloseRequest) (store.Channel, error) {
	st := req.State
	now := l.cfg.Now()
	if ch, done, err := l.closeLookup(ctx, st, now); done {
		return ch, err
	}
	payload := st.Bytes()
	payer, payerErr := speed.DomainChannelState.Recover(payload, req.PayerSig)
	payee, payeeErr := speed.DomainChannelState.Recover(payload, req.PayeeSig)
	var out store.Channel
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		store.PrefetchRecord(tx, key(recService, st.Channel[:])) // for channelService, with the channel
		cur, err := tx.Channel(st.Channel)
		if err != nil {
			out = store.Channel{}
			return closeNotFound(err, st.Channel)
		}
		out = l.viewAt(cur, now)
		if e := closeState(out, st); e != nil {
			return e
		}
		if out.Closed {
			return nil // a retry of the close that closed it
		}
		switch {
		case payerErr != nil:
			return sigErr("payer's signature", payerErr)
		case payer != cur.Payer:
			return sigErr("payer's signature", wallet.ErrSignatureMismatch)
		case payeeErr != nil:
			return sigErr("payee's signature", payeeErr)
		case payee != cur.Payee:
			return sigErr("payee's signature", wallet.ErrSignatureMismatch)
		}
		svc, err := channelService(tx, cur.ID)
		if err != nil {
			return err
		}
		idHex := cur.ID.String()
		if err := creditEntry(tx, store.Entry{Account: cur.Payee, Time: now, Kind: "channel-payout", Credit: st.Paid,
			Ref: idHex, Counterparty: cur.Payer, Service: svc}); err != nil {
			return err
		}
		if err := creditEntry(tx, store.Entry{Account: cur.Payer, Time: now, Kind: "channel-refund", Credit: cur.Deposit - st.Paid,
			Ref: idHex, Counterparty: cur.Payee, Service: svc}); err != nil {
			return err
		}
		cur.Closed, cur.Seq, cur.Paid, cur.ClosedAt, cur.CloseKind = true, st.Seq, st.Paid, now, store.ByState
		out = cur
		return tx.PutChannel(cur)
	})
	return out, storeErr(err)
}

// closeLookup reads the channel a close names and answers, done, what
// needs no signature: not found, refused by closeState, or a retry.
func (l *Ledger) closeLookup(ctx context.Context, st speed.State, now time.Time) (store.Channel, bool, error) {
	var ch store.Channel
	var err error
	if r, ok := l.cfg.Store.(store.ChannelReader); ok {
		ch, err = r.ReadChannel(ctx, st.Channel) // one round trip on PostgreSQL, not two
	} else {
		err = l.cfg.Store.View(ctx, func(tx store.Tx) error {
			var err error
			ch, err = tx.Channel(st.Channel)
			return err
		})
	}
	if err != nil {
		return store.Channel{}, true, storeErr(closeNotFound(err, st.Channel))
	}
	ch = l.viewAt(ch, now)
	if e := closeState(ch, st); e != nil {
		return ch, true, e
	}
	return ch, ch.Closed, nil
}

// closeNotFound turns store.ErrNotFound into the API's not_found.
func closeNotFound(err error, id speed.ChannelID) error {
	if errors.Is(err, store.ErrNotFound) {
		return apiErr(api.CodeNotFound, "no channel %s", id)
	}
	return err
}

// closeState checks a state against a channel: nil with ch.Closed means the
// same close was already applied (a retry).
func closeState(ch store.Channel, st speed.State) *api.Error {
	if ch.Closed {
		if ch.CloseKind == store.ByState && ch.Seq == st.Seq && ch.Paid == st.Paid {
			return nil
		}
		if ch.CloseKind == store.ByTimeout {
			return apiErr(api.CodeChannelExpired, "channel %s timed out and was refunded to its payer", ch.ID)
		}
		return apiErr(api.CodeChannelClosed, "channel %s is closed (seq %d)", ch.ID, ch.Seq)
	}
	if st.Seq == 0 || st.Paid > ch.Deposit {
		return apiErr(api.CodeBadState, "state seq %d paid %d on a deposit of %d", st.Seq, st.Paid, ch.Deposit)
	}
	return nil
}

// Expire refunds channels past their deadline, up to limit of them, and
// returns how many it closed.
func (l *Ledger) Expire(ctx context.Context, limit int) (int, error) {
	now := l.cfg.Now()
	n := 0
	err := l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		n = 0
		ids, err := tx.Expired(now, limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			store.PrefetchRecord(tx, key(recService, id[:]))
			ch, err := tx.Channel(id)
			if err != nil {
				return err
			}
			svc, err := channelService(tx, id)
			if err != nil {
				return err
			}
			if err := creditEntry(tx, store.Entry{Account: ch.Payer, Time: now, Kind: "channel-refund", Credit: ch.Deposit,
				Ref: id.String(), Counterparty: ch.Payee, Service: svc}); err != nil {
				return err
			}
			ch.Closed, ch.ClosedAt, ch.CloseKind = true, now, store.ByTimeout
			if err := tx.PutChannel(ch); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, storeErr(err)
}

// Run refunds expired channels every interval until ctx ends. The caller
// owns the goroutine that runs it.
func (l *Ledger) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for {
			n, err := l.Expire(ctx, 1000)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				l.cfg.Logger.Error("expiring channels", "err", err)
				break
			}
			if n > 0 {
				l.cfg.Logger.Info("channels expired", "count", n)
			}
			if n < 1000 {
				break
			}
		}
	}
}

// Faucet.

// FaucetInfo says what to solve now, or not_found when the faucet is off.
func (l *Ledger) FaucetInfo() (api.FaucetInfo, error) {
	p := l.cfg.Faucet
	if p == nil {
		return api.FaucetInfo{}, apiErr(api.CodeNotFound, "this ledger has no faucet")
	}
	now := l.cfg.Now()
	period := p.PeriodOf(now)
	ch := faucet.Challenge(l.cfg.ID, period)
	secs := uint64(p.Period / time.Second)
	return api.FaucetInfo{Ledger: l.cfg.ID, Period: api.U64(period), Challenge: hex.EncodeToString(ch[:]),
		Difficulty: int(p.Difficulty), Amount: api.U64(p.Amount), PeriodEnds: int64((period + 1) * secs)}, nil
}

// Faucet grants the faucet's amount to a claim with enough proof of work,
// once per account per period and within the per-address limit.
func (l *Ledger) Faucet(ctx context.Context, r api.FaucetRequest, from netip.Addr) (api.FaucetResult, error) {
	p := l.cfg.Faucet
	if p == nil {
		return api.FaucetResult{}, apiErr(api.CodeNotFound, "this ledger has no faucet")
	}
	c := r.Claim()
	if e := l.checkLedger(c.Ledger); e != nil {
		return api.FaucetResult{}, e
	}
	if err := api.DomainFaucet.Verify(c.Account, c.Bytes(), r.Sig); err != nil {
		return api.FaucetResult{}, sigErr("faucet claim", err)
	}
	now := l.cfg.Now()
	rk := key(recFaucet, c.Account[:], u64(c.Period))
	// A retry of a granted claim returns its answer, whatever the period
	// and the rate limit say now.
	var prev api.FaucetResult
	err := l.cfg.Store.View(ctx, func(tx store.Tx) error {
		v, err := tx.Record(rk)
		if err != nil {
			return err
		}
		return decodeFaucet(v, c.Nonce, &prev)
	})
	switch {
	case err == nil:
		return prev, nil
	case !errors.Is(err, store.ErrNotFound):
		return api.FaucetResult{}, storeErr(err)
	}
	if err := p.Verify(l.cfg.ID, c.Account, c.Period, c.Nonce, now); err != nil {
		if errors.Is(err, faucet.ErrWrongPeriod) {
			return api.FaucetResult{}, apiErr(api.CodeFaucetPeriod,
				"%v: one grant per account per period; solve the current challenge (GET /v1/faucet)", err)
		}
		return api.FaucetResult{}, apiErr(api.CodeFaucetWork, "%v", err)
	}
	if !l.cfg.FaucetLimiter.Allow(from, now) {
		return api.FaucetResult{}, apiErr(api.CodeRateLimited, "too many faucet grants to %s; try again later", from)
	}
	var out api.FaucetResult
	err = l.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if v, err := tx.Record(rk); err == nil {
			return decodeFaucet(v, c.Nonce, &out)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ref := fmt.Sprintf("faucet/%d", c.Period)
		if err := debit(tx, l.cfg.FaucetAccount, p.Amount, now, "faucet", ref, c.Account); err != nil {
			if api.CodeOf(err) == api.CodeInsufficientFunds {
				return apiErr(api.CodeFaucetEmpty, "the faucet is empty")
			}
			return err
		}
		if err := credit(tx, c.Account, p.Amount, now, "faucet", ref, l.cfg.FaucetAccount); err != nil {
			return err
		}
		bal, err := tx.Balance(c.Account)
		if err != nil {
			return err
		}
		out = api.FaucetResult{Account: c.Account, Amount: api.U64(p.Amount), Period: api.U64(c.Period), Balance: api.U64(bal)}
		res, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return tx.PutRecord(rk, append(u64(c.Nonce), res...))
	})
	if err != nil {
		return out, storeErr(err)
	}
	l.faucetTRX(ctx, &out)
	return out, nil
}

// faucetTRX sends a new grant's test TRX on the devnet (Config.FaucetTRX).
// The BTT grant stands without it: a failure is logged, out.TRX stays 0.
func (l *Ledger) faucetTRX(ctx context.Context, out *api.FaucetResult) {
	if l.cfg.FaucetTRX == nil {
		return
	}
	trx, err := l.cfg.FaucetTRX(ctx, out.Account)
	if err != nil {
		l.cfg.Logger.Warn("faucet: sending devnet TRX", "account", out.Account.String(), "err", err)
		return
	}
	out.TRX = api.U64(trx)
}

// decodeFaucet reads a grant record: the same claim gets its answer, another
// nonce for the same period is refused.
func decodeFaucet(v []byte, nonce uint64, out *api.FaucetResult) error {
	if len(v) < 8 {
		return errors.New("ledger: corrupt faucet record")
	}
	if binary.BigEndian.Uint64(v) != nonce {
		return apiErr(api.CodeFaucetClaimed, "this account already received this period's grant")
	}
	return json.Unmarshal(v[8:], out)
}

// Helpers.

func key(prefix byte, parts ...[]byte) []byte {
	k := []byte{prefix}
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
