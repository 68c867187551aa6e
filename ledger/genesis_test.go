package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/shared/wallet"
)

// A ledger with no genesis (its money all comes from deposits) starts on an
// empty store with a supply of 0 that balances, grows by deposits, and
// takes no genesis once it holds money. With an exchange to a real TRON
// network it never takes the development genesis.
func TestNoGenesis(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t)
	defer st.Close()
	exch := key(t, "exchange")
	alice := key(t, "alice")
	l, err := ledger.New(ctx, ledger.Config{ID: ledgerID, Store: st, Exchange: &ledger.Exchange{Address: exch.Address(), Token: "1002000"}})
	if err != nil {
		t.Fatal(err)
	}
	if inv, err := l.CheckAll(ctx); err != nil || !inv.OK || inv.Supply != 0 || inv.DevGenesis {
		t.Fatalf("an empty ledger: %+v %v", inv, err)
	}
	dev, err := genesis.Dev()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Init(ctx, dev); !errors.Is(err, ledger.ErrDevGenesis) {
		t.Fatalf("the development genesis with an exchange to a real TRON network: %v", err)
	}
	if _, err := l.Deposit(ctx, [32]byte{1}, alice.Address(), 5_000_000); err != nil {
		t.Fatal(err)
	}
	if inv, err := l.CheckAll(ctx); err != nil || !inv.OK || inv.Supply != 5_000_000 || inv.Deposited != 5_000_000 {
		t.Fatalf("after a deposit: %+v %v", inv, err)
	}
	other := []genesis.Allocation{{Name: "all", PerMille: 1000, Amount: genesis.TotalSupply, Account: alice.Address()}}
	if err := l.Init(ctx, other); err == nil {
		t.Fatal("a genesis written over deposits")
	}
	if inv, err := l.Check(ctx); err != nil || !inv.OK || inv.Supply != 5_000_000 {
		t.Fatalf("after the refused genesis: %+v %v", inv, err)
	}
}

// A store holding the development genesis, opened with an exchange to a
// real TRON network, refuses withdrawals and fails the invariant
// (dev_genesis); with the embedded devnet (Exchange.Devnet) it is fine.
func TestDevGenesisStoreWithRealExchange(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t)
	defer st.Close()
	l, err := ledger.New(ctx, ledger.Config{ID: ledgerID, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := genesis.Dev()
	if err := l.Init(ctx, dev); err != nil {
		t.Fatal(err)
	}
	keys, _ := genesis.DevKeys()
	exch := key(t, "exchange")
	mallory := key(t, "mallory")
	for _, devnet := range []bool{false, true} {
		x := &ledger.Exchange{Address: exch.Address(), Token: "1002000", Backing: 10_000_000, Devnet: devnet}
		l, err := ledger.New(ctx, ledger.Config{ID: ledgerID, Store: st, Exchange: x})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := l.CheckAll(ctx)
		if err != nil || inv.DevGenesis == devnet || inv.OK != devnet {
			t.Fatalf("devnet %v: invariant %+v %v", devnet, inv, err)
		}
		req, _ := api.Withdrawal{Ledger: ledgerID, Account: keys[0].Address(), To: mallory.Address(), Amount: 2_000_000, Nonce: 1}.Sign(keys[0])
		_, err = l.Withdraw(ctx, req)
		if devnet && err != nil {
			t.Fatalf("a withdrawal on the devnet: %v", err)
		}
		if !devnet {
			wantCode(t, err, api.CodeDevGenesis)
		}
	}
	if err := l.Init(ctx, []genesis.Allocation{{Name: "all", PerMille: 1000, Amount: genesis.TotalSupply, Account: wallet.Address{wallet.AddressPrefix, 1}}}); err == nil {
		t.Fatal("another genesis over the development genesis")
	}
}

// Test TRX with faucet grants (Config.FaucetTRX) exists only on the
// embedded devnet: without an exchange, or with one on a real TRON
// network, the ledger refuses to open with the hook.
func TestFaucetTRXOnlyOnTheDevnet(t *testing.T) {
	exch := key(t, "exchange")
	p := faucet.DefaultParams()
	send := func(context.Context, wallet.Address) (uint64, error) { return 10_000_000, nil }
	for name, x := range map[string]*ledger.Exchange{
		"no exchange":  nil,
		"a real TRON":  {Address: exch.Address(), Token: "1002000"},
		"a devnet one": {Address: exch.Address(), Token: "1002000", Devnet: true},
	} {
		st := openBolt(t)
		_, err := ledger.New(context.Background(), ledger.Config{ID: ledgerID, Store: st, Faucet: &p, FaucetTRX: send, Exchange: x})
		st.Close()
		if ok := x != nil && x.Devnet; ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "FaucetTRX")) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
