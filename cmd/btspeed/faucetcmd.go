package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
)

// runFaucet claims the development ledger's test BTT for the wallet: it
// solves the faucet's proof of work, signs the claim and says what happened.
func runFaucet(c *cli, args []string) error {
	fs := c.newFlags("faucet", "btspeed faucet [--relay URL | --ledger URL] [--wallet FILE]")
	var w where
	w.register(fs, true, false)
	walletFlag := fs.String("wallet", "", walletUsage("keystore to claim for"))
	if err := parse(fs, args); err != nil {
		return err
	}
	key, err := c.unlockWallet(*walletFlag)
	if err != nil {
		return err
	}
	url := w.ledgerURL(c)
	ctx, cancel := interruptible()
	defer cancel()
	lc := client.New(url, nil)
	// A claim that crosses the period's end is for a past period: solve the
	// new one once.
	for attempt := 0; ; attempt++ {
		res, info, err := lc.ClaimFaucet(ctx, key, nil)
		var ae *api.Error
		switch {
		case err == nil:
			fmt.Fprintf(c.out, "Received %s BTT of test money from the faucet of ledger %s; balance now %s BTT.\n",
				speed.FormatBTT(uint64(res.Amount)), info.Ledger, speed.FormatBTT(uint64(res.Balance)))
			if res.TRX > 0 {
				fmt.Fprintf(c.out, "Also %s test TRX on the TRON devnet at %s, for the fees of a deposit back from TRON.\n", speed.FormatBTT(uint64(res.TRX)), key.Address())
			}
			return nil
		case errors.As(err, &ae) && ae.Code == api.CodeFaucetPeriod && attempt == 0:
			continue
		case errors.As(err, &ae) && ae.Code == api.CodeFaucetClaimed:
			return human(err, "%s already claimed today's test BTT from ledger %s; the next grant opens at %s", key.Address(), info.Ledger,
				time.Unix(info.PeriodEnds, 0).Local().Format("2006-01-02 15:04 MST"))
		case errors.As(err, &ae) && ae.Code == api.CodeNotFound:
			return human(err, "the ledger at %s has no faucet (only development ledgers give test BTT): deposit BTT from TRON with 'btspeed ledger deposit'", url)
		default:
			return fmt.Errorf("claiming from the faucet of the ledger at %s: %w", url, err)
		}
	}
}
