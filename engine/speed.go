package engine

import (
	"bufio"
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
	"github.com/btspeed/btspeed/shared/speed/choker"
	"github.com/btspeed/btspeed/shared/wallet"
)

// SpeedConfig turns BitTorrent Speed on for a Client (docs/speed-protocol.md
// section 8 is what this file implements).
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
	// Budget caps what may be spent, in base units; 0 means no cap beyond
	// the balance. For a torrent it is that torrent's cap; for the client
	// the cap over all torrents.
	Budget uint64
	// Reserve is the lowest rate, base units per MiB, upload slots are sold
	// for.
	Reserve uint64
}

// clientSpeed is a Client's Speed state.
type clientSpeed struct {
	cfg     SpeedConfig
	me      wallet.Address
	bans    *speed.BanList // guarded by mu
	mu      sync.Mutex
	set     SpeedSettings // guarded by mu
	balance atomic.Uint64 // last ledger balance read
	spent   atomic.Uint64 // over all torrents
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
	return &clientSpeed{cfg: c, me: c.Key.Address(), bans: speed.NewBanList(), set: c.Settings}, nil
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
	round    uint64
	spent    uint64 // by closed connections
	earned   uint64
	peers    map[wallet.Address]*PeerSpeed // per account, closed connections included
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
	Peers   []PeerSpeed // by account
}

// speedPeer is a Speed connection's state. The session machines are owned
// by the connection's Speed worker (requester) and guarded by pmu
// (provider); the other fields by Torrent.mu.
type speedPeer struct {
	hs  speed.Handshake
	req *speed.RequesterSession // owned by the worker goroutine
	pmu sync.Mutex              // guards prov; taken after Torrent.mu, never before
	// prov is our provider session with this requester.
	prov *speed.ProviderSession

	// guarded by Torrent.mu
	peerBid      uint64 // its bid to us
	rate         uint64 // the rate it charges us (bid responses applied by the worker)
	rateSeen     uint64 // the rate of the last bid response received, not yet applied
	canBuy       bool   // we may start a piece from it at its rate
	charged      uint64 // the rate we granted it last
	unspent      uint64 // what our channel to it still holds
	spent        uint64 // not yet moved to the torrent's account
	earned       uint64
	spentSeen    uint64 // the sessions' totals last recorded
	earnedSeen   uint64
	stopPay      bool // it misbehaved as a provider: buy nothing more from it
	checkRetries int  // CanBuy failures in a row (backoff of its retries)
	jobs         []func(ctx context.Context)
	jobsWake     chan struct{}
	busy         bool // the worker is running jobs (t.mu)
}

// maxSpeedJobs caps a connection's queued Speed work; a peer that floods
// us with Speed messages past it is dropped.
const maxSpeedJobs = 1 << 14

func (t *Torrent) speedOn() bool { return t.c.speed != nil }

// speedSettingsLocked returns the torrent's effective settings.
func (t *Torrent) speedSettingsLocked() SpeedSettings {
	if t.c.speed == nil {
		return SpeedSettings{}
	}
	g := t.c.speed.settings()
	if o := t.sp.override; o != nil {
		s := *o
		s.Enabled = s.Enabled && g.Enabled
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
	set := t.speedSettingsLocked()
	t.sp.bidder.SetSettings(bidder.Settings{Enabled: set.Enabled, SpendingRate: set.SpendingRate})
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
	st := SpeedStats{Enabled: t.speedSettingsLocked().Enabled, Spent: t.sp.spent, Earned: t.sp.earned}
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
		p.Rate, p.Bid, p.Charged = s.rate, s.peerBid, s.charged
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
	now := t.cfg.Now()
	if s.banned(hs.Account.String(), now) {
		c.closeLocked(c.protocolError("account %s is banned", hs.Account))
		return
	}
	c.speed = &speedPeer{
		hs:       hs,
		req:      speed.NewRequesterSession(s.cfg.Requester, hs.Account),
		prov:     speed.NewProviderSession(s.cfg.Provider, hs.Account),
		canBuy:   true,
		jobsWake: make(chan struct{}, 1),
	}
	t.wg.Add(1)
	go c.speedWorker()
	t.speedBidLocked()
}

// enqueueLocked queues work for c's Speed worker, which runs it in order
// without the torrent lock.
func (c *conn) enqueueLocked(job func(ctx context.Context)) {
	s := c.speed
	if len(s.jobs) >= maxSpeedJobs {
		c.closeLocked(c.protocolError("speed work queue full"))
		return
	}
	s.jobs = append(s.jobs, job)
	select {
	case s.jobsWake <- struct{}{}:
	default:
	}
}

// speedWorker runs c's Speed jobs: every call into the requester session,
// in the order the messages arrived, and the provider's ledger work.
func (c *conn) speedWorker() {
	t := c.t
	defer t.wg.Done()
	s := c.speed
	for {
		t.mu.Lock()
		jobs := s.jobs
		s.jobs = nil
		closed := c.closed
		s.busy = len(jobs) > 0
		if !s.busy && c.draining {
			c.nudge() // the writer waits for the last payment's job
		}
		t.mu.Unlock()
		if len(jobs) == 0 {
			if closed {
				return
			}
			select {
			case <-s.jobsWake:
			case <-c.done:
			}
			continue
		}
		for _, job := range jobs {
			job(t.ctx)
		}
	}
}

// speedMessageLocked handles a bt_speed message.
func (t *Torrent) speedMessageLocked(c *conn, payload []byte) error {
	s := c.speed
	if s == nil {
		return nil // we did not agree on Speed: ignore
	}
	msg, err := speed.Decode(payload)
	if err != nil {
		if errors.Is(err, speed.ErrUnknownType) {
			return nil
		}
		return c.protocolError("speed message: %w", err)
	}
	switch m := msg.(type) {
	case speed.Bid:
		s.peerBid = m.Rate
	case speed.BidResponse:
		s.rateSeen = m.Rate
		if m.Rate > 0 {
			s.canBuy = false // until the worker has checked we can pay
		}
		c.enqueueLocked(func(ctx context.Context) { t.speedAccept(c, m) })
	case speed.Payment:
		c.enqueueLocked(func(ctx context.Context) { t.speedPaid(ctx, c, m) })
	case speed.PaymentRejected:
		c.enqueueLocked(func(ctx context.Context) {
			p, err := s.req.Rejected(ctx, t.cfg.Now(), m)
			t.speedAfterPay(c, p, err)
		})
	case speed.ChannelClosing:
		c.enqueueLocked(func(ctx context.Context) { s.req.Closing(m) })
	}
	return nil
}

// speedSend sends a Speed message to c (caller holds Torrent.mu).
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

// speedAccept applies a bid response (worker), then checks we can pay for a
// piece at the new rate.
func (t *Torrent) speedAccept(c *conn, m speed.BidResponse) {
	s := c.speed
	if err := s.req.Accept(m); err != nil {
		t.mu.Lock()
		s.stopPay = true
		s.canBuy = false
		t.mu.Unlock()
		c.log.Info("stopped buying from a provider", "err", err)
		return
	}
	t.speedCheckBuy(c)
}

// speedCheckBuy decides (worker) whether we may start another piece from c.
func (t *Torrent) speedCheckBuy(c *conn) {
	s := c.speed
	rate := s.req.Rate()
	ok := !s.stopPay
	if ok && rate > 0 {
		t.mu.Lock()
		pieceLen := uint64(0)
		if t.lay != nil {
			pieceLen = uint64(t.lay.pieceLength)
		}
		left := t.speedBudgetLeftLocked()
		t.mu.Unlock()
		price := speed.Price(rate, pieceLen)
		ok = price <= left
		if ok {
			// Open the next channel while the current one still pays, so
			// no payment waits for the ledger.
			if err := s.req.Prefund(t.ctx, t.cfg.Now(), pieceLen); err != nil && !errors.Is(err, speed.ErrCannotPay) {
				c.log.Info("opening the next channel", "err", err)
			}
			var err error
			ok, err = s.req.CanBuy(t.ctx, t.cfg.Now(), pieceLen)
			if err != nil {
				c.log.Info("cannot check our balance", "err", err)
				if transientSpeedErr(t.ctx, err) {
					t.mu.Lock()
					s.checkRetries++
					t.speedRetryLocked(c, s.checkRetries-1, func(context.Context) { t.speedCheckBuy(c) })
					t.mu.Unlock()
				}
			} else {
				t.mu.Lock()
				s.checkRetries = 0
				t.mu.Unlock()
			}
		}
	}
	unspent := s.req.Unspent(t.cfg.Now())
	t.mu.Lock()
	defer t.mu.Unlock()
	s.rate = rate
	s.canBuy = ok
	s.unspent = unspent
	if ok {
		t.fillRequestsLocked(c)
	}
}

// speedBudgetLeftLocked is what this torrent may still spend.
func (t *Torrent) speedBudgetLeftLocked() uint64 {
	left := ^uint64(0)
	if set := t.speedSettingsLocked(); set.Budget > 0 {
		spent := t.speedSpentLocked()
		left = set.Budget - min(spent, set.Budget)
	}
	if g := t.c.speed.settings(); g.Budget > 0 {
		spent := t.c.speed.spent.Load()
		left = min(left, g.Budget-min(spent, g.Budget))
	}
	return left
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

// speedAfterPay sends a payment the requester session produced (worker).
func (t *Torrent) speedAfterPay(c *conn, p *speed.Payment, err error) {
	s := c.speed
	if err != nil {
		c.log.Info("payment failed", "err", err)
		if errors.Is(err, speed.ErrProviderMisbehaving) || errors.Is(err, speed.ErrCannotPay) {
			t.mu.Lock()
			s.stopPay = errors.Is(err, speed.ErrProviderMisbehaving)
			s.canBuy = false
			t.mu.Unlock()
		}
	}
	spent := s.req.Spent()
	t.mu.Lock()
	t.speedAccountLocked(c, spent, 0)
	if p != nil {
		c.speedSendLocked(*p)
	}
	t.mu.Unlock()
	if err == nil {
		t.speedCheckBuy(c)
	}
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

// speedPaid handles a payment (worker, provider side).
func (t *Torrent) speedPaid(ctx context.Context, c *conn, m speed.Payment) {
	s := c.speed
	s.pmu.Lock()
	rej, err := s.prov.Receive(ctx, t.cfg.Now(), m)
	earned, banned := s.prov.Earned(), s.prov.Banned()
	s.pmu.Unlock()
	if err != nil {
		c.log.Info("payment not processed", "err", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.speedAccountLocked(c, 0, earned)
	if rej != nil {
		c.speedSendLocked(*rej)
	}
	if banned {
		t.speedBanLocked(c)
		return
	}
	c.nudge() // a paid piece may unblock queued requests
}

// speedBanLocked bans c's account and address and drops it.
func (t *Torrent) speedBanLocked(c *conn) {
	now := t.cfg.Now()
	t.c.speed.ban(c.speed.hs.Account.String(), now)
	t.c.speed.ban(hostOf(c.addr), now)
	c.closeLocked(c.protocolError("banned"))
}

// speedMayServeLocked says whether a request may be queued (always, for
// legacy peers and free slots; CanServe is checked when it is served).
func (t *Torrent) speedMayServeLocked(c *conn, r request) bool { return true }

// speedFilterServe splits the requests the writer took into those it may
// serve now and those that wait for a payment (provider side, without the
// torrent lock).
func (c *conn) speedFilterServe(reqs []request) (serve, wait []request) {
	s := c.speed
	if s == nil {
		return reqs, nil
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	for _, r := range reqs {
		if s.prov.CanServe(r.piece) {
			serve = append(serve, r)
		} else {
			wait = append(wait, r)
		}
	}
	return serve, wait
}

// speedSent records a block sent (provider side, without the torrent
// lock).
func (c *conn) speedSent(now time.Time, r request, pieceLen int64) {
	s := c.speed
	if s == nil {
		return
	}
	s.pmu.Lock()
	s.prov.Sent(now, r.piece, uint64(r.length), uint64(pieceLen))
	s.pmu.Unlock()
}

// writeGrant applies a grant at its place in the stream and writes the bid
// response (writer goroutine).
func (c *conn) writeGrant(w *bufio.Writer, it outItem) error {
	s := c.speed
	if s == nil {
		return nil
	}
	s.pmu.Lock()
	resp := s.prov.Grant(it.round, it.rate)
	s.pmu.Unlock()
	id := c.extID(speed.ExtensionName)
	if id == 0 {
		return nil
	}
	b, err := speed.Encode(resp)
	if err != nil {
		return fmt.Errorf("encoding a bid response: %w", err)
	}
	m := pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(id), ExtendedPayload: b}
	return m.WriteTo(w)
}

// extID returns the peer's id for an extension (taking the torrent lock).
func (c *conn) extID(name string) int {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.ext[name]
}

// speedMayStartLocked says whether we may request blocks of piece from c:
// a charging provider only while we can pay for a piece, and never in the
// endgame's duplicate requests (one seller per piece).
func (t *Torrent) speedMayStartLocked(c *conn, piece int) bool {
	s := c.speed
	if s == nil {
		return true
	}
	if s.rateSeen > 0 || s.rate > 0 {
		return s.canBuy && !s.stopPay
	}
	return true
}

// speedReceivedLocked records a block from c (its price accrues at the
// rate in force, in stream order: the worker applies bid responses and
// blocks in the order they arrived).
func (t *Torrent) speedReceivedLocked(c *conn, piece int, n uint64) {
	s := c.speed
	if s == nil {
		return
	}
	c.enqueueLocked(func(ctx context.Context) { s.req.Received(uint32(piece), n) })
}

// speedFailedLocked: a piece with data from c failed its hash: pay nothing
// for it and ban the provider (M21).
func (t *Torrent) speedFailedLocked(c *conn, piece int) {
	s := c.speed
	if s == nil {
		return
	}
	c.enqueueLocked(func(ctx context.Context) { s.req.Failed(uint32(piece)) })
	t.speedBanLocked(c)
}

// speedVerifiedLocked: a piece with data from c verified: pay for it.
func (t *Torrent) speedVerifiedLocked(c *conn, piece int) {
	s := c.speed
	if s == nil || c.closed {
		return
	}
	c.enqueueLocked(func(ctx context.Context) { t.speedPayPiece(ctx, c, piece, 0) })
}

// speedRetryMax is the longest wait between retries of ledger work that
// failed for a passing reason (ledger unreachable, rate-limited).
const speedRetryMax = 30 * time.Second

// transientSpeedErr says whether a Speed error may pass by itself: not a
// misbehaving provider, not an empty wallet, not a closing torrent.
func transientSpeedErr(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && !errors.Is(err, speed.ErrProviderMisbehaving) && !errors.Is(err, speed.ErrCannotPay)
}

// speedRetryLocked runs job on c's worker after a backoff of attempt,
// unless c has closed by then.
func (t *Torrent) speedRetryLocked(c *conn, attempt int, job func(ctx context.Context)) {
	delay := min(time.Second<<min(attempt, 5), speedRetryMax)
	time.AfterFunc(delay, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !c.closed {
			c.enqueueLocked(job)
		}
	})
}

// speedPayPiece pays for a verified piece (worker); a passing failure is
// retried with backoff, so the provider, which serves one piece unpaid,
// is not left waiting forever.
func (t *Torrent) speedPayPiece(ctx context.Context, c *conn, piece, attempt int) {
	p, err := c.speed.req.Verified(ctx, t.cfg.Now(), uint32(piece))
	t.speedAfterPay(c, p, err)
	if transientSpeedErr(ctx, err) {
		t.mu.Lock()
		t.speedRetryLocked(c, attempt, func(ctx context.Context) { t.speedPayPiece(ctx, c, piece, attempt+1) })
		t.mu.Unlock()
	}
}

// speedTickLocked runs every choking round: the provider's timers, and
// the bids.
func (t *Torrent) speedTickLocked() {
	if t.sp == nil {
		return
	}
	now := t.cfg.Now()
	for c := range t.conns {
		s := c.speed
		if s == nil {
			continue
		}
		s.pmu.Lock()
		r := s.prov.Tick(now)
		s.pmu.Unlock()
		if r.Ban {
			t.speedBanLocked(c)
			continue
		}
		if r.Choke {
			t.chokeLocked(c)
		}
		for _, id := range r.Close {
			t.speedCloseLocked(c, id)
		}
	}
	t.speedBidLocked()
}

// speedCloseLocked closes one channel c pays us through (worker).
func (t *Torrent) speedCloseLocked(c *conn, id speed.ChannelID) {
	s := c.speed
	c.enqueueLocked(func(ctx context.Context) {
		s.pmu.Lock()
		m, err := s.prov.Close(ctx, id)
		s.pmu.Unlock()
		if err != nil {
			c.log.Info("closing a channel failed", "channel", id, "err", err)
			return
		}
		if m != nil {
			t.mu.Lock()
			c.speedSendLocked(*m)
			t.mu.Unlock()
		}
	})
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
	s.jobs = append(s.jobs, func(context.Context) {
		t.mu.Lock()
		t.speedMoveFiguresLocked(c)
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.pmu.Lock()
		err := s.prov.CloseAll(ctx)
		s.pmu.Unlock()
		if err != nil {
			t.log.Info("closing channels of a departed peer", "account", s.hs.Account, "err", err)
		}
	})
	select {
	case s.jobsWake <- struct{}{}:
	default:
	}
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

// speedExcludedLocked leaves late payers out of choking rounds (M20).
func (t *Torrent) speedExcludedLocked(c *conn) bool {
	s := c.speed
	if s == nil {
		return false
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.prov.Late() || s.prov.Banned()
}

// speedChokerPeerLocked fills in c's Speed fields for the choker.
func (t *Torrent) speedChokerPeerLocked(c *conn, p *choker.Peer) {
	s := c.speed
	if s == nil || !t.speedSettingsLocked().Enabled {
		return
	}
	p.Account = s.hs.Account.String()
	p.Speed = true
	p.Bid = s.peerBid
}

func (t *Torrent) speedReserveLocked() uint64 {
	if t.sp == nil {
		return 0
	}
	return t.speedSettingsLocked().Reserve
}

// speedGrantLocked sends the bid response for an unchoke before the unchoke
// itself (M11): the rate c pays from now on.
func (t *Torrent) speedGrantLocked(c *conn, d choker.Decision) {
	s := c.speed
	if s == nil || t.sp == nil {
		return
	}
	rate := d.Rate
	if !t.speedSettingsLocked().Enabled {
		rate = 0
	}
	if rate == s.charged && !c.amChoking {
		return // unchanged for a peer already unchoked
	}
	t.sp.round++
	s.charged = rate
	c.grantLocked(t.sp.round, rate)
}

// speedBidLocked runs the auto-bidder and sends the bids it decides on.
func (t *Torrent) speedBidLocked() {
	if t.sp == nil || t.lay == nil {
		return
	}
	var remaining uint64
	if !t.have.Full() {
		remaining = uint64(t.lay.total - t.statsCompletedLocked())
	}
	unspent := uint64(0)
	in := bidder.Input{Now: t.cfg.Now(), Remaining: remaining}
	byID := make(map[string]*conn)
	for c := range t.conns {
		if c.speed == nil {
			continue
		}
		unspent += c.speed.unspent
		byID[c.addr] = c
		in.Peers = append(in.Peers, bidder.Peer{ID: c.addr, Speed: true, HasWanted: c.peerHave.n > 0 && c.peerHave.AnyNotIn(&t.have)})
	}
	in.Balance = min(t.c.speed.balance.Load()+unspent, t.speedBudgetLeftLocked())
	for _, b := range t.sp.bidder.Update(in) {
		if c := byID[b.Peer]; c != nil {
			c.speedSendLocked(speed.Bid{Rate: b.Rate})
		}
	}
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
