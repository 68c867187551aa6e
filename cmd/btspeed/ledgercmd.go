package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

func runLedger(c *cli, args []string) error {
	return dispatch(c, "btspeed ledger", []command{
		{"balance", "print an account's BTT on the ledger (default: the installed wallet's)", ledgerBalance},
		{"deposit", "move BTT from the wallet's TRON address onto the ledger", ledgerDeposit},
		{"withdraw", "move BTT from the ledger to a TRON address", ledgerWithdraw},
		{"transfer", "send BTT on the ledger to another account", ledgerTransfer},
		{"history", "print an account's latest ledger entries, with the service each channel paid for", ledgerHistory},
	}, args)
}

func ledgerBalance(c *cli, args []string) error {
	fs := c.newFlags("balance", "btspeed ledger balance [ADDRESS] [--relay URL | --ledger URL] [--wallet FILE] [--json]")
	var w where
	w.register(fs, true, false)
	walletFile := fs.String("wallet", "", "keystore whose address to read, without unlocking it (default $"+envWallet+" or the installed wallet)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	addr, err := c.addressArg(pos, *walletFile)
	if err != nil {
		return err
	}
	url := w.ledgerURL(c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	bal, err := client.New(url, nil).Balance(ctx, addr)
	if err != nil {
		return fmt.Errorf("ledger at %s: %w", url, err)
	}
	if *asJSON {
		return json.NewEncoder(c.out).Encode(map[string]any{"address": addr.String(), "balance": speed.FormatBTT(bal), "base_units": bal})
	}
	fmt.Fprintf(c.out, "%s BTT\n", speed.FormatBTT(bal))
	return nil
}

// addressArg is the ADDRESS argument of a command, or without one the
// installed wallet's address (read without unlocking it).
func (c *cli) addressArg(pos []string, walletFlag string) (wallet.Address, error) {
	switch len(pos) {
	case 1:
		return wallet.ParseAddress(pos[0])
	case 0:
		path, err := c.walletPath(walletFlag)
		if err != nil {
			return wallet.Address{}, err
		}
		data, err := wallet.ReadKeystoreFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return wallet.Address{}, human(err, "there is no wallet at %s yet: give an ADDRESS, or make a wallet with 'btspeed wallet init'", path)
			}
			return wallet.Address{}, err
		}
		addr, err := wallet.KeystoreAddress(data)
		if err != nil {
			return wallet.Address{}, fmt.Errorf("%s: %w", path, err)
		}
		return addr, nil
	default:
		return wallet.Address{}, usageError{"give at most one address"}
	}
}
