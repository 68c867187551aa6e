package sim

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Bank is the ledger a simulation runs on: the speed.Ledger every Speed
// session uses, plus what the simulator itself needs to set up and audit the
// books. The package knows no ledger implementation but memledger (the
// default); a real ledger is plugged in through Scenario.Bank.
type Bank interface {
	speed.Ledger
	// ID is the ledger id every Speed peer names in its requests.
	ID() string
	// Fund credits amount base units to account: a mint, or a transfer
	// from an account the bank controls.
	Fund(ctx context.Context, account wallet.Address, amount uint64) error
	// Check verifies the books: balances plus open deposits equal the
	// supply.
	Check(ctx context.Context) error
	// Channels returns every channel, open and closed, whose payer or
	// payee is one of accounts.
	Channels(ctx context.Context, accounts []wallet.Address) ([]speed.Channel, error)
}

// memBank is the default Bank: a memledger.Ledger.
type memBank struct {
	id string
	l  *memledger.Ledger
}

var _ Bank = memBank{}

func (b memBank) ID() string { return b.id }

func (b memBank) Balance(ctx context.Context, a wallet.Address) (uint64, error) {
	return b.l.Balance(ctx, a)
}

func (b memBank) OpenChannel(ctx context.Context, req speed.SignedOpen) (speed.Channel, error) {
	return b.l.OpenChannel(ctx, req)
}

func (b memBank) Channel(ctx context.Context, id speed.ChannelID) (speed.Channel, error) {
	return b.l.Channel(ctx, id)
}

func (b memBank) CloseChannel(ctx context.Context, req speed.CloseRequest) (speed.Channel, error) {
	return b.l.CloseChannel(ctx, req)
}

func (b memBank) Fund(_ context.Context, a wallet.Address, amount uint64) error {
	b.l.Mint(a, amount)
	return nil
}

func (b memBank) Check(context.Context) error { return b.l.Check() }

func (b memBank) Channels(_ context.Context, accounts []wallet.Address) ([]speed.Channel, error) {
	var out []speed.Channel
	for _, ch := range b.l.Channels() {
		if slices.Contains(accounts, ch.Payer) || slices.Contains(accounts, ch.Payee) {
			out = append(out, ch)
		}
	}
	return out, nil
}

// ProviderKind is what kind of seed a provider is.
type ProviderKind int

// Provider kinds.
const (
	HonestProvider ProviderKind = iota
	BadDataProvider
	LegacySeed
	Overcharger
)

func (k ProviderKind) String() string {
	switch k {
	case HonestProvider:
		return "honest"
	case BadDataProvider:
		return "bad-data"
	case LegacySeed:
		return "legacy"
	case Overcharger:
		return "overcharger"
	}
	return fmt.Sprintf("ProviderKind(%d)", int(k))
}

// RequesterKind is how a requester behaves.
type RequesterKind int

// Requester kinds.
const (
	HonestRequester RequesterKind = iota
	NonPayer
	LegacyRequester
)

func (k RequesterKind) String() string {
	switch k {
	case HonestRequester:
		return "honest"
	case NonPayer:
		return "non-payer"
	case LegacyRequester:
		return "legacy"
	}
	return fmt.Sprintf("RequesterKind(%d)", int(k))
}

// ProviderSpec describes one seed.
type ProviderSpec struct {
	Name    string
	Kind    ProviderKind
	Reserve uint64 // choker reserve price, base units per MiB
}

// RequesterSpec describes one leecher.
type RequesterSpec struct {
	Name    string
	Kind    RequesterKind
	Balance uint64 // minted at the start (Speed requesters)
	// SpendingRate is the bidder's spending rate in ppm (HonestRequester);
	// 0 means bidder.DefaultSettings.
	SpendingRate uint32
	// MaxRate caps the bids of a HonestRequester, base units per MiB; 0
	// means no cap (the bare M5 formula; the engine's default is
	// bidder.DefaultMaxRate).
	MaxRate uint64
	// Market: a HonestRequester feeds a bidder.Market with the rates it
	// accepts and caps its bids at bidder.MarketMultiple times it.
	Market bool
	// MarketPrior, with Market, is a rate the requester saw before the run
	// (on other torrents), observed at the start.
	MarketPrior uint64
	// FixedBid is what a NonPayer bids to every Speed provider.
	FixedBid uint64
	// JoinAt is the step at which it connects to the swarm (0: at once).
	JoinAt int
}

// Scenario is one simulation's parameters. Zero fields take the defaults
// documented on each.
type Scenario struct {
	Seed     uint64
	Pieces   int    // default 48
	PieceLen uint64 // default 256 KiB
	BlockLen uint64 // default 16 KiB
	// Capacity is each provider's upload per step (one second), in bytes;
	// default 512 KiB.
	Capacity uint64
	// Delay is how many steps a message takes (at least 1; default 1).
	Delay int
	// RoundInterval is the choking round period in steps (default 10).
	RoundInterval int
	// MaxSteps bounds the run (default 3 simulated hours).
	MaxSteps int
	// Choker slots of every provider (defaults 4 and 1, as the spec; a
	// negative Optimistic means none).
	Slots, Optimistic int
	// FinishPieceOnChoke: a provider completes a piece in flight before
	// choking the requester (see the package documentation).
	FinishPieceOnChoke bool
	// Requester channel deposit in pieces (0: the speed package default).
	DepositPieces uint64
	// Provider timings (0: the speed package defaults).
	PaymentTimeout time.Duration
	MaxStrikes     int

	// Start is the simulated time at step 0 (zero: the package's Start).
	// A scenario on a real ledger starts at the real time, so that channel
	// deadlines (simulated now plus their ttl) are valid on the ledger's
	// clock.
	Start time.Time
	// Bank builds the ledger the run uses, given the simulated clock; nil
	// means a memledger.Ledger named LedgerID reading that clock.
	Bank func(now func() time.Time) (Bank, error)

	Providers  []ProviderSpec
	Requesters []RequesterSpec
}

// TwoPeers is the smallest market that moves money: one honest Speed
// provider "S" with a reserve price of 200,000 base units per MiB and one
// Speed requester "R" of kind (HonestRequester or NonPayer) holding 100 BTT,
// over the default torrent (48 pieces of 256 KiB). The honest requester wins
// a paid slot every round at the reserve price and pays for every piece on
// channels of 10 pieces' deposit it opens (the last one is left with 2
// pieces' worth to refund); a non-payer bids 1 BTT per MiB, gets one piece,
// never pays and is banned. Either is over within minutes of simulated time,
// so the scenario also runs on a real ledger (cmd/ledger's tests).
func TwoPeers(seed uint64, kind RequesterKind) Scenario {
	return Scenario{
		Seed:               seed,
		FinishPieceOnChoke: true,
		DepositPieces:      10,
		Providers:          []ProviderSpec{{Name: "S", Kind: HonestProvider, Reserve: 200_000}},
		Requesters: []RequesterSpec{{Name: "R", Kind: kind, Balance: 100 * speed.BaseUnitsPerBTT,
			FixedBid: speed.BaseUnitsPerBTT}},
	}
}

func (sc Scenario) withDefaults() Scenario {
	if sc.Pieces == 0 {
		sc.Pieces = 48
	}
	if sc.PieceLen == 0 {
		sc.PieceLen = 256 << 10
	}
	if sc.BlockLen == 0 {
		sc.BlockLen = 16 << 10
	}
	if sc.Capacity == 0 {
		sc.Capacity = 512 << 10
	}
	if sc.Delay < 1 {
		sc.Delay = 1
	}
	if sc.RoundInterval <= 0 {
		sc.RoundInterval = 10
	}
	if sc.MaxSteps == 0 {
		sc.MaxSteps = 3 * 3600
	}
	if sc.Slots == 0 {
		sc.Slots = 4
	}
	if sc.Start.IsZero() {
		sc.Start = Start
	}
	switch {
	case sc.Optimistic == 0:
		sc.Optimistic = 1
	case sc.Optimistic < 0:
		sc.Optimistic = 0
	}
	return sc
}
