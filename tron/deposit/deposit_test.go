package deposit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/deposit"
	"github.com/btspeed/btspeed/tron/txcheck"
)

// node builds TRC-10 transfers as a TRON node does (protobuf raw data,
// txid its SHA-256), with knobs to make it lie, and records broadcasts.
type node struct {
	head       time.Time
	expiration time.Time // of what it builds
	addAmount  int64     // built amount minus asked amount
	answerTxID string    // "" names none; "self" names the one signed
	buildErr   error
	broadcast  [][]byte // signatures received
	builtRaw   []byte
}

func (n *node) Build(_ context.Context, t txcheck.Transfer) (deposit.Built, error) {
	if n.buildErr != nil {
		return deposit.Built{}, n.buildErr
	}
	param, err := anypb.New(&core.TransferAssetContract{AssetName: []byte(t.Token), OwnerAddress: t.From[:], ToAddress: t.To[:], Amount: t.Amount + n.addAmount})
	if err != nil {
		return deposit.Built{}, err
	}
	rd := &core.TransactionRaw{RefBlockBytes: []byte{0, 1}, RefBlockHash: make([]byte, 8), Expiration: n.expiration.UnixMilli(), Timestamp: n.head.UnixMilli(),
		Contract: []*core.Transaction_Contract{{Type: core.Transaction_Contract_TransferAssetContract, Parameter: param}}}
	raw, err := proto.Marshal(rd)
	if err != nil {
		return deposit.Built{}, err
	}
	n.builtRaw = raw
	id := sha256.Sum256(raw)
	return deposit.Built{TxID: hex.EncodeToString(id[:]), RawHex: hex.EncodeToString(raw), Tx: rd}, nil
}

func (n *node) Head(context.Context) (time.Time, error) { return n.head, nil }

func (n *node) Broadcast(_ context.Context, b deposit.Built, sig []byte) (string, error) {
	n.broadcast = append(n.broadcast, sig)
	if n.answerTxID == "self" {
		return b.TxID, nil
	}
	return n.answerTxID, nil
}

func TestSend(t *testing.T) {
	key, err := wallet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := wallet.GenerateKey()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	transfer := txcheck.Transfer{From: key.Address(), To: other.Address(), Token: "1002000", Amount: 25_000_000}
	honest := func() *node {
		return &node{head: now.Add(-3 * time.Second), expiration: now.Add(time.Minute), answerTxID: "self"}
	}
	cases := []struct {
		name   string
		node   func() *node
		from   wallet.Address
		want   error // nil: sent
		signed bool  // the node received a signature
	}{
		{"honest", honest, key.Address(), nil, true},
		{"names no txid", func() *node { n := honest(); n.answerTxID = ""; return n }, key.Address(), nil, true},
		{"builds another amount", func() *node { n := honest(); n.addAmount = 1; return n }, key.Address(), deposit.ErrNodeBuilt, false},
		{"expired before the head and now", func() *node { n := honest(); n.expiration = now.Add(-time.Minute); return n }, key.Address(), deposit.ErrNodeBuilt, false},
		{"expires past the longest lifetime", func() *node { n := honest(); n.expiration = now.Add(txcheck.MaxExpiration + time.Minute); return n }, key.Address(), deposit.ErrNodeBuilt, false},
		{"refuses to build", func() *node { n := honest(); n.buildErr = errors.New("balance is not sufficient"); return n }, key.Address(), deposit.ErrBuild, false},
		{"answers another txid", func() *node { n := honest(); n.answerTxID = "ab"; return n }, key.Address(), deposit.ErrBroadcast, true},
		{"transfer from another address", honest, other.Address(), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.node()
			tr := transfer
			tr.From = c.from
			sent, err := deposit.Send(context.Background(), n, key, tr, now)
			if got := len(n.broadcast) > 0; got != c.signed {
				t.Fatalf("signature sent to the node: %v, want %v (err %v)", got, c.signed, err)
			}
			if c.from != key.Address() {
				if err == nil || n.builtRaw != nil {
					t.Fatalf("a transfer from another address: err %v, built %v", err, n.builtRaw != nil)
				}
				return
			}
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("err %v, want %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id := sha256.Sum256(n.builtRaw)
			if sent.TxID != hex.EncodeToString(id[:]) || sent.Raw.Expiration != n.expiration.UnixMilli() {
				t.Fatalf("sent %+v, want txid %x", sent, id)
			}
			var sig wallet.Signature
			copy(sig[:], n.broadcast[0])
			if who, err := wallet.RecoverTransaction(n.builtRaw, sig); err != nil || who != key.Address() {
				t.Fatalf("the signature recovers %s (%v), want %s", who, err, key.Address())
			}
		})
	}
}
