package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
)

// storeServe is 'btspeed store serve': a storage provider until
// interrupted. Requesters' ciphertext goes under --dir, within the quotas.
func storeServe(c *cli, args []string) error {
	fs := c.newFlags("store serve", "btspeed store serve [--listen ADDR] [--dir DIR] [--quota-mib N] [--account-quota-mib N] [--price BTT] [--rate BTT]")
	var w where
	w.register(fs, true, false)
	walletFile := fs.String("wallet", "", walletUsage("keystore of the account that is paid"))
	listen := fs.String("listen", "127.0.0.1:6890", "TCP address to accept storage connections on")
	dir := fs.String("dir", "", "directory for the stored data (default the user config dir's btspeed/storage)")
	quota := fs.Uint64("quota-mib", 1024, "MiB stored for everyone together")
	accountQuota := fs.Uint64("account-quota-mib", 256, "MiB stored for one requester")
	price := fs.String("price", "0", "the least BTT per MiB per period to accept")
	rate := fs.String("rate", "0", "the least BTT per MiB retrieved to accept")
	if err := parse(fs, args); err != nil {
		return err
	}
	minPrice, err := speed.ParseBTT(*price)
	if err != nil {
		return usageError{fmt.Sprintf("--price %q: %v", *price, err)}
	}
	minRate, err := speed.ParseBTT(*rate)
	if err != nil {
		return usageError{fmt.Sprintf("--rate %q: %v", *rate, err)}
	}
	if *quota == 0 || *accountQuota == 0 {
		return usageError{"--quota-mib and --account-quota-mib must be at least 1"}
	}
	if *dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("no place for stored data: %w (use --dir)", err)
		}
		*dir = filepath.Join(cfg, "btspeed", "storage")
	}
	key, err := c.unlockWallet(*walletFile)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	url := w.ledgerURL(c)
	lc := client.New(url, nil)
	info, err := lc.Info(ctx)
	if err != nil {
		return fmt.Errorf("ledger at %s: %w", url, err)
	}
	p, err := store.NewProvider(store.ProviderConfig{Key: key, Ledger: lc, LedgerID: info.Ledger, Dir: *dir,
		Quota: *quota << 20, AccountQuota: *accountQuota << 20, MinPrice: minPrice, Rate: minRate,
		Log: slog.New(slog.NewTextHandler(c.err, nil))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return human(err, "cannot listen on %s: name another address with --listen", *listen)
	}
	fmt.Fprintf(c.out, "storage provider on %s for %s on ledger %s, data in %s\n", ln.Addr(), key.Address(), info.Ledger, *dir)
	return p.Serve(ctx, ln)
}
