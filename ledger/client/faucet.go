package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/faucet"
	"github.com/btspeed/btspeed/shared/wallet"
)

// ClaimFaucet solves the faucet's current challenge for key's account,
// signs the claim and submits it; progress (may be nil) hears the tries now
// and then. It returns the challenge too, for its period's end.
//
// The search starts at a random nonce: a claim identical to an earlier one
// would be answered as that claim's retry (its grant again, nothing new),
// not refused as a second claim (faucet_claimed).
func (c *Client) ClaimFaucet(ctx context.Context, key *wallet.PrivateKey, progress func(tries uint64)) (api.FaucetResult, api.FaucetInfo, error) {
	info, err := c.FaucetInfo(ctx)
	if err != nil {
		return api.FaucetResult{}, info, err
	}
	raw, err := hex.DecodeString(info.Challenge)
	if err != nil || len(raw) != 32 || info.Difficulty < 0 || info.Difficulty > 64 {
		return api.FaucetResult{}, info, fmt.Errorf("ledger client: the faucet sent a malformed challenge %q (difficulty %d)", info.Challenge, info.Difficulty)
	}
	nonce, err := faucet.Solve(ctx, [32]byte(raw), key.Address(), uint8(info.Difficulty), rand.Uint64(), progress)
	if err != nil {
		return api.FaucetResult{}, info, err
	}
	req, err := api.FaucetClaim{Ledger: info.Ledger, Account: key.Address(), Period: uint64(info.Period), Nonce: nonce}.Sign(key)
	if err != nil {
		return api.FaucetResult{}, info, err
	}
	res, err := c.Faucet(ctx, req)
	return res, info, err
}
