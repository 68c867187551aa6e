package ledger_test

import (
	"context"
	"os"
	"testing"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/ledger/store/pgstore"
	"github.com/btspeed/btspeed/ledger/store/pgstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// onPostgres makes newEnv use a fresh PostgreSQL database instead of a bbolt
// file. The tests run one at a time, so a package variable is enough.
var onPostgres bool

func openStore(t *testing.T) store.Store {
	if !onPostgres {
		return openBolt(t)
	}
	st, err := pgstore.Open(context.Background(), pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestOnPostgres runs the ledger's tests again on PostgreSQL: the same rules
// must hold on both backends.
func TestOnPostgres(t *testing.T) {
	onPostgres = true
	defer func() { onPostgres = false }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Genesis", TestGenesisReproducesIssuance},
		{"Transfer", TestTransfer},
		{"TransferRejections", TestTransferRejections},
		{"TransferMemo", TestTransferMemo},
		{"ChannelService", TestChannelService},
		{"ChannelLifecycle", TestChannelLifecycle},
		{"ChannelRejections", TestChannelRejections},
		{"ChannelTimeout", TestChannelTimeoutRefundsPayer},
		{"Faucet", TestFaucet},
		{"HTTPBadInput", TestHTTPBadInput},
		{"Client", TestClientImplementsSpeedLedger},
		{"Batch", TestBatch},
		{"ConcurrentTransfers", TestConcurrentTransfersConserveMoney},
	} {
		t.Run(tc.name, tc.fn)
	}
}
