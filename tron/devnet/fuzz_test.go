package devnet_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// FuzzSubmit: whatever bytes arrive as a transaction, the chain answers
// with an error or accepts it, and never panics; an accepted one still
// goes into a block.
func FuzzSubmit(f *testing.F) {
	k, _ := wallet.GenerateKey()
	to, _ := wallet.GenerateKey()
	param, _ := anypb.New(&core.TransferContract{OwnerAddress: k.Address().Bytes(), ToAddress: to.Address().Bytes(), Amount: 5})
	seed, _ := proto.Marshal(&core.Transaction{RawData: &core.TransactionRaw{Contract: []*core.Transaction_Contract{
		{Type: core.Transaction_Contract_TransferContract, Parameter: param}}, Expiration: 1}, Signature: [][]byte{make([]byte, 65)}})
	f.Add(seed)
	f.Add([]byte{})
	c, err := devnet.Open(devnet.Config{Path: filepath.Join(f.TempDir(), "tron.db"), Asset: devnet.Asset{ID: "1000001"},
		Accounts: []devnet.Account{{Address: k.Address(), TRX: 1e9, Asset: 1e9}}, BlockInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		var tx core.Transaction
		if proto.Unmarshal(b, &tx) != nil {
			return
		}
		c.Submit(&tx)
		if err := c.MakeBlock(); err != nil {
			t.Fatal(err)
		}
	})
}
