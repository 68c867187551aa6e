// Package genesis is btspeed's issuance (mechanic M26): the allocations the
// ledger writes once, when it starts on an empty store, and never again.
// Afterwards money only moves; it is neither created nor destroyed.
//
// The supply and its split reproduce BTT's: 990,000,000,000 BTT, that is
// TotalSupply = 990,000,000,000 × 1,000,000 base units, divided in per mille
// of the supply, each share computed exactly in integer base units as
// TotalSupply/1000 × per mille (TotalSupply is a multiple of 1000, and
// TotalSupply × per mille would overflow uint64):
//
//	name                per mille  share   BTT                 base units
//	public-sale              60    6%       59,400,000,000      59,400,000,000,000,000
//	private-sale             20    2%       19,800,000,000      19,800,000,000,000,000
//	seed-sale                90    9%       89,100,000,000      89,100,000,000,000,000
//	tron-airdrop            101   10.1%     99,990,000,000      99,990,000,000,000,000
//	bittorrent-airdrop      100   10%       99,000,000,000      99,000,000,000,000,000
//	team-foundation         190   19%      188,100,000,000     188,100,000,000,000,000
//	tron-foundation         200   20%      198,000,000,000     198,000,000,000,000,000
//	ecosystem               199   19.9%    197,010,000,000     197,010,000,000,000,000
//	partnership              40    4%       39,600,000,000      39,600,000,000,000,000
//	total                  1000  100%      990,000,000,000     990,000,000,000,000,000
//
// The shares add up to the supply exactly; Validate checks that and more of
// any genesis before the ledger writes it.
//
// The development network (Dev) gives allocation i, in the order above, to
// the key that the public recovery phrase DevMnemonic derives at TRON address
// index i (m/44'/195'/0'/0/i, no passphrase), so anyone can import the
// phrase into a wallet and hold every devnet account. The faucet (package
// ledger/faucet, mechanic M27) pays its grants from the "ecosystem" account
// (FaucetAllocation), index 7.
package genesis

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/btspeed/btspeed/shared/wallet"
)

// TotalSupply is the number of base units in existence: 990,000,000,000 BTT
// of 1,000,000 base units each.
const TotalSupply uint64 = 990_000_000_000 * 1_000_000

// perMilleUnit is the amount of one per mille of the supply.
const perMilleUnit = TotalSupply / 1000

// Allocation is one share of the supply and the account that receives it.
type Allocation struct {
	// Name identifies the share: "public-sale", "private-sale",
	// "seed-sale", "tron-airdrop", "bittorrent-airdrop",
	// "team-foundation", "tron-foundation", "ecosystem" or "partnership".
	Name string
	// PerMille is the share of TotalSupply in thousandths.
	PerMille uint64
	// Amount is the share in base units: TotalSupply/1000 × PerMille.
	Amount uint64
	// Account receives the Amount.
	Account wallet.Address
}

// FaucetAllocation names the allocation whose account pays the faucet's
// grants.
const FaucetAllocation = "ecosystem"

// DevMnemonic is the recovery phrase of the development network's genesis
// accounts. It is public on purpose: devnet money is worthless. Never send
// anything of value to an address it derives.
const DevMnemonic = "pool step rice wheel humor treat agent uncover canyon next green accuse"

// split is BTT's issuance, in the order of Dev's allocations and key
// indexes.
var split = [...]struct {
	name     string
	perMille uint64
}{
	{"public-sale", 60},
	{"private-sale", 20},
	{"seed-sale", 90},
	{"tron-airdrop", 101},
	{"bittorrent-airdrop", 100},
	{"team-foundation", 190},
	{"tron-foundation", 200},
	{FaucetAllocation, 199},
	{"partnership", 40},
}

// devKeys derives the dev keys once: every derivation runs BIP39's 2048
// rounds of PBKDF2, which is slow enough to matter in tests that call Dev
// many times.
var devKeys = sync.OnceValues(func() ([]*wallet.PrivateKey, error) {
	m, err := wallet.ParseMnemonic(DevMnemonic)
	if err != nil {
		return nil, fmt.Errorf("genesis: dev mnemonic: %w", err)
	}
	keys := make([]*wallet.PrivateKey, len(split))
	for i := range keys {
		if keys[i], err = m.DeriveKey("", uint32(i)); err != nil {
			return nil, fmt.Errorf("genesis: dev key %d: %w", i, err)
		}
	}
	return keys, nil
})

// Dev returns the development network genesis: the allocations in the order
// listed in the package documentation, allocation i going to the key
// DevMnemonic derives at index i with no passphrase. The faucet pays its
// grants from the FaucetAllocation ("ecosystem") account. Every call returns
// the same allocations in a new slice.
func Dev() ([]Allocation, error) {
	keys, err := devKeys()
	if err != nil {
		return nil, err
	}
	allocs := make([]Allocation, len(split))
	for i, s := range split {
		allocs[i] = Allocation{Name: s.name, PerMille: s.perMille, Amount: perMilleUnit * s.perMille, Account: keys[i].Address()}
	}
	return allocs, nil
}

// DevKeys returns the private keys of the dev allocations, for tests and
// tools, in the same order as Dev. The keys are shared between calls (a
// PrivateKey never changes); the slice is new.
func DevKeys() ([]*wallet.PrivateKey, error) {
	keys, err := devKeys()
	if err != nil {
		return nil, err
	}
	return append([]*wallet.PrivateKey(nil), keys...), nil
}

// Errors Validate wraps, one for each way a genesis can be wrong.
var (
	ErrEmpty     = errors.New("genesis: no allocations")
	ErrName      = errors.New("genesis: allocation name empty or repeated")
	ErrAccount   = errors.New("genesis: allocation account zero or repeated")
	ErrAmount    = errors.New("genesis: allocation amount does not match its share")
	ErrPerMille  = errors.New("genesis: shares do not add up to 1000 per mille")
	ErrSupplySum = errors.New("genesis: amounts do not add up to the total supply")
)

// Validate checks a genesis: at least one allocation; names non-empty and
// distinct; accounts non-zero and distinct; every PerMille in 1..1000 and
// every Amount exactly TotalSupply/1000 × PerMille (so none is zero);
// PerMille summing to 1000 and Amounts summing to TotalSupply. It does not
// require BTT's split: another network may divide the supply differently.
func Validate(allocs []Allocation) error {
	if len(allocs) == 0 {
		return ErrEmpty
	}
	names := make(map[string]bool, len(allocs))
	accounts := make(map[wallet.Address]bool, len(allocs))
	var perMille, sum uint64
	for i, a := range allocs {
		if a.Name == "" || names[a.Name] {
			return fmt.Errorf("%w: allocation %d %q", ErrName, i, a.Name)
		}
		names[a.Name] = true
		if a.Account.IsZero() || accounts[a.Account] {
			return fmt.Errorf("%w: %s %s", ErrAccount, a.Name, a.Account)
		}
		accounts[a.Account] = true
		if a.PerMille == 0 || a.PerMille > 1000 {
			return fmt.Errorf("%w: %s has %d per mille", ErrPerMille, a.Name, a.PerMille)
		}
		if want := perMilleUnit * a.PerMille; a.Amount != want {
			return fmt.Errorf("%w: %s has %d base units, %d per mille is %d", ErrAmount, a.Name, a.Amount, a.PerMille, want)
		}
		perMille += a.PerMille // at most len(allocs) × 1000: no overflow
		var carry uint64
		if sum, carry = bits.Add64(sum, a.Amount, 0); carry != 0 {
			return fmt.Errorf("%w: overflow at %s", ErrSupplySum, a.Name)
		}
	}
	if perMille != 1000 {
		return fmt.Errorf("%w: they add up to %d", ErrPerMille, perMille)
	}
	if sum != TotalSupply {
		return fmt.Errorf("%w: %d, want %d", ErrSupplySum, sum, TotalSupply)
	}
	return nil
}

// DevExchangeIndex is the index DevMnemonic derives the development
// exchange's key at: the TRON address that holds the development
// network's reserve and signs its withdrawals.
const DevExchangeIndex = 1000

// DevExchangeKey returns the development exchange's key (public, like every
// development key: never use it on a real network).
func DevExchangeKey() (*wallet.PrivateKey, error) {
	m, err := wallet.ParseMnemonic(DevMnemonic)
	if err != nil {
		return nil, fmt.Errorf("genesis: dev mnemonic: %w", err)
	}
	return m.DeriveKey("", DevExchangeIndex)
}
