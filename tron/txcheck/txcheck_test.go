package txcheck_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/txcheck"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

var (
	from, _  = wallet.GenerateKey()
	to, _    = wallet.GenerateKey()
	headTime = time.UnixMilli(1_700_000_000_000)
)

const token = "1002000"

// built is a transfer as a node builds it, marshalled by protobuf's own
// Go implementation with gotron-sdk's generated types; edit changes it
// first.
func built(t testing.TB, edit func(*core.TransactionRaw, *core.TransferAssetContract)) (txID, rawHex string) {
	t.Helper()
	m := &core.TransferAssetContract{AssetName: []byte(token), OwnerAddress: from.Address().Bytes(), ToAddress: to.Address().Bytes(), Amount: 25_000_000}
	r := &core.TransactionRaw{RefBlockBytes: []byte{0, 7}, RefBlockHash: bytes.Repeat([]byte{9}, 8),
		Expiration: headTime.UnixMilli() + 60_000, Timestamp: headTime.UnixMilli()}
	if edit != nil {
		edit(r, m)
	}
	param, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	r.Contract = append([]*core.Transaction_Contract{{Type: core.Transaction_Contract_TransferAssetContract, Parameter: param}}, r.Contract...)
	raw, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	id := wallet.TransactionID(raw)
	return hex.EncodeToString(id[:]), hex.EncodeToString(raw)
}

var asked = txcheck.Transfer{From: from.Address(), To: to.Address(), Token: token, Amount: 25_000_000}

func TestCheckTransferAsset(t *testing.T) {
	id, rawHex := built(t, nil)
	raw, r, err := txcheck.CheckTransferAsset(id, rawHex, asked, headTime)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(raw) != rawHex || r.Expiration != headTime.UnixMilli()+60_000 || r.Timestamp != headTime.UnixMilli() ||
		!bytes.Equal(r.RefBlockBytes, []byte{0, 7}) || len(r.Contracts) != 1 {
		t.Fatalf("decoded %+v", r)
	}
	// Signing the bytes gives the txID the node named, and the signature
	// recovers the sender.
	sid, sig := from.SignTransaction(raw)
	if hex.EncodeToString(sid[:]) != id {
		t.Fatalf("signed id %x, node's %s", sid, id)
	}
	if a, err := wallet.RecoverTransaction(raw, sig); err != nil || a != from.Address() {
		t.Fatalf("recovered %v %v", a, err)
	}
	// Two clocks that disagree: the expiration must follow the earlier
	// and be at most a day past the later.
	if _, _, err := txcheck.CheckTransferAsset(id, rawHex, asked, headTime.Add(time.Hour), headTime); err != nil {
		t.Fatalf("clocks an hour apart: %v", err)
	}
	if _, _, err := txcheck.CheckTransferAsset(id, rawHex, asked, headTime.Add(time.Hour)); !errors.Is(err, txcheck.ErrMismatch) {
		t.Fatalf("expired by the only clock: %v", err)
	}
	if _, _, err := txcheck.CheckTransferAsset(id, rawHex, asked); err == nil {
		t.Fatal("no clock: accepted")
	}
	// Upper case hex ids are the same id.
	if _, _, err := txcheck.CheckTransferAsset(strings.ToUpper(id), rawHex, asked, headTime); err != nil {
		t.Fatal(err)
	}
}

func TestCheckTransferAssetRefuses(t *testing.T) {
	other, _ := wallet.GenerateKey()
	anyOf := func(m proto.Message) *anypb.Any { a, _ := anypb.New(m); return a }
	cases := map[string]func(*core.TransactionRaw, *core.TransferAssetContract){
		"other sender":    func(_ *core.TransactionRaw, m *core.TransferAssetContract) { m.OwnerAddress = other.Address().Bytes() },
		"other recipient": func(_ *core.TransactionRaw, m *core.TransferAssetContract) { m.ToAddress = other.Address().Bytes() },
		"other token":     func(_ *core.TransactionRaw, m *core.TransferAssetContract) { m.AssetName = []byte("1000001") },
		"more":            func(_ *core.TransactionRaw, m *core.TransferAssetContract) { m.Amount++ },
		"expired":         func(r *core.TransactionRaw, _ *core.TransferAssetContract) { r.Expiration = headTime.UnixMilli() },
		"expires too late": func(r *core.TransactionRaw, _ *core.TransferAssetContract) {
			r.Expiration = headTime.Add(25 * time.Hour).UnixMilli()
		},
		"expires a day late": func(r *core.TransactionRaw, _ *core.TransferAssetContract) {
			r.Expiration = headTime.Add(24*time.Hour + time.Millisecond).UnixMilli()
		},
		"data":      func(r *core.TransactionRaw, _ *core.TransferAssetContract) { r.Data = []byte("memo") },
		"fee limit": func(r *core.TransactionRaw, _ *core.TransferAssetContract) { r.FeeLimit = 1 },
		"scripts":   func(r *core.TransactionRaw, _ *core.TransferAssetContract) { r.Scripts = []byte{1} },
		"a second contract": func(r *core.TransactionRaw, m *core.TransferAssetContract) {
			r.Contract = []*core.Transaction_Contract{{Type: core.Transaction_Contract_TransferAssetContract, Parameter: anyOf(m)}}
		},
		"a TRX transfer too": func(r *core.TransactionRaw, m *core.TransferAssetContract) {
			r.Contract = []*core.Transaction_Contract{{Type: core.Transaction_Contract_TransferContract, Parameter: anyOf(&core.TransferContract{OwnerAddress: m.OwnerAddress, ToAddress: other.Address().Bytes(), Amount: 5})}}
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			id, rawHex := built(t, edit)
			if _, _, err := txcheck.CheckTransferAsset(id, rawHex, asked, headTime); !errors.Is(err, txcheck.ErrMismatch) {
				t.Fatalf("got %v, want ErrMismatch", err)
			}
		})
	}

	// A txID that is not the hash of the raw data.
	id, rawHex := built(t, nil)
	if _, _, err := txcheck.CheckTransferAsset(strings.Repeat("0", 64), rawHex, asked, headTime); !errors.Is(err, txcheck.ErrMismatch) {
		t.Fatalf("wrong txID: %v", err)
	}
	// A contract with a permission id (another signer) or its type
	// mislabelled.
	raw, _ := hex.DecodeString(rawHex)
	r := &core.TransactionRaw{}
	proto.Unmarshal(raw, r)
	for name, edit := range map[string]func(*core.Transaction_Contract){
		"permission": func(c *core.Transaction_Contract) { c.PermissionId = 2 },
		"type":       func(c *core.Transaction_Contract) { c.Type = core.Transaction_Contract_TransferContract },
		"type URL": func(c *core.Transaction_Contract) {
			c.Parameter.TypeUrl = "type.googleapis.com/protocol.TransferContract"
		},
	} {
		rr := proto.Clone(r).(*core.TransactionRaw)
		edit(rr.Contract[0])
		b, _ := proto.Marshal(rr)
		sum := wallet.TransactionID(b)
		if _, _, err := txcheck.CheckTransferAsset(hex.EncodeToString(sum[:]), hex.EncodeToString(b), asked, headTime); !errors.Is(err, txcheck.ErrMismatch) {
			t.Fatalf("%s: got %v, want ErrMismatch", name, err)
		}
	}
	// Malformed: not hex, truncated, unknown fields, a field given twice
	// (protobuf would take the last one; this package refuses),
	// authorities.
	rr := proto.Clone(r).(*core.TransactionRaw)
	rr.Auths = []*core.Authority{{PermissionName: []byte("owner")}}
	withAuths, _ := proto.Marshal(rr)
	for name, b := range map[string][]byte{
		"authorities":   withAuths,
		"truncated":     raw[:len(raw)-3],
		"unknown field": protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), raw...), 99, protowire.VarintType), 1),
		"twice":         protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), raw...), 8, protowire.VarintType), uint64(headTime.UnixMilli()+1000)),
		"wire type":     protowire.AppendFixed64(protowire.AppendTag(nil, 8, protowire.Fixed64Type), 1),
	} {
		sum := wallet.TransactionID(b)
		if _, _, err := txcheck.CheckTransferAsset(hex.EncodeToString(sum[:]), hex.EncodeToString(b), asked, headTime); !errors.Is(err, txcheck.ErrMalformed) {
			t.Fatalf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, _, err := txcheck.CheckTransferAsset(id, "zz"+rawHex, asked, headTime); !errors.Is(err, txcheck.ErrMalformed) {
		t.Fatalf("not hex: %v", err)
	}
	if _, _, err := txcheck.CheckTransferAsset(id, strings.Repeat("00", txcheck.MaxRaw+1), asked, headTime); !errors.Is(err, txcheck.ErrMalformed) {
		t.Fatalf("too long: %v", err)
	}
}

// The devnet's HTTP API builds a transfer (as the relay's /tron/ does for
// the browser); the check passes it, and the devnet accepts it signed over
// exactly the bytes checked.
func TestCheckDevnetTransfer(t *testing.T) {
	c, err := devnet.Open(devnet.Config{Path: filepath.Join(t.TempDir(), "tron.db"), Asset: devnet.Asset{ID: token, Precision: 6},
		Accounts: []devnet.Account{{Address: from.Address(), TRX: 1e9, Asset: 1e9}}, BlockInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c.HTTPHandler())
	defer srv.Close()
	post := func(path string, in any, out any) {
		t.Helper()
		b, _ := json.Marshal(in)
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	var tx map[string]any
	post("/wallet/transferasset", map[string]any{"owner_address": from.Address().String(), "to_address": to.Address().String(),
		"asset_name": token, "amount": 25_000_000, "visible": true}, &tx)
	var head struct {
		BlockHeader struct {
			RawData struct {
				Timestamp int64 `json:"timestamp"`
			} `json:"raw_data"`
		} `json:"block_header"`
	}
	post("/wallet/getnowblock", map[string]any{}, &head)
	// The head is the genesis block, at time 0: the clock bounds the
	// expiration from above.
	if head.BlockHeader.RawData.Timestamp != 0 {
		t.Fatalf("head block at %d", head.BlockHeader.RawData.Timestamp)
	}
	if _, _, err := txcheck.CheckTransferAsset(tx["txID"].(string), tx["raw_data_hex"].(string), asked, time.UnixMilli(head.BlockHeader.RawData.Timestamp)); !errors.Is(err, txcheck.ErrMismatch) {
		t.Fatalf("expiration a day past genesis's head time: %v", err)
	}
	raw, _, err := txcheck.CheckTransferAsset(tx["txID"].(string), tx["raw_data_hex"].(string), asked, time.UnixMilli(head.BlockHeader.RawData.Timestamp), time.Now())
	if err != nil {
		t.Fatalf("%v: %v", err, tx)
	}
	_, sig := from.SignTransaction(raw)
	tx["signature"] = []string{hex.EncodeToString(sig[:])}
	var res map[string]any
	post("/wallet/broadcasttransaction", tx, &res)
	if res["result"] != true || res["txid"] != tx["txID"] {
		t.Fatalf("broadcast: %v", res)
	}
}
