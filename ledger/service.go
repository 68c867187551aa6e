package ledger

import (
	"errors"
	"fmt"

	"github.com/btspeed/btspeed/ledger/store"
	"github.com/btspeed/btspeed/shared/speed"
)

// A channel's service (speed.OpenRequest.Service: what it pays for) is kept
// in a record under the channel's id, written by Open for tagged channels
// only, and copied into the channel's history entries: the deposit when it
// opens, the payout and refund when it closes or times out.

// channelService returns the service the channel's open request named, ""
// for none.
func channelService(tx store.Tx, id speed.ChannelID) (string, error) {
	v, err := tx.Record(key(recService, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger: service of channel %s: %w", id, err)
	}
	return string(v), nil
}
