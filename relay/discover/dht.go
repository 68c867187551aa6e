package discover

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/iplist"
	"github.com/btspeed/btspeed/shared/netguard"
	"golang.org/x/time/rate"
)

// bootstrapTimeout bounds the resolution of the bootstrap nodes.
const bootstrapTimeout = 10 * time.Second

// startDHT listens on Config.DHTAddr and starts the DHT node and the
// goroutine that maintains its routing table.
func (d *Discoverer) startDHT() error {
	pc, err := d.cfg.ListenPacket("udp", d.cfg.DHTAddr)
	if err != nil {
		return fmt.Errorf("discover: DHT listening on %q: %w", d.cfg.DHTAddr, err)
	}
	sc := dht.NewDefaultServerConfig()
	sc.Conn = &dhtPacketConn{PacketConn: pc, d: d}
	// As anacrolix/torrent does: node IDs are not checked against node
	// addresses (BEP 42), which many nodes do not follow.
	sc.NoSecurity = true
	sc.StartingNodes = d.startingNodes
	sc.Logger = anacrolixLogger(d.log.With("component", "dht"))
	sc.SendLimiter = rate.NewLimiter(rate.Limit(d.cfg.DHTQueriesPerSecond), d.cfg.DHTQueriesPerSecond)
	// The node answers ping, find_node and get_peers (without a peer store
	// it hands out nodes only, and no tokens) so that it stays welcome in
	// other nodes' tables; nothing else, so that no remote node can make it
	// store anything (BEP 44 puts would otherwise go to an unbounded
	// in-memory store).
	sc.OnQuery = func(q *krpc.Msg, _ net.Addr) bool {
		switch q.Q {
		case "ping", "find_node", "get_peers":
			return true
		}
		return false
	}
	if !d.cfg.AllowPrivate {
		sc.IPBlocklist = nonPublicRanger{}
	}
	s, err := dht.NewServer(sc)
	if err != nil {
		pc.Close()
		return fmt.Errorf("discover: starting the DHT node: %w", err)
	}
	d.dht, d.dhtConn = s, pc
	// TableMaintainer bootstraps, pings questionable nodes and refreshes
	// buckets; it returns once the server is closed.
	d.wg.Go(s.TableMaintainer)
	return nil
}

// startingNodes resolves Config.DHTBootstrap; the DHT calls it when its
// routing table is empty.
func (d *Discoverer) startingNodes() ([]dht.Addr, error) {
	ctx, cancel := context.WithTimeout(d.ctx, bootstrapTimeout)
	defer cancel()
	var out []dht.Addr
	for _, hp := range d.cfg.DHTBootstrap {
		host, _, _ := net.SplitHostPort(hp)
		port, _ := parseHostPort(hp) // checked by New
		ips, err := d.resolve(ctx, host)
		if err != nil {
			d.log.Debug("discover: resolving a DHT bootstrap node", "node", hp, "err", err)
			continue
		}
		for _, ip := range ips {
			if d.cfg.AllowPrivate || netguard.IsPublic(ip) {
				out = append(out, dht.NewAddr(net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port))))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("discover: no DHT bootstrap node of %q resolved to a usable address", d.cfg.DHTBootstrap)
	}
	return out, nil
}

// DHT traversal limits.
const (
	dhtAlpha         = 3    // queries in flight
	dhtK             = 8    // closest responding nodes that end the search once all are queried
	dhtMaxCandidates = 128  // nodes waiting to be queried, closest kept
	dhtMaxQueries    = 256  // queries per search
	dhtMaxKnown      = 4096 // node addresses a search remembers
	dhtNodesPerReply = 16   // nodes taken from each list of a reply (honest nodes send 8)
)

// candidate is a DHT node to query.
type candidate struct {
	addr  netip.AddrPort
	dist  [20]byte // XOR distance to the info hash; zero for bootstrap nodes (ID unknown)
	hasID bool
}

// searchDHT walks the DHT toward ih with get_peers queries (BEP 5), adding
// the peers that nodes return, until the dhtK closest nodes that answered
// have all been queried, dhtMaxQueries were sent, or ctx ends. It never
// sends announce_peer.
//
// It is written here, over dht.Server.GetPeers, rather than using
// dht.Server.AnnounceTraversal because that traversal's sets of queried
// and unqueried nodes grow with whatever nodes reply (up to thousands of
// nodes per packet, from hostile nodes) for as long as it runs; here
// every set is capped. It also asks the bootstrap nodes while the routing
// table is small, where anacrolix asks them only when the table is empty.
func (d *Discoverer) searchDHT(ctx context.Context, ih [20]byte) {
	l := &dhtLookup{d: d, ih: ih, known: make(map[netip.AddrPort]bool)}
	for _, ni := range d.dht.Nodes() {
		l.addNode(ni)
	}
	// With a small routing table (just started, or a small network) the
	// bootstrap nodes are asked too.
	if len(l.waiting) < dhtK {
		addrs, err := d.startingNodes()
		if err != nil && len(l.waiting) == 0 {
			d.log.Debug("discover: DHT lookup", "info_hash", fmt.Sprintf("%x", ih), "err", err)
			return
		}
		for _, a := range addrs {
			if ap, ok := nodeAddrPort(a.KRPC()); ok {
				l.add(candidate{addr: ap})
			}
		}
	}
	target := int160.FromByteArray(ih)
	results := make(chan *krpc.Return, dhtAlpha) // never blocks: at most dhtAlpha in flight
	inFlight, sent := 0, 0
	for {
		for ctx.Err() == nil && inFlight < dhtAlpha && sent < dhtMaxQueries && l.worthQuerying() {
			c := l.waiting[0]
			l.waiting = l.waiting[1:]
			inFlight++
			sent++
			go func() { // ends when the query does (ctx bounds it); the loop below waits for it
				res := d.dht.GetPeers(ctx, dht.NewAddr(net.UDPAddrFromAddrPort(c.addr)), target, false, dht.QueryRateLimiting{})
				results <- res.Reply.R // nil without an answer
			}()
		}
		if inFlight == 0 {
			return
		}
		r := <-results
		inFlight--
		if r != nil && ctx.Err() == nil {
			l.reply(r)
		}
	}
}

// dhtLookup is one searchDHT walk's state; every set in it is capped.
type dhtLookup struct {
	d       *Discoverer
	ih      [20]byte
	known   map[netip.AddrPort]bool // queried or waiting; at most dhtMaxKnown
	waiting []candidate             // sorted by distance, at most dhtMaxCandidates
	closest [][20]byte              // distances of the closest nodes that answered, sorted, at most dhtK
}

// add queues c unless it is known, unreachable, or farther than every
// waiting candidate with the queue full.
func (l *dhtLookup) add(c candidate) {
	if l.known[c.addr] || len(l.known) >= dhtMaxKnown || !l.d.dhtReachable(c.addr) {
		return
	}
	i, _ := slices.BinarySearchFunc(l.waiting, c, func(a, b candidate) int { return bytes.Compare(a.dist[:], b.dist[:]) })
	if i >= dhtMaxCandidates {
		return
	}
	l.known[c.addr] = true
	l.waiting = slices.Insert(l.waiting, i, c)
	if len(l.waiting) > dhtMaxCandidates {
		l.waiting = l.waiting[:dhtMaxCandidates]
	}
}

// addNode queues a node a reply or the routing table named.
func (l *dhtLookup) addNode(ni krpc.NodeInfo) {
	ap, ok := nodeAddrPort(ni.Addr)
	if !ok {
		return
	}
	c := candidate{addr: ap, hasID: true}
	for i := range c.dist {
		c.dist[i] = ni.ID[i] ^ l.ih[i]
	}
	l.add(c)
}

// worthQuerying says whether the closest waiting node may be closer than
// the dhtK closest that answered.
func (l *dhtLookup) worthQuerying() bool {
	if len(l.waiting) == 0 {
		return false
	}
	return len(l.closest) < dhtK || !l.waiting[0].hasID || bytes.Compare(l.waiting[0].dist[:], l.closest[len(l.closest)-1][:]) < 0
}

// reply takes in an answer: its peers go to the discoverer, its sender
// joins the closest that answered, and at most dhtNodesPerReply of each
// family of the nodes it names are queued.
func (l *dhtLookup) reply(r *krpc.Return) {
	found := make([]netip.AddrPort, 0, len(r.Values))
	for _, p := range r.Values {
		if ap, ok := nodeAddrPort(p); ok {
			found = append(found, ap)
		}
	}
	if len(found) > 0 {
		l.d.addPeers(l.ih, found)
	}
	var dist [20]byte
	for i := range dist {
		dist[i] = r.ID[i] ^ l.ih[i]
	}
	i, _ := slices.BinarySearchFunc(l.closest, dist, func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
	if i < dhtK {
		l.closest = slices.Insert(l.closest, i, dist)
		if len(l.closest) > dhtK {
			l.closest = l.closest[:dhtK]
		}
	}
	for _, ni := range r.Nodes[:min(len(r.Nodes), dhtNodesPerReply)] {
		l.addNode(ni)
	}
	for _, ni := range r.Nodes6[:min(len(r.Nodes6), dhtNodesPerReply)] {
		l.addNode(ni)
	}
}

// dhtReachable says whether the DHT may query addr: a valid address of the
// socket's family, public unless AllowPrivate.
func (d *Discoverer) dhtReachable(addr netip.AddrPort) bool {
	a := addr.Addr()
	if !a.IsValid() || addr.Port() == 0 || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	if !d.cfg.AllowPrivate && !netguard.IsPublic(a) {
		return false
	}
	local := d.DHTAddr().Addr()
	if local.IsValid() && !local.IsUnspecified() && local.Is4() != a.Is4() {
		return false
	}
	return true
}

// nodeAddrPort converts a krpc address.
func nodeAddrPort(p krpc.NodeAddr) (netip.AddrPort, bool) {
	a, ok := netip.AddrFromSlice(p.IP)
	if !ok || p.Port <= 0 || p.Port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p.Port)), true
}

// nonPublicRanger is a DHT IP blocklist of every non-public address: the
// DHT neither sends to nor accepts packets from them.
type nonPublicRanger struct{}

// Lookup reports a non-public ip as blocked.
func (nonPublicRanger) Lookup(ip net.IP) (iplist.Range, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if ok && netguard.IsPublic(a) {
		return iplist.Range{}, false
	}
	return iplist.Range{First: ip, Last: ip, Description: "not a public address"}, true
}

// NumRanges is unknown (computed, not a list).
func (nonPublicRanger) NumRanges() int { return 0 }

// anacrolixLogger returns an anacrolix logger writing to l.
func anacrolixLogger(l *slog.Logger) alog.Logger {
	var al alog.Logger
	al.SetHandlers(slogHandler{l})
	return al
}

// slogHandler passes anacrolix log records to a slog.Logger, at the
// matching level (records without one at debug).
type slogHandler struct{ l *slog.Logger }

// Handle logs r.
func (h slogHandler) Handle(r alog.Record) {
	lvl := slog.LevelDebug
	switch r.Level {
	case alog.Info:
		lvl = slog.LevelInfo
	case alog.Warning:
		lvl = slog.LevelWarn
	case alog.Error, alog.Critical:
		lvl = slog.LevelError
	}
	ctx := context.Background()
	if !h.l.Enabled(ctx, lvl) {
		return
	}
	h.l.Log(ctx, lvl, r.Msg.String(), "names", r.Names)
}

// dhtPacketConn is the DHT's socket. It drops the packets whose decoding
// panics: anacrolix's KRPC decoder panics on a "values" entry shorter than
// two bytes (krpc.NodeAddr.UnmarshalBinary makes a slice of negative
// length), and its bencode decoder re-raises runtime errors, which would
// crash the process from the DHT's read loop on one packet from anyone.
type dhtPacketConn struct {
	net.PacketConn
	d *Discoverer
}

// ReadFrom reads the next packet that decodes without panicking.
func (c *dhtPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || decodesSafely(b[:n]) {
			return n, addr, err
		}
		c.d.count(&c.d.stats.DHTMalformed)
	}
}

// decodesSafely says whether decoding b as a KRPC message does not panic
// (decoding errors are fine: the DHT handles them).
func decodesSafely(b []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var m krpc.Msg
	_ = bencode.Unmarshal(b, &m)
	return true
}
