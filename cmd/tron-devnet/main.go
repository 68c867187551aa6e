// Command tron-devnet runs btspeed's TRON development network alone
// (package tron/devnet): TRON's HTTP API at /wallet/... and its gRPC API,
// with a BTT TRC-10 token. A ledger connects to it with -tron
// grpc://ADDRESS; the relay and the ledger can also embed it (-tron
// devnet).
//
// Its genesis gives the development exchange's account (ledger/genesis
// DevExchangeKey) 1,000,000 TRX and the development backing in BTT, and
// the -fund accounts what they list. With -block manual, blocks are made
// only by POST /devnet/block, for tests that need to know when.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/btspeed/btspeed/server/daemon"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tron-devnet:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tron-devnet", flag.ContinueOnError)
	var listen, grpcAddr, data, block, token, fund string
	daemon.EnvFlag(fs, &listen, "listen", "BTSPEED_TRON_LISTEN", "127.0.0.1:8090", "where to serve TRON's HTTP API")
	daemon.EnvFlag(fs, &grpcAddr, "grpc", "BTSPEED_TRON_GRPC", "127.0.0.1:50051", "where to serve TRON's gRPC API")
	daemon.EnvFlag(fs, &data, "data", "BTSPEED_TRON_DATA", ".btspeed/tron", "directory for the chain's file")
	daemon.EnvFlag(fs, &block, "block", "BTSPEED_TRON_BLOCK", "3s", "time between blocks, or manual (POST /devnet/block)")
	daemon.EnvFlag(fs, &token, "token", "BTSPEED_TRON_TOKEN", "1002000", "BTT's TRC-10 token id")
	daemon.EnvFlag(fs, &fund, "fund", "BTSPEED_TRON_FUND", "", "genesis accounts, comma-separated ADDRESS:TRX:BTT (decimal amounts)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	d := tronsetup.Devnet{Path: filepath.Join(data, "tron.db"), Token: token, GRPC: grpcAddr, Exchange: true}
	manual := block == "manual"
	if manual {
		d.Block = 100_000 * time.Hour
	} else {
		var err error
		if d.Block, err = time.ParseDuration(block); err != nil || d.Block <= 0 {
			return fmt.Errorf("-block %q: want a duration or manual", block)
		}
	}
	var err error
	if d.Funded, err = parseFund(fund); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tron, err := tronsetup.StartDevnet(d, log)
	if err != nil {
		return err
	}
	defer tron.Close()
	mux := http.NewServeMux()
	mux.Handle("/", tron.HTTP)
	if manual {
		mux.HandleFunc("POST /devnet/block", func(w http.ResponseWriter, r *http.Request) {
			if err := tron.Chain.MakeBlock(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%d\n", tron.Chain.Head())
		})
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Printf("tron devnet gRPC on %s\n", tron.GRPCAddr)
	fmt.Printf("listening on http://%s\n", ln.Addr())
	return daemon.Serve(ctx, ln, mux, log, nil)
}

// parseFund reads ADDRESS:TRX:BTT,...
func parseFund(s string) ([]devnet.Account, error) {
	var out []devnet.Account
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("-fund %q: want ADDRESS:TRX:BTT", item)
		}
		a, err := wallet.ParseAddress(parts[0])
		if err != nil {
			return nil, fmt.Errorf("-fund %q: %w", item, err)
		}
		trx, err := speed.ParseBTT(parts[1]) // TRX has 6 decimals too
		if err != nil {
			return nil, fmt.Errorf("-fund %q: TRX: %w", item, err)
		}
		btt, err := speed.ParseBTT(parts[2])
		if err != nil {
			return nil, fmt.Errorf("-fund %q: BTT: %w", item, err)
		}
		if trx > 1<<62 || btt > 1<<62 {
			return nil, fmt.Errorf("-fund %q: too much", item)
		}
		out = append(out, devnet.Account{Address: a, TRX: int64(trx), Asset: int64(btt)})
	}
	return out, nil
}
