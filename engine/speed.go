// BitTorrent Speed in the engine: section 8 of docs/speed-protocol.md wired
// to BitTorrent events. This file holds the client's and the torrent's Speed
// state and what spans connections (settings, accounts, bans, the choking
// round's Speed work); each Speed connection's state has one owner, a
// speedPeer:
//
//   - speedreq.go: our requester side (bidding, buying, paying), top to
//     bottom: the bid sent, the bid response accepted, the piece bought,
//     verified and paid.
//   - speedprov.go: our provider side (selling): the grant, the blocks
//     served, the payment checked, the deadlines and the channel closed.
//   - speedworker.go: the connection's Speed worker, the goroutine that runs
//     the ledger work of both sides in arrival order, and its retries.
//
// # Locks
//
// Torrent.mu guards the torrent and its connections, the Speed fields of
// both sides included; no ledger call is made under it. The requester
// session belongs to the worker goroutine. The provider session has its own
// mutex (speedProv.mu), taken after Torrent.mu, never before; the worker
// holds it across ledger calls (a payment's channel looked up, a channel
// closed), so the writer, which asks the session what it may serve, can
// wait for the ledger then.
//
// # Time
//
// Readings come from Config.Now. The choking round (which runs the
// provider's payment and channel deadlines and the rebids) and the worker's
// retries wait on the time package's timers, which testing/synctest
// virtualises: speedtime_test.go runs the timing rules in a bubble.

package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/wallet"
)

// SpeedConfig turns BitTorrent Speed on for a Client (docs/speed-protocol.md
// section 8 is what the engine implements).
type SpeedConfig struct {
	Key      *wallet.PrivateKey // our ledger account: payer when buying, payee when selling
	Ledger   speed.Ledger       // ledger/client.Client over HTTP, or any implementation
	LedgerID string             // the ledger's id, advertised in the handshake
	// Store keeps the latest state of each channel paying us, durably,
	// before a payment is acknowledged; nil keeps them in memory.
	Store speed.StateStore
	// Settings are the global switch and defaults; torrents may override.
	Settings SpeedSettings
	// Requester and Provider tune the session machines (zero: defaults).
	Requester speed.RequesterConfig
	Provider  speed.ProviderConfig
	// BanDuration is how long banned peers stay refused (default 1 h).
	BanDuration time.Duration
}

// SpeedSettings are the user's Speed controls (M29).
type SpeedSettings struct {
	// Enabled: bid for and pay for pieces, and sell at auction. Off, the
	// engine serves and downloads by throughput alone, like a legacy peer.
	Enabled bool
	// SpendingRate scales bids, in parts per million (bidder.PPM = 1.0).
	SpendingRate uint32
	// Budget caps what may be spent, in base units. For a torrent it is
	// that torrent's budget (0: the client's TorrentBudget); for the client
	// the cap over all torrents (0: no cap beyond the balance).
	Budget uint64
	// TorrentBudget is the budget of each torrent without one of its own,
	// in base units; 0 means bidder.DefaultBudget: 1% of what the wallet
	// holds when the torrent first bids. Spent and still locked in open
	// channels counts against it.
	TorrentBudget uint64
	// MaxPrice is the most ever bid, base units per GiB; 0 means
	// bidder.DefaultMaxPrice (1,000 BTT per GiB). A torrent's 0 follows
	// the client's.
	MaxPrice uint64
	// Reserve is the lowest rate, base units per MiB, upload slots are sold
	// for.
	Reserve uint64
}

// bidderSettings are the auto-bidder's settings for s.
func (s SpeedSettings) bidderSettings() bidder.Settings {
	return bidder.Settings{Enabled: s.Enabled, SpendingRate: s.SpendingRate, MaxRate: bidder.RateForPrice(s.MaxPrice)}
}

// clientSpeed is a Client's Speed state.
type clientSpeed struct {
	cfg     SpeedConfig
	me      wallet.Address
	bans    *speed.BanList // guarded by mu
	mu      sync.Mutex
	set     SpeedSettings  // guarded by mu
	market  *bidder.Market // guarded by mu: rates accepted, all torrents
	balance atomic.Uint64  // last ledger balance read
	spent   atomic.Uint64  // over all torrents
	earned  atomic.Uint64
}

func newClientSpeed(cfg *SpeedConfig, now func() time.Time) (*clientSpeed, error) {
	if cfg == nil {
		return nil, nil
	}
	if cfg.Key == nil || cfg.Ledger == nil {
		return nil, errors.New("engine: SpeedConfig needs Key and Ledger")
	}
	if err := speed.ValidateLedgerID(cfg.LedgerID); err != nil {
		return nil, fmt.Errorf("engine: SpeedConfig.LedgerID: %w", err)
	}
	c := *cfg
	c.Ledger = newBalanceCache(c.Ledger, c.Key.Address(), balanceTTL, now)
	if c.BanDuration <= 0 {
		c.BanDuration = speed.DefaultBanDuration
	}
	c.Requester.Key, c.Requester.Ledger, c.Requester.LedgerID = c.Key, c.Ledger, c.LedgerID
	c.Provider.Key, c.Provider.Ledger, c.Provider.LedgerID, c.Provider.Store = c.Key, c.Ledger, c.LedgerID, c.Store
	if c.Settings.SpendingRate == 0 && c.Settings.Enabled {
		c.Settings.SpendingRate = bidder.PPM
	}
	return &clientSpeed{cfg: c, me: c.Key.Address(), bans: speed.NewBanList(), set: c.Settings, market: bidder.NewMarket()}, nil
}

// observe records a rate a provider charged us (an accepted bid response).
func (s *clientSpeed) observe(provider wallet.Address, rate uint64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.market.Observe(provider.String(), rate, now)
}

// marketRate is the market estimate the bidder caps bids with.
func (s *clientSpeed) marketRate(now time.Time) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.market.Estimate(now)
}

func (s *clientSpeed) settings() SpeedSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set
}

func (s *clientSpeed) banned(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bans.Banned(key, now)
}

func (s *clientSpeed) ban(key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bans.Ban(key, now, s.cfg.BanDuration)
}

// refreshBalance reads our ledger balance.
func (s *clientSpeed) refreshBalance(ctx context.Context) error {
	b, err := s.cfg.Ledger.Balance(ctx, s.me)
	if err != nil {
		return err
	}
	s.balance.Store(b)
	return nil
}

// torrentSpeed is a torrent's Speed state, guarded by Torrent.mu.
type torrentSpeed struct {
	override *SpeedSettings // per-torrent settings; nil follows the client
	bidder   *bidder.Bidder
	// defaultBudget is bidder.DefaultBudget of the wallet when the torrent
	// first needed a budget (0: not yet).
	defaultBudget uint64
	round         uint64 // choking rounds run, full and early
	spent         uint64 // by closed connections
	earned        uint64
	peers         map[wallet.Address]*PeerSpeed // per account, closed connections included
	jobs          uint64                        // Speed worker jobs run, all connections
	payments      uint64                        // payments sent, all connections
}

// PeerSpeed is what Speed moved with one peer account on one torrent.
type PeerSpeed struct {
	Account wallet.Address
	Addr    string // the last connection's address
	Spent   uint64 // we paid it, base units
	Earned  uint64 // it paid us, base units
	Rate    uint64 // the rate it charges us now, base units per MiB
	Bid     uint64 // its bid to us
	Charged uint64 // the rate we charge it now
}

// SpeedStats is a torrent's Speed account.
type SpeedStats struct {
	Enabled bool
	Spent   uint64
	Earned  uint64
	// Budget is what the torrent may spend in all (its own, the client's
	// TorrentBudget or the default; 0 while the default is not known yet),
	// MaxPrice the most it bids, base units per GiB.
	Budget   uint64
	MaxPrice uint64
	Peers    []PeerSpeed // by account
}

// speedPeer is a Speed connection's state: the peer's handshake, our
// requester side (buying from it), our provider side (selling to it) and the
// worker that runs their ledger work in order. The figures below are
// guarded by Torrent.mu.
type speedPeer struct {
	hs   speed.Handshake
	req  speedReq
	prov speedProv
	work speedWorker

	spent      uint64 // not yet moved to the torrent's account
	earned     uint64
	spentSeen  uint64 // the sessions' totals last recorded
	earnedSeen uint64
	malformed  int // malformed Speed messages dropped
}

// maxSpeedMalformed is how many malformed Speed messages a connection may
// send: each is dropped, and the one that reaches it disconnects (section 3
// of docs/speed-protocol.md: repeat offenders).
const maxSpeedMalformed = 3

// speedSettingsLocked returns the torrent's effective settings.
func (t *Torrent) speedSettingsLocked() SpeedSettings {
	if t.c.speed == nil {
		return SpeedSettings{}
	}
	g := t.c.speed.settings()
	if o := t.sp.override; o != nil {
		s := *o
		s.Enabled = s.Enabled && g.Enabled
		if s.MaxPrice == 0 {
			s.MaxPrice = g.MaxPrice
		}
		return s
	}
	return g
}

// SetSpeed overrides the client's Speed settings for this torrent (nil
// follows the client again). Turning Speed off withdraws bids at once.
func (t *Torrent) SetSpeed(s *SpeedSettings) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sp == nil {
		return
	}
	if s != nil {
		cp := *s
		if cp.SpendingRate == 0 {
			cp.SpendingRate = bidder.PPM
		}
		t.sp.override = &cp
	} else {
		t.sp.override = nil
	}
	t.speedSettingsChangedLocked()
}

// speedSettingsChangedLocked hands the effective settings to the bidder,
// which sends the bids they change at once: budgets included, which the
// bidder sees only in what it may spend (section 5.1).
func (t *Torrent) speedSettingsChangedLocked() {
	set := t.speedSettingsLocked()
	t.sp.bidder.SetSettings(set.bidderSettings())
	t.sp.bidder.Changed()
	t.speedBidLocked()
}

// SpeedSettings returns the torrent's effective Speed settings (its
// override, if any, within the client's; Enabled is false without Speed).
func (t *Torrent) SpeedSettings() SpeedSettings {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sp == nil {
		return SpeedSettings{}
	}
	return t.speedSettingsLocked()
}

// SpeedStats returns what Speed spent and earned on this torrent.
func (t *Torrent) SpeedStats() SpeedStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sp == nil {
		return SpeedStats{}
	}
	set := t.speedSettingsLocked()
	st := SpeedStats{Enabled: set.Enabled, Spent: t.sp.spent, Earned: t.sp.earned, Budget: t.speedBudgetLocked(), MaxPrice: set.MaxPrice}
	if st.MaxPrice == 0 {
		st.MaxPrice = bidder.DefaultMaxPrice
	}
	live := make(map[wallet.Address]PeerSpeed)
	for a, p := range t.sp.peers {
		live[a] = *p
	}
	for c := range t.conns {
		if c.speed == nil {
			continue
		}
		s := c.speed
		p := live[s.hs.Account]
		p.Account, p.Addr = s.hs.Account, c.addr
		p.Spent += s.spent
		p.Earned += s.earned
		p.Rate, p.Bid, p.Charged = s.req.rate, s.prov.peerBid, s.prov.charged
		live[s.hs.Account] = p
		st.Spent += s.spent
		st.Earned += s.earned
	}
	for _, p := range live {
		st.Peers = append(st.Peers, p)
	}
	sort.Slice(st.Peers, func(i, j int) bool { return st.Peers[i].Account.String() < st.Peers[j].Account.String() })
	return st
}

// speedHandshakeLocked adds our Speed entry to the extended handshake.
func (t *Torrent) speedHandshakeLocked(m map[string]int, h map[string]any) {
	s := t.c.speed
	if s == nil {
		return
	}
	m[speed.ExtensionName] = extSpeed
	h[speed.ExtensionName] = speed.Handshake{Version: speed.Version, Account: s.me, Ledger: s.cfg.LedgerID}
}

// speedGotHandshakeLocked makes c a Speed peer if its handshake says so and
// it uses our ledger; peers without Speed, or on another ledger, are legacy.
// A Speed peer gets its worker and our first bid.
func (t *Torrent) speedGotHandshakeLocked(c *conn, payload []byte) {
	s := t.c.speed
	if s == nil || c.speed != nil {
		return
	}
	hs, ok, err := speed.ParseHandshake(payload)
	if err != nil {
		c.log.Debug("invalid speed handshake: treating the peer as legacy", "err", err)
		return
	}
	if !ok || hs.Ledger != s.cfg.LedgerID || hs.Account == s.me || c.ext[speed.ExtensionName] == 0 {
		return
	}
	if s.banned(hs.Account.String(), t.cfg.Now()) {
		c.closeLocked(c.protocolError("account %s is banned", hs.Account))
		return
	}
	c.speed = &speedPeer{
		hs:   hs,
		req:  newSpeedReq(s.cfg.Requester, hs.Account),
		prov: newSpeedProv(s.cfg.Provider, hs.Account),
		work: newSpeedWorker(),
	}
	t.wg.Add(1)
	go c.runSpeedWorker()
	t.speedBidLocked()
}

// speedMessageLocked handles a bt_speed message (reader): each goes to the
// side it concerns. One of an unknown type is skipped; a malformed one is
// dropped, and a peer that keeps sending them is disconnected (section 3);
// one above the size limit is a protocol error.
func (t *Torrent) speedMessageLocked(c *conn, payload []byte) error {
	if c.speed == nil {
		return nil // we did not agree on Speed: ignore
	}
	msg, err := speed.Decode(payload)
	switch {
	case errors.Is(err, speed.ErrUnknownType):
		return nil
	case errors.Is(err, speed.ErrTooLarge):
		return c.protocolError("speed message: %w", err)
	case err != nil:
		c.speed.malformed++
		if c.speed.malformed >= maxSpeedMalformed {
			return c.protocolError("%d malformed speed messages, the last: %w", c.speed.malformed, err)
		}
		c.log.Debug("dropped a malformed speed message", "err", err)
		return nil
	}
	switch m := msg.(type) {
	case speed.Bid:
		c.gotBidLocked(m)
	case speed.BidResponse:
		c.gotBidResponseLocked(m)
	case speed.Payment:
		c.gotPaymentLocked(m)
	case speed.PaymentRejected:
		c.gotPaymentRejectedLocked(m)
	case speed.ChannelClosing:
		c.gotChannelClosingLocked(m)
	}
	return nil
}

// speedSendLocked queues a Speed message to c.
func (c *conn) speedSendLocked(m speed.Message) {
	id := c.ext[speed.ExtensionName]
	if id == 0 {
		return
	}
	b, err := speed.Encode(m)
	if err != nil {
		c.log.Warn("encoding our speed message", "err", err)
		return
	}
	c.sendLocked(pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(id), ExtendedPayload: b})
}

// speedBudgetLeftLocked is what this torrent may still spend.
func (t *Torrent) speedBudgetLeftLocked() uint64 {
	budget := t.speedBudgetLocked()
	left := budget - min(t.speedSpentLocked(), budget)
	if g := t.c.speed.settings(); g.Budget > 0 {
		spent := t.c.speed.spent.Load()
		left = min(left, g.Budget-min(spent, g.Budget))
	}
	return left
}

// speedBudgetLocked is the torrent's budget: its own, else the client's
// TorrentBudget, else bidder.DefaultBudget of the wallet (ledger balance
// plus what our channels still hold) when first asked with a balance known;
// 0 until then.
func (t *Torrent) speedBudgetLocked() uint64 {
	if o := t.sp.override; o != nil && o.Budget > 0 {
		return o.Budget
	}
	if g := t.c.speed.settings(); g.TorrentBudget > 0 {
		return g.TorrentBudget
	}
	if t.sp.defaultBudget == 0 {
		t.sp.defaultBudget = bidder.DefaultBudget(t.c.speed.balance.Load() + t.speedUnspentLocked() + t.speedSpentLocked())
	}
	return t.sp.defaultBudget
}

// speedUnspentLocked is what our open channels to this torrent's peers
// still hold.
func (t *Torrent) speedUnspentLocked() uint64 {
	var n uint64
	for c := range t.conns {
		if c.speed != nil {
			n += c.speed.req.unspent
		}
	}
	return n
}

func (t *Torrent) speedSpentLocked() uint64 {
	spent := t.sp.spent
	for c := range t.conns {
		if c.speed != nil {
			spent += c.speed.spent
		}
	}
	return spent
}

// speedAccountLocked records the totals c's sessions report (spent by our
// requester session, earned by our provider session; 0 leaves one as it
// is). Work finishing after the connection closed goes straight to the
// torrent's account.
func (t *Torrent) speedAccountLocked(c *conn, spent, earned uint64) {
	s := c.speed
	ds, de := spent-min(spent, s.spentSeen), earned-min(earned, s.earnedSeen)
	s.spentSeen, s.earnedSeen = max(s.spentSeen, spent), max(s.earnedSeen, earned)
	t.c.speed.spent.Add(ds)
	t.c.speed.earned.Add(de)
	if !c.closed {
		s.spent += ds
		s.earned += de
		return
	}
	t.sp.spent += ds
	t.sp.earned += de
	if p := t.sp.peers[s.hs.Account]; p != nil {
		p.Spent += ds
		p.Earned += de
	}
}

// speedBanLocked bans c's account and address and drops it.
func (t *Torrent) speedBanLocked(c *conn) {
	now := t.cfg.Now()
	t.c.speed.ban(c.speed.hs.Account.String(), now)
	t.c.speed.ban(hostOf(c.addr), now)
	c.closeLocked(c.protocolError("banned"))
}

// speedTickLocked runs every choking round: each connection's provider
// deadlines (late payments, bans, channels to close) and its requester's
// check of a price it could not pay, then the bids.
func (t *Torrent) speedTickLocked() {
	if t.sp == nil {
		return
	}
	now := t.cfg.Now()
	for c := range t.conns {
		if c.speed != nil {
			c.speedProvTickLocked(now)
		}
		if c.speed != nil && !c.closed {
			c.speedReqTickLocked()
		}
	}
	t.speedBidLocked()
}

// speedConnClosedLocked settles a closed connection: its channels to us are
// closed on the ledger (M19), its figures go to the torrent's account. The
// settling runs on c's worker after the jobs already queued, so that a
// payment that arrived just before the connection ended is counted and
// closes the channel (the queue's cap does not apply to this last job).
func (t *Torrent) speedConnClosedLocked(c *conn) {
	s := c.speed
	if s == nil || t.sp == nil {
		return
	}
	t.sp.bidder.Forget(c.addr)
	// Its figures so far move now: it has left t.conns, and SpeedStats
	// would miss them until the last job runs (what accrues later goes to
	// the torrent's account directly: speedAccountLocked).
	t.speedMoveFiguresLocked(c)
	s.work.lastLocked(func(context.Context) {
		t.mu.Lock()
		t.speedMoveFiguresLocked(c)
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.prov.closeAll(ctx); err != nil {
			t.log.Info("closing channels of a departed peer", "account", s.hs.Account, "err", err)
		}
	})
}

// speedMoveFiguresLocked moves a closed connection's spent and earned to
// the torrent's account.
func (t *Torrent) speedMoveFiguresLocked(c *conn) {
	s := c.speed
	p := t.sp.peers[s.hs.Account]
	if p == nil {
		if len(t.sp.peers) >= 4096 {
			p = &PeerSpeed{} // keep the totals, not the row
		} else {
			p = &PeerSpeed{Account: s.hs.Account}
			t.sp.peers[s.hs.Account] = p
		}
	}
	p.Addr = c.addr
	p.Spent += s.spent
	p.Earned += s.earned
	t.sp.spent += s.spent
	t.sp.earned += s.earned
	s.spent, s.earned = 0, 0
}

// hostOf returns the host part of addr.
func hostOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addr
}
