package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Body limits: single requests are under a kilobyte; a full batch of
// closes is about 100 KiB.
const (
	maxBody      = 16 << 10
	maxBatchBody = 1 << 20
)

// Handler serves the HTTP JSON API (docs/ledger-api.md) under /v1/.
func (l *Ledger) Handler() http.Handler {
	mux := http.NewServeMux()
	for pattern, fn := range map[string]func(*http.Request) (any, error){
		"GET /v1/info":                        l.httpInfo,
		"GET /v1/invariant":                   l.httpInvariant,
		"GET /v1/accounts/{address}":          l.httpAccount,
		"GET /v1/accounts/{address}/history":  l.httpHistory,
		"GET /v1/accounts/{address}/channels": l.httpChannelsOf,
		"POST /v1/transfers":                  l.httpTransfer,
		"POST /v1/channels":                   l.httpOpen,
		"GET /v1/channels/{id}":               l.httpChannel,
		"POST /v1/channels/{id}/close":        l.httpClose,
		"GET /v1/faucet":                      func(*http.Request) (any, error) { return l.FaucetInfo() },
		"POST /v1/faucet":                     l.httpFaucet,
		"GET /v1/exchange":                    func(r *http.Request) (any, error) { return l.ExchangeInfo(r.Context()) },
		"POST /v1/withdrawals":                l.httpWithdraw,
		"GET /v1/withdrawals/{id}":            l.httpWithdrawal,
		"POST /v1/batch":                      l.httpBatch,
	} {
		mux.HandleFunc(pattern, l.handle(fn))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := l.Supply(r.Context()); err != nil {
			http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErr(api.CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (l *Ledger) httpInfo(r *http.Request) (any, error) {
	supply, err := l.Supply(r.Context())
	return api.Info{Ledger: l.cfg.ID, Version: l.cfg.Version, Supply: api.U64(supply), Time: l.cfg.Now().Unix()}, err
}

func (l *Ledger) httpInvariant(r *http.Request) (any, error) {
	inv, err := l.CheckAll(r.Context())
	if err == nil && !inv.OK {
		l.cfg.Logger.Error("supply invariant broken", "supply", inv.Supply, "balances", inv.Balances, "escrow", inv.Escrow)
	}
	return inv, storeErr(err)
}

func (l *Ledger) httpAccount(r *http.Request) (any, error) {
	a, err := pathAddress(r)
	if err != nil {
		return nil, err
	}
	return l.Account(r.Context(), a)
}

func (l *Ledger) httpHistory(r *http.Request) (any, error) {
	a, err := pathAddress(r)
	if err != nil {
		return nil, err
	}
	before, err := queryUint(r, "before", 0)
	if err != nil {
		return nil, err
	}
	limit, err := queryUint(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	return l.History(r.Context(), a, before, int(min(limit, MaxPage)))
}

func (l *Ledger) httpChannelsOf(r *http.Request) (any, error) {
	a, err := pathAddress(r)
	if err != nil {
		return nil, err
	}
	limit, err := queryUint(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	chs, err := l.ChannelsOf(r.Context(), a, int(min(limit, MaxPage)))
	out := make([]api.Channel, len(chs))
	for i, ch := range chs {
		out[i] = channelJSON(ch)
	}
	return out, err
}

func (l *Ledger) httpTransfer(r *http.Request) (any, error) {
	var req api.TransferRequest
	if err := decodeBody(r, maxBody, &req); err != nil {
		return nil, err
	}
	return l.Transfer(r.Context(), req)
}

func (l *Ledger) httpOpen(r *http.Request) (any, error) {
	var req api.OpenRequest
	if err := decodeBody(r, maxBody, &req); err != nil {
		return nil, err
	}
	ch, err := l.Open(r.Context(), req.Signed())
	return channelJSON(ch), err
}

func (l *Ledger) httpChannel(r *http.Request) (any, error) {
	id, err := pathChannel(r)
	if err != nil {
		return nil, err
	}
	ch, err := l.ChannelRecord(r.Context(), id)
	return channelJSON(ch), err
}

func (l *Ledger) httpClose(r *http.Request) (any, error) {
	id, err := pathChannel(r)
	if err != nil {
		return nil, err
	}
	var req api.CloseRequest
	if err := decodeBody(r, maxBody, &req); err != nil {
		return nil, err
	}
	ch, err := l.Close(r.Context(), closeRequest(id, req))
	return channelJSON(ch), err
}

func (l *Ledger) httpFaucet(r *http.Request) (any, error) {
	var req api.FaucetRequest
	if err := decodeBody(r, maxBody, &req); err != nil {
		return nil, err
	}
	return l.Faucet(r.Context(), req, l.cfg.ClientAddr(r))
}

func (l *Ledger) httpWithdraw(r *http.Request) (any, error) {
	var req api.WithdrawRequest
	if err := decodeBody(r, maxBody, &req); err != nil {
		return nil, err
	}
	return l.Withdraw(r.Context(), req)
}

func (l *Ledger) httpWithdrawal(r *http.Request) (any, error) {
	b, err := hex.DecodeString(r.PathValue("id"))
	if err != nil || len(b) != 32 {
		return nil, badRequest("withdrawal id %q: want 64 hex digits", truncate(r.PathValue("id"), 70))
	}
	return l.Withdrawal(r.Context(), [32]byte(b))
}

func (l *Ledger) httpBatch(r *http.Request) (any, error) {
	var b api.Batch
	if err := decodeBody(r, maxBatchBody, &b); err != nil {
		return nil, err
	}
	if len(b.Ops) > api.MaxBatch {
		return nil, badRequest("%d operations, at most %d per batch", len(b.Ops), api.MaxBatch)
	}
	return l.batch(r.Context(), b.Ops), nil
}

// batchWorkers bounds the goroutines one batch uses. Operations spend most
// of their time waiting for a commit, so a batch of up to 64 runs all at
// once and shares one commit, rather than taking a commit per 8 of them.
const batchWorkers = 64

// batch applies each operation on its own, in parallel, answering in order.
// Concurrent storage updates share commits (group commit), and signatures
// are checked on all cores.
func (l *Ledger) batch(ctx context.Context, ops []api.BatchOp) []api.BatchResult {
	out := make([]api.BatchResult, len(ops))
	sem := make(chan struct{}, batchWorkers)
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = l.batchOp(ctx, op)
		}()
	}
	wg.Wait()
	return out
}

func (l *Ledger) batchOp(ctx context.Context, op api.BatchOp) api.BatchResult {
	var res api.BatchResult
	var err error
	switch {
	case op.Transfer != nil && op.Open == nil && op.Close == nil:
		var t api.TransferResult
		t, err = l.Transfer(ctx, *op.Transfer)
		res.Transfer = &t
	case op.Open != nil && op.Transfer == nil && op.Close == nil:
		c, e := l.Open(ctx, op.Open.Signed())
		ch := channelJSON(c)
		res.Channel, err = &ch, e
	case op.Close != nil && op.Transfer == nil && op.Open == nil:
		c, e := l.Close(ctx, closeRequest(op.Close.Channel, op.Close.CloseRequest))
		ch := channelJSON(c)
		res.Channel, err = &ch, e
	default:
		err = badRequest("each batch operation sets exactly one of transfer, open, close")
	}
	if err != nil {
		e := asAPIError(err)
		return api.BatchResult{Status: httpStatus(e), Error: &api.ErrorBody{Code: e.Code, Message: e.Message}}
	}
	res.Status = http.StatusOK
	return res
}

func closeRequest(id speed.ChannelID, r api.CloseRequest) speed.CloseRequest {
	return speed.CloseRequest{State: speed.State{Channel: id, Seq: uint64(r.Seq), Paid: uint64(r.Paid)}, PayerSig: r.PayerSig, PayeeSig: r.PayeeSig}
}

func channelJSON(ch store.Channel) api.Channel {
	out := api.Channel{ID: ch.ID, Payer: ch.Payer, Payee: ch.Payee, Deposit: api.U64(ch.Deposit), Deadline: ch.Deadline.Unix(),
		Closed: ch.Closed, Seq: api.U64(ch.Seq), Paid: api.U64(ch.Paid), OpenedAt: ch.OpenedAt.Unix()}
	switch ch.CloseKind {
	case store.ByState:
		out.CloseKind = "state"
	case store.ByTimeout:
		out.CloseKind = "timeout"
	}
	if !ch.ClosedAt.IsZero() {
		out.ClosedAt = ch.ClosedAt.Unix()
	}
	return out
}

// handle adapts an API function to HTTP: JSON out, errors as
// {"error": {"code", "message"}} with their status.
func (l *Ledger) handle(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			e := asAPIError(err)
			if httpStatus(e) >= 500 {
				l.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, e)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func asAPIError(err error) *api.Error {
	var e *api.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return apiErr(api.CodeUnavailable, "request cancelled")
	}
	return apiErr(api.CodeUnavailable, "%v", err)
}

// codeStatus is the one place the ledger's error codes become HTTP
// statuses: the rules (ledger.go, withdraw.go, ...) return codes only, so
// in-process callers such as the relay never see HTTP.
var codeStatus = map[string]int{
	api.CodeBadRequest:        http.StatusBadRequest,
	api.CodeTooLarge:          http.StatusRequestEntityTooLarge,
	api.CodeBadSignature:      http.StatusForbidden,
	api.CodeWrongLedger:       http.StatusBadRequest,
	api.CodeInsufficientFunds: http.StatusConflict,
	api.CodeNonceUsed:         http.StatusConflict,
	api.CodeNotFound:          http.StatusNotFound,
	api.CodeChannelClosed:     http.StatusConflict,
	api.CodeChannelExpired:    http.StatusConflict,
	api.CodeBadDeadline:       http.StatusBadRequest,
	api.CodeBadState:          http.StatusBadRequest,
	api.CodeFaucetWork:        http.StatusBadRequest,
	api.CodeFaucetPeriod:      http.StatusBadRequest,
	api.CodeFaucetClaimed:     http.StatusConflict,
	api.CodeFaucetEmpty:       http.StatusServiceUnavailable,
	api.CodeRateLimited:       http.StatusTooManyRequests,
	api.CodeNoExchange:        http.StatusNotFound,
	api.CodeReserve:           http.StatusConflict,
	api.CodeBadRecipient:      http.StatusBadRequest,
	api.CodeTooManyPending:    http.StatusConflict,
	api.CodeUnavailable:       http.StatusServiceUnavailable,
	api.CodeDevGenesis:        http.StatusServiceUnavailable,
}

// httpStatus is the HTTP status of e: the one its code maps to, else the
// status it carries (an error relayed from another ledger), else 500.
func httpStatus(e *api.Error) int {
	if s, ok := codeStatus[e.Code]; ok {
		return s
	}
	if e.Status != 0 {
		return e.Status
	}
	return http.StatusInternalServerError
}

// HTTPStatus is the HTTP status the ledger answers err with.
func HTTPStatus(err error) int { return httpStatus(asAPIError(err)) }

func writeError(w http.ResponseWriter, e *api.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus(e))
	json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.ErrorBody{Code: e.Code, Message: e.Message}})
}

// decodeBody reads one JSON value of at most limit bytes into v.
func decodeBody(r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return badRequest("reading body: %v", err)
	}
	if int64(len(body)) > limit {
		return apiErr(api.CodeTooLarge, "body larger than %d bytes", limit)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("invalid JSON: %v", err)
	}
	return nil
}

func pathAddress(r *http.Request) (wallet.Address, error) {
	a, err := wallet.ParseAddress(r.PathValue("address"))
	if err != nil {
		return a, badRequest("%v", err)
	}
	return a, nil
}

func pathChannel(r *http.Request) (speed.ChannelID, error) {
	var id speed.ChannelID
	if err := id.UnmarshalText([]byte(r.PathValue("id"))); err != nil {
		return id, badRequest("%v", err)
	}
	return id, nil
}

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest("query %s=%q is not a number", name, truncate(s, 24))
	}
	return v, nil
}
