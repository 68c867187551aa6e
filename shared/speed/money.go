package speed

import "math/bits"

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
