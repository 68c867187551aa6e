package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// blockKey names a block: piece index and block index within the piece.
type blockKey uint64

func mkBlockKey(piece, block int) blockKey { return blockKey(uint64(piece)<<32 | uint64(block)) }
func (k blockKey) piece() int              { return int(k >> 32) }
func (k blockKey) block() int              { return int(uint32(k)) }

func bitsTrailing(w uint64) int { return bits.TrailingZeros64(w) }

// request is a request a peer made of us.
type request struct {
	piece, begin, length uint32
}

// Our extension ids (BEP 10 "m"). Peers send to these.
const (
	extMetadata = 1
	extPex      = 2
	extSpeed    = 3
)

// piecePool recycles block buffers for incoming piece messages.
var piecePool = sync.Pool{New: func() any { b := make([]byte, MaxRequestLength); return &b }}

// conn is one peer connection of a torrent. Fields under "owned by t.mu"
// are guarded by the torrent's mutex.
type conn struct {
	t        *Torrent
	nc       net.Conn
	addr     string
	outgoing bool
	peerID   [20]byte
	fast     bool // both sides support BEP 6
	ltep     bool // the peer supports BEP 10
	log      *slog.Logger
	wake     chan struct{} // nudges the writer; capacity 1
	done     chan struct{} // closed by closeLocked
	drained  chan struct{} // closed when the writer has ended

	// owned by t.mu
	draining       bool // the torrent is closing: write what is queued, then end
	closed         bool
	amChoking      bool
	amInterested   bool
	peerChoking    bool
	peerInterested bool
	peerHave       bitfield // empty until the info is known
	pendingHave    []int    // haves received before the info
	pendingAll     bool
	gotBitfield    bool
	reqs           map[blockKey]time.Time // our outstanding requests
	maxReqs        int
	queue          []request // the peer's requests we will serve
	allowedFast    map[int]bool
	ext            map[string]int // the peer's extension ids
	metadataSize   int
	userAgent      string
	listenAddr     string    // an incoming peer's listening address (BEP 10 "p")
	out            []outItem // control messages for the writer, in stream order
	chokedRounds   int
	roundBytes     uint64 // this choking round: received while downloading, sent while seeding (spec 5.2)
	downloaded     int64
	uploaded       int64
	lastPiece      time.Time
	down, up       rateMeter // piece bytes from and to the peer
	unexpected     int       // blocks received that we did not ask for
	hashFailures   int       // pieces this peer sent data for that failed
	owned          []int     // partial pieces assigned to this peer
	pexSent        map[string]bool
	speed          *speedPeer // nil for legacy peers or with Speed off
}

// unreadCapped is a connection that holds at most MaxBuffered bytes its
// reader has not taken (an rtc.Conn: in the browser a data channel closes
// a connection whose peer overruns that, natively it stops reading).
type unreadCapped interface{ MaxBuffered() int }

// requestLimit is our cap on the requests outstanding with c's peer:
// Config.MaxRequests and, on a connection that holds a bounded amount
// unread (WebRTC, direct or through a bridge), as many blocks as fill a
// quarter of it, which leaves room for the messages between blocks and for
// blocks already on their way when we cancel them. With rtc's default of
// 8 MiB that is 128 requests (2 MiB, many round trips' worth at any rate a
// data channel reaches here); engine/relaybridge gives a bridged
// connection to a classic peer 32 MiB, room for the 511 requests a
// Transmission seed takes, which it needs: Transmission sends what is
// requested once per 500 ms, so 128 would hold it to 4 MB/s.
func (c *conn) requestLimit() int {
	nc := c.nc
	if l, ok := nc.(*LabeledConn); ok {
		nc = l.Conn
	}
	if u, ok := nc.(unreadCapped); ok {
		return max(1, min(c.t.cfg.MaxRequests, u.MaxBuffered()/(4*BlockSize)))
	}
	return c.t.cfg.MaxRequests
}

func newConn(t *Torrent, nc net.Conn, res pp.HandshakeResult, outgoing bool) *conn {
	addr := nc.RemoteAddr().String()
	c := &conn{
		t:           t,
		nc:          nc,
		addr:        addr,
		outgoing:    outgoing,
		peerID:      res.PeerID,
		fast:        res.PeerExtensionBits.SupportsFast(),
		ltep:        res.PeerExtensionBits.SupportsExtended(),
		log:         t.log.With("peer", addr),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		drained:     make(chan struct{}),
		amChoking:   true,
		peerChoking: true,
		reqs:        make(map[blockKey]time.Time),
		allowedFast: make(map[int]bool),
		ext:         make(map[string]int),
	}
	c.maxReqs = c.requestLimit()
	if t.lay != nil {
		c.peerHave = newBitfield(t.lay.numPieces)
	}
	return c
}

// outItem is a message queued for the writer: a wire message, or a Speed
// grant, which the writer turns into a bid response at its place in the
// stream so that both sides price the same blocks at the same rate.
type outItem struct {
	m     pp.Message
	grant bool
	round uint64
	rate  uint64
}

// sendLocked queues a control message for the writer.
func (c *conn) sendLocked(m pp.Message) {
	if c.closed {
		return
	}
	c.out = append(c.out, outItem{m: m})
	c.nudge()
}

// grantLocked queues a Speed grant (see outItem).
func (c *conn) grantLocked(round, rate uint64) {
	if c.closed {
		return
	}
	c.out = append(c.out, outItem{grant: true, round: round, rate: rate})
	c.nudge()
}

func (c *conn) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sendInitialLocked queues the extended handshake and our pieces.
func (c *conn) sendInitialLocked() {
	t := c.t
	if c.ltep {
		c.sendLocked(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: t.extHandshakeLocked(c)})
	}
	if t.lay == nil {
		if c.fast {
			c.sendLocked(pp.Message{Type: pp.HaveNone})
		}
		return
	}
	c.sendHavesLocked()
}

// sendHavesLocked sends our bitfield (or have all/none).
func (c *conn) sendHavesLocked() {
	t := c.t
	switch {
	case c.fast && t.have.Full():
		c.sendLocked(pp.Message{Type: pp.HaveAll})
	case c.fast && t.have.Count() == 0:
		c.sendLocked(pp.Message{Type: pp.HaveNone})
	case t.have.Count() > 0:
		c.sendLocked(pp.Message{Type: pp.Bitfield, Bitfield: boolsOf(&t.have)})
	}
}

func boolsOf(b *bitfield) []bool {
	out := make([]bool, b.n)
	for i := range out {
		out[i] = b.Get(i)
	}
	return out
}

// extHandshakeLocked builds our BEP 10 handshake for c.
func (t *Torrent) extHandshakeLocked(c *conn) []byte {
	m := map[string]int{"ut_metadata": extMetadata}
	if t.lay == nil || !t.lay.private() {
		m["ut_pex"] = extPex
	}
	h := map[string]any{
		"m":    m,
		"v":    t.cfg.UserAgent,
		"reqq": t.cfg.MaxPeerRequests,
	}
	if t.infoBytes != nil {
		h["metadata_size"] = len(t.infoBytes)
	}
	if t.cfg.ListenPort > 0 {
		h["p"] = t.cfg.ListenPort
	}
	if ip := remoteIP(c.nc); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			h["yourip"] = string(v4)
		} else {
			h["yourip"] = string(ip)
		}
	}
	t.speedHandshakeLocked(m, h)
	b, err := bencode.Marshal(h)
	if err != nil {
		panic(err) // our own map of strings and ints always encodes
	}
	return b
}

func remoteIP(nc net.Conn) net.IP {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	if a, ok := nc.RemoteAddr().(*net.UDPAddr); ok {
		return a.IP
	}
	return nil
}

// closeLocked closes the connection; the reader and writer exit and the
// torrent forgets it.
func (c *conn) closeLocked(why error) {
	if c.closed {
		return
	}
	c.closed = true
	if why != nil {
		c.log.Debug("closing connection", "err", why)
	}
	close(c.done)
	c.nc.Close()
	c.t.removeConnLocked(c)
}

// protocolError closes c for breaking the protocol.
func (c *conn) protocolError(format string, args ...any) error {
	return &ProtocolError{Peer: c.addr, Err: fmt.Errorf(format, args...)}
}

// ProtocolError is why the engine dropped a peer that broke the protocol.
type ProtocolError struct {
	Peer string
	Err  error
}

func (e *ProtocolError) Error() string { return "peer " + e.Peer + ": " + e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

// readLoop decodes the peer's messages until the connection ends.
func (c *conn) readLoop() {
	t := c.t
	defer t.wg.Done()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	d := pp.Decoder{
		R:         br,
		MaxLength: MaxMessageLength,
		Pool:      &piecePool,
	}
	// The read deadline moves on at most every refresh rather than at
	// every message (over WebRTC in the browser each move restarts a
	// timer): a silent peer is dropped after 7/8 to all of IdleTimeout.
	refresh := min(time.Second, t.cfg.IdleTimeout/8)
	var err error
	var moved time.Time
	for err == nil {
		if now := time.Now(); now.Sub(moved) >= refresh {
			c.nc.SetReadDeadline(now.Add(t.cfg.IdleTimeout))
			moved = now
		}
		var skipped bool
		if skipped, err = skipUnknown(br); err != nil || skipped {
			continue
		}
		var m pp.Message
		if err = d.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				err = c.protocolError("reading: %w", err)
			}
			break
		}
		if m.Keepalive {
			continue
		}
		err = c.handle(&m)
		if m.Type == pp.Piece && m.Piece != nil {
			b := m.Piece[:cap(m.Piece)]
			piecePool.Put(&b)
		}
	}
	t.mu.Lock()
	c.closeLocked(err)
	t.mu.Unlock()
}

// skipUnknown discards the next message if its type is one the engine does
// not know (BEP 3: unknown messages are ignored; anacrolix's decoder would
// fail on them), after checking its length against MaxMessageLength.
func skipUnknown(br *bufio.Reader) (bool, error) {
	hdr, err := br.Peek(4)
	if err != nil {
		return false, nil // let Decode report it
	}
	n := uint32(hdr[0])<<24 | uint32(hdr[1])<<16 | uint32(hdr[2])<<8 | uint32(hdr[3])
	if n == 0 || n > MaxMessageLength {
		return false, nil // a keep-alive, or too long: Decode handles both
	}
	if hdr, err = br.Peek(5); err != nil {
		return false, nil
	}
	switch pp.MessageType(hdr[4]) {
	case pp.Choke, pp.Unchoke, pp.Interested, pp.NotInterested, pp.Have, pp.Bitfield,
		pp.Request, pp.Piece, pp.Cancel, pp.Port, pp.Suggest, pp.HaveAll, pp.HaveNone,
		pp.Reject, pp.AllowedFast, pp.Extended:
		return false, nil
	}
	_, err = br.Discard(4 + int(n))
	return true, err
}

// serveBatch is how many requests the writer serves between looks at its
// message queue: one storage round trip (Prefetcher) per batch, so a
// browser seed reading IndexedDB waits once per 512 KiB. A Speed peer's
// batch stays at speedServeBatch, so grants and payments are not held
// behind a long run of blocks.
const (
	serveBatch      = 32
	speedServeBatch = 8
)

// writeLoop sends queued messages and serves the peer's requests.
func (c *conn) writeLoop() {
	t := c.t
	defer t.wg.Done()
	defer close(c.drained)
	w := bufio.NewWriterSize(c.nc, 64<<10)
	keepalive := time.NewTicker(90 * time.Second)
	defer keepalive.Stop()
	buf := make([]byte, MaxRequestLength)
	fail := func(err error) {
		t.mu.Lock()
		c.closeLocked(fmt.Errorf("writing: %w", err))
		t.mu.Unlock()
	}
	for {
		wrote := false
		for {
			wk, closed := c.takeWork()
			if closed {
				return
			}
			if len(wk.msgs) == 0 && len(wk.serve) == 0 {
				break
			}
			wrote = true
			if !c.writeWork(w, wk, buf, fail) {
				return
			}
		}
		if wrote {
			if err := w.Flush(); err != nil {
				fail(err)
				return
			}
			keepalive.Reset(90 * time.Second)
		}
		t.mu.Lock()
		drained := c.draining && len(c.out) == 0 && c.speedIdleLocked()
		t.mu.Unlock()
		if drained {
			// Everything queued (a last payment) is written: end our
			// half, so the peer reads it all before the connection goes.
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return
		}
		select {
		case <-c.wake:
		case <-c.done:
			return
		case <-keepalive.C:
			c.nc.SetWriteDeadline(time.Now().Add(t.cfg.IdleTimeout))
			if _, err := c.nc.Write([]byte{0, 0, 0, 0}); err != nil {
				fail(err)
				return
			}
		}
	}
}

// writerWork is what the writer takes from the connection in one pass:
// control messages first, else a batch of requests to serve.
type writerWork struct {
	msgs  []outItem
	serve []request
	st    Storage
	paid  bool // the peer pays for what it is served
}

// takeWork takes the queued control messages, or, when there are none, a
// batch of the peer's requests: up to serveBatch, or for a Speed peer up to
// speedServeBatch of those CanServe admits (a bounded number of unpaid
// pieces, M22; the rest waits for a payment). closed says the connection
// is closed.
func (c *conn) takeWork() (wk writerWork, closed bool) {
	t := c.t
	t.mu.Lock()
	if c.closed {
		t.mu.Unlock()
		return wk, true
	}
	wk.msgs, c.out = c.out, nil
	var pending []request // a Speed peer's queue, filtered below
	if len(wk.msgs) == 0 && len(c.queue) > 0 && t.st != nil && !c.draining {
		if c.speed == nil {
			n := min(len(c.queue), serveBatch)
			wk.serve = append(wk.serve, c.queue[:n]...)
			c.queue = c.queue[n:]
			if len(c.queue) == 0 {
				c.queue = nil
			}
		} else {
			pending = append(pending, c.queue...)
		}
	}
	wk.st = t.st
	wk.paid = c.speed != nil && c.speed.prov.charged > 0
	var pieceLen uint64
	if t.lay != nil {
		pieceLen = uint64(t.lay.pieceLength)
	}
	t.mu.Unlock()
	if pending == nil {
		return wk, false
	}
	ok := c.speedFilterServe(pending, speedServeBatch, pieceLen)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range ok {
		if len(wk.serve) == speedServeBatch {
			break
		}
		if i := slices.Index(c.queue, r); i >= 0 {
			c.queue = slices.Delete(c.queue, i, i+1)
			wk.serve = append(wk.serve, r)
		}
	}
	return wk, false
}

// writeWork writes wk's messages, then the blocks it serves, into w; false
// when a write failed (fail has closed the connection).
func (c *conn) writeWork(w *bufio.Writer, wk writerWork, buf []byte, fail func(error)) bool {
	c.nc.SetWriteDeadline(time.Now().Add(c.t.cfg.IdleTimeout))
	for i := range wk.msgs {
		var err error
		if wk.msgs[i].grant {
			err = c.writeGrant(w, wk.msgs[i])
		} else {
			err = wk.msgs[i].m.WriteTo(w)
		}
		if err != nil {
			fail(err)
			return false
		}
	}
	c.prefetch(wk.st, wk.serve)
	for _, r := range wk.serve {
		if !c.serveBlock(w, wk.st, buf, r, wk.paid, fail) {
			return false
		}
	}
	return true
}

// prefetch passes the ranges of a batch of requests to a Prefetcher
// storage (writer goroutine).
func (c *conn) prefetch(st Storage, serve []request) {
	pf, ok := st.(Prefetcher)
	if !ok || len(serve) < 2 {
		return
	}
	offs, lens := make([]int64, len(serve)), make([]int, len(serve))
	for i, r := range serve {
		offs[i], lens[i] = c.t.lay.pieceOff(int(r.piece))+int64(r.begin), int(r.length)
	}
	pf.Prefetch(offs, lens)
}

// serveBlock writes the block r asks for (writer goroutine), within the
// upload limit, and counts it; false when the connection or the torrent
// failed and the writer must stop.
func (c *conn) serveBlock(w *bufio.Writer, st Storage, buf []byte, r request, paid bool, fail func(error)) bool {
	t := c.t
	if !c.waitUpload(w, int(r.length), paid) {
		return false
	}
	b := buf[:r.length]
	if _, err := st.ReadAt(b, t.lay.pieceOff(int(r.piece))+int64(r.begin)); err != nil {
		t.mu.Lock()
		t.failLocked(fmt.Errorf("engine: reading piece %d: %w", r.piece, err))
		t.mu.Unlock()
		return false
	}
	var hdr [13]byte
	putPieceHeader(hdr[:], r)
	if _, err := w.Write(hdr[:]); err != nil {
		fail(err)
		return false
	}
	if _, err := w.Write(b); err != nil {
		fail(err)
		return false
	}
	c.speedSent(t.cfg.Now(), r, t.lay.pieceLen(int(r.piece)))
	t.mu.Lock()
	c.uploaded += int64(r.length)
	now := t.cfg.Now()
	c.up.add(now, int64(r.length))
	t.up.add(now, int64(r.length))
	if t.have.Full() {
		c.roundBytes += uint64(r.length) // seeding: what we upload
	}
	t.stats.Uploaded += int64(r.length)
	t.mu.Unlock()
	return true
}

// putPieceHeader writes the 13-byte header of a BEP 3 piece message:
//
//	<len=9+n uint32><id=7><index uint32><begin uint32>
func putPieceHeader(hdr []byte, r request) {
	be32(hdr[0:], 9+r.length)
	hdr[4] = byte(pp.Piece)
	be32(hdr[5:], r.piece)
	be32(hdr[9:], r.begin)
}

func be32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v) }
