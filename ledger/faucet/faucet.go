// Package faucet is the ledger's faucet (mechanic M27): a new user gets a
// small starting balance, paid from the genesis "ecosystem" account, by
// proving some work instead of paying. The package holds the puzzle, its
// solver (used by the command-line client and, compiled to WebAssembly, by
// the browser) and the per-network-address rate limit; the ledger keeps the
// once-per-account-per-period record.
//
// # The puzzle
//
// Time is cut into periods of Params.Period (24 hours by default), numbered
// from the Unix epoch. Each period of each ledger has a challenge,
//
//	challenge = sha256("btspeed/faucet/v1\x00" || uvarint(len(ledgerID)) || ledgerID || period)
//
// which anyone can compute without asking the server. A solution for account
// is a nonce such that
//
//	work = sha256(challenge || account || nonce)
//
// starts with at least Params.Difficulty zero bits (period and nonce are 8
// bytes big endian, account the 21-byte TRON address). Because the account
// is inside the hash, a solution found for one account is worthless for
// another, and because the ledger id and period are inside the challenge, it
// is worthless on another ledger or in another period. The ledger accepts
// one solution per account per period, for the current period only: were
// the previous period's solutions accepted too, an account could claim
// twice within moments (the previous period's grant just after a boundary,
// then the current one's). A client whose solution crossed a boundary
// (rare: periods are a day, solving takes seconds) solves the new
// challenge.
//
// # The costs
//
// Finding a solution takes 2^Difficulty hashes on average (the number of
// tries is geometric: some users are lucky, a few take several times as
// long); checking one takes a single hash. Measured with BenchmarkWork on
// one core of a 2-core x86-64 server (Go 1.26, whose sha256 uses the CPU's
// SHA extensions), Work costs about 160 ns natively, about 6 million hashes
// per second, so the default difficulty of 20 takes about 2^20 × 160 ns ≈
// 0.17 s on average. Compiled to WebAssembly (Node.js, same machine) Work
// costs about 1.8 µs, so a browser needs about 2 s. Difficulty is bounded to
// 1..40: at 40 a solution costs about 2^40 hashes, two days of one core.
//
// The work only makes a grant cost something; it does not stop a determined
// farmer with many keys. The ledger therefore also limits grants per network
// address with a Limiter: IPv4 addresses individually and IPv6 addresses by
// their /64 prefix.
package faucet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
)

// MaxDifficulty is the largest difficulty Params accepts.
const MaxDifficulty = 40

// Params configure the faucet. The zero value is not valid: start from
// DefaultParams.
type Params struct {
	// Difficulty is the number of leading zero bits a solution's Work
	// needs, 1..MaxDifficulty. Solving takes 2^Difficulty hashes on
	// average; the default 20 is about a million.
	Difficulty uint8
	// Period is how often an account may claim: one grant per account
	// per period. It must be a whole number of seconds, at least one.
	// Default 24 hours.
	Period time.Duration
	// Amount is the grant in base units, non-zero. Default 100 BTT
	// (100,000,000 base units).
	Amount uint64
}

// DefaultParams returns difficulty 20, a 24-hour period and 100 BTT per
// grant.
func DefaultParams() Params {
	return Params{Difficulty: 20, Period: 24 * time.Hour, Amount: 100 * 1_000_000}
}

// Validate reports whether p is usable: Difficulty in 1..MaxDifficulty,
// Period a positive whole number of seconds, Amount non-zero.
func (p Params) Validate() error {
	switch {
	case p.Difficulty < 1 || p.Difficulty > MaxDifficulty:
		return fmt.Errorf("faucet: difficulty %d bits, want 1..%d", p.Difficulty, MaxDifficulty)
	case p.Period < time.Second || p.Period%time.Second != 0:
		return fmt.Errorf("faucet: period %v, want a positive whole number of seconds", p.Period)
	case p.Amount == 0:
		return errors.New("faucet: amount is zero")
	}
	return nil
}

// PeriodOf returns the index of the period t falls in:
// floor(t.Unix() / Period in seconds). Times before 1970 are in period 0,
// and so is every time when Period is under a second (an invalid Params).
func (p Params) PeriodOf(t time.Time) uint64 {
	secs := int64(p.Period / time.Second)
	u := t.Unix()
	if secs <= 0 || u < 0 {
		return 0
	}
	return uint64(u / secs)
}

// challengeDomain starts every challenge, so that its hash can never be
// mistaken for another sha256 btspeed computes.
const challengeDomain = "btspeed/faucet/v1\x00"

// Challenge returns what solutions for ledgerID in period must hash:
// sha256("btspeed/faucet/v1\x00" || uvarint(len(ledgerID)) || ledgerID ||
// period as 8 bytes big endian). It needs no server state: anyone can
// compute it for the current period.
func Challenge(ledgerID string, period uint64) [32]byte {
	b := make([]byte, 0, len(challengeDomain)+binary.MaxVarintLen64+len(ledgerID)+8)
	b = append(b, challengeDomain...)
	b = binary.AppendUvarint(b, uint64(len(ledgerID)))
	b = append(b, ledgerID...)
	b = binary.BigEndian.AppendUint64(b, period)
	return sha256.Sum256(b)
}

// workLen is the length of Work's input: challenge, account, nonce.
const workLen = 32 + wallet.AddressLen + 8

// Work returns sha256(challenge || account (21 bytes) || nonce (8 bytes big
// endian)). A solution is a nonce whose Work has at least Difficulty leading
// zero bits. The account is inside the hash, so a solution cannot be stolen
// for another account.
func Work(challenge [32]byte, account wallet.Address, nonce uint64) [32]byte {
	var b [workLen]byte
	putWork(&b, challenge, account)
	binary.BigEndian.PutUint64(b[workLen-8:], nonce)
	return sha256.Sum256(b[:])
}

// putWork writes the fixed part of Work's input.
func putWork(b *[workLen]byte, challenge [32]byte, account wallet.Address) {
	copy(b[:32], challenge[:])
	copy(b[32:], account[:])
}

// LeadingZeroBits returns the number of leading zero bits of h, most
// significant bit of h[0] first: 0..256.
func LeadingZeroBits(h [32]byte) int {
	for i := 0; i < len(h); i += 8 {
		if w := binary.BigEndian.Uint64(h[i:]); w != 0 {
			return i*8 + bits.LeadingZeros64(w)
		}
	}
	return 256
}

// Errors Verify returns, wrapped with details.
var (
	ErrInsufficientWork = errors.New("faucet: proof of work below the required difficulty")
	// ErrWrongPeriod: only the current period is accepted.
	ErrWrongPeriod = errors.New("faucet: solution for another period")
)

// Verify checks the solution nonce for account in period at time now: the
// period must be PeriodOf(now), and Work(Challenge(ledgerID,
// period), account, nonce) must have at least Difficulty leading zero bits.
// It returns an error wrapping ErrWrongPeriod or ErrInsufficientWork, or
// p.Validate's error. Whether the account already had a grant in period is
// the ledger's business.
func (p Params) Verify(ledgerID string, account wallet.Address, period, nonce uint64, now time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	cur := p.PeriodOf(now)
	if period != cur {
		return fmt.Errorf("%w: period %d, the current one is %d", ErrWrongPeriod, period, cur)
	}
	if z := LeadingZeroBits(Work(Challenge(ledgerID, period), account, nonce)); z < int(p.Difficulty) {
		return fmt.Errorf("%w: %d leading zero bits, need %d", ErrInsufficientWork, z, p.Difficulty)
	}
	return nil
}

// ErrExhausted is returned by Solve when it tried every nonce from start to
// 2^64-1 without success, which at a sane difficulty means start was
// close to 2^64.
var ErrExhausted = errors.New("faucet: no solution between the start nonce and 2^64-1")

// ProgressInterval is how many tries Solve makes between calls of its
// progress function and checks of its context.
const ProgressInterval = 1 << 16

// Solve searches nonces from start upward until one whose Work has at least
// difficulty leading zero bits, and returns it. Every ProgressInterval
// (65,536) tries it calls progress (which may be nil) with the number of
// nonces tried so far, checks ctx, returning ctx.Err() when ctx is done, and
// yields the processor, so that on single-threaded WebAssembly timers (and
// so context deadlines) and other goroutines still run. The command-line
// client and the browser use it; to use several cores, run several Solves
// from start values far apart.
func Solve(ctx context.Context, challenge [32]byte, account wallet.Address, difficulty uint8, start uint64, progress func(tries uint64)) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var b [workLen]byte
	putWork(&b, challenge, account)
	nb := b[workLen-8:]
	d := int(difficulty)
	var tries uint64
	for nonce := start; ; nonce++ {
		binary.BigEndian.PutUint64(nb, nonce)
		if LeadingZeroBits(sha256.Sum256(b[:])) >= d {
			return nonce, nil
		}
		tries++
		if nonce == math.MaxUint64 {
			return 0, ErrExhausted
		}
		if tries%ProgressInterval == 0 {
			if progress != nil {
				progress(tries)
			}
			runtime.Gosched()
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
}
