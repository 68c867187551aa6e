package engine

import (
	"errors"
	"math/bits"
)

// bitfield is a fixed-size set of piece (or block) indexes.
type bitfield struct {
	words []uint64
	n     int // number of bits
	count int // number of set bits
}

func newBitfield(n int) bitfield {
	return bitfield{words: make([]uint64, (n+63)/64), n: n}
}

// Len returns the number of bits.
func (b *bitfield) Len() int { return b.n }

// Count returns the number of set bits.
func (b *bitfield) Count() int { return b.count }

// Full says every bit is set.
func (b *bitfield) Full() bool { return b.count == b.n }

func (b *bitfield) Get(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	return b.words[i/64]&(1<<(i%64)) != 0
}

// Set sets bit i and says whether it changed.
func (b *bitfield) Set(i int) bool {
	if i < 0 || i >= b.n || b.Get(i) {
		return false
	}
	b.words[i/64] |= 1 << (i % 64)
	b.count++
	return true
}

// Clear clears bit i and says whether it changed.
func (b *bitfield) Clear(i int) bool {
	if !b.Get(i) {
		return false
	}
	b.words[i/64] &^= 1 << (i % 64)
	b.count--
	return true
}

// SetAll sets every bit.
func (b *bitfield) SetAll() {
	for i := range b.words {
		b.words[i] = ^uint64(0)
	}
	if r := b.n % 64; r != 0 {
		b.words[len(b.words)-1] = 1<<r - 1
	}
	b.count = b.n
}

// AnyNotIn says whether some bit set in b is clear in other (same length).
func (b *bitfield) AnyNotIn(other *bitfield) bool {
	for i, w := range b.words {
		if w&^other.words[i] != 0 {
			return true
		}
	}
	return false
}

// Wire returns the BEP 3 encoding: bit 0 is the high bit of the first byte.
func (b *bitfield) Wire() []byte {
	out := make([]byte, (b.n+7)/8)
	for i := range out {
		w := b.words[i/8] >> (8 * (i % 8))
		out[i] = bits.Reverse8(byte(w))
	}
	return out
}

// errBitfieldSpare is returned for a bitfield with bits set past the last
// piece, which BEP 3 says a peer must drop the connection for.
var errBitfieldSpare = errors.New("bitfield has spare bits set")

// bitfieldFromBools builds a bitfield of n bits from a decoded wire
// bitfield (anacrolix's decoder gives a bool per bit, padded to whole bytes).
func bitfieldFromBools(bools []bool, n int) (bitfield, error) {
	b := newBitfield(n)
	if len(bools) != (n+7)/8*8 {
		return b, errors.New("bitfield length does not match the piece count")
	}
	for i, v := range bools {
		if !v {
			continue
		}
		if i >= n {
			return b, errBitfieldSpare
		}
		b.Set(i)
	}
	return b, nil
}
