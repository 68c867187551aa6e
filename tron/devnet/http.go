package devnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
)

// maxHTTPBody caps a request to the HTTP API.
const maxHTTPBody = 1 << 20

// HTTPHandler serves the chain's HTTP API: the /wallet/* (and
// /walletsolidity/*) endpoints of a TRON full node that TronWeb and the
// project use, with TRON's JSON (addresses in hex, or base58 with
// "visible": true).
func (c *Chain) HTTPHandler() http.Handler {
	w := &Wallet{c: c}
	mux := http.NewServeMux()
	for _, prefix := range []string{"/wallet/", "/walletsolidity/"} {
		mux.HandleFunc(prefix+"getaccount", w.httpGetAccount)
		mux.HandleFunc(prefix+"gettransactionbyid", w.httpGetTransaction)
		mux.HandleFunc(prefix+"gettransactioninfobyid", w.httpGetTransactionInfo)
		mux.HandleFunc(prefix+"getnowblock", w.httpNowBlock)
		mux.HandleFunc(prefix+"getblock", w.httpNowBlock)
		mux.HandleFunc(prefix+"getassetissuebyid", w.httpGetAsset)
	}
	mux.HandleFunc("/wallet/createtransaction", w.httpCreateTransaction)
	mux.HandleFunc("/wallet/transferasset", w.httpTransferAsset)
	mux.HandleFunc("/wallet/broadcasttransaction", w.httpBroadcast)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Access-Control-Allow-Origin", "*")
		rw.Header().Set("Access-Control-Allow-Headers", "Content-Type, TRON-PRO-API-KEY")
		if r.Method == http.MethodOptions {
			return
		}
		mux.ServeHTTP(rw, r)
	})
}

// request is the union of the fields the endpoints read.
type request struct {
	Address      string          `json:"address"`
	Value        json.RawMessage `json:"value"`
	Visible      bool            `json:"visible"`
	OwnerAddress string          `json:"owner_address"`
	ToAddress    string          `json:"to_address"`
	AssetName    string          `json:"asset_name"`
	Amount       int64           `json:"amount"`
}

func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHTTPBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxHTTPBody {
		return errors.New("request body over 1 MiB")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return nil
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	json.NewEncoder(rw).Encode(v)
}

func httpError(rw http.ResponseWriter, err error) {
	writeJSON(rw, map[string]string{"Error": err.Error()})
}

// parseAddr reads an address in hex (41...) or base58 (T...).
func parseAddr(s string) (wallet.Address, error) {
	if strings.HasPrefix(s, "T") {
		return wallet.ParseAddress(s)
	}
	return wallet.ParseHexAddress(s)
}

func showAddr(b []byte, visible bool) string {
	if visible {
		if a, err := toAddress(b); err == nil {
			return a.String()
		}
	}
	return hex.EncodeToString(b)
}

func (w *Wallet) httpGetAccount(rw http.ResponseWriter, r *http.Request) {
	var in request
	if err := readJSON(r, &in); err != nil {
		httpError(rw, err)
		return
	}
	a, err := parseAddr(in.Address)
	if err != nil {
		httpError(rw, fmt.Errorf("invalid address: %w", err))
		return
	}
	acc, _ := w.GetAccount(r.Context(), &core.Account{Address: a[:]})
	if len(acc.Address) == 0 {
		writeJSON(rw, map[string]any{})
		return
	}
	out := map[string]any{"address": showAddr(acc.Address, in.Visible), "balance": acc.Balance, "create_time": acc.CreateTime}
	var assets []map[string]any
	for k, v := range acc.AssetV2 {
		assets = append(assets, map[string]any{"key": k, "value": v})
	}
	if assets != nil {
		out["assetV2"] = assets
	}
	writeJSON(rw, out)
}

// valueString reads "value" as a string (a hex id, or an asset id).
func valueString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return strings.Trim(string(v), `"`)
}

func (w *Wallet) httpGetTransaction(rw http.ResponseWriter, r *http.Request) {
	var in request
	if err := readJSON(r, &in); err != nil {
		httpError(rw, err)
		return
	}
	id, _ := hex.DecodeString(valueString(in.Value))
	tx, _ := w.GetTransactionById(r.Context(), &api.BytesMessage{Value: id})
	if tx.RawData == nil {
		writeJSON(rw, map[string]any{})
		return
	}
	writeJSON(rw, txJSON(tx, in.Visible))
}

func (w *Wallet) httpGetTransactionInfo(rw http.ResponseWriter, r *http.Request) {
	var in request
	if err := readJSON(r, &in); err != nil {
		httpError(rw, err)
		return
	}
	id, _ := hex.DecodeString(valueString(in.Value))
	info, _ := w.GetTransactionInfoById(r.Context(), &api.BytesMessage{Value: id})
	if len(info.Id) == 0 {
		writeJSON(rw, map[string]any{})
		return
	}
	out := map[string]any{"id": hex.EncodeToString(info.Id), "fee": info.Fee, "blockNumber": info.BlockNumber,
		"blockTimeStamp": info.BlockTimeStamp, "receipt": map[string]any{"net_fee": info.Fee}}
	if info.AssetIssueID != "" {
		out["assetIssueID"] = info.AssetIssueID
	}
	writeJSON(rw, out)
}

func (w *Wallet) httpNowBlock(rw http.ResponseWriter, r *http.Request) {
	b, _ := w.GetNowBlock2(r.Context(), nil)
	h := b.BlockHeader.RawData
	out := map[string]any{"blockID": hex.EncodeToString(b.Blockid), "block_header": map[string]any{"raw_data": map[string]any{
		"number": h.Number, "timestamp": h.Timestamp, "parentHash": hex.EncodeToString(h.ParentHash)}}}
	var txs []any
	for _, t := range b.Transactions {
		txs = append(txs, txJSON(t.Transaction, false))
	}
	if txs != nil {
		out["transactions"] = txs
	}
	writeJSON(rw, out)
}

func (w *Wallet) httpGetAsset(rw http.ResponseWriter, r *http.Request) {
	var in request
	if err := readJSON(r, &in); err != nil {
		httpError(rw, err)
		return
	}
	a, _ := w.GetAssetIssueById(r.Context(), &api.BytesMessage{Value: []byte(valueString(in.Value))})
	if a.Id == "" {
		writeJSON(rw, map[string]any{})
		return
	}
	writeJSON(rw, map[string]any{"id": a.Id, "owner_address": showAddr(a.OwnerAddress, in.Visible), "name": hex.EncodeToString(a.Name),
		"abbr": hex.EncodeToString(a.Abbr), "total_supply": a.TotalSupply, "precision": a.Precision})
}

// transferRequest reads a transfer's request and its two addresses,
// answering the error itself when they do not parse.
func transferRequest(rw http.ResponseWriter, r *http.Request) (in request, from, to wallet.Address, ok bool) {
	if err := readJSON(r, &in); err != nil {
		httpError(rw, err)
		return in, from, to, false
	}
	from, err1 := parseAddr(in.OwnerAddress)
	to, err2 := parseAddr(in.ToAddress)
	if err := errors.Join(err1, err2); err != nil {
		httpError(rw, fmt.Errorf("invalid address: %w", err))
		return in, from, to, false
	}
	return in, from, to, true
}

func (w *Wallet) httpCreateTransaction(rw http.ResponseWriter, r *http.Request) {
	in, from, to, ok := transferRequest(rw, r)
	if !ok {
		return
	}
	w.httpBuilt(rw, r.Context(), in.Visible, func() (*api.TransactionExtention, error) {
		return w.CreateTransaction2(r.Context(), &core.TransferContract{OwnerAddress: from[:], ToAddress: to[:], Amount: in.Amount})
	})
}

func (w *Wallet) httpTransferAsset(rw http.ResponseWriter, r *http.Request) {
	in, from, to, ok := transferRequest(rw, r)
	if !ok {
		return
	}
	name := []byte(in.AssetName)
	if !in.Visible {
		if b, err := hex.DecodeString(in.AssetName); err == nil {
			name = b
		}
	}
	w.httpBuilt(rw, r.Context(), in.Visible, func() (*api.TransactionExtention, error) {
		return w.TransferAsset2(r.Context(), &core.TransferAssetContract{OwnerAddress: from[:], ToAddress: to[:], AssetName: name, Amount: in.Amount})
	})
}

func (w *Wallet) httpBuilt(rw http.ResponseWriter, _ context.Context, visible bool, build func() (*api.TransactionExtention, error)) {
	ext, err := build()
	if err != nil {
		httpError(rw, err)
		return
	}
	if !ext.Result.Result {
		httpError(rw, errors.New(string(ext.Result.Message)))
		return
	}
	writeJSON(rw, txJSON(ext.Transaction, visible))
}

// signedTx is a transaction as TronWeb broadcasts it: raw_data_hex is
// what was signed (raw_data, the same in JSON, is not read).
type signedTx struct {
	TxID       string   `json:"txID"`
	RawDataHex string   `json:"raw_data_hex"`
	Signature  []string `json:"signature"`
}

func (w *Wallet) httpBroadcast(rw http.ResponseWriter, r *http.Request) {
	var in signedTx
	if err := readJSON(r, &in); err != nil {
		httpError(rw, err)
		return
	}
	refuse := func(code api.ReturnResponseCode, msg string) {
		writeJSON(rw, map[string]any{"result": false, "code": code.String(), "txid": in.TxID, "message": hex.EncodeToString([]byte(msg))})
	}
	raw, err := hex.DecodeString(in.RawDataHex)
	if err != nil {
		refuse(api.Return_OTHER_ERROR, "raw_data_hex is not hex")
		return
	}
	var rd core.TransactionRaw
	if err := proto.Unmarshal(raw, &rd); err != nil {
		refuse(api.Return_OTHER_ERROR, "raw_data_hex is not a transaction: "+err.Error())
		return
	}
	tx := &core.Transaction{RawData: &rd}
	for _, s := range in.Signature {
		b, err := hex.DecodeString(s)
		if err != nil {
			refuse(api.Return_SIGERROR, "a signature is not hex")
			return
		}
		tx.Signature = append(tx.Signature, b)
	}
	id, err := w.c.Submit(tx)
	if err != nil {
		refuse(code(err), err.Error())
		return
	}
	writeJSON(rw, map[string]any{"result": true, "txid": hex.EncodeToString(id[:])})
}

// txJSON is TRON's JSON form of a transaction (the two contract types the
// chain knows).
func txJSON(t *core.Transaction, visible bool) map[string]any {
	raw, _ := proto.Marshal(t.RawData)
	id := wallet.TransactionID(raw)
	r := t.RawData
	var contracts []any
	for _, ct := range r.Contract {
		value := map[string]any{}
		switch ct.Type {
		case core.Transaction_Contract_TransferContract:
			var m core.TransferContract
			ct.Parameter.UnmarshalTo(&m)
			value = map[string]any{"owner_address": showAddr(m.OwnerAddress, visible), "to_address": showAddr(m.ToAddress, visible), "amount": m.Amount}
		case core.Transaction_Contract_TransferAssetContract:
			var m core.TransferAssetContract
			ct.Parameter.UnmarshalTo(&m)
			name := hex.EncodeToString(m.AssetName)
			if visible {
				name = string(m.AssetName)
			}
			value = map[string]any{"owner_address": showAddr(m.OwnerAddress, visible), "to_address": showAddr(m.ToAddress, visible), "asset_name": name, "amount": m.Amount}
		}
		contracts = append(contracts, map[string]any{"type": ct.Type.String(), "parameter": map[string]any{"value": value, "type_url": ct.Parameter.GetTypeUrl()}})
	}
	out := map[string]any{"visible": visible, "txID": hex.EncodeToString(id[:]), "raw_data_hex": hex.EncodeToString(raw),
		"raw_data": map[string]any{"contract": contracts, "ref_block_bytes": hex.EncodeToString(r.RefBlockBytes),
			"ref_block_hash": hex.EncodeToString(r.RefBlockHash), "expiration": r.Expiration, "timestamp": r.Timestamp}}
	if len(t.Signature) > 0 {
		var sigs []string
		for _, s := range t.Signature {
			sigs = append(sigs, hex.EncodeToString(s))
		}
		out["signature"] = sigs
	}
	return out
}
