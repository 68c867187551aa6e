// Package client is the ledger's HTTP client (docs/ledger-api.md). It
// implements shared/speed's Ledger interface, so peers pay through the real
// ledger, and builds for the browser (GOOS=js GOARCH=wasm: net/http uses
// fetch there). Errors from the ledger come back as *api.Error, which
// errors.Is matches against speed's sentinels (ErrChannelNotFound, ...).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"

	"github.com/btspeed/btspeed/shared/fetch"
)

// maxResponse caps a response body the client reads.
const maxResponse = 4 << 20

// Client talks to one ledger. It is safe for concurrent use.
type Client struct {
	base string     // static after New
	hc   fetch.Doer // static after New
}

var _ speed.Ledger = (*Client)(nil)

// New returns a client for the ledger at base (e.g. "http://127.0.0.1:8500"
// or a relay's "https://relay.example/ledger"). hc nil uses
// fetch.Default() (http.DefaultClient; the browser's fetch in js/wasm).
func New(base string, hc fetch.Doer) *Client {
	return &Client{base: strings.TrimRight(base, "/"), hc: fetch.Or(hc)}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("ledger client: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("ledger client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ledger client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("ledger client: %s %s: reading response: %w", method, path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("ledger client: %s %s: response larger than %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return &api.Error{Status: resp.StatusCode, Code: api.CodeUnavailable, Message: fmt.Sprintf("%s %s: HTTP %d", method, path, resp.StatusCode)}
		}
		return &api.Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ledger client: %s %s: decoding response: %w", method, path, err)
	}
	return nil
}

// Info returns the ledger's id, version and supply.
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	var out api.Info
	return out, c.do(ctx, http.MethodGet, "/v1/info", nil, &out)
}

// Invariant returns the ledger's supply check.
func (c *Client) Invariant(ctx context.Context) (api.Invariant, error) {
	var out api.Invariant
	return out, c.do(ctx, http.MethodGet, "/v1/invariant", nil, &out)
}

// Account returns an account's balance.
func (c *Client) Account(ctx context.Context, a wallet.Address) (api.Account, error) {
	var out api.Account
	return out, c.do(ctx, http.MethodGet, "/v1/accounts/"+a.String(), nil, &out)
}

// Balance implements speed.Ledger.
func (c *Client) Balance(ctx context.Context, a wallet.Address) (uint64, error) {
	acct, err := c.Account(ctx, a)
	return uint64(acct.Balance), err
}

// History returns up to limit entries below seq before (0: newest).
func (c *Client) History(ctx context.Context, a wallet.Address, before uint64, limit int) ([]api.Entry, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	var out []api.Entry
	return out, c.do(ctx, http.MethodGet, "/v1/accounts/"+a.String()+"/history?"+q.Encode(), nil, &out)
}

// ChannelsOf lists channels where a is payer or payee, newest first.
func (c *Client) ChannelsOf(ctx context.Context, a wallet.Address, limit int) ([]api.Channel, error) {
	var out []api.Channel
	return out, c.do(ctx, http.MethodGet, "/v1/accounts/"+a.String()+"/channels?limit="+strconv.Itoa(limit), nil, &out)
}

// Transfer submits a signed transfer.
func (c *Client) Transfer(ctx context.Context, r api.TransferRequest) (api.TransferResult, error) {
	var out api.TransferResult
	return out, c.do(ctx, http.MethodPost, "/v1/transfers", r, &out)
}

// OpenChannel implements speed.Ledger.
func (c *Client) OpenChannel(ctx context.Context, s speed.SignedOpen) (speed.Channel, error) {
	var out api.Channel
	if err := c.do(ctx, http.MethodPost, "/v1/channels", api.FromSignedOpen(s), &out); err != nil {
		return speed.Channel{}, err
	}
	return out.Speed(), nil
}

// Channel implements speed.Ledger.
func (c *Client) Channel(ctx context.Context, id speed.ChannelID) (speed.Channel, error) {
	var out api.Channel
	if err := c.do(ctx, http.MethodGet, "/v1/channels/"+id.String(), nil, &out); err != nil {
		return speed.Channel{}, err
	}
	return out.Speed(), nil
}

// CloseChannel implements speed.Ledger.
func (c *Client) CloseChannel(ctx context.Context, r speed.CloseRequest) (speed.Channel, error) {
	var out api.Channel
	body := api.CloseRequest{Seq: api.U64(r.State.Seq), Paid: api.U64(r.State.Paid), PayerSig: r.PayerSig, PayeeSig: r.PayeeSig}
	if err := c.do(ctx, http.MethodPost, "/v1/channels/"+r.State.Channel.String()+"/close", body, &out); err != nil {
		return speed.Channel{}, err
	}
	return out.Speed(), nil
}

// Batch submits up to api.MaxBatch operations in one request.
func (c *Client) Batch(ctx context.Context, ops []api.BatchOp) ([]api.BatchResult, error) {
	var out []api.BatchResult
	if err := c.do(ctx, http.MethodPost, "/v1/batch", api.Batch{Ops: ops}, &out); err != nil {
		return nil, err
	}
	if len(out) != len(ops) {
		return nil, fmt.Errorf("ledger client: batch of %d answered with %d results", len(ops), len(out))
	}
	return out, nil
}

// FaucetInfo returns the current faucet puzzle.
func (c *Client) FaucetInfo(ctx context.Context) (api.FaucetInfo, error) {
	var out api.FaucetInfo
	return out, c.do(ctx, http.MethodGet, "/v1/faucet", nil, &out)
}

// Faucet submits a solved, signed faucet claim.
func (c *Client) Faucet(ctx context.Context, r api.FaucetRequest) (api.FaucetResult, error) {
	var out api.FaucetResult
	return out, c.do(ctx, http.MethodPost, "/v1/faucet", r, &out)
}

// Exchange returns where deposits go and the rules of withdrawals.
func (c *Client) Exchange(ctx context.Context) (api.ExchangeInfo, error) {
	var out api.ExchangeInfo
	return out, c.do(ctx, http.MethodGet, "/v1/exchange", nil, &out)
}

// Withdraw submits a signed withdrawal to TRON.
func (c *Client) Withdraw(ctx context.Context, r api.WithdrawRequest) (api.WithdrawalStatus, error) {
	var out api.WithdrawalStatus
	return out, c.do(ctx, http.MethodPost, "/v1/withdrawals", r, &out)
}

// Withdrawal returns a withdrawal's status; id is its hex id.
func (c *Client) Withdrawal(ctx context.Context, id string) (api.WithdrawalStatus, error) {
	var out api.WithdrawalStatus
	if len(id) != 64 {
		return out, fmt.Errorf("ledger client: withdrawal id %q: want 64 hex digits", id)
	}
	return out, c.do(ctx, http.MethodGet, "/v1/withdrawals/"+url.PathEscape(id), nil, &out)
}
