package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Errors returned by Client methods.
var (
	ErrClosed         = errors.New("engine: closed")
	ErrDuplicate      = errors.New("engine: torrent already added")
	ErrUnknownTorrent = errors.New("engine: no such torrent")
)

// Storage holds a torrent's bytes, addressed as its files concatenated
// (engine/storage has memory and file implementations). It must be safe for
// concurrent use on distinct ranges.
type Storage interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Flush() error
	Close() error
}

// Prefetcher is a Storage that can read ahead: before serving a batch of a
// peer's requests the engine passes their ranges (offsets and lengths) to
// Prefetch, so that a storage whose reads each cost a round trip (the
// browser's IndexedDB) can fetch them all in one before the ReadAt calls
// that follow. It is advisory: errors are left for ReadAt.
type Prefetcher interface {
	Prefetch(offs []int64, lens []int)
}

// Client is one BitTorrent peer: a set of torrents sharing a peer id,
// transports and limits.
type Client struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loops

	speed  *clientSpeed // nil with Speed off; static after New
	upload *uploadGate  // Config.UploadRate (upload.go); nil: no limit

	mu        sync.Mutex
	torrents  map[metainfo.Hash]*Torrent
	listeners []net.Listener
	closed    bool
}

// New returns a Client. With cfg.Speed set it reads the ledger balance in
// the background until Close.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	sp, err := newClientSpeed(cfg.Speed, cfg.Now)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger,
		ctx:      ctx,
		cancel:   cancel,
		speed:    sp,
		upload:   newUploadGate(cfg.UploadRate),
		torrents: make(map[metainfo.Hash]*Torrent),
	}
	if sp != nil {
		// Read the balance once before any torrent bids on it.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := sp.refreshBalance(ctx); err != nil {
			c.log.Info("reading the ledger balance", "err", err)
		}
		cancel()
		c.wg.Add(1)
		go c.balanceLoop()
	}
	return c, nil
}

// balanceLoop keeps the Speed balance the bidder reads fresh.
func (c *Client) balanceLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		if err := c.speed.refreshBalance(ctx); err != nil && c.ctx.Err() == nil {
			c.log.Info("reading the ledger balance", "err", err)
		}
		cancel()
	}
}

// SetSpeed changes the client's Speed settings (the global switch, spending
// rate, budget and reserve price); torrents without their own follow it.
func (c *Client) SetSpeed(s SpeedSettings) error {
	if c.speed == nil {
		return errors.New("engine: Speed is not configured")
	}
	c.speed.mu.Lock()
	c.speed.set = s
	c.speed.mu.Unlock()
	for _, t := range c.Torrents() {
		t.mu.Lock()
		if t.sp != nil {
			t.speedSettingsChangedLocked()
		}
		t.mu.Unlock()
	}
	return nil
}

// SpeedTotals returns what Speed spent and earned over all torrents since
// the client started, and the last ledger balance read.
func (c *Client) SpeedTotals() (spent, earned, balance uint64) {
	if c.speed == nil {
		return 0, 0, 0
	}
	return c.speed.spent.Load(), c.speed.earned.Load(), c.speed.balance.Load()
}

// PeerID returns the client's peer id.
func (c *Client) PeerID() [20]byte { return c.cfg.PeerID }

// Torrent returns the torrent with info hash ih, if added.
func (c *Client) Torrent(ih metainfo.Hash) (*Torrent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.torrents[ih]
	return t, ok
}

// Torrents returns the added torrents.
func (c *Client) Torrents() []*Torrent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		out = append(out, t)
	}
	return out
}

// Serve accepts peer connections on ln until ln fails or the client
// closes; the client closes ln on Close.
func (c *Client) Serve(ln net.Listener) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	c.listeners = append(c.listeners, ln)
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if c.ctx.Err() != nil {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("engine: accept: %w", err)
		}
		go c.HandleConn(nc)
	}
}

// HandleConn runs the BitTorrent handshake on an incoming connection and,
// if the peer asks for a torrent this client has, adds it to that torrent.
// It returns once the handshake is done; the connection then belongs to the
// torrent (or is closed).
func (c *Client) HandleConn(nc net.Conn) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	nc.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	res, err := pp.Handshake(ctx, nc, nil, c.cfg.PeerID, ourExtensionBits())
	if err != nil {
		c.log.Debug("incoming handshake failed", "remote", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	t, ok := c.Torrent(res.Hash)
	if !ok {
		c.log.Debug("incoming connection for an unknown torrent", "remote", nc.RemoteAddr(), "infohash", res.Hash.HexString())
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	if err := t.addConn(nc, res, false); err != nil {
		c.log.Debug("incoming connection refused", "remote", nc.RemoteAddr(), "err", err)
		nc.Close()
	}
}

func ourExtensionBits() pp.PeerExtensionBits {
	return pp.NewPeerExtensionBytes(pp.ExtensionBitLtep, pp.ExtensionBitFast)
}

// dial connects to addr with the configured transports, in order, and runs
// the handshake for ih.
func (c *Client) dial(ctx context.Context, addr string, ih metainfo.Hash) (net.Conn, pp.HandshakeResult, string, error) {
	var errs []error
	for _, tr := range c.cfg.Transports {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		nc, err := tr.Dialer.DialContext(dctx, tr.Network, addr)
		if err != nil {
			cancel()
			errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
			continue
		}
		res, err := handshakeOut(dctx, nc, ih, c.cfg.PeerID)
		cancel()
		if err != nil {
			nc.Close()
			errs = append(errs, fmt.Errorf("%s handshake: %w", tr.Name, err))
			continue
		}
		return nc, res, tr.Name, nil
	}
	return nil, pp.HandshakeResult{}, "", fmt.Errorf("engine: dial %s: %w", addr, errors.Join(errs...))
}

// handshakeOut runs the outgoing handshake on nc.
func handshakeOut(ctx context.Context, nc net.Conn, ih metainfo.Hash, peerID [20]byte) (pp.HandshakeResult, error) {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	res, err := pp.Handshake(ctx, nc, &ih, peerID, ourExtensionBits())
	if err != nil {
		return res, err
	}
	if res.Hash != ih {
		return res, fmt.Errorf("peer answered for info hash %s", res.Hash.HexString())
	}
	return res, nil
}

// AddConn runs the outgoing handshake for torrent ih on an established
// connection (a WebRTC data channel, a bridged socket) and adds it.
func (c *Client) AddConn(ctx context.Context, nc net.Conn, ih metainfo.Hash) error {
	t, ok := c.Torrent(ih)
	if !ok {
		nc.Close()
		return ErrUnknownTorrent
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	res, err := handshakeOut(ctx, nc, ih, c.cfg.PeerID)
	if err != nil {
		nc.Close()
		return fmt.Errorf("engine: handshake: %w", err)
	}
	if err := t.addConn(nc, res, true); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// AddTorrent adds a torrent and starts it: it dials spec.Peers, announces
// to its trackers and, without metadata, fetches the info from peers.
func (c *Client) AddTorrent(spec TorrentSpec) (*Torrent, error) {
	return c.addTorrent(spec, nil)
}

// addTorrent is AddTorrent; verified, when set, marks the pieces already
// verified in the storage (see AddVerified).
func (c *Client) addTorrent(spec TorrentSpec, verified []bool) (*Torrent, error) {
	if spec.Storage == nil {
		return nil, errors.New("engine: TorrentSpec.Storage is required")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if _, ok := c.torrents[spec.InfoHash]; ok {
		return nil, ErrDuplicate
	}
	t, err := newTorrent(c, spec)
	if err != nil {
		return nil, err
	}
	if verified != nil {
		if err := t.markVerified(verified); err != nil {
			t.cancel()
			return nil, errors.Join(err, t.st.Close())
		}
	}
	c.torrents[spec.InfoHash] = t
	t.start()
	return t, nil
}

// Remove stops a torrent and closes its connections and storage.
func (c *Client) Remove(ih metainfo.Hash) error {
	c.mu.Lock()
	t, ok := c.torrents[ih]
	delete(c.torrents, ih)
	c.mu.Unlock()
	if !ok {
		return ErrUnknownTorrent
	}
	return t.close()
}

// Close stops every torrent and listener and waits for their goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ts := c.torrents
	c.torrents = nil
	for _, ln := range c.listeners {
		ln.Close()
	}
	c.mu.Unlock()
	c.cancel()
	var errs []error
	for _, t := range ts {
		if err := t.close(); err != nil {
			errs = append(errs, err)
		}
	}
	c.wg.Wait()
	return errors.Join(errs...)
}
