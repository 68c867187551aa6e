// Package wstracker is the engine's client for WebTorrent's WebSocket
// trackers (bittorrent-tracker's wire format, see shared/webtorrent). It is
// an engine.PeerFinder: for each torrent it announces with WebRTC offers,
// answers the offers the tracker forwards from other peers, and hands every
// data channel that opens to the torrent as a BitTorrent connection. It
// runs natively and in the browser (coder/websocket and engine/rtc both
// work under GOOS=js), and talks to WebTorrent peers as one of them.
//
// One WebSocket per tracker URL carries every torrent announced there, as
// bittorrent-tracker's client does. Everything a tracker or peer can make
// it hold is capped: messages (MaxMessage), offers waiting for an answer,
// peer connections being set up.
package wstracker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/shared/fetch"
	"github.com/btspeed/btspeed/shared/webtorrent"
	"github.com/coder/websocket"
)

// Limits.
const (
	// MaxMessage caps one message from the tracker (an SDP is a few KiB).
	MaxMessage = 256 << 10
	// maxOffersPerAnnounce is WebTorrent's own number.
	maxOffersPerAnnounce = 5
)

// Config configures a Client.
type Config struct {
	// RTC configures the peer connections (ICE servers; natively a pion
	// API with its SettingEngine).
	RTC rtc.Config
	// Offers is how many offers an announce carries at most (default 5,
	// as WebTorrent).
	Offers int
	// OfferTimeout is how long an offer waits for its answer (default 50
	// s, as WebTorrent).
	OfferTimeout time.Duration
	// ConnectTimeout bounds ICE and the data channel opening once both
	// descriptions are known (default 30 s).
	ConnectTimeout time.Duration
	// MaxPending caps the peer connections being set up at once, offers
	// and answers together, across all torrents (default 40).
	MaxPending int
	// HTTPClient dials the WebSocket natively when it is an *http.Client
	// (nil: the default client); the browser's WebSocket ignores it.
	HTTPClient fetch.Doer
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
}

// Client announces torrents to WebSocket trackers. It implements
// engine.PeerFinder.
type Client struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	sockets map[string]*socket
	pending int
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.Offers <= 0 {
		cfg.Offers = maxOffersPerAnnounce
	}
	if cfg.OfferTimeout <= 0 {
		cfg.OfferTimeout = 50 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 40
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: cfg.Logger, sockets: make(map[string]*socket)}
}

// Handles says whether url is a WebSocket tracker.
func (c *Client) Handles(url string) bool {
	u := strings.ToLower(url)
	return strings.HasPrefix(u, "ws://") || strings.HasPrefix(u, "wss://")
}

// reserve takes n setup slots (fewer if fewer are free) and returns how
// many it took.
func (c *Client) reserve(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n = max(min(n, c.cfg.MaxPending-c.pending), 0)
	c.pending += n
	return n
}

func (c *Client) release() {
	c.mu.Lock()
	c.pending--
	c.mu.Unlock()
}

// Run announces t to the tracker at url until ctx ends, then announces
// "stopped".
func (c *Client) Run(ctx context.Context, t *engine.Torrent, url string) {
	s := c.acquire(url)
	defer c.releaseSocket(s)
	a := &announcer{c: c, s: s, t: t, ih: t.InfoHash(), offers: make(map[[20]byte]*rtc.Peer), wake: make(chan struct{}, 1), interval: 2 * time.Minute}
	s.register(a)
	defer s.unregister(a)
	a.run(ctx)
}

// RunTier announces t to the tier's trackers one at a time, BEP 12 style:
// the first URL, and when its connection fails (cannot be dialed, or
// drops) the next, wrapping around, with a backoff between moves (1 s
// doubling to 5 minutes, back to 1 s after a connection that lasted a
// minute). It implements engine.TierFinder.
func (c *Client) RunTier(ctx context.Context, t *engine.Torrent, urls []string) {
	backoff := time.Second
	for i := 0; ; i = (i + 1) % len(urls) {
		start := time.Now()
		if !c.runUntilDown(ctx, t, urls[i]) {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		c.log.Info("websocket tracker failed, trying the next of its tier", "tracker", urls[i], "next", urls[(i+1)%len(urls)], "after", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

// runUntilDown announces t to url until ctx ends (false) or the tracker's
// connection fails (true).
func (c *Client) runUntilDown(ctx context.Context, t *engine.Torrent, url string) bool {
	s := c.acquire(url)
	defer c.releaseSocket(s)
	down := s.failures()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan bool, 1)
	go func() { // ends with actx, which ends before runUntilDown returns
		select {
		case <-down:
			failed <- true
			cancel()
		case <-actx.Done():
			failed <- false
		}
	}()
	a := &announcer{c: c, s: s, t: t, ih: t.InfoHash(), offers: make(map[[20]byte]*rtc.Peer), wake: make(chan struct{}, 1), interval: 2 * time.Minute}
	s.register(a)
	defer s.unregister(a)
	a.run(actx)
	cancel()
	return <-failed && ctx.Err() == nil
}

// message is a message of the protocol (shared/webtorrent, the tracker's
// too).
type message = webtorrent.Message

// socket is the shared WebSocket to one tracker URL. Its run goroutine,
// owned by the socket and stopped when the last torrent leaves, dials,
// reads and redials.
type socket struct {
	c   *Client
	url string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	ws        *websocket.Conn // nil while disconnected
	up        chan struct{}   // closed while connected
	down      chan struct{}   // closed at the next failure (dial failed, connection lost)
	refs      int
	announcer map[[20]byte]*announcer
}

func (c *Client) acquire(url string) *socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sockets[url]
	if s == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s = &socket{c: c, url: url, ctx: ctx, cancel: cancel, done: make(chan struct{}), up: make(chan struct{}), down: make(chan struct{}),
			announcer: make(map[[20]byte]*announcer)}
		c.sockets[url] = s
		go s.run()
	}
	s.refs++
	return s
}

func (c *Client) releaseSocket(s *socket) {
	c.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(c.sockets, s.url)
	}
	c.mu.Unlock()
	if last {
		s.cancel()
		<-s.done
	}
}

func (s *socket) register(a *announcer) {
	s.mu.Lock()
	s.announcer[a.ih] = a
	s.mu.Unlock()
}

func (s *socket) unregister(a *announcer) {
	s.mu.Lock()
	if s.announcer[a.ih] == a {
		delete(s.announcer, a.ih)
	}
	s.mu.Unlock()
}

// connected returns a channel closed while the socket is up.
func (s *socket) connected() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up
}

func (s *socket) run() {
	defer close(s.done)
	log := s.c.log.With("tracker", s.url)
	backoff := time.Second
	for s.ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
		ws, err := dial(dctx, s.url, s.c.cfg.HTTPClient)
		cancel()
		if err != nil {
			s.failed()
			log.Debug("websocket tracker unreachable", "err", err, "retry", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
			}
			backoff = min(2*backoff, 5*time.Minute)
			continue
		}
		ws.SetReadLimit(MaxMessage)
		s.mu.Lock()
		s.ws = ws
		close(s.up)
		for _, a := range s.announcer {
			a.poke() // announce again on the new socket
		}
		s.mu.Unlock()
		start := time.Now()
		err = s.read(ws, log)
		s.mu.Lock()
		s.ws = nil
		s.up = make(chan struct{})
		s.mu.Unlock()
		ws.CloseNow()
		s.failed()
		if s.ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		log.Debug("websocket tracker connection lost", "err", err, "retry", backoff)
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

// failures returns a channel closed at the socket's next failure.
func (s *socket) failures() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// failed signals a failure to those waiting for one.
func (s *socket) failed() {
	s.mu.Lock()
	close(s.down)
	s.down = make(chan struct{})
	s.mu.Unlock()
}

// read dispatches the tracker's messages until the connection fails.
func (s *socket) read(ws *websocket.Conn, log *slog.Logger) error {
	for {
		typ, b, err := ws.Read(s.ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			continue
		}
		m, ih, err := decode(b)
		if err != nil {
			log.Debug("unusable message from the tracker", "err", err)
			continue
		}
		if ih == nil {
			if m.FailureReason != "" {
				log.Info("websocket tracker refused", "reason", m.FailureReason)
			}
			continue
		}
		s.mu.Lock()
		a := s.announcer[*ih]
		s.mu.Unlock()
		if a != nil {
			a.handle(m)
		}
	}
}

// decode parses a message from the tracker; ih is nil for messages that
// are not announces for one torrent (scrapes, bare errors).
func decode(b []byte) (*message, *[20]byte, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if m.Action != "announce" || m.InfoHash.One() == "" {
		return &m, nil, nil
	}
	ih, err := webtorrent.ID20(m.InfoHash.One())
	if err != nil {
		return nil, nil, fmt.Errorf("info_hash: %w", err)
	}
	return &m, &ih, nil
}

// signal is an offer or answer another peer sent through the tracker.
type signal struct {
	peer, offerID [20]byte
	desc          rtc.SessionDescription
}

// parseSignal checks the offer or answer a message carries; nil when it
// carries neither.
func parseSignal(m *message) (*signal, error) {
	raw, want := m.Offer, rtc.SDPTypeOffer
	if len(m.Answer) > 0 {
		raw, want = m.Answer, rtc.SDPTypeAnswer
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var sg signal
	var err error
	if sg.peer, err = webtorrent.ID20(m.PeerID); err != nil {
		return nil, fmt.Errorf("peer_id: %w", err)
	}
	if sg.offerID, err = webtorrent.ID20(m.OfferID); err != nil {
		return nil, fmt.Errorf("offer_id: %w", err)
	}
	if err := json.Unmarshal(raw, &sg.desc); err != nil {
		return nil, fmt.Errorf("session description: %w", err)
	}
	if sg.desc.Type != want || sg.desc.SDP == "" {
		return nil, fmt.Errorf("want an %s with an SDP, got type %q", want, sg.desc.Type)
	}
	return &sg, nil
}

// send writes one message if the socket is up.
func (s *socket) send(ctx context.Context, m *message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("wstracker: encode: %w", err)
	}
	s.mu.Lock()
	ws := s.ws
	s.mu.Unlock()
	if ws == nil {
		return errors.New("wstracker: not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("wstracker: send: %w", err)
	}
	return nil
}

// announcer is one torrent at one tracker. Its run goroutine is Run's;
// the connections it sets up run on goroutines it starts and the
// torrent's context ends.
type announcer struct {
	c    *Client
	s    *socket
	t    *engine.Torrent
	ih   [20]byte
	ctx  context.Context
	wake chan struct{}

	mu       sync.Mutex
	offers   map[[20]byte]*rtc.Peer // by offer id, waiting for an answer
	interval time.Duration
	stopping bool // set before run waits for its goroutines
	wg       sync.WaitGroup
}

func (a *announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *announcer) run(ctx context.Context) {
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.stopping = true
		a.mu.Unlock()
		a.wg.Wait()
	}()
	event := "started"
	completedSent := false
	retry := firstRetry
	// The first announce's offers gather their candidates while the socket
	// connects (both take a while; one after the other delayed the first
	// peer by both).
	first, firstAt := a.prepare(ctx, event), time.Now()
	for {
		select {
		case <-a.s.connected():
			m := first
			if m == nil || time.Since(firstAt) > a.c.cfg.OfferTimeout/2 {
				m = a.prepare(ctx, event) // an old one's offers are expiring
			}
			first = nil
			if err := a.s.send(ctx, m); err != nil {
				a.c.log.Debug("websocket announce failed", "tracker", a.s.url, "err", err)
			} else {
				if event == "completed" {
					completedSent = true
				}
				event = ""
			}
		case <-ctx.Done():
		}
		a.mu.Lock()
		wait := a.interval
		a.mu.Unlock()
		// A torrent still missing data with no peer at all asks again
		// soon, backing off to the interval: its offers may have failed
		// (ICE under load), or the seed it needs may announce later.
		if st := a.t.AnnounceState(); st.Left != 0 && st.Connected == 0 {
			wait, retry = min(wait, retry), min(2*retry, wait)
		} else {
			retry = firstRetry
		}
		complete := a.t.Complete()
		if completedSent || event == "completed" {
			complete = nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			a.closeOffers()
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			a.announceStopped(sctx)
			cancel()
			return
		case <-complete:
			event = "completed"
		case <-a.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// firstRetry is the first early re-announce of a torrent with no peers.
const firstRetry = 5 * time.Second

func (a *announcer) closeOffers() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, p := range a.offers {
		p.Close()
		delete(a.offers, id)
		a.c.release()
	}
}

func (a *announcer) base(event string) *message {
	st := a.t.AnnounceState()
	m := &message{Action: "announce", InfoHash: webtorrent.Hashes{webtorrent.BinString(a.ih[:])}, PeerID: webtorrent.BinString(st.PeerID[:]),
		Uploaded: webtorrent.Count(st.Uploaded), Downloaded: webtorrent.Count(st.Downloaded), Event: event}
	if st.Left >= 0 {
		m.Left = webtorrent.Count(st.Left)
	}
	return m
}

func (a *announcer) announceStopped(ctx context.Context) {
	a.s.send(ctx, a.base("stopped"))
}

// prepare makes an announce with as many fresh offers as the torrent wants
// peers (up to Config.Offers and the free setup slots).
func (a *announcer) prepare(ctx context.Context, event string) *message {
	m := a.base(event)
	st := a.t.AnnounceState()
	want := 0
	if event != "completed" {
		a.mu.Lock()
		waiting := len(a.offers)
		a.mu.Unlock()
		want = a.c.reserve(min(a.c.cfg.Offers, st.WantPeers) - waiting)
	}
	for _, p := range a.makeOffers(ctx, want) {
		var id [20]byte
		rand.Read(id[:])
		a.mu.Lock()
		a.offers[id] = p
		a.mu.Unlock()
		raw, _ := json.Marshal(p.Local) // a SessionDescription always encodes
		m.Offers = append(m.Offers, webtorrent.Offer{Offer: raw, OfferID: webtorrent.BinString(id[:])})
		time.AfterFunc(a.c.cfg.OfferTimeout, func() { a.expire(id, p) })
	}
	m.NumWant = webtorrent.Count(len(m.Offers))
	return m
}

// makeOffers makes n offers at once (each gathers its ICE candidates, which
// takes a while in a browser: one after another they delayed the announce
// by n times that) and returns those that succeeded; a failed one gives its
// setup slot back.
func (a *announcer) makeOffers(ctx context.Context, n int) []*rtc.Peer {
	made := make([]*rtc.Peer, n)
	var wg sync.WaitGroup
	for i := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := rtc.NewOffer(ctx, a.c.cfg.RTC)
			if err != nil {
				a.c.release()
				a.c.log.Debug("webrtc offer failed", "err", err)
				return
			}
			made[i] = p
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(made, func(p *rtc.Peer) bool { return p == nil })
}

// expire drops an offer nobody answered.
func (a *announcer) expire(id [20]byte, p *rtc.Peer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.offers[id] == p {
		delete(a.offers, id)
		p.Close()
		a.c.release()
	}
}

// handle takes one announce message for this torrent.
func (a *announcer) handle(m *message) {
	log := a.c.log.With("tracker", a.s.url)
	if m.FailureReason != "" {
		log.Info("websocket tracker refused the announce", "reason", m.FailureReason)
		return
	}
	if iv := m.Interval.Value(0); iv > 0 {
		a.mu.Lock()
		a.interval = time.Duration(min(max(iv, 30), 1800)) * time.Second
		a.mu.Unlock()
	}
	sg, err := parseSignal(m)
	if err != nil || sg == nil {
		if err != nil {
			log.Debug("unusable signal", "err", err)
		}
		return
	}
	if sg.desc.Type == rtc.SDPTypeAnswer {
		a.answered(sg.offerID, sg.desc)
		return
	}
	if st := a.t.AnnounceState(); sg.peer == st.PeerID || st.WantPeers == 0 || a.c.reserve(1) == 0 {
		return
	}
	if !a.spawn(func(ctx context.Context) {
		defer a.c.release()
		a.answer(ctx, sg.peer, sg.offerID, sg.desc)
	}) {
		a.c.release()
	}
}

// spawn runs f on a goroutine the announcer waits for before Run returns;
// false, running nothing, once the announcer is stopping.
func (a *announcer) spawn(f func(ctx context.Context)) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping || a.ctx == nil {
		return false
	}
	ctx := a.ctx
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f(ctx)
	}()
	return true
}

// answered completes one of our offers.
func (a *announcer) answered(offerID [20]byte, answer rtc.SessionDescription) {
	a.mu.Lock()
	p := a.offers[offerID]
	delete(a.offers, offerID)
	a.mu.Unlock()
	if p == nil {
		return // expired, answered twice, or never ours
	}
	if err := p.Accept(answer); err != nil {
		a.c.log.Debug("bad answer", "err", err)
		p.Close()
		a.c.release()
		return
	}
	if !a.spawn(func(ctx context.Context) {
		defer a.c.release()
		a.connect(ctx, p)
	}) {
		p.Close()
		a.c.release()
	}
}

// answer answers a forwarded offer through the tracker, then connects.
func (a *announcer) answer(ctx context.Context, peer, offerID [20]byte, offer rtc.SessionDescription) {
	cctx, cancel := context.WithTimeout(ctx, a.c.cfg.ConnectTimeout)
	defer cancel()
	p, err := rtc.NewAnswer(cctx, a.c.cfg.RTC, offer)
	if err != nil {
		a.c.log.Debug("webrtc answer failed", "err", err)
		return
	}
	raw, _ := json.Marshal(p.Local)
	m := a.base("")
	m.Uploaded, m.Downloaded, m.Left = nil, nil, nil
	m.ToPeerID = webtorrent.BinString(peer[:])
	m.OfferID = webtorrent.BinString(offerID[:])
	m.Answer = raw
	if err := a.s.send(cctx, m); err != nil {
		p.Close()
		return
	}
	a.connect(ctx, p)
}

// connect waits for the data channel and gives it to the torrent.
func (a *announcer) connect(ctx context.Context, p *rtc.Peer) {
	cctx, cancel := context.WithTimeout(ctx, a.c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := p.Connect(cctx)
	if err != nil {
		a.c.log.Debug("webrtc connection failed", "err", err)
		return
	}
	if err := a.t.AddConn(ctx, conn); err != nil {
		a.c.log.Debug("webrtc peer refused", "err", err)
	}
}
