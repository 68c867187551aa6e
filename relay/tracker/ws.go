package tracker

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/shared/httptracker"
	"github.com/btspeed/btspeed/shared/webtorrent"
	"github.com/gorilla/websocket"
)

// The WebSocket protocol is bittorrent-tracker's (WebTorrent's), described
// in package shared/webtorrent.

// wsRequest is a message from a client (shared/webtorrent, the engine's
// client too).
type wsRequest = webtorrent.Message

// MaxQueued caps the messages waiting to be written to one WebSocket
// client; a client that lets more pile up is dropped.
const MaxQueued = 128

// pingEvery is how often an idle client is pinged.
const pingEvery = 30 * time.Second

// wsConn is one WebSocket client. The reader, on the HTTP request's
// goroutine, owns the connection's reads. Writes go through a queue that a
// writer goroutine drains while it has messages and then ends, so an idle
// client holds one goroutine, not two; pings come from a timer
// (WriteControl may run beside a writer). The reader waits for the writer
// before it returns.
type wsConn struct {
	s      *Server
	ws     *websocket.Conn
	ip     netip.Addr
	from   netip.Addr // clientip.Key(ip)
	done   chan struct{}
	closer sync.Once
	ping   *time.Timer
	writer sync.WaitGroup

	qmu     sync.Mutex
	queue   [][]byte // messages not yet written, at most MaxQueued
	writing bool     // a writer goroutine is draining queue

	// guarded by Server.mu
	joined map[joinKey]struct{} // every entry this connection holds, at most MaxJoined
}

// joinKey names a peer entry: its swarm and its key there.
type joinKey struct {
	ih  [20]byte
	key string
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ip := s.cfg.ClientAddr(r)
	if !ip.IsValid() {
		http.Error(w, "cannot tell your address", http.StatusBadRequest)
		return
	}
	from := clientip.Key(ip)
	if !s.takeSocket(from) {
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter.Seconds())))
		http.Error(w, "too many WebSocket connections from your address: close some, or retry later", http.StatusTooManyRequests)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.mu.Lock()
		s.releaseSocketLocked(from)
		s.mu.Unlock()
		return // the upgrader answered
	}
	c := &wsConn{s: s, ws: ws, ip: ip, from: from, done: make(chan struct{}), joined: make(map[joinKey]struct{})}
	c.ping = time.AfterFunc(pingEvery, c.pingNow)
	s.mu.Lock()
	if s.closed {
		s.releaseSocketLocked(from)
		s.mu.Unlock()
		c.ping.Stop()
		ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.readers.Add(1)
	s.mu.Unlock()
	// The reader gets a goroutine of its own, owned by the Server (Close
	// waits for it), and the request's goroutine returns: a fresh stack
	// without net/http's frames shrinks to about half while it waits.
	go func() {
		defer s.readers.Done()
		c.readLoop()
		c.writer.Wait()
	}()
}

// close closes the connection and takes every entry it announced out of
// the swarms.
func (c *wsConn) close() {
	c.closer.Do(func() {
		c.qmu.Lock() // so no send starts a writer after the reader's Wait
		close(c.done)
		c.qmu.Unlock()
		if c.ping != nil {
			c.ping.Stop()
		}
		c.ws.Close()
		s := c.s
		var gone []SwarmKey // for the cluster
		s.mu.Lock()
		delete(s.conns, c)
		s.releaseSocketLocked(c.from)
		for j := range c.joined {
			if sw := s.swarms[j.ih]; sw != nil {
				if p := sw.peers[j.key]; p != nil && p.conn == c {
					sw.remove(j.key)
					gone = append(gone, SwarmKey{j.ih, j.key})
				}
				if len(sw.peers) == 0 {
					delete(s.swarms, j.ih)
				}
			}
		}
		clear(c.joined)
		s.mu.Unlock()
		s.clusterRemove(WebSocketPeer, gone)
	})
}

// send queues a message; a client too slow to take its messages is
// dropped.
func (c *wsConn) send(v *webtorrent.Message) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	c.qmu.Lock()
	select {
	case <-c.done:
		c.qmu.Unlock()
		return
	default:
	}
	if len(c.queue) >= MaxQueued {
		c.qmu.Unlock()
		go c.close() // the caller may hold Server.mu, which close takes
		return
	}
	c.queue = append(c.queue, b)
	start := !c.writing
	c.writing = true
	if start {
		c.writer.Add(1)
	}
	c.qmu.Unlock()
	if start {
		go c.drain()
	}
}

// drain writes the queued messages and ends when the queue is empty.
func (c *wsConn) drain() {
	defer c.writer.Done()
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			c.queue = nil // an idle client holds no queue
			c.qmu.Unlock()
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qmu.Unlock()
		c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			c.close()
			c.qmu.Lock()
			c.writing, c.queue = false, nil
			c.qmu.Unlock()
			return
		}
	}
}

// pingNow pings the client and arms the next ping.
func (c *wsConn) pingNow() {
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)); err != nil {
		c.close()
		return
	}
	select {
	case <-c.done:
	default:
		c.ping.Reset(pingEvery)
	}
}

func (c *wsConn) readLoop() {
	defer c.close()
	s := c.s
	c.ws.SetReadLimit(MaxMessage)
	idle := 3 * s.cfg.Interval / 5
	c.ws.SetPongHandler(func(string) error { c.ws.SetReadDeadline(time.Now().Add(idle)); return nil })
	rate := float64(s.cfg.MessagesPerSecond)
	tokens, last := 2*rate, time.Now()
	for {
		c.ws.SetReadDeadline(time.Now().Add(idle))
		kind, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		tokens = min(2*rate, tokens+now.Sub(last).Seconds()*rate)
		last = now
		if tokens < 1 {
			s.log.Info("websocket client over its message rate", "ip", c.ip)
			return
		}
		tokens--
		if kind != websocket.TextMessage {
			c.fail("", nil, "binary messages are not part of the protocol")
			continue
		}
		c.handle(b)
	}
}

// handle answers one text message.
func (c *wsConn) handle(b []byte) {
	var req wsRequest
	if err := json.Unmarshal(b, &req); err != nil {
		c.fail("", nil, "malformed JSON: "+err.Error())
		return
	}
	switch req.Action {
	case "announce":
		c.announce(&req)
	case "scrape":
		c.scrape(&req)
	default:
		c.fail(req.Action, nil, "unknown action "+strconv.Quote(req.Action))
	}
}

// fail answers an error and counts it.
func (c *wsConn) fail(action string, ih []byte, reason string) {
	c.s.mu.Lock()
	c.s.stats.Refused++
	c.s.mu.Unlock()
	m := &webtorrent.Message{Action: action, FailureReason: reason}
	if ih != nil {
		m.InfoHash = webtorrent.Hashes{webtorrent.BinString(ih)}
	}
	c.send(m)
}

func (c *wsConn) announce(req *wsRequest) {
	s := c.s
	ihb, err := webtorrent.FromBinString(req.InfoHash.One(), 20)
	if err != nil {
		c.fail("announce", nil, "invalid info_hash: "+err.Error())
		return
	}
	idb, err := webtorrent.FromBinString(req.PeerID, 20)
	if err != nil {
		c.fail("announce", ihb, "invalid peer_id: "+err.Error())
		return
	}
	var ih, id [20]byte
	copy(ih[:], ihb)
	copy(id[:], idb)
	ev, ok := httptracker.ParseEvent(req.Event)
	if !ok {
		c.fail("announce", ihb, "invalid event")
		return
	}
	if len(req.Offers) > MaxOffers {
		req.Offers = req.Offers[:MaxOffers]
	}
	left := req.Left.Value(-1)
	if !s.allowed(ih) {
		c.fail("announce", ihb, "torrent not served by this tracker")
		return
	}
	if len(req.Answer) > 0 {
		c.answer(ih, id, req)
		return
	}
	now := s.cfg.Now()
	if !s.announces.Allow(c.from, now) {
		c.refuse(ihb, refusedAnnounces)
		return
	}
	key := hex.EncodeToString(id[:])
	clustered := s.clusterUp()
	localOffers := len(req.Offers)
	if clustered {
		localOffers = 0 // the cluster picks them
	}
	s.mu.Lock()
	res, no := c.joinLocked(ih, peer{key: key, id: id, conn: c, from: c.from}, ev, left, localOffers, now)
	s.mu.Unlock()
	if no != nil {
		c.refuse(ihb, no)
		return
	}
	if res == nil {
		return // stopped in a swarm that does not exist
	}
	s.clusterDrop(ih, res.dropped)
	if clustered && !c.clusterAnnounce(ih, id, ev, left, req.Offers, res) {
		s.mu.Lock()
		c.pickLocked(ih, key, len(req.Offers), res)
		s.mu.Unlock()
	}
	c.send(&webtorrent.Message{Action: "announce", Interval: webtorrent.Count(int(s.cfg.Interval.Seconds() / 5)),
		InfoHash: webtorrent.Hashes{webtorrent.BinString(ih[:])}, Complete: webtorrent.Count(res.complete), Incomplete: webtorrent.Count(res.incomplete)})
	for i, to := range res.targets {
		o := req.Offers[i]
		if !validOffer(o) {
			continue
		}
		to.send(&webtorrent.Message{Action: "announce", Offer: o.Offer, OfferID: o.OfferID,
			PeerID: webtorrent.BinString(id[:]), InfoHash: webtorrent.Hashes{webtorrent.BinString(ih[:])}})
	}
}

// validOffer says whether an offer is worth handing on.
func validOffer(o webtorrent.Offer) bool {
	return len(o.Offer) > 0 && utf8.RuneCountInString(o.OfferID) <= 64
}

// clusterAnnounce records the connection's announce in the cluster, sets
// res's counts to the cluster's, and routes the offers to the peers the
// cluster picked, wherever they are; false when the cluster failed (res
// is then the local swarm's alone).
func (c *wsConn) clusterAnnounce(ih, id [20]byte, ev httptracker.Event, left int64, offers []webtorrent.Offer, res *joinResult) bool {
	s := c.s
	ctx, cancel := clusterContext()
	defer cancel()
	e := &Entry{Key: hex.EncodeToString(id[:]), ID: id, Relay: s.cfg.Cluster.ID(), Complete: left == 0}
	picked, counts, err := s.cfg.Cluster.Announce(ctx, ih, WebSocketPeer, e, ev, len(offers))
	if err != nil {
		s.clusterFailed("announce", err)
		return false
	}
	res.complete, res.incomplete = counts.Complete, counts.Incomplete
	n := 0
	for i, p := range picked[:min(len(picked), len(offers))] {
		if !validOffer(offers[i]) {
			continue
		}
		s.route(ctx, p.Relay, &Routed{InfoHash: ih, To: p.Key, From: id, OfferID: offers[i].OfferID, Offer: offers[i].Offer})
		n++
	}
	s.mu.Lock()
	s.stats.OffersRelayed += uint64(n)
	s.mu.Unlock()
	return true
}

// joinResult is what an announce over WebSocket is answered with: the
// swarm's counts, and the connections its offers go to.
type joinResult struct {
	complete, incomplete int
	targets              []*wsConn
	dropped              *peer // the entry that made room, for the cluster
}

// joinLocked applies the connection's announce of p to the swarm of ih and
// picks the connections its offers go to (read under s.mu: a re-announce
// may move a peer to another connection). It returns nil and nil for a
// stopped peer whose swarm does not exist.
func (c *wsConn) joinLocked(ih [20]byte, p peer, ev httptracker.Event, left int64, offers int, now time.Time) (*joinResult, *refusal) {
	s := c.s
	sw, no := s.swarmLocked(ih, ev != httptracker.Stopped, c.from, now)
	if sw == nil {
		return nil, no
	}
	if other := sw.peers[p.key]; other != nil && other.conn != c {
		return nil, &refusal{reason: "peer_id already in use on another connection"}
	}
	j := joinKey{ih, p.key}
	if _, in := c.joined[j]; !in && ev != httptracker.Stopped && len(c.joined) >= MaxJoined {
		return nil, refusedJoined
	}
	s.stats.Announces++
	entry, dropped := s.announceLocked(ih, sw, p, ev, left, now)
	switch {
	case entry != nil:
		c.joined[j] = struct{}{}
	case ev == httptracker.Stopped:
		delete(c.joined, j)
		if len(sw.peers) == 0 {
			delete(s.swarms, ih)
		}
	default:
		return nil, refusedPeers
	}
	res := &joinResult{complete: sw.complete, incomplete: sw.incomplete}
	res.dropped = dropped
	if entry != nil {
		c.pickLocked(ih, p.key, offers, res)
	}
	return res, nil
}

// pickLocked picks, in the local swarm of ih, the connections n offers of
// the peer with key self go to.
func (c *wsConn) pickLocked(ih [20]byte, self string, n int, res *joinResult) {
	s := c.s
	sw := s.swarms[ih]
	if n <= 0 || sw == nil {
		return
	}
	for _, t := range sw.pick(n, self, func(p *peer) bool { return p.conn != nil }, s.rng) {
		res.targets = append(res.targets, t.conn)
	}
	s.stats.OffersRelayed += uint64(len(res.targets))
}

// answer hands a WebRTC answer back to the peer whose offer it answers.
// Answers join no swarm: the answering peer is in it already.
func (c *wsConn) answer(ih, id [20]byte, req *wsRequest) {
	s := c.s
	var to *wsConn
	s.mu.Lock()
	if sw := s.swarms[ih]; sw != nil {
		if p := sw.peers[hex.EncodeToString(id[:])]; p != nil && p.conn == c {
			p.seen = s.cfg.Now()
		}
		if tp := sw.peers[hexOf(req.ToPeerID)]; tp != nil && tp.conn != nil {
			to = tp.conn
			s.stats.AnswersRelayed++
		}
	}
	s.mu.Unlock()
	if to == nil && c.clusterAnswer(ih, id, req) {
		return
	}
	if to == nil {
		c.fail("announce", ih[:], "no peer with that to_peer_id")
		return
	}
	to.send(&webtorrent.Message{Action: "announce", Answer: req.Answer, OfferID: req.OfferID,
		PeerID: webtorrent.BinString(id[:]), InfoHash: webtorrent.Hashes{webtorrent.BinString(ih[:])}})
}

// clusterAnswer routes an answer for a peer this relay does not hold to
// the relay that does; false when the cluster does not know it either.
func (c *wsConn) clusterAnswer(ih, id [20]byte, req *wsRequest) bool {
	s := c.s
	to := hexOf(req.ToPeerID)
	if to == "" || !validOffer(webtorrent.Offer{Offer: req.Answer, OfferID: req.OfferID}) || !s.clusterUp() {
		return false
	}
	ctx, cancel := clusterContext()
	defer cancel()
	e, ok, err := s.cfg.Cluster.Lookup(ctx, ih, WebSocketPeer, to)
	if err != nil {
		s.clusterFailed("lookup", err)
		return false
	}
	if !ok || e.Relay == s.cfg.Cluster.ID() {
		return false
	}
	s.mu.Lock()
	s.stats.AnswersRelayed++
	s.mu.Unlock()
	s.route(ctx, e.Relay, &Routed{InfoHash: ih, To: to, From: id, OfferID: req.OfferID, Answer: req.Answer})
	return true
}

// refuse answers a refused announce and counts it.
func (c *wsConn) refuse(ih []byte, r *refusal) {
	c.s.countRefusal(r)
	c.send(&webtorrent.Message{Action: "announce", FailureReason: r.message(), InfoHash: webtorrent.Hashes{webtorrent.BinString(ih)}})
}

// hexOf is the swarm key of a binary-string peer id ("" if invalid).
func hexOf(binary string) string {
	b, err := webtorrent.FromBinString(binary, 20)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(b)
}

func (c *wsConn) scrape(req *wsRequest) {
	s := c.s
	list := req.InfoHash
	if len(list) == 0 || len(list) > httptracker.MaxScrape {
		c.fail("scrape", nil, "give 1 to 100 info hashes")
		return
	}
	files := make(map[string]webtorrent.Stats, len(list))
	ihs := make([][20]byte, 0, len(list))
	s.mu.Lock()
	s.stats.Scrapes++
	for _, h := range list {
		b, err := webtorrent.FromBinString(h, 20)
		if err != nil {
			s.mu.Unlock()
			c.fail("scrape", nil, "invalid info_hash: "+err.Error())
			return
		}
		var ih [20]byte
		copy(ih[:], b)
		ihs = append(ihs, ih)
		var st webtorrent.Stats
		if sw := s.swarms[ih]; sw != nil {
			st = webtorrent.Stats{Complete: sw.complete, Incomplete: sw.incomplete, Downloaded: sw.downloaded}
		}
		files[h] = st
	}
	s.mu.Unlock()
	if cs := s.clusterCounts(ihs); cs != nil {
		for i, h := range list {
			files[h] = webtorrent.Stats{Complete: cs[i].Complete, Incomplete: cs[i].Incomplete, Downloaded: cs[i].Downloaded}
		}
	}
	c.send(&webtorrent.Message{Action: "scrape", Files: files})
}
