//go:build !js

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/exchange"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// A ledger whose exchange talks to a TRON node over gRPC (a devnet process
// standing in for Nile or mainnet) refuses the public development genesis
// and the public development exchange key, naming the flag to set; with no
// -genesis, or -genesis none, it starts on an empty store, takes a deposit
// and pays a withdrawal, and the development accounts hold nothing.
func TestDevGenesisOnlyOnTheDevnet(t *testing.T) {
	alice, _ := wallet.GenerateKey()
	bob, _ := wallet.GenerateKey()
	r := newTronRig(t, alice)
	env := ledgertest.Options{Env: r.ledgerEnv()}
	for _, c := range []struct {
		name string
		o    ledgertest.Options
		args []string
		want string
	}{
		{"exchange key dev", env, []string{"-exchange-key", "dev"}, "-exchange-key"},
		{"exchange key dev, genesis none", env, []string{"-exchange-key", "dev", "-genesis", "none"}, "-exchange-key"},
		{"genesis dev", env, []string{"-genesis", "dev"}, "set -genesis none"},
		{"genesis dev by environment", ledgertest.Options{Env: append(r.ledgerEnv(), "BTSPEED_LEDGER_GENESIS=dev")}, nil, "set -genesis none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := r.ledgerArgs(append(c.args, "-db", filepath.Join(t.TempDir(), "ledger.db"))...)
			if stderr := ledgertest.Refuses(t, c.o, args...); !strings.Contains(stderr, c.want) {
				t.Fatalf("the refusal does not say %q: %s", c.want, stderr)
			}
		})
	}

	// -genesis none on an empty store, then the default on the same store.
	ctx := context.Background()
	dev, _ := genesis.DevKeys()
	for i, args := range [][]string{{"-genesis", "none"}, nil} {
		r.ledger = ledgertest.StartWith(t, env, r.ledgerArgs(args...)...)
		r.lc = client.New(r.ledger.URL, nil)
		info, err := r.lc.Info(ctx)
		if err != nil || info.Supply != api.U64(500_000_000*i) {
			t.Fatalf("start %d (%v): info %+v %v", i, args, info, err)
		}
		if b := r.onLedger(dev[0].Address()); b != 0 {
			t.Fatalf("start %d: the development genesis account holds %d", i, b)
		}
		if i == 0 {
			r.send(alice, r.exchange, 500_000_000)
			r.mine(3)
			r.eventually("the deposit", func() bool { return r.onLedger(alice.Address()) == 500_000_000 })
			r.ledger.Kill()
		}
	}
	w := r.withdraw(alice, bob.Address(), 200_000_000, 1)
	// "sent" is recorded before the broadcast: keep making blocks until the
	// transfer has landed and is confirmed.
	r.mining("the withdrawal done", func() bool { return r.withdrawal(w.ID).Status == api.WithdrawalDone })
	r.settled("at the end", 1000_000_000, alice.Address(), bob.Address())
}

// A store that holds the development genesis (made with -tron off) opened
// by a ledger whose exchange runs on a real TRON network: the invariant
// reports the development genesis and fails, and withdrawals are refused,
// so whoever derives the development keys cannot take the BTT a user
// deposits.
func TestDevGenesisStoreOnRealTRON(t *testing.T) {
	alice, _ := wallet.GenerateKey()
	mallory, _ := wallet.GenerateKey()
	r := newTronRig(t, alice)
	p := ledgertest.Start(t, "-db", filepath.Join(r.dir, "ledger.db"), "-faucet-difficulty", "0") // -tron off: the dev genesis
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	r.startLedger("")
	r.send(alice, r.exchange, 500_000_000)
	r.mine(3)
	r.eventually("the deposit", func() bool { return r.onLedger(alice.Address()) == 500_000_000 })

	dev, _ := genesis.DevKeys()
	for _, k := range []*wallet.PrivateKey{dev[0], alice} {
		req, err := api.Withdrawal{Ledger: ledgerID, Account: k.Address(), To: mallory.Address(), Amount: 500_000_000, Nonce: 1}.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		var e *api.Error
		if _, err := r.lc.Withdraw(ctx, req); !errors.As(err, &e) || e.Code != api.CodeDevGenesis {
			t.Fatalf("a withdrawal by %s: %v, want code %s", k.Address(), err, api.CodeDevGenesis)
		}
	}
	inv, err := r.lc.Invariant(ctx)
	if err != nil || inv.OK || !inv.DevGenesis {
		t.Fatalf("invariant %+v: %v; want dev_genesis and not ok", inv, err)
	}
	r.mine(3)
	if got := r.onTron(mallory.Address()); got != 0 {
		t.Fatalf("mallory took %d BTT on TRON", got)
	}
}

// $BTSPEED_CRASH_AT is a hook for the crash tests only: a ledger built as
// an operator builds it ignores it, and credits the deposit at whose step
// a crash-test build would kill itself.
func TestCrashHookOnlyInCrashTestBuilds(t *testing.T) {
	alice, _ := wallet.GenerateKey()
	r := newTronRig(t, alice)
	r.ledger = ledgertest.StartWith(t, ledgertest.Options{Env: append(r.ledgerEnv(), "BTSPEED_CRASH_AT="+exchange.StepDepositSeen)}, r.ledgerArgs()...)
	r.lc = client.New(r.ledger.URL, nil)
	r.send(alice, r.exchange, 10_000_000)
	r.mine(3)
	r.eventually("the deposit", func() bool {
		b, err := r.lc.Balance(context.Background(), alice.Address())
		if err != nil {
			select {
			case <-r.ledger.Exited():
				t.Fatalf("the ledger obeyed BTSPEED_CRASH_AT and died: %v", r.ledger.ExitErr())
			case <-time.After(5 * time.Second):
				t.Fatal(err)
			}
		}
		return b == 10_000_000
	})
}
