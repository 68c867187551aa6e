// Package devnettest helps tests run the TRON devnet: a settable clock,
// and the chain's gRPC service on loopback with gotron-sdk's own client
// connected to it.
package devnettest

import (
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// Clock is a settable clock for devnet.Config.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Serve serves c's gRPC API on loopback until the test ends and returns
// gotron-sdk's client connected to it, and the address.
func Serve(t testing.TB, c *devnet.Chain) (*client.GrpcClient, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	c.Register(s)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	gc := client.NewGrpcClientWithTimeout(ln.Addr().String(), 10*time.Second)
	if err := gc.Start(grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gc.Stop)
	return gc, ln.Addr().String()
}

// SendToken has the node build a TRC-10 transfer of amount of token from
// k's address to to, signs it with k and broadcasts it, as a wallet does;
// it returns the transaction id (hex).
func SendToken(t testing.TB, gc *client.GrpcClient, k *wallet.PrivateKey, to wallet.Address, token string, amount int64) string {
	t.Helper()
	ext, err := gc.TransferAsset(k.Address().String(), to.String(), token, amount)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(ext.Transaction.RawData)
	if err != nil {
		t.Fatal(err)
	}
	txid, sig := k.SignTransaction(raw)
	ext.Transaction.Signature = [][]byte{sig[:]}
	if _, err := gc.Broadcast(ext.Transaction); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(txid[:])
}
