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
//   - Overcharger: the same choker, but every bid response it sends asks more
//     than the bid it holds from the requester (2 × bid + 1), or 1 BTT per
//     MiB from a requester that bid nothing: a hostile seed. Requesters
//     refuse such responses (speed.ErrAboveBid) and request nothing from it
//     until it prices within their bid, so it earns nothing.
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
//
// # Swarms over days
//
// RunSwarms is a second, much coarser model (swarm.go): many torrents'
// swarms over weeks, with arrivals, sessions, departures that depend on
// earnings, a fluid model of capacity and the Speed auction's prices, for
// the swarm study (cmd/swarmstudy, docs/swarm-study.md). RunFlashCrowd sets
// it up like the engine's calibration benchmark, and PublisherBudget answers
// a publisher's budget question from it (btspeed budget).
package sim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/speed/memledger"
	"github.com/btspeed/btspeed/shared/wallet"
)

// LedgerID is the ledger every Speed peer of the simulation uses.
const LedgerID = "sim-ledger"

// Start is the simulated time at step 0 unless Scenario.Start says
// otherwise.
var Start = time.Unix(1_800_000_000, 0)

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
	EvRefused                              // requester refused a bid response above its bid
)

var eventNames = map[EventKind]string{
	EvChokedLate: "choked-late", EvProviderBan: "provider-ban", EvRequesterBan: "requester-ban",
	EvPayment: "payment", EvPaymentOK: "payment-ok", EvPaymentRejected: "payment-rejected",
	EvChannelClosing: "channel-closing", EvCannotPay: "cannot-pay", EvVerified: "verified",
	EvFailed: "failed", EvCompleted: "completed", EvAnomaly: "anomaly", EvRefused: "refused",
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
	refused    bool                     // the last bid response asked more than the bid
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
	idx    int
	spec   RequesterSpec
	key    *wallet.PrivateKey
	acct   wallet.Address
	conns  []*conn // by provider index
	rng    *rand.Rand
	bid    *bidder.Bidder
	market *bidder.Market // nil unless RequesterSpec.Market
	nonce  uint64
	bans   *speed.BanList

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
	names := map[string]bool{}
	if err := s.addProviders(names); err != nil {
		return nil, err
	}
	if err := s.addRequesters(names); err != nil {
		return nil, err
	}
	s.connectAll()
	return s, nil
}

// addProviders makes the providers of the scenario, each with its key and
// choking random source; names collects the names taken.
func (s *Sim) addProviders(names map[string]bool) error {
	sc := &s.sc
	for i, ps := range sc.Providers {
		if names[ps.Name] {
			return fmt.Errorf("sim: duplicate name %q", ps.Name)
		}
		names[ps.Name] = true
		k, err := key(sc.Seed, "provider/"+ps.Name)
		if err != nil {
			return err
		}
		s.provs = append(s.provs, &provider{
			idx: i, spec: ps, key: k, acct: k.Address(), bans: speed.NewBanList(),
			rng: rand.New(rand.NewPCG(sc.Seed, uint64(i)+1)),
		})
	}
	return nil
}

// addRequesters makes the requesters of the scenario, with a bidder for
// the honest ones, and funds every Speed requester's ledger account.
func (s *Sim) addRequesters(names map[string]bool) error {
	sc := &s.sc
	for i, rs := range sc.Requesters {
		if names[rs.Name] {
			return fmt.Errorf("sim: duplicate name %q", rs.Name)
		}
		names[rs.Name] = true
		k, err := key(sc.Seed, "requester/"+rs.Name)
		if err != nil {
			return err
		}
		r := &requester{
			idx: i, spec: rs, key: k, acct: k.Address(), bans: speed.NewBanList(),
			rng:      rand.New(rand.NewPCG(sc.Seed, 1000+uint64(i))),
			have:     make([]bool, sc.Pieces),
			reserved: make([]bool, sc.Pieces),
			recvFrom: make([]uint64, len(sc.Providers)),
		}
		if rs.Kind == HonestRequester {
			s.addBidder(r)
		}
		if rs.Kind != LegacyRequester && rs.Balance > 0 {
			if err := s.bank.Fund(s.ctx, r.acct, rs.Balance); err != nil {
				return fmt.Errorf("sim: funding %s: %w", rs.Name, err)
			}
			s.minted += rs.Balance
		}
		s.reqs = append(s.reqs, r)
	}
	return nil
}

// addBidder gives an honest requester its bidder (the bare M5 formula
// unless its spec caps the rate) and, if it watches the market, its
// market with the spec's prior price.
func (s *Sim) addBidder(r *requester) {
	rs := r.spec
	set := bidder.DefaultSettings()
	if rs.SpendingRate != 0 {
		set.SpendingRate = rs.SpendingRate
	}
	set.MaxRate = bidder.MaxRate // the bare M5 formula
	if rs.MaxRate != 0 {
		set.MaxRate = rs.MaxRate
	}
	r.bid = bidder.New(set)
	if rs.Market {
		r.market = bidder.NewMarket()
		r.market.Observe("before the run", rs.MarketPrior, s.now)
	}
}

// connectAll connects every requester with every provider, with a pair of
// Speed sessions where both sides speak Speed.
func (s *Sim) connectAll() {
	sc := &s.sc
	ledgerID := s.bank.ID()
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
