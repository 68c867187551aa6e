// Package sim is a deterministic, discrete-time simulation of one torrent's
// swarm running the Speed protocol, used by its tests to check the protocol's
// economic and safety properties end to end.
//
// # Model
//
// Time is a fake clock that advances one simulated second per Step; nothing
// sleeps and there are no goroutines. All randomness (choker tie-breaks and
// optimistic slots, piece picking) comes from math/rand/v2 PCG sources seeded
// from Scenario.Seed, and account keys are derived from the seed with sha256,
// so a scenario replays identically.
//
// The torrent has Scenario.Pieces pieces of PieceLen bytes, transferred in
// blocks of BlockLen bytes. No real data moves: a piece "verifies" unless it
// came from a bad-data provider.
//
// Providers are seeds (they hold every piece and never download):
//
//   - HonestProvider: a Speed provider. It runs choker.Round every
//     RoundInterval steps over the interested requesters that are neither
//     banned nor late (speed.ProviderSession.Late); Paid decisions are granted
//     at their rate, free ones (throughput, optimistic) at 0 for Speed peers;
//     legacy requesters get no Speed messages. A bid response goes out before
//     the unchoke whenever the rate in force changes (docs/speed-protocol.md
//     section 5.2), so both sides price every block identically. Each step it
//     calls Tick on every session: Choke chokes, Ban bans the account (a
//     speed.BanList) and disconnects, Close closes the channel and sends
//     ChannelClosing. Payments go to Receive; rejections are sent back.
//   - BadDataProvider: the same, but every piece it sends fails verification.
//   - LegacySeed: no Speed at all. It runs the same choker with every peer
//     presented as legacy (throughput and optimistic slots only).
//
// Requesters are leechers that want every piece and upload nothing:
//
//   - HonestRequester: bids with a bidder.Bidder (balance = its ledger
//     balance, remaining = bytes not yet verified) to every connected Speed
//     provider, accepts bid responses, records received blocks, pays after
//     each verified piece, handles rejections and channel closings, and bans
//     (disconnects) a provider whose piece fails verification. When a payment
//     fails with speed.ErrCannotPay it withdraws its bids and stops buying
//     from Speed providers (legacy seeds still serve it).
//   - NonPayer: a Speed requester that bids FixedBid to every Speed provider
//     and never pays for anything.
//   - LegacyRequester: no Speed; never bids, never pays, gets no Speed
//     messages.
//
// Every pair of a provider and a requester has one connection: two FIFO
// queues (one per direction) carrying BEP 3-like control messages (choke,
// unchoke, interested, request), blocks, and Speed messages. Speed messages
// travel as bytes (speed.Encode, then speed.Decode on delivery), so the codec
// is exercised; everything sent at step t is delivered, in order, at step
// t+Delay. A requester asks one provider for a whole piece at a time (every
// block of a piece comes from one provider, as the spec recommends for paid
// pieces) and has at most one piece in flight per provider. Each provider
// uploads at most Capacity bytes per step, one block at a time round-robin
// over the unchoked requesters with an outstanding request that
// ProviderSession.CanServe admits.
//
// When the choker chokes a requester in the middle of a piece, a provider
// with FinishPieceOnChoke set completes that piece first and chokes after its
// last block; without it the choke is immediate and the requester keeps the
// partial piece reserved for that provider (its blocks cannot be paid for
// until the piece completes).
//
// A requester may join late (RequesterSpec.JoinAt), which lets a new high
// bidder displace paid winners mid-download. Honest requesters give their
// bidder what they can still spend, as the spec says: the free ledger
// balance plus what is left of the deposits of their usable channels
// (RequesterSession.Unspent). They bid to, and start a piece from, a charging
// provider only when RequesterSession.CanBuy says they can pay for it.
//
// All money is on one ledger, a Bank: by default an in-memory
// memledger.Ledger named LedgerID that reads the simulated clock, on which
// requesters are minted their balances at the start (providers start at 0).
// Scenario.Bank plugs in another ledger, such as a real ledger process
// (cmd/ledger's tests do that); Bank.Fund then moves the balances from a
// funded account, and the ledger keeps its own clock: such a scenario starts
// the simulated clock at the real time (Scenario.Start) and stays short
// enough for the channels' deadlines, simulated now plus their ttl, to remain
// valid in real time. Finish delivers what is still queued, closes every
// provider's channels (CloseAll) and moves the clock past every channel's
// deadline so the leftovers time out back to their payers (on a memledger;
// a real ledger times them out on its own clock).
//
// The simulator records everything the tests assert on: per-step exposure
// (bytes a provider sent at a nonzero rate for pieces not yet paid, per
// pair), every payment and the piece it pays for, every verified piece and
// its price as the provider computed it, chokes and bans with their times,
// unchoke rounds per kind, and anomalies (errors no honest peer should see).
package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/speed/choker"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

// LedgerID is the ledger every Speed peer of the simulation uses.
const LedgerID = "sim-ledger"

// Start is the simulated time at step 0 unless Scenario.Start says
// otherwise.
var Start = time.Unix(1_800_000_000, 0)

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
)

func (k ProviderKind) String() string {
	switch k {
	case HonestProvider:
		return "honest"
	case BadDataProvider:
		return "bad-data"
	case LegacySeed:
		return "legacy"
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

// EventKind classifies a recorded event.
type EventKind int

// Event kinds.
const (
	EvChokedLate      EventKind = iota + 1 // a requester's payment became late (choked from then on)
	EvProviderBan                          // provider banned a requester (strikes)
	EvRequesterBan                         // requester banned a provider (bad data)
	EvPayment                              // requester sent a payment
	EvPaymentOK                            // provider accepted a payment
	EvPaymentRejected                      // provider rejected a payment
	EvChannelClosing                       // provider closed a channel
	EvCannotPay                            // requester ran out of money
	EvVerified                             // requester verified a piece
	EvFailed                               // a piece failed verification
	EvCompleted                            // requester has every piece
	EvAnomaly                              // something no honest run should see
)

var eventNames = map[EventKind]string{
	EvChokedLate: "choked-late", EvProviderBan: "provider-ban", EvRequesterBan: "requester-ban",
	EvPayment: "payment", EvPaymentOK: "payment-ok", EvPaymentRejected: "payment-rejected",
	EvChannelClosing: "channel-closing", EvCannotPay: "cannot-pay", EvVerified: "verified",
	EvFailed: "failed", EvCompleted: "completed", EvAnomaly: "anomaly",
}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one recorded happening.
type Event struct {
	Step      int
	Kind      EventKind
	Provider  string
	Requester string
	Piece     int    // -1 when not about a piece
	Amount    uint64 // payments: the amount; verified: what the provider charged
	Detail    string
}

func (e Event) String() string {
	return fmt.Sprintf("t=%d %s p=%s r=%s piece=%d amount=%d %s", e.Step, e.Kind, e.Provider, e.Requester, e.Piece, e.Amount, e.Detail)
}

// item is one message on a connection's queue.
type item struct {
	at    int // step at which it is delivered
	kind  itemKind
	speed []byte // kind == itSpeed
	piece uint32 // itRequest, itBlock
	block int    // itRequest: first block wanted; itBlock: block index
	n     uint64 // itBlock: bytes
}

type itemKind int

const (
	itSpeed itemKind = iota + 1
	itChoke
	itUnchoke
	itInterested
	itNotInterested
	itRequest
	itBlock
)

// unpaid is the simulator's own account of a piece a provider sent at a
// nonzero rate and was not paid for yet.
type unpaid struct {
	bytes  uint64
	charge speed.Charge
}

// conn is one provider-requester connection, with both ends' state.
type conn struct {
	p      *provider
	r      *requester
	speed  bool // both ends speak Speed: sessions exist
	closed bool

	toReq, toProv []item

	// Provider end.
	psess        *speed.ProviderSession
	bid          uint64
	interested   bool
	unchoked     bool
	chokePending bool // choke once the piece in flight is sent
	granted      bool // a bid response was sent at least once
	grantedRate  uint64
	chokedRounds int
	lateSeen     bool   // the last Tick said Choke
	sentRound    uint64 // bytes sent in the current round
	sentLast     uint64 // bytes sent in the previous round
	req          *provRequest
	owed         map[uint32]*unpaid // sim mirror of the provider's exposure
	maxExposure  uint64

	// Requester end.
	rsess      *speed.RequesterSession
	rUnchoked  bool
	reqRate    uint64 // rate of the last bid response delivered
	inflight   *download
	requested  bool
	reqCharge  map[uint32]*speed.Charge // sim mirror of the requester's charges
	noBuy      bool                     // the requester stopped buying here
	bidSent    bool                     // non-payers: the fixed bid went out
	lastBidOut uint64
}

type provRequest struct {
	piece uint32
	next  int // next block to send
}

type download struct {
	piece    uint32
	received int // blocks received
	rate     uint64
	mixed    bool // blocks arrived at more than one rate
}

type provider struct {
	idx    int
	spec   ProviderSpec
	key    *wallet.PrivateKey
	acct   wallet.Address
	conns  []*conn // by requester index
	bans   *speed.BanList
	rng    *rand.Rand
	round  uint64
	rr     int    // round-robin start for uploads
	credit uint64 // upload bytes available this step
	// every session this provider ever had, for Earned and CloseAll.
	sessions []*speed.ProviderSession
	sent     uint64
}

type requester struct {
	idx   int
	spec  RequesterSpec
	key   *wallet.PrivateKey
	acct  wallet.Address
	conns []*conn // by provider index
	rng   *rand.Rand
	bid   *bidder.Bidder
	nonce uint64
	bans  *speed.BanList

	have       []bool
	haveCount  int
	reserved   []bool // piece in flight or partially held from some provider
	joined     bool
	cannotPay  bool
	completed  int // step, 0 = not yet
	sessions   []*speed.RequesterSession
	received   uint64
	recvFrom   []uint64 // by provider index
	speedMsgs  int      // Speed messages delivered to this requester
	paidRounds int
	freeRounds int
	optRounds  int
	// Rounds won while every honest requester was still downloading.
	paidRoundsContested int
	bidSum, bidCount    uint64 // bids sent (nonzero), for the summary
	maxBid              uint64
	expectedSpend       uint64 // sum of what verified pieces cost at the provider
	bids                []BidSent
}

// ChannelRecord is the simulator's account of one channel a requester's
// session opened: what the ledger answered the open with, the latest state
// the requester signed on it and the latest state the provider accepted.
// After an honest run has finished, the ledger must show the channel closed
// with exactly Accepted (or timed out, all to the payer, when Accepted.Seq
// is 0).
type ChannelRecord struct {
	ID        speed.ChannelID
	Provider  string
	Requester string
	Deposit   uint64
	Deadline  time.Time
	Step      int         // when it was opened
	Signed    speed.State // Seq 0: nothing signed
	Accepted  speed.State // Seq 0: nothing accepted
}

// recordingLedger is the ledger as one requester session sees it: every
// channel it opens is recorded.
type recordingLedger struct {
	speed.Ledger
	s *Sim
	c *conn
}

func (l recordingLedger) OpenChannel(ctx context.Context, req speed.SignedOpen) (speed.Channel, error) {
	ch, err := l.Ledger.OpenChannel(ctx, req)
	if err == nil {
		l.s.recordOpen(l.c, ch)
	}
	return ch, err
}

func (s *Sim) recordOpen(c *conn, ch speed.Channel) {
	if _, ok := s.chanByID[ch.ID]; ok {
		s.anomaly(c, "channel %s opened twice", ch.ID)
		return
	}
	rec := &ChannelRecord{ID: ch.ID, Provider: c.p.spec.Name, Requester: c.r.spec.Name, Deposit: ch.Deposit, Deadline: ch.Deadline, Step: s.step}
	s.chanByID[ch.ID] = rec
	s.chans = append(s.chans, rec)
}

// Channels returns every channel a requester opened, in the order opened.
func (s *Sim) Channels() []ChannelRecord {
	out := make([]ChannelRecord, len(s.chans))
	for i, c := range s.chans {
		out[i] = *c
	}
	return out
}

// BidSent is one bid a requester sent, with its free ledger balance then.
type BidSent struct {
	Step     int
	Provider string
	Rate     uint64
	Free     uint64
}

// Bids returns every bid requester sent, in order.
func (s *Sim) Bids(requester string) []BidSent {
	for _, r := range s.reqs {
		if r.spec.Name == requester {
			return r.bids
		}
	}
	return nil
}

// Sim is one running simulation.
type Sim struct {
	sc    Scenario
	ctx   context.Context
	now   time.Time
	step  int
	bank  Bank
	mem   *memledger.Ledger // the bank when it is the default
	provs []*provider
	reqs  []*requester
	conns []*conn // provider-major order

	minted       uint64
	events       []Event
	blocksPerPc  int
	firstHonest  int // step the first honest requester completed (0: none yet)
	speedToLeg   int // Speed messages queued toward legacy peers
	finished     bool
	verifiedFrom map[[2]int]map[uint32]bool // [req, prov] -> pieces verified
	chans        []*ChannelRecord
	chanByID     map[speed.ChannelID]*ChannelRecord
}

// key derives a deterministic account key from the seed and a name.
func key(seed uint64, name string) (*wallet.PrivateKey, error) {
	for i := 0; ; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "btspeed/sim/%d/%s/%d", seed, name, i))
		k, err := wallet.PrivateKeyFromBytes(h[:])
		if err == nil {
			return k, nil
		}
		if i > 8 {
			return nil, err
		}
	}
}

// New builds the swarm of sc: keys, ledger balances, sessions and the
// connections of every requester with every provider.
func New(sc Scenario) (*Sim, error) {
	sc = sc.withDefaults()
	if sc.PieceLen%sc.BlockLen != 0 {
		return nil, fmt.Errorf("sim: piece length %d is not a multiple of block length %d", sc.PieceLen, sc.BlockLen)
	}
	s := &Sim{
		sc:           sc,
		ctx:          context.Background(),
		now:          sc.Start,
		blocksPerPc:  int(sc.PieceLen / sc.BlockLen),
		verifiedFrom: make(map[[2]int]map[uint32]bool),
		chanByID:     make(map[speed.ChannelID]*ChannelRecord),
	}
	clock := func() time.Time { return s.now }
	if sc.Bank == nil {
		s.mem = memledger.New(LedgerID, clock)
		s.bank = memBank{id: LedgerID, l: s.mem}
	} else {
		b, err := sc.Bank(clock)
		if err != nil {
			return nil, fmt.Errorf("sim: bank: %w", err)
		}
		s.bank = b
	}
	ledgerID := s.bank.ID()
	names := map[string]bool{}
	for i, ps := range sc.Providers {
		if names[ps.Name] {
			return nil, fmt.Errorf("sim: duplicate name %q", ps.Name)
		}
		names[ps.Name] = true
		k, err := key(sc.Seed, "provider/"+ps.Name)
		if err != nil {
			return nil, err
		}
		s.provs = append(s.provs, &provider{
			idx: i, spec: ps, key: k, acct: k.Address(), bans: speed.NewBanList(),
			rng: rand.New(rand.NewPCG(sc.Seed, uint64(i)+1)),
		})
	}
	for i, rs := range sc.Requesters {
		if names[rs.Name] {
			return nil, fmt.Errorf("sim: duplicate name %q", rs.Name)
		}
		names[rs.Name] = true
		k, err := key(sc.Seed, "requester/"+rs.Name)
		if err != nil {
			return nil, err
		}
		r := &requester{
			idx: i, spec: rs, key: k, acct: k.Address(), bans: speed.NewBanList(),
			rng:      rand.New(rand.NewPCG(sc.Seed, 1000+uint64(i))),
			have:     make([]bool, sc.Pieces),
			reserved: make([]bool, sc.Pieces),
			recvFrom: make([]uint64, len(sc.Providers)),
		}
		if rs.Kind == HonestRequester {
			set := bidder.DefaultSettings()
			if rs.SpendingRate != 0 {
				set.SpendingRate = rs.SpendingRate
			}
			r.bid = bidder.New(set)
		}
		if rs.Kind != LegacyRequester && rs.Balance > 0 {
			if err := s.bank.Fund(s.ctx, r.acct, rs.Balance); err != nil {
				return nil, fmt.Errorf("sim: funding %s: %w", rs.Name, err)
			}
			s.minted += rs.Balance
		}
		s.reqs = append(s.reqs, r)
	}
	for _, p := range s.provs {
		for _, r := range s.reqs {
			c := &conn{p: p, r: r, owed: make(map[uint32]*unpaid), reqCharge: make(map[uint32]*speed.Charge)}
			c.speed = p.spec.Kind != LegacySeed && r.spec.Kind != LegacyRequester
			if c.speed {
				c.psess = speed.NewProviderSession(speed.ProviderConfig{
					Key: p.key, Ledger: s.bank, LedgerID: ledgerID,
					PaymentTimeout: sc.PaymentTimeout, MaxStrikes: sc.MaxStrikes,
				}, r.acct)
				p.sessions = append(p.sessions, c.psess)
				r := r
				c.rsess = speed.NewRequesterSession(speed.RequesterConfig{
					Key: r.key, Ledger: recordingLedger{Ledger: s.bank, s: s, c: c}, LedgerID: ledgerID, DepositPieces: sc.DepositPieces,
					Nonce: func() uint64 { r.nonce++; return r.nonce },
				}, p.acct)
				r.sessions = append(r.sessions, c.rsess)
			}
			p.conns = append(p.conns, c)
			r.conns = append(r.conns, c)
			s.conns = append(s.conns, c)
		}
	}
	return s, nil
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time { return s.now }

// StepCount returns the number of steps run.
func (s *Sim) StepCount() int { return s.step }

// Ledger returns the simulation's in-memory ledger, or nil when
// Scenario.Bank supplied another.
func (s *Sim) Ledger() *memledger.Ledger { return s.mem }

// Bank returns the ledger the simulation runs on.
func (s *Sim) Bank() Bank { return s.bank }

// Accounts returns the ledger account of every provider, then of every
// requester.
func (s *Sim) Accounts() []wallet.Address {
	var out []wallet.Address
	for _, p := range s.provs {
		out = append(out, p.acct)
	}
	for _, r := range s.reqs {
		out = append(out, r.acct)
	}
	return out
}

// Events returns every event recorded so far.
func (s *Sim) Events() []Event { return s.events }

// Scenario returns the scenario with its defaults applied.
func (s *Sim) Scenario() Scenario { return s.sc }

func (s *Sim) record(e Event) { e.Step = s.step; s.events = append(s.events, e) }

func (s *Sim) anomaly(c *conn, format string, args ...any) {
	e := Event{Kind: EvAnomaly, Piece: -1, Detail: fmt.Sprintf(format, args...)}
	if c != nil {
		e.Provider, e.Requester = c.p.spec.Name, c.r.spec.Name
	}
	s.record(e)
}

func (s *Sim) sendToReq(c *conn, it item) {
	if c.closed {
		return
	}
	it.at = s.step + s.sc.Delay
	c.toReq = append(c.toReq, it)
}

func (s *Sim) sendToProv(c *conn, it item) {
	if c.closed {
		return
	}
	it.at = s.step + s.sc.Delay
	c.toProv = append(c.toProv, it)
}

// sendSpeed encodes m onto the queue toward the requester (toReq) or the
// provider.
func (s *Sim) sendSpeed(c *conn, toReq bool, m speed.Message) {
	if c.closed {
		return
	}
	if (toReq && c.r.spec.Kind == LegacyRequester) || (!toReq && c.p.spec.Kind == LegacySeed) {
		s.speedToLeg++
	}
	b, err := speed.Encode(m)
	if err != nil {
		s.anomaly(c, "encoding %T: %v", m, err)
		return
	}
	if toReq {
		s.sendToReq(c, item{kind: itSpeed, speed: b})
	} else {
		s.sendToProv(c, item{kind: itSpeed, speed: b})
	}
}

// Done reports whether every honest and legacy requester has every piece or
// the step limit is reached.
func (s *Sim) Done() bool {
	if s.step >= s.sc.MaxSteps {
		return true
	}
	for _, r := range s.reqs {
		if r.spec.Kind != NonPayer && r.haveCount < s.sc.Pieces {
			return false
		}
	}
	return true
}

// Step advances the simulation by one second: deliveries to requesters, then
// to providers, then each provider's tick, choking round and uploads, then
// each requester's bids and requests.
func (s *Sim) Step() {
	s.step++
	s.now = s.now.Add(time.Second)
	for _, c := range s.conns {
		s.deliverToReq(c)
	}
	for _, c := range s.conns {
		s.deliverToProv(c)
	}
	for _, p := range s.provs {
		s.tick(p)
		if s.step%s.sc.RoundInterval == 0 {
			s.chokeRound(p)
		}
		s.upload(p)
	}
	for _, r := range s.reqs {
		s.requesterStep(r)
	}
	for _, c := range s.conns {
		if e := c.exposure(); e > c.maxExposure {
			c.maxExposure = e
		}
		if c.psess != nil && !c.closed {
			var due uint64
			for _, u := range c.owed {
				due += u.charge.Due()
			}
			if got := c.psess.Owed(); got != due {
				s.anomaly(c, "ProviderSession.Owed %d, blocks sent and unpaid cost %d", got, due)
			}
		}
	}
}

// Run steps until Done, calling check (if not nil) after every step; a
// non-nil error from check stops the run and is returned.
func (s *Sim) Run(check func(*Sim) error) error {
	for !s.Done() {
		s.Step()
		if check != nil {
			if err := check(s); err != nil {
				return fmt.Errorf("step %d: %w", s.step, err)
			}
		}
	}
	return nil
}

// exposure is what the provider sent at a nonzero rate in pieces that cost
// something and are not paid yet.
func (c *conn) exposure() uint64 {
	var sum uint64
	for _, u := range c.owed {
		if u.charge.Due() > 0 {
			sum += u.bytes
		}
	}
	return sum
}

// Exposure returns, for every connection, the bytes its provider sent at a
// nonzero rate for pieces not yet paid (pieces whose price rounds to 0 are
// left out: nothing can be owed for them), keyed "provider/requester".
func (s *Sim) Exposure() map[string]uint64 {
	out := make(map[string]uint64, len(s.conns))
	for _, c := range s.conns {
		out[c.p.spec.Name+"/"+c.r.spec.Name] = c.exposure()
	}
	return out
}

// ---- delivery ----

func (s *Sim) deliverToReq(c *conn) {
	for len(c.toReq) > 0 && !c.closed && c.toReq[0].at <= s.step {
		it := c.toReq[0]
		c.toReq = c.toReq[1:]
		s.requesterReceive(c, it)
	}
}

func (s *Sim) deliverToProv(c *conn) {
	for len(c.toProv) > 0 && !c.closed && c.toProv[0].at <= s.step {
		it := c.toProv[0]
		c.toProv = c.toProv[1:]
		s.providerReceive(c, it)
	}
}

// ---- provider ----

func (s *Sim) providerReceive(c *conn, it item) {
	switch it.kind {
	case itInterested:
		c.interested = true
	case itNotInterested:
		c.interested = false
		c.req = nil
	case itRequest:
		if !c.unchoked || c.chokePending {
			return // requests from choked peers are dropped
		}
		c.req = &provRequest{piece: it.piece, next: it.block}
	case itSpeed:
		m, err := speed.Decode(it.speed)
		if err != nil {
			s.anomaly(c, "provider decoding: %v", err)
			return
		}
		if c.psess == nil {
			s.anomaly(c, "Speed message %T to a legacy seed", m)
			return
		}
		switch m := m.(type) {
		case speed.Bid:
			c.bid = m.Rate
		case speed.Payment:
			s.providerPayment(c, m)
		default:
			s.anomaly(c, "provider got %T", m)
		}
	default:
		s.anomaly(c, "provider got item kind %d", it.kind)
	}
}

func (s *Sim) providerPayment(c *conn, m speed.Payment) {
	before := c.psess.Earned()
	rej, err := c.psess.Receive(s.ctx, s.now, m)
	if err != nil {
		s.anomaly(c, "Receive: %v", err)
	}
	if rej != nil {
		s.record(Event{Kind: EvPaymentRejected, Provider: c.p.spec.Name, Requester: c.r.spec.Name, Piece: int(m.Piece), Detail: rej.Reason.String() + ": " + rej.Text})
		s.sendSpeed(c, true, *rej)
		return
	}
	inc := c.psess.Earned() - before
	if rec := s.chanByID[m.State.Channel]; rec == nil {
		s.anomaly(c, "provider accepted a payment on channel %s no requester opened", m.State.Channel)
	} else {
		rec.Accepted = m.State
	}
	s.record(Event{Kind: EvPaymentOK, Provider: c.p.spec.Name, Requester: c.r.spec.Name, Piece: int(m.Piece), Amount: inc})
	delete(c.owed, m.Piece)
}

func (s *Sim) tick(p *provider) {
	for _, c := range p.conns {
		if c.closed || c.psess == nil {
			continue
		}
		res := c.psess.Tick(s.now)
		if res.Choke && !c.lateSeen {
			s.record(Event{Kind: EvChokedLate, Provider: p.spec.Name, Requester: c.r.spec.Name, Piece: -1})
		}
		c.lateSeen = res.Choke
		if res.Ban {
			s.record(Event{Kind: EvProviderBan, Provider: p.spec.Name, Requester: c.r.spec.Name, Piece: -1})
			p.bans.Ban(c.r.acct.String(), s.now, speed.DefaultBanDuration)
			s.disconnect(c)
			continue
		}
		if res.Choke && (c.unchoked || c.chokePending) {
			s.choke(c)
		}
		ids := slices.Clone(res.Close)
		slices.SortFunc(ids, func(a, b speed.ChannelID) int { return strings.Compare(a.String(), b.String()) })
		for _, id := range ids {
			msg, err := c.psess.Close(s.ctx, id)
			if err != nil {
				s.anomaly(c, "Close: %v", err)
				continue
			}
			s.record(Event{Kind: EvChannelClosing, Provider: p.spec.Name, Requester: c.r.spec.Name, Piece: -1, Amount: msg.Seq})
			s.sendSpeed(c, true, *msg)
		}
	}
}

// choke chokes at once: the request in flight is dropped.
func (s *Sim) choke(c *conn) {
	c.unchoked, c.chokePending, c.req = false, false, nil
	s.sendToReq(c, item{kind: itChoke})
}

func (s *Sim) chokeRound(p *provider) {
	p.round++
	var peers []choker.Peer
	byID := map[string]*conn{}
	for _, c := range p.conns {
		if c.closed {
			continue
		}
		c.sentLast, c.sentRound = c.sentRound, 0
		if !c.interested {
			continue
		}
		sp := c.psess != nil
		if sp && (c.psess.Late() || c.psess.Banned() || p.bans.Banned(c.r.acct.String(), s.now)) {
			continue
		}
		cp := choker.Peer{ID: c.r.spec.Name, Speed: sp, Bytes: c.sentLast, ChokedRounds: c.chokedRounds, Interested: true}
		if sp {
			cp.Account = c.r.acct.String()
			cp.Bid = c.bid
		}
		peers = append(peers, cp)
		byID[cp.ID] = c
	}
	cfg := choker.Config{Slots: s.sc.Slots, Optimistic: s.sc.Optimistic, Reserve: p.spec.Reserve}
	res := choker.Round(cfg, peers, p.rng)
	won := map[*conn]choker.Decision{}
	for _, d := range res.Unchoked {
		c := byID[d.ID]
		if c == nil {
			s.anomaly(nil, "choker of %s unchoked unknown or ineligible peer %q", p.spec.Name, d.ID)
			continue
		}
		if _, dup := won[c]; dup {
			s.anomaly(c, "choker unchoked %q twice", d.ID)
			continue
		}
		won[c] = d
	}
	contested := s.firstHonest == 0
	for _, c := range p.conns {
		if c.closed {
			continue
		}
		d, ok := won[c]
		if !ok {
			c.chokedRounds++
			if c.unchoked && !c.chokePending {
				if s.sc.FinishPieceOnChoke && c.req != nil && c.req.next > 0 {
					c.chokePending = true // choke after the piece's last block
				} else {
					s.choke(c)
				}
			}
			continue
		}
		c.chokedRounds = 0
		if d.Kind == choker.Paid && (d.Rate > c.bid || d.Rate < p.spec.Reserve) {
			s.anomaly(c, "paid slot at %d: bid %d, reserve %d", d.Rate, c.bid, p.spec.Reserve)
		}
		switch d.Kind {
		case choker.Paid:
			c.r.paidRounds++
			if contested {
				c.r.paidRoundsContested++
			}
		case choker.OptimisticSlot:
			c.r.optRounds++
		default:
			c.r.freeRounds++
		}
		if c.psess != nil {
			rate := uint64(0)
			if d.Kind == choker.Paid {
				rate = d.Rate
			}
			br := c.psess.Grant(p.round, rate)
			if !c.granted || br.Rate != c.grantedRate {
				c.granted, c.grantedRate = true, br.Rate
				s.sendSpeed(c, true, br)
			}
		} else if d.Kind == choker.Paid {
			s.anomaly(c, "paid slot for a legacy peer")
		}
		c.chokePending = false
		if !c.unchoked {
			c.unchoked = true
			s.sendToReq(c, item{kind: itUnchoke})
		}
	}
}

func (s *Sim) upload(p *provider) {
	n := len(p.conns)
	if n == 0 {
		return
	}
	// Capacity may be below a block per step: unused credit carries over
	// (up to one step's worth plus a block) while someone is waiting.
	p.credit = min(p.credit+s.sc.Capacity, s.sc.Capacity+s.sc.BlockLen)
	for p.credit >= s.sc.BlockLen {
		progress := false
		for k := 0; k < n && p.credit >= s.sc.BlockLen; k++ {
			c := p.conns[(p.rr+k)%n]
			if c.closed || !c.unchoked || c.req == nil {
				continue
			}
			if c.psess != nil && !c.psess.CanServe(c.req.piece) {
				continue
			}
			s.sendBlock(c)
			p.credit -= s.sc.BlockLen
			progress = true
		}
		if !progress {
			p.credit = min(p.credit, s.sc.BlockLen) // idle: no hoarding
			break
		}
	}
	p.rr = (p.rr + 1) % n
}

func (s *Sim) sendBlock(c *conn) {
	rq := c.req
	bl := s.sc.BlockLen
	if c.psess != nil {
		c.psess.Sent(s.now, rq.piece, bl, s.sc.PieceLen)
		if rate := c.psess.Rate(); rate > 0 {
			u := c.owed[rq.piece]
			if u == nil {
				u = &unpaid{}
				c.owed[rq.piece] = u
			}
			u.bytes += bl
			u.charge.Add(rate, bl)
		}
	}
	s.sendToReq(c, item{kind: itBlock, piece: rq.piece, block: rq.next, n: bl})
	c.sentRound += bl
	c.p.sent += bl
	rq.next++
	if rq.next >= s.blocksPerPc {
		c.req = nil
		if c.chokePending {
			s.choke(c)
		}
	}
}

// disconnect closes a connection from both ends: queued messages are lost,
// the provider closes the session's channels, the requester releases the
// piece it held there and forgets its bid.
func (s *Sim) disconnect(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	c.toReq, c.toProv = nil, nil
	c.unchoked, c.chokePending, c.req = false, false, nil
	if c.psess != nil {
		if err := c.psess.CloseAll(s.ctx); err != nil {
			s.anomaly(c, "CloseAll on disconnect: %v", err)
		}
	}
	r := c.r
	if c.inflight != nil {
		r.reserved[c.inflight.piece] = false
		if c.rsess != nil {
			c.rsess.Failed(c.inflight.piece) // drop the partial piece's charge
		}
		delete(c.reqCharge, c.inflight.piece)
		c.inflight = nil
	}
	c.rUnchoked, c.requested = false, false
	if r.bid != nil {
		r.bid.Forget(c.p.spec.Name)
	}
}

// ---- requester ----

func (s *Sim) requesterReceive(c *conn, it item) {
	r := c.r
	switch it.kind {
	case itChoke:
		c.rUnchoked, c.requested = false, false
		if c.inflight != nil && c.inflight.received == 0 {
			r.reserved[c.inflight.piece] = false
			c.inflight = nil
		}
	case itUnchoke:
		c.rUnchoked = true
	case itBlock:
		s.requesterBlock(c, it)
	case itSpeed:
		r.speedMsgs++
		m, err := speed.Decode(it.speed)
		if err != nil {
			s.anomaly(c, "requester decoding: %v", err)
			return
		}
		if c.rsess == nil {
			s.anomaly(c, "Speed message %T to a legacy requester", m)
			return
		}
		switch m := m.(type) {
		case speed.BidResponse:
			if err := c.rsess.Accept(m); err != nil {
				s.anomaly(c, "Accept: %v", err)
				s.abandon(c)
				return
			}
			c.reqRate = m.Rate
		case speed.PaymentRejected:
			if r.spec.Kind != HonestRequester {
				return
			}
			before := c.rsess.Spent()
			pm, err := c.rsess.Rejected(s.ctx, s.now, m)
			s.afterPay(c, pm, err, before, -1, 0)
		case speed.ChannelClosing:
			c.rsess.Closing(m)
		default:
			s.anomaly(c, "requester got %T", m)
		}
	default:
		s.anomaly(c, "requester got item kind %d", it.kind)
	}
}

func (s *Sim) requesterBlock(c *conn, it item) {
	r := c.r
	d := c.inflight
	if d == nil && c.noBuy {
		r.received += it.n // still on the way when the requester gave up
		r.recvFrom[c.p.idx] += it.n
		return
	}
	if d == nil || d.piece != it.piece || d.received != it.block {
		s.anomaly(c, "unexpected block %d of piece %d", it.block, it.piece)
		return
	}
	if c.rsess != nil {
		c.rsess.Received(it.piece, it.n)
		if c.reqRate > 0 {
			ch := c.reqCharge[it.piece]
			if ch == nil {
				ch = &speed.Charge{}
				c.reqCharge[it.piece] = ch
			}
			ch.Add(c.reqRate, it.n)
		}
	}
	if d.received > 0 && c.reqRate != d.rate {
		d.mixed = true
	}
	d.rate = c.reqRate
	d.received++
	r.received += it.n
	r.recvFrom[c.p.idx] += it.n
	if d.received < s.blocksPerPc {
		return
	}
	// The piece is complete: check it.
	c.inflight, c.requested = nil, false
	piece := d.piece
	r.reserved[piece] = false
	providerCharge := uint64(0)
	if u := c.owed[piece]; u != nil {
		providerCharge = u.charge.Due()
	}
	if c.p.spec.Kind == BadDataProvider {
		s.record(Event{Kind: EvFailed, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(piece)})
		if c.rsess != nil {
			c.rsess.Failed(piece)
		}
		delete(c.reqCharge, piece)
		r.bans.Ban(c.p.acct.String(), s.now, speed.DefaultBanDuration)
		s.record(Event{Kind: EvRequesterBan, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(piece)})
		s.disconnect(c)
		return
	}
	if r.have[piece] {
		s.anomaly(c, "piece %d downloaded twice", piece)
	} else {
		r.have[piece] = true
		r.haveCount++
	}
	mirror := uint64(0)
	if ch := c.reqCharge[piece]; ch != nil {
		mirror = ch.Due()
	}
	delete(c.reqCharge, piece)
	if c.rsess != nil && mirror != providerCharge {
		s.anomaly(c, "piece %d: requester prices it %d, provider %d", piece, mirror, providerCharge)
	}
	if c.rsess != nil && c.rsess.Due(piece) != providerCharge {
		s.anomaly(c, "piece %d: RequesterSession.Due %d, provider charged %d", piece, c.rsess.Due(piece), providerCharge)
	}
	detail := ""
	if d.mixed {
		detail = "mixed rates"
	}
	s.record(Event{Kind: EvVerified, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(piece), Amount: providerCharge, Detail: detail})
	vk := [2]int{r.idx, c.p.idx}
	if s.verifiedFrom[vk] == nil {
		s.verifiedFrom[vk] = map[uint32]bool{}
	}
	s.verifiedFrom[vk][piece] = true
	if r.haveCount == s.sc.Pieces {
		r.completed = s.step
		s.record(Event{Kind: EvCompleted, Requester: r.spec.Name, Piece: -1})
		if r.spec.Kind == HonestRequester && s.firstHonest == 0 {
			s.firstHonest = s.step
		}
		for _, cc := range r.conns {
			s.sendToProv(cc, item{kind: itNotInterested})
		}
	}
	if r.spec.Kind != HonestRequester || c.rsess == nil {
		return // legacy peers owe nothing; non-payers never pay
	}
	if r.cannotPay || c.noBuy {
		// It stopped paying: the piece stays unpaid (the provider will
		// strike it); that is what running out of money costs.
		return
	}
	before := c.rsess.Spent()
	pm, err := c.rsess.Verified(s.ctx, s.now, piece)
	s.afterPay(c, pm, err, before, int(piece), providerCharge)
}

// afterPay sends a payment that Verified or Rejected returned and records it.
// piece is -1 for a repayment after a rejection.
func (s *Sim) afterPay(c *conn, pm *speed.Payment, err error, before uint64, piece int, charge uint64) {
	r := c.r
	switch {
	case errors.Is(err, speed.ErrCannotPay):
		s.record(Event{Kind: EvCannotPay, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: piece, Detail: err.Error()})
		s.stopBuying(r)
		return
	case errors.Is(err, speed.ErrProviderMisbehaving):
		s.anomaly(c, "requester: %v", err)
		s.abandon(c)
		return
	case err != nil:
		s.anomaly(c, "requester payment: %v", err)
		return
	}
	if piece >= 0 {
		r.expectedSpend += charge
	}
	if pm == nil {
		if piece >= 0 && charge != 0 {
			s.anomaly(c, "piece %d cost %d but Verified paid nothing", piece, charge)
		}
		return
	}
	amount := c.rsess.Spent() - before
	if piece >= 0 && amount != charge {
		s.anomaly(c, "piece %d paid %d, provider charged %d", piece, amount, charge)
	}
	if rec := s.chanByID[pm.State.Channel]; rec == nil {
		s.anomaly(c, "payment on channel %s the requester did not open", pm.State.Channel)
	} else if pm.State.Seq > rec.Signed.Seq {
		rec.Signed = pm.State
	}
	s.record(Event{Kind: EvPayment, Provider: c.p.spec.Name, Requester: r.spec.Name, Piece: int(pm.Piece), Amount: amount,
		Detail: fmt.Sprintf("seq=%d paid=%d", pm.State.Seq, pm.State.Paid)})
	s.sendSpeed(c, false, *pm)
}

// stopBuying: the requester cannot pay; it withdraws every bid and stops
// requesting from Speed providers.
func (s *Sim) stopBuying(r *requester) {
	if r.cannotPay {
		return
	}
	r.cannotPay = true
	for _, c := range r.conns {
		if c.closed || !c.speed {
			continue
		}
		if c.lastBidOut != 0 {
			s.sendSpeed(c, false, speed.Bid{Rate: 0})
			c.lastBidOut = 0
		}
		s.sendToProv(c, item{kind: itNotInterested})
		s.abandon(c)
	}
}

// abandon stops buying from c: the piece held there is released (blocks of
// it still on the way are ignored).
func (s *Sim) abandon(c *conn) {
	c.noBuy = true
	if d := c.inflight; d != nil {
		c.r.reserved[d.piece] = false
		delete(c.reqCharge, d.piece)
		c.inflight = nil
	}
	c.requested = false
}

func (s *Sim) balance(a wallet.Address) uint64 {
	b, err := s.bank.Balance(s.ctx, a)
	if err != nil {
		s.anomaly(nil, "Balance: %v", err)
	}
	return b
}

func (s *Sim) requesterStep(r *requester) {
	if !r.joined {
		if s.step < r.spec.JoinAt {
			return
		}
		r.joined = true
		for _, c := range r.conns {
			// Every provider is a seed: the requester is interested in all.
			s.sendToProv(c, item{kind: itInterested})
		}
	}
	complete := r.haveCount == s.sc.Pieces
	// Bids.
	switch r.spec.Kind {
	case HonestRequester:
		if r.cannotPay {
			break
		}
		var peers []bidder.Peer
		for _, c := range r.conns {
			if c.closed || !c.speed || c.noBuy {
				continue
			}
			peers = append(peers, bidder.Peer{ID: c.p.spec.Name, Speed: true, HasWanted: !complete && s.canBuy(c)})
		}
		remaining := uint64(s.sc.Pieces-r.haveCount) * s.sc.PieceLen
		balance := s.balance(r.acct)
		for _, rs := range r.sessions {
			balance += rs.Unspent(s.now)
		}
		bids := r.bid.Update(bidder.Input{Now: s.now, Balance: balance, Remaining: remaining, Peers: peers})
		for _, b := range bids {
			c := r.connTo(b.Peer)
			if c == nil {
				s.anomaly(nil, "%s: bid for unknown peer %q", r.spec.Name, b.Peer)
				continue
			}
			s.sendBid(c, b.Rate)
		}
	case NonPayer:
		for _, c := range r.conns {
			if !c.closed && c.speed && !c.bidSent && !complete {
				c.bidSent = true
				s.sendBid(c, r.spec.FixedBid)
			}
		}
	}
	if complete {
		return
	}
	// Requests: one piece in flight per unchoking provider.
	for _, c := range r.conns {
		if c.closed || !c.rUnchoked || c.requested || c.noBuy {
			continue
		}
		if c.speed && r.cannotPay {
			continue
		}
		if c.inflight == nil {
			if r.spec.Kind == HonestRequester && !s.canBuy(c) {
				continue // it could not pay for a new piece here
			}
			piece, ok := r.pick()
			if !ok {
				continue
			}
			r.reserved[piece] = true
			c.inflight = &download{piece: piece}
		}
		c.requested = true
		s.sendToProv(c, item{kind: itRequest, piece: c.inflight.piece, block: c.inflight.received})
	}
}

// canBuy reports whether r could pay c's provider for a new piece now.
func (s *Sim) canBuy(c *conn) bool {
	if c.rsess == nil {
		return true
	}
	ok, err := c.rsess.CanBuy(s.ctx, s.now, s.sc.PieceLen)
	if err != nil {
		s.anomaly(nil, "CanBuy: %v", err)
		return false
	}
	return ok
}

func (s *Sim) sendBid(c *conn, rate uint64) {
	r := c.r
	c.lastBidOut = rate
	r.bids = append(r.bids, BidSent{Step: s.step, Provider: c.p.spec.Name, Rate: rate, Free: s.balance(r.acct)})
	if rate > 0 {
		r.bidSum += rate
		r.bidCount++
		r.maxBid = max(r.maxBid, rate)
	}
	s.sendSpeed(c, false, speed.Bid{Rate: rate})
}

func (r *requester) connTo(name string) *conn {
	for _, c := range r.conns {
		if c.p.spec.Name == name {
			return c
		}
	}
	return nil
}

// pick chooses a random piece the requester neither has nor holds in flight.
func (r *requester) pick() (uint32, bool) {
	var cand []uint32
	for i, h := range r.have {
		if !h && !r.reserved[i] {
			cand = append(cand, uint32(i))
		}
	}
	if len(cand) == 0 {
		return 0, false
	}
	return cand[r.rng.IntN(len(cand))], true
}

// ---- end of run ----

// Finish ends the run: what is still queued is delivered (no new rounds or
// uploads), every provider closes every channel that holds a payment, and the
// clock moves past every channel's deadline so the rest time out.
func (s *Sim) Finish() error {
	if s.finished {
		return nil
	}
	s.finished = true
	for range 16 {
		pending := false
		for _, c := range s.conns {
			if !c.closed && (len(c.toReq) > 0 || len(c.toProv) > 0) {
				pending = true
			}
		}
		if !pending {
			break
		}
		s.step++
		s.now = s.now.Add(time.Second)
		for _, c := range s.conns {
			s.deliverToReq(c)
		}
		for _, c := range s.conns {
			s.deliverToProv(c)
		}
	}
	var first error
	for _, p := range s.provs {
		for _, ps := range p.sessions {
			if err := ps.CloseAll(s.ctx); err != nil && first == nil {
				first = err
			}
		}
	}
	var last time.Time
	for _, ch := range s.bankChannels() {
		if !ch.Closed && ch.Deadline.After(last) {
			last = ch.Deadline
		}
	}
	if last.After(s.now) {
		s.now = last.Add(time.Second)
	}
	if accts := s.Accounts(); len(accts) > 0 {
		s.balance(accts[0]) // any memledger call expires due channels
	}
	return first
}

// Reconcile audits the ledger against the simulator's own account, after
// Finish: the books balance; the ledger holds exactly the channels the
// requesters opened, each closed with exactly the state its provider last
// accepted (or timed out, seq 0 and paid 0, when it accepted none); each
// provider's balance is the sum paid over its channels, which is what its
// sessions earned; each requester's balance is what it was funded minus the
// sum paid over its channels, which is what its sessions spent. Every
// account starts the run empty. It returns every discrepancy found.
func (s *Sim) Reconcile() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := s.bank.Check(s.ctx); err != nil {
		bad("books: %v", err)
	}
	chs, err := s.bank.Channels(s.ctx, s.Accounts())
	if err != nil {
		return fmt.Errorf("listing channels: %w", err)
	}
	onLedger := make(map[speed.ChannelID]speed.Channel, len(chs))
	for _, ch := range chs {
		onLedger[ch.ID] = ch
		if s.chanByID[ch.ID] == nil {
			bad("channel %s (payer %s, payee %s, deposit %d) is on the ledger but no requester opened it", ch.ID, ch.Payer, ch.Payee, ch.Deposit)
		}
	}
	paidTo := map[string]uint64{}
	paidBy := map[string]uint64{}
	for _, rec := range s.chans {
		ch, ok := onLedger[rec.ID]
		switch {
		case !ok:
			bad("channel %s from %s to %s is not on the ledger", rec.ID, rec.Requester, rec.Provider)
			continue
		case !ch.Closed:
			bad("channel %s from %s to %s is still open (deposit %d, deadline %s)", rec.ID, rec.Requester, rec.Provider, ch.Deposit, ch.Deadline.UTC().Format(time.RFC3339))
		case ch.Seq != rec.Accepted.Seq || ch.Paid != rec.Accepted.Paid:
			bad("channel %s from %s to %s closed with seq %d paid %d; the provider last accepted seq %d paid %d (the requester signed seq %d paid %d)",
				rec.ID, rec.Requester, rec.Provider, ch.Seq, ch.Paid, rec.Accepted.Seq, rec.Accepted.Paid, rec.Signed.Seq, rec.Signed.Paid)
		}
		if ch.Deposit != rec.Deposit {
			bad("channel %s: deposit %d on the ledger, %d when opened", rec.ID, ch.Deposit, rec.Deposit)
		}
		paidTo[rec.Provider] += ch.Paid
		paidBy[rec.Requester] += ch.Paid
	}
	for _, p := range s.Providers() {
		if p.Balance != paidTo[p.Name] || p.Earned != paidTo[p.Name] {
			bad("provider %s: balance %d, paid on its channels %d, its sessions earned %d", p.Name, p.Balance, paidTo[p.Name], p.Earned)
		}
	}
	for _, r := range s.Requesters() {
		if r.Balance != r.Minted-paidBy[r.Name] || r.Spent != paidBy[r.Name] {
			bad("requester %s: balance %d, funded %d, paid on its channels %d, its sessions spent %d", r.Name, r.Balance, r.Minted, paidBy[r.Name], r.Spent)
		}
	}
	return errors.Join(errs...)
}

// bankChannels returns the ledger's channels of the simulation's accounts.
func (s *Sim) bankChannels() []speed.Channel {
	chs, err := s.bank.Channels(s.ctx, s.Accounts())
	if err != nil {
		s.anomaly(nil, "Channels: %v", err)
	}
	return chs
}

// ---- results ----

// RequesterResult summarizes one requester.
type RequesterResult struct {
	Name       string
	Kind       RequesterKind
	Account    string
	Pieces     int    // pieces verified
	Completed  int    // step it got the last piece; 0 if it did not
	Received   uint64 // bytes received, failed pieces included
	From       map[string]uint64
	Spent      uint64 // sum of its sessions' Spent
	Expected   uint64 // what the pieces it paid for cost at the providers
	Balance    uint64 // ledger balance now
	Minted     uint64
	SpeedMsgs  int // Speed messages delivered to it
	PaidRounds int // rounds unchoked in a paid slot, over all providers
	FreeRounds int // throughput slots
	OptRounds  int // optimistic slots
	// PaidRoundsContested counts paid rounds before the first honest
	// requester completed.
	PaidRoundsContested int
	MeanBid, MaxBid     uint64
	CannotPay           bool
}

// ProviderResult summarizes one provider.
type ProviderResult struct {
	Name    string
	Kind    ProviderKind
	Account string
	Earned  uint64 // sum of its sessions' Earned
	Balance uint64
	Sent    uint64 // bytes uploaded
	Rounds  uint64
	// MaxExposure is the largest exposure seen with any requester.
	MaxExposure uint64
	// Unpaid is, per requester, the bytes sent at a nonzero rate never paid.
	Unpaid map[string]uint64
}

// Requesters returns a summary of every requester.
func (s *Sim) Requesters() []RequesterResult {
	var out []RequesterResult
	for _, r := range s.reqs {
		rr := RequesterResult{
			Name: r.spec.Name, Kind: r.spec.Kind, Account: r.acct.String(), Pieces: r.haveCount,
			Completed: r.completed, Received: r.received, From: map[string]uint64{},
			Expected: r.expectedSpend, Balance: s.balance(r.acct), SpeedMsgs: r.speedMsgs,
			PaidRounds: r.paidRounds, FreeRounds: r.freeRounds, OptRounds: r.optRounds,
			PaidRoundsContested: r.paidRoundsContested, MaxBid: r.maxBid, CannotPay: r.cannotPay,
		}
		if r.spec.Kind != LegacyRequester {
			rr.Minted = r.spec.Balance
		}
		if r.bidCount > 0 {
			rr.MeanBid = r.bidSum / r.bidCount
		}
		for i, b := range r.recvFrom {
			if b > 0 {
				rr.From[s.provs[i].spec.Name] = b
			}
		}
		for _, rs := range r.sessions {
			rr.Spent += rs.Spent()
		}
		out = append(out, rr)
	}
	return out
}

// Providers returns a summary of every provider.
func (s *Sim) Providers() []ProviderResult {
	var out []ProviderResult
	for _, p := range s.provs {
		pr := ProviderResult{Name: p.spec.Name, Kind: p.spec.Kind, Account: p.acct.String(), Balance: s.balance(p.acct),
			Sent: p.sent, Rounds: p.round, Unpaid: map[string]uint64{}}
		for _, ps := range p.sessions {
			pr.Earned += ps.Earned()
		}
		for _, c := range p.conns {
			pr.MaxExposure = max(pr.MaxExposure, c.maxExposure)
			var b uint64
			for _, u := range c.owed {
				if u.charge.Due() > 0 {
					b += u.bytes
				}
			}
			if b > 0 {
				pr.Unpaid[c.r.spec.Name] = b
			}
		}
		out = append(out, pr)
	}
	return out
}

// Minted returns the total minted.
func (s *Sim) Minted() uint64 { return s.minted }

// VerifiedFrom reports whether requester verified piece from provider.
func (s *Sim) VerifiedFrom(requester, provider string, piece uint32) bool {
	ri, pi := -1, -1
	for _, r := range s.reqs {
		if r.spec.Name == requester {
			ri = r.idx
		}
	}
	for _, p := range s.provs {
		if p.spec.Name == provider {
			pi = p.idx
		}
	}
	return s.verifiedFrom[[2]int{ri, pi}][piece]
}

// SpeedMessagesToLegacy returns how many Speed messages were queued toward a
// legacy peer (the simulator never should).
func (s *Sim) SpeedMessagesToLegacy() int { return s.speedToLeg }

// Count returns the number of events of kind.
func (s *Sim) Count(kind EventKind) int {
	n := 0
	for _, e := range s.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Fingerprint is a compact, deterministic digest of the run: final balances,
// per-peer results and every event, for comparing two runs.
func (s *Sim) Fingerprint() string {
	var b strings.Builder
	var escrow uint64
	for _, ch := range s.bankChannels() {
		if !ch.Closed {
			escrow += ch.Deposit
		}
	}
	fmt.Fprintf(&b, "steps=%d now=%d escrow=%d\n", s.step, s.now.Unix(), escrow)
	for _, r := range s.Requesters() {
		keys := make([]string, 0, len(r.From))
		for k := range r.From {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "R %s %s pieces=%d done=%d recv=%d spent=%d bal=%d rounds=%d/%d/%d bid=%d/%d", r.Name, r.Account,
			r.Pieces, r.Completed, r.Received, r.Spent, r.Balance, r.PaidRounds, r.FreeRounds, r.OptRounds, r.MeanBid, r.MaxBid)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, r.From[k])
		}
		b.WriteByte('\n')
	}
	for _, p := range s.Providers() {
		fmt.Fprintf(&b, "P %s %s earned=%d bal=%d sent=%d rounds=%d\n", p.Name, p.Account, p.Earned, p.Balance, p.Sent, p.Rounds)
	}
	h := sha256.New()
	for _, e := range s.events {
		fmt.Fprintln(h, e.String())
	}
	fmt.Fprintf(&b, "events=%d digest=%x\n", len(s.events), h.Sum(nil))
	return b.String()
}
