package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// maxHistoryLimit is the most entries one 'btspeed ledger history' asks
// for (the ledger's page limit).
const maxHistoryLimit = 500

// ledgerHistory prints an account's latest ledger entries, newest first,
// with the service each channel entry paid for and each transfer's memo.
func ledgerHistory(c *cli, args []string) error {
	fs := c.newFlags("history", "btspeed ledger history [ADDRESS] [--limit N] [--relay URL | --ledger URL] [--wallet FILE] [--json]")
	var w where
	w.register(fs, true, false)
	walletFile := fs.String("wallet", "", "keystore whose address to read, without unlocking it (default $"+envWallet+" or the installed wallet)")
	limit := fs.Int("limit", 20, fmt.Sprintf("how many of the latest entries to print (at most %d)", maxHistoryLimit))
	asJSON := fs.Bool("json", false, "print the ledger's entries as JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > maxHistoryLimit {
		return usageError{fmt.Sprintf("--limit %d: give 1 to %d", *limit, maxHistoryLimit)}
	}
	addr, err := c.addressArg(pos, *walletFile)
	if err != nil {
		return err
	}
	url := w.ledgerURL(c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	h, err := client.New(url, nil).History(ctx, addr, 0, *limit)
	if err != nil {
		return fmt.Errorf("ledger at %s: %w", url, err)
	}
	if *asJSON {
		if h == nil {
			h = []api.Entry{}
		}
		return json.NewEncoder(c.out).Encode(h)
	}
	if len(h) == 0 {
		fmt.Fprintf(c.out, "no ledger entries for %s yet\n", addr)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tAMOUNT\tBALANCE\tSERVICE\tWITH\tMEMO")
	for _, e := range h {
		amount := "+" + speed.FormatBTT(uint64(e.Credit))
		if e.Debit != 0 {
			amount = "-" + speed.FormatBTT(uint64(e.Debit))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s BTT\t%s BTT\t%s\t%s\t%s\n", time.Unix(e.Time, 0).UTC().Format("2006-01-02 15:04:05"), e.Kind, amount,
			speed.FormatBTT(uint64(e.Balance)), entryService(e), counterparty(e.Counterparty), quoteMemo(e.Memo))
	}
	return tw.Flush()
}

// entryService is the service column: a channel entry's service ("speed"
// for channels of clients older than the tag), "-" for other entries.
func entryService(e api.Entry) string {
	switch {
	case !strings.HasPrefix(e.Kind, "channel-"):
		return "-"
	case e.Service == "":
		return speed.ServiceSpeed
	}
	return e.Service
}

// counterparty is the WITH column: the other account, "-" for none.
func counterparty(a wallet.Address) string {
	if a == (wallet.Address{}) {
		return "-"
	}
	return a.String()
}

// quoteMemo shows a memo quoted, so that its spaces and any control
// characters cannot break the table.
func quoteMemo(m string) string {
	if m == "" {
		return ""
	}
	return strconv.Quote(m)
}
