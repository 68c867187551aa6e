//go:build !js

package tronsetup

import (
	"context"
	"fmt"

	"github.com/btspeed/btspeed/shared/wallet"
	"google.golang.org/protobuf/proto"
)

// DevFaucetTRX is the test TRX (sun) the embedded devnet sends with each
// faucet grant, for the fees of a deposit back from TRON: 10 TRX.
const DevFaucetTRX = 10 * 1_000_000

// FaucetTRX is the ledger's FaucetTRX (ledger.Config) for this TRON side:
// on the embedded devnet, with the development exchange's key (which holds
// the devnet's TRX), it sends DevFaucetTRX to the claimer's address; with
// any other TRON (a real network, whose TRX is real money) it is nil.
func (t *TRON) FaucetTRX() func(ctx context.Context, to wallet.Address) (uint64, error) {
	if t.Chain == nil || t.Node == nil || t.key == nil || t.Policy == nil || !t.Policy.Devnet {
		return nil
	}
	return func(ctx context.Context, to wallet.Address) (uint64, error) {
		ext, err := t.Node.Transfer(t.key.Address().String(), to.String(), DevFaucetTRX)
		if err != nil {
			return 0, fmt.Errorf("devnet TRX to %s: building the transfer: %w", to, err)
		}
		raw, err := proto.Marshal(ext.GetTransaction().GetRawData())
		if err != nil {
			return 0, fmt.Errorf("devnet TRX to %s: %w", to, err)
		}
		_, sig := t.key.SignTransaction(raw)
		ext.Transaction.Signature = [][]byte{sig[:]}
		if _, err := t.Node.Broadcast(ext.Transaction); err != nil {
			return 0, fmt.Errorf("devnet TRX to %s: broadcasting: %w", to, err)
		}
		return DevFaucetTRX, nil
	}
}
