package exchange_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
)

// openDevnet opens a devnet in dir that makes blocks only when asked, on
// now's clock (nil: the real one), with BTT as token btt and the accounts
// funded, and serves its gRPC API on loopback. Both close when t ends.
func openDevnet(t *testing.T, dir string, now func() time.Time, accounts ...devnet.Account) (*devnet.Chain, *client.GrpcClient) {
	t.Helper()
	chain, err := devnet.Open(devnet.Config{Path: filepath.Join(dir, "tron.db"), BlockInterval: time.Hour, Now: now,
		Asset: devnet.Asset{ID: btt, Precision: 6}, Accounts: accounts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	gc, _ := devnettest.Serve(t, chain)
	return chain, gc
}

// openLedger opens a ledger in dir with the development genesis and x as its
// exchange (nil: none); it closes when t ends.
func openLedger(t *testing.T, dir string, x *ledger.Exchange) *server.Ledger {
	t.Helper()
	l, err := server.Open(context.Background(), server.Config{ID: "btspeed-devnet", DB: filepath.Join(dir, "ledger.db"), Genesis: "dev", Exchange: x})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// queueDevWithdrawal queues a withdrawal of 2 BTT from the first
// development genesis account to the TRON address to, for the exchange to
// pay.
func queueDevWithdrawal(t *testing.T, l *server.Ledger, to wallet.Address) api.WithdrawalStatus {
	t.Helper()
	keys, _ := genesis.DevKeys()
	req, _ := api.Withdrawal{Ledger: "btspeed-devnet", Account: keys[0].Address(), To: to, Amount: 2_000_000, Nonce: 1}.Sign(keys[0])
	w, err := l.Withdraw(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
