package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	}, args)
}

func ledgerBalance(c *cli, args []string) error {
	fs := c.newFlags("balance", "btspeed ledger balance [ADDRESS] [--ledger URL] [--wallet FILE] [--json]")
	ledgerURL := fs.String("ledger", "", "ledger URL (default $"+envLedger+" or "+defaultLedger+")")
	walletFile := fs.String("wallet", "", "keystore whose address to read, without unlocking it (default $"+envWallet+" or the installed wallet)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	var addr wallet.Address
	switch len(pos) {
	case 1:
		if addr, err = wallet.ParseAddress(pos[0]); err != nil {
			return err
		}
	case 0:
		path, err := c.walletPath(*walletFile)
		if err != nil {
			return err
		}
		data, err := wallet.ReadKeystoreFile(path)
		if err != nil {
			return fmt.Errorf("%w (give an ADDRESS, or install a wallet with 'btspeed wallet keystore export')", err)
		}
		if addr, err = wallet.KeystoreAddress(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	default:
		return usageError{"give at most one address"}
	}
	url := firstNonEmpty(*ledgerURL, firstNonEmpty(c.getenv(envLedger), defaultLedger))
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
