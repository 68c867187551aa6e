package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/tron/deposit"
	"github.com/btspeed/btspeed/tron/txcheck"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

func runTron(c *cli, args []string) error {
	return dispatch(c, "btspeed tron", []command{
		{"balance", "print an address's TRX and BTT on TRON", tronBalance},
	}, args)
}

// tronNode connects gotron-sdk's client to --node: grpc://HOST:PORT
// (plain, for a local devnet) or grpcs://HOST:PORT (TLS, for public
// nodes), with an API key for TronGrid.
func tronNode(c *cli, node, apiKey string) (*client.GrpcClient, error) {
	var creds grpc.DialOption
	switch {
	case strings.HasPrefix(node, "grpc://"):
		creds = grpc.WithTransportCredentials(insecure.NewCredentials())
	case strings.HasPrefix(node, "grpcs://"):
		creds = grpc.WithTransportCredentials(credentials.NewTLS(nil))
	default:
		return nil, usageError{fmt.Sprintf("--node %q: want grpc://HOST:PORT or grpcs://HOST:PORT", node)}
	}
	addr := node[strings.Index(node, "://")+3:]
	gc := client.NewGrpcClientWithTimeout(addr, 15*time.Second)
	if apiKey != "" {
		if err := gc.SetAPIKey(apiKey); err != nil {
			return nil, err
		}
	}
	if err := gc.Start(creds); err != nil {
		return nil, fmt.Errorf("TRON node %s: %w", node, err)
	}
	return gc, nil
}

func tronBalance(c *cli, args []string) error {
	fs := c.newFlags("balance", "btspeed tron balance [ADDRESS] [--wallet FILE] [--relay URL | --node grpc://HOST:PORT] [--token ID] [--api-key KEY] [--json]")
	var w where
	w.register(fs, false, true)
	walletFile := fs.String("wallet", "", "keystore whose address to read, without unlocking it (default $"+envWallet+" or the installed wallet)")
	token := fs.String("token", firstNonEmpty(c.getenv("BTSPEED_TRON_TOKEN"), "1002000"), "BTT's TRC-10 token id ($BTSPEED_TRON_TOKEN)")
	apiKey := fs.String("api-key", c.getenv("TRON_PRO_API_KEY"), "TronGrid API key ($TRON_PRO_API_KEY)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	addr, err := c.addressArg(pos, *walletFile)
	if err != nil {
		return err
	}
	node, err := w.nodeURL(c)
	if err != nil {
		return err
	}
	gc, err := tronNode(c, node, *apiKey)
	if err != nil {
		return err
	}
	defer gc.Stop()
	acc, err := gc.GetAccount(addr.String())
	if err != nil && !strings.Contains(err.Error(), "account not found") {
		return fmt.Errorf("reading %s: %w", addr, err)
	}
	var trx, btt int64
	if acc != nil {
		trx, btt = acc.Balance, acc.AssetV2[*token]
	}
	if *asJSON {
		return json.NewEncoder(c.out).Encode(map[string]any{"address": addr.String(), "trx_sun": trx, "btt_units": btt,
			"trx": speed.FormatBTT(uint64(trx)), "btt": speed.FormatBTT(uint64(btt)), "token": *token})
	}
	// Both TRX (sun) and BTT have 6 decimals.
	fmt.Fprintf(c.out, "%s TRX\n%s BTT\n", speed.FormatBTT(uint64(trx)), speed.FormatBTT(uint64(btt)))
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// grpcNode is deposit.Node over gotron-sdk's gRPC client.
type grpcNode struct{ gc *client.GrpcClient }

func (n grpcNode) Build(ctx context.Context, t txcheck.Transfer) (deposit.Built, error) {
	ext, err := n.gc.TransferAssetCtx(ctx, t.From.String(), t.To.String(), t.Token, t.Amount)
	if err != nil {
		return deposit.Built{}, err
	}
	tx := ext.GetTransaction()
	raw, err := proto.Marshal(tx.GetRawData())
	if err != nil {
		return deposit.Built{}, fmt.Errorf("encoding the raw data the node built: %w", err)
	}
	// The node's txid is checked against the raw data it sent.
	return deposit.Built{TxID: hex.EncodeToString(ext.GetTxid()), RawHex: hex.EncodeToString(raw), Tx: tx}, nil
}

func (n grpcNode) Head(ctx context.Context) (time.Time, error) {
	b, err := n.gc.GetNowBlockCtx(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(b.GetBlockHeader().GetRawData().GetTimestamp()), nil
}

func (n grpcNode) Broadcast(ctx context.Context, b deposit.Built, sig []byte) (string, error) {
	tx := b.Tx.(*core.Transaction)
	tx.Signature = [][]byte{sig}
	_, err := n.gc.BroadcastCtx(ctx, tx)
	return "", err
}
