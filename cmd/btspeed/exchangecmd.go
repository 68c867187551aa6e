package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/deposit"
	"github.com/btspeed/btspeed/tron/txcheck"
)

// exchangeFlags are what deposit and withdraw share.
type exchangeFlags struct {
	where      where
	walletFile string
	wait       bool
	timeout    time.Duration
	asJSON     bool
}

func (x *exchangeFlags) register(c *cli, node bool, fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	x.where.register(fs, true, node)
	fs.StringVar(&x.walletFile, "wallet", "", walletUsage("keystore to sign with"))
	fs.BoolVar(&x.wait, "wait", true, "wait until it is done")
	fs.DurationVar(&x.timeout, "timeout", 10*time.Minute, "how long to wait")
	fs.BoolVar(&x.asJSON, "json", false, "print JSON")
}

func (x *exchangeFlags) open(c *cli) (*wallet.PrivateKey, *client.Client, string, error) {
	key, err := c.unlockWallet(x.walletFile)
	if err != nil {
		return nil, nil, "", err
	}
	url := x.where.ledgerURL(c)
	return key, client.New(url, nil), url, nil
}

// waitFor polls check every second until it reports done, the timeout or
// Ctrl-C.
func waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := check(ctx)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still not done after %s: %w", timeout, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func ledgerDeposit(c *cli, args []string) error {
	fs := c.newFlags("deposit", "btspeed ledger deposit AMOUNT [--wallet FILE] [--relay URL | --ledger URL --node grpc://HOST:PORT] [--wait=false] [--json]")
	var x exchangeFlags
	x.register(c, true, fs)
	apiKey := fs.String("api-key", c.getenv("TRON_PRO_API_KEY"), "TronGrid API key ($TRON_PRO_API_KEY)")
	amount, err := parseAmount(fs, args, "deposit")
	if err != nil {
		return err
	}
	key, lc, url, err := x.open(c)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	info, err := lc.Exchange(ctx)
	if err != nil {
		return fmt.Errorf("ledger at %s: %w", url, err)
	}
	t := txcheck.Transfer{From: key.Address(), To: info.Address, Token: info.Token, Amount: int64(amount)}
	id, err := sendDeposit(ctx, c, &x, *apiKey, key, t)
	if err != nil {
		return err
	}
	if !x.asJSON {
		fmt.Fprintf(c.out, "deposit %s BTT sent to the exchange %s: TRON transaction %s\n", speed.FormatBTT(amount), info.Address, id)
	}
	if !x.wait {
		if x.asJSON {
			return json.NewEncoder(c.out).Encode(map[string]any{"txid": id, "amount": speed.FormatBTT(amount), "credited": false})
		}
		return nil
	}
	if !x.asJSON {
		fmt.Fprintf(c.err, "waiting for %d confirmations...\n", info.Confirmations)
	}
	err = waitFor(ctx, x.timeout, func(ctx context.Context) (bool, error) {
		es, err := lc.History(ctx, key.Address(), 0, 100)
		if err != nil {
			return false, nil // the ledger may be restarting
		}
		for _, e := range es {
			if e.Kind == "deposit" && e.Ref == id {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("deposit %s: %w", id, err)
	}
	bal, err := lc.Balance(ctx, key.Address())
	if err != nil {
		return err
	}
	if x.asJSON {
		return json.NewEncoder(c.out).Encode(map[string]any{"txid": id, "amount": speed.FormatBTT(amount), "credited": true, "balance": speed.FormatBTT(bal)})
	}
	fmt.Fprintf(c.out, "credited: %s BTT on the ledger\n", speed.FormatBTT(bal))
	return nil
}

// sendDeposit builds, checks, signs and broadcasts the deposit t through the
// TRON node the flags name, and returns its transaction id; a node's refusal
// comes back as an error saying what to check.
func sendDeposit(ctx context.Context, c *cli, x *exchangeFlags, apiKey string, key *wallet.PrivateKey, t txcheck.Transfer) (string, error) {
	node, err := x.where.nodeURL(c)
	if err != nil {
		return "", err
	}
	gc, err := tronNode(c, node, apiKey)
	if err != nil {
		return "", err
	}
	defer gc.Stop()
	sent, err := deposit.Send(ctx, grpcNode{gc}, key, t, time.Now())
	switch {
	case errors.Is(err, deposit.ErrBuild):
		return "", human(err, "TRON would not build this deposit of %s BTT: your TRON address needs that much BTT and some TRX for the fee "+
			"(see 'btspeed tron balance'; on the devnet 'btspeed faucet' sends test TRX too)", speed.FormatBTT(uint64(t.Amount)))
	case errors.Is(err, deposit.ErrBroadcast):
		return "", human(err, "TRON refused the deposit, so nothing moved: check your TRON balances ('btspeed tron balance') and try again")
	case err != nil:
		return "", err
	}
	return sent.TxID, nil
}

func ledgerWithdraw(c *cli, args []string) error {
	fs := c.newFlags("withdraw", "btspeed ledger withdraw AMOUNT [--to TRON_ADDRESS] [--wallet FILE] [--relay URL | --ledger URL] [--wait=false] [--json]")
	var x exchangeFlags
	x.register(c, false, fs)
	toFlag := fs.String("to", "", "TRON address to send the BTT to (default: the wallet's own)")
	amount, err := parseAmount(fs, args, "withdraw")
	if err != nil {
		return err
	}
	key, lc, url, err := x.open(c)
	if err != nil {
		return err
	}
	to := key.Address()
	if *toFlag != "" {
		if to, err = wallet.ParseAddress(strings.TrimSpace(*toFlag)); err != nil {
			return usageError{"--to: " + err.Error()}
		}
	}
	ctx, cancel := interruptible()
	defer cancel()
	info, err := lc.Info(ctx)
	if err != nil {
		return fmt.Errorf("ledger at %s: %w", url, err)
	}
	var nb [8]byte
	rand.Read(nb[:])
	req, err := api.Withdrawal{Ledger: info.Ledger, Account: key.Address(), To: to, Amount: amount, Nonce: binary.BigEndian.Uint64(nb[:]) >> 1}.Sign(key)
	if err != nil {
		return err
	}
	w, err := lc.Withdraw(ctx, req)
	if err != nil {
		return fmt.Errorf("withdrawal refused: %w", err)
	}
	if !x.asJSON {
		fmt.Fprintf(c.out, "withdrawal %s: %s BTT debited, to %s on TRON\n", w.ID, speed.FormatBTT(amount), to)
	}
	if x.wait {
		if !x.asJSON {
			fmt.Fprintln(c.err, "waiting for the exchange's TRON transaction and its confirmations...")
		}
		err = waitFor(ctx, x.timeout, func(ctx context.Context) (bool, error) {
			cur, err := lc.Withdrawal(ctx, w.ID)
			if err != nil {
				return false, nil // the ledger may be restarting
			}
			w = cur
			return w.Status == api.WithdrawalDone || w.Status == api.WithdrawalFailed, nil
		})
		if err != nil {
			return fmt.Errorf("withdrawal %s (%s): %w", w.ID, w.Status, err)
		}
		if w.Status == api.WithdrawalFailed {
			return fmt.Errorf("withdrawal %s failed: TRON refused it (%s); the amount is back in your ledger account", w.ID, w.Error)
		}
	}
	if x.asJSON {
		return json.NewEncoder(c.out).Encode(w)
	}
	if w.Status == api.WithdrawalDone {
		fmt.Fprintf(c.out, "done: TRON transaction %s in block %d\n", w.TxID, w.Block)
	}
	return nil
}

// parseAmount parses fs's flags in args and reads the one positional
// argument, wherever it stands, as a positive BTT amount to verb.
func parseAmount(fs *flag.FlagSet, args []string, verb string) (uint64, error) {
	pos, err := parseMixed(fs, args)
	if err != nil {
		return 0, err
	}
	if len(pos) != 1 {
		return 0, usageError{"give the amount of BTT to " + verb + ", e.g. 12.5"}
	}
	amount, err := speed.ParseBTT(pos[0])
	if err != nil || amount == 0 || amount > 1<<62 {
		return 0, usageError{fmt.Sprintf("amount %q: want a positive BTT amount such as 12.5 (at most 6 decimals)", pos[0])}
	}
	return amount, nil
}
