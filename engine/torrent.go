package engine

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/shared/wallet"
)

// TorrentSpec says what to download or seed.
type TorrentSpec struct {
	InfoHash metainfo.Hash
	// InfoBytes is the bencoded info dictionary when known (from a .torrent
	// file); without it the engine fetches it from peers (BEP 9).
	InfoBytes   []byte
	DisplayName string
	// Trackers are announce URLs in tiers (BEP 12).
	Trackers [][]string
	// WebSeeds are BEP 19 url-list entries.
	WebSeeds []string
	// Peers are addresses (host:port) to dial.
	Peers []string
	// Storage opens the torrent's storage once its info is known.
	Storage func(info *metainfo.Info) (Storage, error)
	// Check hash-checks the data already in storage when the info is known,
	// so existing content is seeded; otherwise storage starts empty.
	Check bool
	// Speed overrides the client's Speed settings for this torrent; nil
	// follows the client.
	Speed *SpeedSettings
	// Stream, when set, is asked once the info is known which bytes a
	// player will stream (a file's offset and length in the torrent; n 0:
	// none): their first StreamAhead bytes and their last piece (where an
	// MP4 may keep its index) are the first pieces requested, before the
	// player's first read asks for them (see Prioritize).
	Stream func(info *metainfo.Info) (off, n int64)
}

// SpecFromMetaInfo returns the spec of a .torrent file (storage left to
// the caller).
func SpecFromMetaInfo(mi *metainfo.MetaInfo) TorrentSpec {
	return TorrentSpec{
		InfoHash:  mi.HashInfoBytes(),
		InfoBytes: mi.InfoBytes,
		Trackers:  mi.UpvertedAnnounceList(),
		WebSeeds:  mi.UrlList,
	}
}

// ErrBadMagnet is what SpecFromMagnet returns (errors.Is) for a link it
// cannot read; its message is meant for people, the parser's cause stays in
// the chain for logs.
var ErrBadMagnet = errors.New("that is not a magnet link btspeed can read: it needs xt=urn:btih: and the torrent's info hash (40 hex or 32 base32 characters); check the whole link was copied")

type badMagnetError struct{ cause error }

func (e badMagnetError) Error() string   { return ErrBadMagnet.Error() }
func (e badMagnetError) Unwrap() []error { return []error{ErrBadMagnet, e.cause} }

// SpecFromMagnet parses a magnet link (BEP 9): info hash, display name,
// trackers ("tr"), web seeds ("ws") and peers ("x.pe").
func SpecFromMagnet(uri string) (TorrentSpec, error) {
	m, err := metainfo.ParseMagnetUri(uri)
	if err != nil {
		return TorrentSpec{}, badMagnetError{fmt.Errorf("engine: magnet link: %w", err)}
	}
	spec := TorrentSpec{InfoHash: m.InfoHash, DisplayName: m.DisplayName}
	for _, tr := range m.Trackers {
		spec.Trackers = append(spec.Trackers, []string{tr})
	}
	spec.WebSeeds = m.Params["ws"]
	spec.Peers = m.Params["x.pe"]
	return spec, nil
}

// Torrent is one torrent in a Client.
type Torrent struct {
	c      *Client
	cfg    Config
	ih     metainfo.Hash
	log    *slog.Logger
	spec   TorrentSpec
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the torrent and its connections
	// hashSem bounds concurrent piece hashing.
	hashSem chan struct{}
	// nativeHashBytes is what the pieces' buffers for the browser's SHA-1
	// hold (piecehash_js.go; always 0 natively).
	nativeHashBytes atomic.Int64
	natPool         nativePool
	// chokeNow asks the choking loop for an early round.
	chokeNow chan struct{}
	// dialNow wakes the dialing loop (a dial failed: its backoff starts).
	dialNow  chan struct{}
	gotInfo  chan struct{} // closed when the info is known
	complete chan struct{} // closed when every piece is verified

	mu        sync.Mutex
	lay       *layout // nil until the info is known
	infoBytes []byte
	meta      *metaFetch // while fetching the info
	st        Storage
	have      bitfield
	partial   map[int]*partialPiece
	busy      map[int]bool  // pieces being hashed, or fetched from a web seed: not for peers
	prio      []int         // pieces to start before any other, in order (streaming)
	verified  chan struct{} // closed and replaced whenever a piece verifies
	avail     []int         // peers having each piece
	conns     map[*conn]struct{}
	known     map[string]candidate // addresses to dial
	dialing   int
	rng       *rand.Rand
	stats     Stats
	down, up  rateMeter     // piece bytes received and sent
	lastData  time.Time     // the last piece or info bytes received, or the start
	sp        *torrentSpeed // nil with Speed off
	closed    bool          // no new work: closing, or stopped by a fatal error
	shutdown  bool          // close has run
	err       error         // fatal storage error
}

// errSelf: a tracker or PEX handed us our own address.
var errSelf = errors.New("connected to ourselves")

// candidate is a peer address the torrent may dial.
type candidate struct {
	source    string    // "user", "tracker", "pex", "incoming"
	lastTried time.Time // when the last dial started, or failed
	failures  int
	connected bool
	dialing   bool
}

// partialPiece is a piece being downloaded.
type partialPiece struct {
	index     int
	blocks    int
	requested []uint8 // per block: outstanding requests
	received  bitfield
	written   int
	owner     *conn // the peer the piece was assigned to
	from      map[*conn]bool

	hmu      sync.Mutex // guards h, hashedTo and nat (hashing runs outside Torrent.mu)
	h        hash.Hash  // SHA-1 of the bytes [0, hashedTo)
	hashedTo int64
	nat      nativeHash // in the browser: the piece for its SHA-1 (piecehash_js.go)
}

// Stats is a snapshot of a torrent's progress.
type Stats struct {
	Name           string
	Length         int64
	BytesCompleted int64
	PiecesDone     int
	Pieces         int
	Downloaded     int64 // piece bytes received
	Uploaded       int64 // piece bytes sent
	Wasted         int64 // bytes received twice or in pieces that failed
	HashFailures   int
	// Rejected counts our requests that peers refused (BEP 6 reject).
	Rejected int
	// MaxOutstanding is the most requests we had outstanding with one peer
	// at once.
	MaxOutstanding int
	// Connections counts the connections established, by network ("tcp";
	// "udp" for uTP; whatever net.Conn.LocalAddr says for others).
	Connections map[string]int
	Peers       int
	Seeds       int
	Known       int
}

func newTorrent(c *Client, spec TorrentSpec) (*Torrent, error) {
	ctx, cancel := context.WithCancel(c.ctx)
	t := &Torrent{
		c:        c,
		cfg:      c.cfg,
		ih:       spec.InfoHash,
		log:      c.log.With("torrent", spec.InfoHash.HexString()[:12]),
		spec:     spec,
		ctx:      ctx,
		cancel:   cancel,
		hashSem:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		chokeNow: make(chan struct{}, 1),
		dialNow:  make(chan struct{}, 1),
		gotInfo:  make(chan struct{}),
		complete: make(chan struct{}),
		partial:  make(map[int]*partialPiece),
		busy:     make(map[int]bool),
		conns:    make(map[*conn]struct{}),
		known:    make(map[string]candidate),
		rng:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		lastData: c.cfg.Now(),
	}
	if spec.InfoBytes != nil {
		lay, err := parseInfo(spec.InfoBytes, spec.InfoHash)
		if err != nil {
			cancel()
			return nil, err
		}
		if err := t.setInfoLocked(lay, spec.InfoBytes); err != nil {
			cancel()
			return nil, err
		}
		if spec.Check {
			if err := t.checkAll(); err != nil {
				cancel()
				t.st.Close()
				return nil, err
			}
		}
	}
	for _, a := range spec.Peers {
		t.known[a] = candidate{source: "user"}
	}
	if c.speed != nil {
		t.sp = &torrentSpeed{peers: make(map[wallet.Address]*PeerSpeed)}
		if spec.Speed != nil {
			o := *spec.Speed
			if o.SpendingRate == 0 {
				o.SpendingRate = bidder.PPM
			}
			t.sp.override = &o
		}
		set := t.speedSettingsLocked()
		t.sp.bidder = bidder.New(set.bidderSettings())
	}
	return t, nil
}

// InfoHash returns the torrent's info hash.
func (t *Torrent) InfoHash() metainfo.Hash { return t.ih }

// GotInfo is closed once the torrent's info is known.
func (t *Torrent) GotInfo() <-chan struct{} { return t.gotInfo }

// Complete is closed once every piece is verified.
func (t *Torrent) Complete() <-chan struct{} { return t.complete }

// Info returns the torrent's info, nil before it is known.
func (t *Torrent) Info() *metainfo.Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lay == nil {
		return nil
	}
	return t.lay.info
}

// Err returns the fatal error that stopped the torrent, if any.
func (t *Torrent) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Stats returns a snapshot of the torrent's progress.
func (t *Torrent) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Connections = maps.Clone(t.stats.Connections)
	s.Peers = len(t.conns)
	s.Known = len(t.known)
	s.Name = t.spec.DisplayName
	for c := range t.conns {
		if c.peerHave.n > 0 && c.peerHave.Full() {
			s.Seeds++
		}
	}
	if t.lay != nil {
		s.Name = t.lay.info.BestName()
		s.Length = t.lay.total
		s.Pieces = t.lay.numPieces
		s.PiecesDone = t.have.Count()
		s.BytesCompleted = t.statsCompletedLocked()
	}
	return s
}

// AddPeers adds addresses to dial.
func (t *Torrent) AddPeers(addrs ...string) {
	t.mu.Lock()
	for _, a := range addrs {
		t.addCandidateLocked(a, "user")
	}
	t.mu.Unlock()
	t.dialSome()
}

func (t *Torrent) addCandidateLocked(addr, source string) {
	if _, ok := t.known[addr]; ok || len(t.known) >= maxCandidates {
		return
	}
	t.known[addr] = candidate{source: source}
}

// setInfoLocked installs the torrent's info and opens its storage.
func (t *Torrent) setInfoLocked(lay *layout, infoBytes []byte) error {
	st, err := t.spec.Storage(lay.info)
	if err != nil {
		return fmt.Errorf("engine: opening storage: %w", err)
	}
	t.lay = lay
	t.infoBytes = infoBytes
	t.st = st
	t.have = newBitfield(lay.numPieces)
	t.avail = make([]int, lay.numPieces)
	t.meta = nil
	if t.spec.Stream != nil {
		t.streamStartLocked(t.spec.Stream(lay.info))
	}
	close(t.gotInfo)
	return nil
}

// checkAll hash-checks every piece in storage (before the torrent starts).
func (t *Torrent) checkAll() error {
	n := t.lay.numPieces
	ok := make([]bool, n)
	var wg sync.WaitGroup
	workers := max(1, runtime.GOMAXPROCS(0))
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, t.lay.pieceLength)
			for i := w; i < n; i += workers {
				good, err := t.hashPiece(i, buf)
				if err != nil {
					errs[w] = err
					return
				}
				ok[i] = good
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, good := range ok {
		if good {
			t.have.Set(i)
		}
	}
	if t.have.Full() {
		close(t.complete)
	}
	return nil
}

// hashPiece reads piece i from storage and says whether it matches its hash.
func (t *Torrent) hashPiece(i int, buf []byte) (bool, error) {
	n := t.lay.pieceLen(i)
	buf = buf[:n]
	if _, err := t.st.ReadAt(buf, t.lay.pieceOff(i)); err != nil {
		return false, fmt.Errorf("engine: reading piece %d: %w", i, err)
	}
	h := sha1.Sum(buf)
	return bytes.Equal(h[:], t.lay.hashes[i*20:i*20+20]), nil
}

// start launches the torrent's loops.
func (t *Torrent) start() {
	t.wg.Add(2)
	go t.chokeLoop()
	go t.dialLoop()
	if len(t.spec.Trackers) > 0 {
		t.wg.Add(1)
		go t.announceLoop()
	}
	if len(t.spec.WebSeeds) > 0 {
		t.startWebSeeds()
	}
	for _, src := range t.cfg.PeerSources {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			src.Run(t.ctx, t)
		}()
	}
}

// Trackers returns the torrent's tracker URLs, in tiers.
func (t *Torrent) Trackers() [][]string {
	out := make([][]string, len(t.spec.Trackers))
	for i, tier := range t.spec.Trackers {
		out[i] = slices.Clone(tier)
	}
	return out
}

// close stops the torrent and waits for its goroutines.
func (t *Torrent) close() error {
	t.mu.Lock()
	if t.shutdown {
		t.mu.Unlock()
		return nil
	}
	t.shutdown = true
	t.closed = true
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		c.draining = true
		c.nudge()
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.drain(conns)
	t.mu.Lock()
	for c := range t.conns {
		c.closeLocked(nil)
	}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st != nil {
		return errors.Join(t.st.Flush(), t.st.Close())
	}
	return nil
}

// drainTimeout bounds how long closing a torrent waits for its
// connections to send what they queued.
const drainTimeout = time.Second

// drain waits, up to drainTimeout, until every connection has written
// what it had queued (payments above all) and, where the transport has
// half-close (TCP), until the peer has read it and closed its side too.
func (t *Torrent) drain(conns []*conn) {
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for _, c := range conns {
		_, halfClose := c.nc.(interface{ CloseWrite() error })
		select {
		case <-c.done:
			continue
		case <-c.drained:
			if !halfClose {
				continue
			}
		case <-deadline.C:
			return
		}
		select {
		case <-c.done:
		case <-deadline.C:
			return
		}
	}
}

// dialLoop keeps the torrent connected to up to MaxConnsPerTorrent peers:
// it dials when a candidate's backoff ends, and every 2 s.
func (t *Torrent) dialLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	pex := time.NewTicker(t.cfg.PEXInterval)
	defer pex.Stop()
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	for {
		if next := t.dialSome(); next > 0 {
			due.Reset(next)
		} else {
			due.Stop()
		}
		select {
		case <-t.ctx.Done():
			return
		case <-due.C:
		case <-t.dialNow:
		case <-tick.C:
			t.mu.Lock()
			t.requestMetadataLocked() // re-ask for metadata pieces that timed out
			t.mu.Unlock()
		case <-pex.C:
			t.mu.Lock()
			t.pexLocked()
			t.mu.Unlock()
		}
	}
}

// maxDialFailures is how many failed dials in a row drop an address
// (about 15 minutes of backoff).
const maxDialFailures = 12

// dialSome dials candidates while there is room. It returns how long until
// the next candidate's backoff ends (0: none waits).
func (t *Torrent) dialSome() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0
	}
	now := time.Now()
	var next time.Duration
	for addr, cand := range t.known {
		if len(t.conns)+t.dialing >= t.cfg.MaxConnsPerTorrent || t.dialing >= 8 {
			return next
		}
		if cand.connected || cand.dialing || cand.source == "self" {
			continue
		}
		if wait := cand.lastTried.Add(backoff(cand.failures)).Sub(now); !cand.lastTried.IsZero() && wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if cand.failures >= maxDialFailures {
			delete(t.known, addr)
			continue
		}
		cand.lastTried, cand.dialing = now, true
		t.known[addr] = cand
		t.dialing++
		t.wg.Add(1)
		go t.dialOne(addr)
	}
	return next
}

// backoff is how long to wait after the last dial of an address that
// failed failures times in a row before dialing it again: 1 s, 2 s, 4 s,
// 8 s (a seed that reset us while it was still checking its data is soon
// ready), then 10 s, 20 s, 40 s ... up to 5 minutes. An address that
// connected and then dropped (failures 0) waits 5 s from that dial.
func backoff(failures int) time.Duration {
	switch {
	case failures <= 0:
		return 5 * time.Second
	case failures <= 4:
		return time.Second << (failures - 1)
	default:
		return min(10*time.Second<<min(failures-5, 6), 5*time.Minute)
	}
}

func (t *Torrent) dialOne(addr string) {
	defer t.wg.Done()
	nc, res, via, err := t.c.dial(t.ctx, addr, t.ih)
	t.mu.Lock()
	t.dialing--
	cand, ok := t.known[addr]
	if ok {
		cand.dialing = false
		t.known[addr] = cand
	}
	if err != nil {
		if ok {
			cand.failures++
			cand.lastTried = time.Now()
			t.known[addr] = cand
		}
		t.mu.Unlock()
		t.log.Debug("dial failed", "addr", addr, "err", err, "failures", cand.failures)
		select {
		case t.dialNow <- struct{}{}:
		default:
		}
		return
	}
	t.mu.Unlock()
	if err := t.addConn(nc, res, true); err != nil {
		t.log.Debug("connection refused", "addr", addr, "via", via, "err", err)
		nc.Close()
		if errors.Is(err, errSelf) {
			t.mu.Lock()
			t.known[addr] = candidate{source: "self", failures: 1 << 10, lastTried: time.Now()}
			t.mu.Unlock()
		}
		return
	}
	t.mu.Lock()
	if cand, ok := t.known[addr]; ok {
		cand.connected = true
		cand.failures = 0
		t.known[addr] = cand
	}
	t.mu.Unlock()
}

// addConn adds a handshaken connection and starts its goroutines.
func (t *Torrent) addConn(nc net.Conn, res pp.HandshakeResult, outgoing bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if res.PeerID == t.cfg.PeerID {
		return errSelf
	}
	if t.c.speed != nil && t.c.speed.banned(hostOf(nc.RemoteAddr().String()), t.cfg.Now()) {
		return errors.New("peer address is banned")
	}
	if len(t.conns) >= t.cfg.MaxConnsPerTorrent+5 {
		return errors.New("too many connections")
	}
	for c := range t.conns {
		if c.peerID == res.PeerID {
			return errors.New("already connected to this peer id")
		}
	}
	c := newConn(t, nc, res, outgoing)
	t.conns[c] = struct{}{}
	if t.stats.Connections == nil {
		t.stats.Connections = make(map[string]int)
	}
	t.stats.Connections[nc.LocalAddr().Network()]++
	if !outgoing {
		// Remember where it came from only for stats; its port is not
		// its listening port.
		t.stats.Known = len(t.known)
	}
	c.log.Debug("peer connected", "outgoing", outgoing, "fast", c.fast, "ltep", c.ltep)
	c.sendInitialLocked()
	t.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return nil
}

// removeConnLocked forgets a closed connection: its requests go back to
// the pool and its pieces' availability drops.
func (t *Torrent) removeConnLocked(c *conn) {
	if _, ok := t.conns[c]; !ok {
		return
	}
	delete(t.conns, c)
	if cand, ok := t.known[c.addr]; ok {
		cand.connected = false
		t.known[c.addr] = cand
	}
	if t.lay != nil {
		for i, w := range c.peerHave.words {
			for w != 0 {
				b := i*64 + bitsTrailing(w)
				w &= w - 1
				t.avail[b]--
			}
		}
	}
	t.releaseRequestsLocked(c)
	for _, p := range t.partial {
		if p.owner == c {
			p.owner = nil
		}
	}
	t.speedConnClosedLocked(c)
	t.requestFromAllLocked()
}

// releaseRequestsLocked drops c's outstanding requests.
func (t *Torrent) releaseRequestsLocked(c *conn) {
	for k := range c.reqs {
		piece, b := k.piece(), k.block()
		if p := t.partial[piece]; p != nil && p.requested[b] > 0 {
			p.requested[b]--
		}
	}
	clear(c.reqs)
}

// requestFromAllLocked fills every connection's request pipeline.
func (t *Torrent) requestFromAllLocked() {
	for c := range t.conns {
		t.fillRequestsLocked(c)
	}
}

// fail stops the torrent on a fatal local error (storage).
func (t *Torrent) failLocked(err error) {
	if t.err != nil {
		return
	}
	t.err = err
	t.log.Error("torrent stopped", "err", err)
	for c := range t.conns {
		c.closeLocked(err)
	}
	t.closed = true
	t.cancel()
}
