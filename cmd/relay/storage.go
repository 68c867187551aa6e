package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/server/daemon"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
)

// storageFlags make the relay a storage provider (docs/speed-protocol.md
// section 12), off unless -store-listen is set; it needs -wallet.
type storageFlags struct {
	listen, quota, accountQuota, price, rate string
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	daemon.EnvFlag(fs, &s.listen, "store-listen", "BTSPEED_RELAY_STORE_LISTEN", "", "TCP address to be a paid storage provider on, for -wallet's account (default: off)")
	daemon.EnvFlag(fs, &s.quota, "store-quota-mib", "BTSPEED_RELAY_STORE_QUOTA_MIB", "1024", "MiB of disk under DATA/storage that storage may use in all")
	daemon.EnvFlag(fs, &s.accountQuota, "store-account-quota-mib", "BTSPEED_RELAY_STORE_ACCOUNT_QUOTA_MIB", "256", "MiB one requester may store")
	daemon.EnvFlag(fs, &s.price, "store-price", "BTSPEED_RELAY_STORE_PRICE", "0", "the least BTT per MiB per period a storage contract must pay")
	daemon.EnvFlag(fs, &s.rate, "store-rate", "BTSPEED_RELAY_STORE_RATE", "0", "the least BTT per MiB retrieved")
}

// start opens the provider and its listener; the returned loop serves it
// until its context ends (it does nothing when storage is off). It is paid
// on the embedded ledger, or the one at ledgerURL.
func (s *storageFlags) start(ctx context.Context, cfg relay.Config, ledgerURL, data string, log *slog.Logger) (serve func(context.Context), addr string, err error) {
	if s.listen == "" {
		return func(context.Context) {}, "", nil
	}
	key := cfg.Key
	if key == nil {
		return nil, "", fmt.Errorf("-store-listen needs -wallet: the account storage is paid to")
	}
	quota, err1 := strconv.ParseUint(s.quota, 10, 32)
	accountQuota, err2 := strconv.ParseUint(s.accountQuota, 10, 32)
	if err1 != nil || err2 != nil || quota == 0 || accountQuota == 0 {
		return nil, "", fmt.Errorf("-store-quota-mib %q and -store-account-quota-mib %q: want MiB, at least 1", s.quota, s.accountQuota)
	}
	price, err := speed.ParseBTT(s.price)
	if err != nil {
		return nil, "", fmt.Errorf("-store-price: %w", err)
	}
	rate, err := speed.ParseBTT(s.rate)
	if err != nil {
		return nil, "", fmt.Errorf("-store-rate: %w", err)
	}
	var ledger speed.Ledger
	var ledgerID string
	if cfg.Ledger != nil {
		ledger, ledgerID = cfg.Ledger, cfg.Ledger.ID()
	} else {
		lc := client.New(ledgerURL, nil)
		info, err := lc.Info(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("storage: ledger at %s: %w", ledgerURL, err)
		}
		ledger, ledgerID = lc, info.Ledger
	}
	p, err := store.NewProvider(store.ProviderConfig{Key: key, Ledger: ledger, LedgerID: ledgerID, Dir: filepath.Join(data, "storage"),
		Quota: quota << 20, AccountQuota: accountQuota << 20, MinPrice: price, Rate: rate, Log: log.With("service", "storage")})
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return nil, "", fmt.Errorf("-store-listen: %w", err)
	}
	return func(ctx context.Context) {
		if err := p.Serve(ctx, ln); err != nil {
			log.Error("storage provider", "err", err)
		}
	}, ln.Addr().String(), nil
}
