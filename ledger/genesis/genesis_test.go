package genesis

import (
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/btspeed/btspeed/shared/wallet"
)

const btt = 1_000_000

func TestTotalSupply(t *testing.T) {
	want := new(big.Int).Mul(big.NewInt(990_000_000_000), big.NewInt(btt))
	if new(big.Int).SetUint64(TotalSupply).Cmp(want) != 0 {
		t.Fatalf("TotalSupply %d, want %s", TotalSupply, want)
	}
}

func TestDevSplit(t *testing.T) {
	allocs, err := Dev()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(allocs); err != nil {
		t.Fatal(err)
	}
	// The published split, in percent, and the amounts in whole BTT,
	// written out independently of the per-mille table.
	want := []struct {
		name    string
		percent string
		btt     uint64
	}{
		{"public-sale", "6", 59_400_000_000},
		{"private-sale", "2", 19_800_000_000},
		{"seed-sale", "9", 89_100_000_000},
		{"tron-airdrop", "10.1", 99_990_000_000},
		{"bittorrent-airdrop", "10", 99_000_000_000},
		{"team-foundation", "19", 188_100_000_000},
		{"tron-foundation", "20", 198_000_000_000},
		{"ecosystem", "19.9", 197_010_000_000},
		{"partnership", "4", 39_600_000_000},
	}
	if len(allocs) != len(want) {
		t.Fatalf("%d allocations, want %d", len(allocs), len(want))
	}
	var sum uint64
	for i, w := range want {
		a := allocs[i]
		if a.Name != w.name {
			t.Errorf("allocation %d is %q, want %q", i, a.Name, w.name)
		}
		if a.Amount != w.btt*btt {
			t.Errorf("%s: %d base units, want %d BTT", a.Name, a.Amount, w.btt)
		}
		// Amount / TotalSupply must be exactly percent / 100.
		pct, ok := new(big.Rat).SetString(w.percent)
		if !ok {
			t.Fatal(w.percent)
		}
		got := new(big.Rat).SetFrac(new(big.Int).SetUint64(a.Amount), new(big.Int).SetUint64(TotalSupply))
		if got.Cmp(pct.Quo(pct, big.NewRat(100, 1))) != 0 {
			t.Errorf("%s: share %s of the supply, want %s%%", a.Name, got.FloatString(4), w.percent)
		}
		if a.Amount != TotalSupply/1000*a.PerMille {
			t.Errorf("%s: per mille %d does not match amount %d", a.Name, a.PerMille, a.Amount)
		}
		sum += a.Amount
	}
	if sum != TotalSupply {
		t.Fatalf("sum %d, want %d (off by %d)", sum, TotalSupply, int64(TotalSupply-sum))
	}
}

func TestDevAccounts(t *testing.T) {
	a1, err := Dev()
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Dev()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a1, a2) {
		t.Fatal("Dev differs between calls")
	}
	a2[0].Amount++ // callers get their own slice
	if a3, _ := Dev(); a3[0] != a1[0] {
		t.Fatal("Dev shares its slice between calls")
	}
	keys, err := DevKeys()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wallet.ParseMnemonic(DevMnemonic)
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != DevMnemonic || m.Words() != 12 {
		t.Fatalf("DevMnemonic is not a normalized 12-word phrase: %q", m)
	}
	seen := map[wallet.Address]bool{}
	for i, a := range a1 {
		if a.Account.IsZero() || seen[a.Account] {
			t.Fatalf("account %d %s zero or repeated", i, a.Account)
		}
		seen[a.Account] = true
		if keys[i].Address() != a.Account {
			t.Fatalf("key %d is %s, account %s", i, keys[i].Address(), a.Account)
		}
		if i < 2 || a.Name == FaucetAllocation { // derivation is slow; check a few
			k, err := m.DeriveKey("", uint32(i))
			if err != nil {
				t.Fatal(err)
			}
			if k.Address() != a.Account {
				t.Fatalf("%s: account %s, index %d derives %s", a.Name, a.Account, i, k.Address())
			}
		}
		t.Logf("%-18s %s %d", a.Name, a.Account, a.Amount)
	}
	if a1[7].Name != FaucetAllocation {
		t.Fatalf("allocation 7 is %q, want the faucet's", a1[7].Name)
	}
}

func TestValidateRejects(t *testing.T) {
	good, err := Dev()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func([]Allocation) []Allocation
		want   error
	}{
		{"empty", func([]Allocation) []Allocation { return nil }, ErrEmpty},
		{"amount changed", func(a []Allocation) []Allocation { a[3].Amount++; return a }, ErrAmount},
		{"amounts moved", func(a []Allocation) []Allocation { a[0].Amount--; a[1].Amount++; return a }, ErrAmount},
		{"zero amount", func(a []Allocation) []Allocation { a[2].Amount = 0; return a }, ErrAmount},
		{"duplicate account", func(a []Allocation) []Allocation { a[5].Account = a[1].Account; return a }, ErrAccount},
		{"zero account", func(a []Allocation) []Allocation { a[5].Account = wallet.Address{}; return a }, ErrAccount},
		{"duplicate name", func(a []Allocation) []Allocation { a[4].Name = a[0].Name; return a }, ErrName},
		{"empty name", func(a []Allocation) []Allocation { a[4].Name = ""; return a }, ErrName},
		{"missing entry", func(a []Allocation) []Allocation { return append(a[:4], a[5:]...) }, ErrPerMille},
		{"extra entry", func(a []Allocation) []Allocation {
			x := a[0]
			x.Name, x.Account[1] = "extra", x.Account[1]^1
			return append(a, x)
		}, ErrPerMille},
		{"per mille moved", func(a []Allocation) []Allocation {
			a[0].PerMille++
			a[0].Amount += perMilleUnit
			return a
		}, ErrPerMille},
		{"per mille zero", func(a []Allocation) []Allocation { a[0].PerMille, a[0].Amount = 0, 0; return a }, ErrPerMille},
		{"per mille huge", func(a []Allocation) []Allocation { a[0].PerMille = 1 << 60; return a }, ErrPerMille},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.change(slices.Clone(good))
			err := Validate(a)
			if !errors.Is(err, c.want) {
				t.Fatalf("Validate: %v, want %v", err, c.want)
			}
		})
	}
	if err := Validate(good); err != nil {
		t.Fatalf("the tests changed the original: %v", err)
	}
}

// A genesis with many entries whose per-mille values are each valid but add
// up to far more than 1000 must not wrap its sum of amounts around to
// TotalSupply.
func TestValidateOverflow(t *testing.T) {
	var allocs []Allocation
	for i := range 40 {
		var acct wallet.Address
		acct[0], acct[1] = wallet.AddressPrefix, byte(i+1)
		allocs = append(allocs, Allocation{Name: string(rune('a' + i)), PerMille: 1000, Amount: TotalSupply, Account: acct})
	}
	if err := Validate(allocs); err == nil {
		t.Fatal("accepted 40 whole supplies")
	}
}
