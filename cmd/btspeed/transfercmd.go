package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// ledgerTransfer is 'btspeed ledger transfer AMOUNT --to ADDRESS [--memo
// TEXT]': a signed ledger transfer (docs/ledger-api.md, Transfers) from the
// wallet's account; a memo is signed with it (transfer v2) and kept in both
// accounts' history.
func ledgerTransfer(c *cli, args []string) error {
	fs := c.newFlags("transfer", "btspeed ledger transfer AMOUNT --to ADDRESS [--memo TEXT] [--wallet FILE] [--relay URL | --ledger URL] [--json]")
	var w where
	w.register(fs, true, false)
	walletFile := fs.String("wallet", "", walletUsage("keystore to sign with"))
	toFlag := fs.String("to", "", "the ledger account (T...) to send the BTT to")
	memo := fs.String("memo", "", fmt.Sprintf("what the transfer is for, kept in both accounts' ledger history (at most %d bytes)", api.MaxMemo))
	asJSON := fs.Bool("json", false, "print JSON")
	amount, err := parseAmount(fs, args, "send")
	if err != nil {
		return err
	}
	if strings.TrimSpace(*toFlag) == "" {
		return usageError{"give the account to send to with --to T..."}
	}
	to, err := wallet.ParseAddress(strings.TrimSpace(*toFlag))
	if err != nil {
		return usageError{fmt.Sprintf("--to %q is not a ledger address (T... with 34 characters): %v", *toFlag, err)}
	}
	if err := api.CheckMemo(*memo); err != nil {
		return usageError{fmt.Sprintf("--memo: %v", err)}
	}
	key, err := c.unlockWallet(*walletFile)
	if err != nil {
		return err
	}
	if to == key.Address() {
		return usageError{"--to is this wallet's own address: send to another account"}
	}
	url := w.ledgerURL(c)
	lc := client.New(url, nil)
	ctx, cancel := interruptible()
	defer cancel()
	info, err := lc.Info(ctx)
	if err != nil {
		return fmt.Errorf("ledger at %s: %w", url, err)
	}
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return fmt.Errorf("transfer nonce: %w", err)
	}
	req, err := api.Transfer{Ledger: info.Ledger, From: key.Address(), To: to, Amount: amount, Nonce: binary.BigEndian.Uint64(nb[:]) >> 1,
		Memo: *memo}.Sign(key)
	if err != nil {
		return fmt.Errorf("signing the transfer: %w", err)
	}
	res, err := lc.Transfer(ctx, req)
	if err != nil {
		return fmt.Errorf("transfer refused: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(c.out).Encode(map[string]any{"id": res.ID, "from": res.From.String(), "to": res.To.String(),
			"amount": speed.FormatBTT(uint64(res.Amount)), "base_units": uint64(res.Amount), "time": res.Time, "memo": res.Memo})
	}
	fmt.Fprintf(c.out, "sent %s BTT to %s: transfer %s\n", speed.FormatBTT(uint64(res.Amount)), res.To, res.ID)
	return nil
}
