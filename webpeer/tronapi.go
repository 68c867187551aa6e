//go:build !btspeed_embed

package webpeer

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/fetch"
)

// maxTronResponse caps a body read from TRON's HTTP API.
const maxTronResponse = 1 << 20

// tronAPI speaks the part of a TRON node's HTTP API (/wallet/...) the
// wallet uses, through the relay's /tron/ gateway, with TRON's JSON and
// base58 addresses ("visible": true).
type tronAPI struct {
	base string // the relay's /tron
	hc   fetch.Doer
}

// tronRefusal is a node's answer of {"Error": "..."}.
type tronRefusal struct {
	path, msg string
}

func (e *tronRefusal) Error() string { return "TRON " + e.path + ": " + e.msg }

func (c *tronAPI) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("webpeer: TRON %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webpeer: TRON %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("webpeer: TRON %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTronResponse+1))
	if err != nil {
		return fmt.Errorf("webpeer: TRON %s: reading the answer: %w", path, err)
	}
	if len(data) > maxTronResponse {
		return fmt.Errorf("webpeer: TRON %s: an answer over %d bytes", path, maxTronResponse)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("%w (%s: HTTP %d)", ErrNoTron, path, resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("webpeer: TRON %s: the relay says too many requests; try again shortly", path)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("webpeer: TRON %s: HTTP %d", path, resp.StatusCode)
	}
	var e struct {
		Error string `json:"Error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return &tronRefusal{path: path, msg: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("webpeer: TRON %s: malformed answer: %w", path, err)
	}
	return nil
}

// tronAccountJSON is /wallet/getaccount's answer ({} for an account TRON
// has never seen).
type tronAccountJSON struct {
	Address string `json:"address"`
	Balance int64  `json:"balance"` // sun
	AssetV2 []struct {
		Key   string `json:"key"`
		Value int64  `json:"value"`
	} `json:"assetV2"`
}

func (c *tronAPI) account(ctx context.Context, addr string) (tronAccountJSON, error) {
	var out tronAccountJSON
	err := c.post(ctx, "/wallet/getaccount", map[string]any{"address": addr, "visible": true}, &out)
	return out, err
}

// builtTx is a transaction as the node built it: the whole JSON object
// (sent back with the signature, as TronWeb does) and the two fields
// checked before signing.
type builtTx struct {
	obj       map[string]json.RawMessage
	txID, raw string
}

func (c *tronAPI) transferAsset(ctx context.Context, from, to, token string, amount int64) (builtTx, error) {
	var obj map[string]json.RawMessage
	err := c.post(ctx, "/wallet/transferasset", map[string]any{"owner_address": from, "to_address": to, "asset_name": token, "amount": amount, "visible": true}, &obj)
	if err != nil {
		return builtTx{}, err
	}
	b := builtTx{obj: obj}
	if json.Unmarshal(obj["txID"], &b.txID) != nil || json.Unmarshal(obj["raw_data_hex"], &b.raw) != nil || b.txID == "" || b.raw == "" {
		return builtTx{}, errors.New("webpeer: TRON /wallet/transferasset: the answer has no txID or raw_data_hex")
	}
	return b, nil
}

// broadcastResult is /wallet/broadcasttransaction's answer.
type broadcastResult struct {
	Result  bool   `json:"result"`
	Code    string `json:"code"`
	TxID    string `json:"txid"`
	Message string `json:"message"` // hex
}

func (r broadcastResult) text() string {
	if b, err := hex.DecodeString(r.Message); err == nil {
		return string(b)
	}
	return r.Message
}

func (c *tronAPI) broadcast(ctx context.Context, tx builtTx, sig []byte) (broadcastResult, error) {
	obj := make(map[string]json.RawMessage, len(tx.obj)+1)
	for k, v := range tx.obj {
		obj[k] = v
	}
	obj["signature"], _ = json.Marshal([]string{hex.EncodeToString(sig)})
	var out broadcastResult
	err := c.post(ctx, "/wallet/broadcasttransaction", obj, &out)
	return out, err
}

// head returns the head block's number and time.
func (c *tronAPI) head(ctx context.Context) (int64, time.Time, error) {
	var out struct {
		BlockHeader struct {
			RawData struct {
				Number    int64 `json:"number"`
				Timestamp int64 `json:"timestamp"`
			} `json:"raw_data"`
		} `json:"block_header"`
	}
	if err := c.post(ctx, "/wallet/getnowblock", map[string]any{}, &out); err != nil {
		return 0, time.Time{}, err
	}
	h := out.BlockHeader.RawData
	return h.Number, time.UnixMilli(h.Timestamp), nil
}

// txInfo returns the block a transaction is in (0: in none yet) and
// whether it failed there.
func (c *tronAPI) txInfo(ctx context.Context, txid string) (block int64, failed bool, err error) {
	var out struct {
		ID          string `json:"id"`
		BlockNumber int64  `json:"blockNumber"`
		Result      string `json:"result"`
	}
	if err := c.post(ctx, "/wallet/gettransactioninfobyid", map[string]any{"value": txid}, &out); err != nil {
		return 0, false, err
	}
	if !strings.EqualFold(out.ID, txid) {
		return 0, false, nil
	}
	return out.BlockNumber, out.Result == "FAILED", nil
}
