package speed

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Money is integer base units of BTT (1 BTT = 1,000,000 base units, M7).
// Rates are base units per MiB (1,048,576 bytes) of piece data. The total BTT
// supply, 990e9 BTT = 9.9e17 base units, fits a uint64 with room to spare.

// BaseUnitsPerBTT is the number of base units in one BTT.
const BaseUnitsPerBTT = 1_000_000

// MiB is the amount of data a rate is quoted for.
const MiB = 1 << 20

// MaxRate is the largest rate, in base units per MiB, any message may carry:
// about 1.1 million BTT per MiB, far beyond any real price, and small enough
// that rate x bytes never overflows the 128-bit accumulators used here.
const MaxRate = 1 << 40

// Charge accumulates rate x bytes exactly, in 128 bits, for the blocks of one
// piece that one provider delivered; Due converts it to base units. Both
// peers of a connection keep the same Charge for a piece because they apply
// the same rates to the same blocks in the same (stream) order.
type Charge struct {
	hi, lo uint64
}

// Add records bytes delivered at rate (base units per MiB).
func (c *Charge) Add(rate, bytes uint64) {
	h, l := bits.Mul64(rate, bytes)
	var carry uint64
	c.lo, carry = bits.Add64(c.lo, l, 0)
	c.hi, _ = bits.Add64(c.hi, h, carry)
}

// Due is floor(sum of rate x bytes / MiB), saturating at the largest uint64.
func (c Charge) Due() uint64 {
	if c.hi >= 1<<20 {
		return ^uint64(0)
	}
	return c.hi<<44 | c.lo>>20
}

// IsZero reports whether nothing has been charged.
func (c Charge) IsZero() bool { return c.hi == 0 && c.lo == 0 }

// Price is what bytes cost at rate: floor(rate x bytes / MiB).
func Price(rate, bytes uint64) uint64 {
	var c Charge
	c.Add(rate, bytes)
	return c.Due()
}

// ParseBTT parses a decimal amount of BTT ("1", "0.25", "12.000001") into
// base units, exactly: at most 6 decimals, no sign, no exponent, no
// overflow.
func ParseBTT(s string) (uint64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && (!dot || frac == "") {
		return 0, fmt.Errorf("speed: %q is not an amount of BTT", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("speed: %q has more than 6 decimals (the smallest amount is 0.000001 BTT)", s)
	}
	digits := func(d string) bool {
		for _, r := range d {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	if !digits(whole) || !digits(frac) || (dot && frac == "") {
		return 0, fmt.Errorf("speed: %q is not an amount of BTT", s)
	}
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("speed: %q: %w", s, err)
		}
	}
	f := uint64(0)
	if frac != "" {
		v, _ := strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		f = v
	}
	hi, lo := bits.Mul64(w, BaseUnitsPerBTT)
	sum, carry := bits.Add64(lo, f, 0)
	if hi != 0 || carry != 0 {
		return 0, fmt.Errorf("speed: %q BTT overflows", s)
	}
	return sum, nil
}

// FormatBTT formats base units as BTT with six decimals ("0.125000").
func FormatBTT(units uint64) string {
	return fmt.Sprintf("%d.%06d", units/BaseUnitsPerBTT, units%BaseUnitsPerBTT)
}
