package discover

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
)

// stopTimeout bounds the "stopped" announce that follows a successful
// "started" one; it is sent even when Close has begun.
const stopTimeout = 5 * time.Second

// userAgent is sent to HTTP trackers.
const userAgent = "btspeed-relay"

var (
	// errRefused is the SSRF guard's refusal of a non-public address.
	errRefused = errors.New("not a public address")
	// errTooBig ends an HTTP tracker connection that sent more than
	// MaxTrackerResponse bytes.
	errTooBig = errors.New("tracker response too large")
)

// trackerURLs keeps the usable tracker URLs (http, https and udp with a
// port), without duplicates, at most MaxTrackersPerLookup.
func (d *Discoverer) trackerURLs(raw []string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, s := range raw {
		if len(out) >= d.cfg.MaxTrackersPerLookup {
			break
		}
		if len(s) > maxTrackerURL {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" || u.Opaque != "" {
			continue
		}
		switch u.Scheme { // url.Parse lowercases it
		case "http", "https":
		case "udp":
			if u.Port() == "" {
				continue
			}
		default:
			continue
		}
		u.Fragment, u.RawFragment = "", ""
		if s = u.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// resolve returns the addresses of host: an IP literal itself, else what
// Config.LookupIP answers; IPv4 addresses unmapped.
func (d *Discoverer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap().WithZone("")}, nil
	}
	ips, err := d.cfg.LookupIP(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %q: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving %q: no address", host)
	}
	for i := range ips {
		ips[i] = ips[i].Unmap().WithZone("")
	}
	return ips, nil
}

// checkHost resolves host and, without AllowPrivate, refuses it unless
// every address is public (one non-public address is enough for a
// rebinding attack).
func (d *Discoverer) checkHost(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	if !d.cfg.AllowPrivate {
		for _, ip := range ips {
			if !isPublic(ip) {
				return nil, fmt.Errorf("tracker host %q resolves to %v: %w", host, ip, errRefused)
			}
		}
	}
	return ips, nil
}

// announce asks the tracker at rawURL for peers of ih: event "started"
// (trackers hand out peers to starting peers; on "stopped" opentracker
// answers with none), then at once "stopped" so that the relay does not
// stay listed.
func (d *Discoverer) announce(ctx context.Context, ih [20]byte, rawURL string) {
	log := d.log.With("tracker", rawURL, "info_hash", fmt.Sprintf("%x", ih))
	ctx, cancel := context.WithTimeout(ctx, d.cfg.TrackerTimeout)
	defer cancel()
	u, err := url.Parse(rawURL) // checked by trackerURLs
	if err != nil {
		return
	}
	// Checked here before anything is sent; dialTracker and
	// guardedPacketConn check again, at each connection and packet.
	if _, err := d.checkHost(ctx, u.Hostname()); err != nil {
		d.trackerFailed(log, err)
		return
	}
	peers, err := d.announceTwice(ctx, ih, rawURL)
	if err != nil {
		d.trackerFailed(log, err)
		return
	}
	d.count(&d.stats.TrackerAnnounces)
	d.addPeers(ih, peers)
}

// trackerFailed counts and logs a failed tracker announce.
func (d *Discoverer) trackerFailed(log *slog.Logger, err error) {
	if errors.Is(err, errRefused) {
		d.count(&d.stats.TrackersRefused)
		log.Debug("discover: tracker refused", "err", err)
		return
	}
	d.count(&d.stats.TrackerErrors)
	log.Debug("discover: tracker announce", "err", err)
}

// announceTwice sends "started" and, if it succeeded, "stopped", and
// returns the peers of the first answer.
func (d *Discoverer) announceTwice(ctx context.Context, ih [20]byte, rawURL string) (peers []netip.AddrPort, err error) {
	cl, err := tracker.NewClient(rawURL, tracker.NewClientOpts{
		Http:         trHttp.NewClientOpts{DialContext: d.dialTracker},
		Logger:       anacrolixLogger(d.log.With("component", "tracker client", "tracker", rawURL)),
		ListenPacket: d.listenTracker,
	})
	if err != nil {
		return nil, fmt.Errorf("tracker client: %w", err)
	}
	defer cl.Close()
	req := tracker.AnnounceRequest{
		InfoHash: ih,
		PeerId:   d.peerID,
		Left:     -1, // unknown, as anacrolix/torrent says before it has the info (HTTP: the largest int64)
		Event:    tracker.Started,
		NumWant:  NumWant,
		Key:      d.key,
		Port:     uint16(d.cfg.Port),
	}
	res, err := d.announceOnce(ctx, cl, req)
	if err != nil {
		return nil, fmt.Errorf("announcing started: %w", err)
	}
	req.Event, req.NumWant = tracker.Stopped, 0
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer scancel()
	if _, err := d.announceOnce(sctx, cl, req); err != nil {
		d.log.Debug("discover: announcing stopped", "tracker", rawURL, "err", err)
	}
	peers = make([]netip.AddrPort, 0, len(res.Peers))
	var local map[netip.Addr]bool
	for _, p := range res.Peers {
		ap, ok := p.ToNetipAddrPort()
		if !ok || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		// Trackers may list the announcer itself (opentracker does): the
		// relay's own address is not a peer.
		if int(ap.Port()) == d.cfg.Port {
			if local == nil {
				local = localAddrs()
			}
			if a := ap.Addr().Unmap(); a.IsLoopback() || local[a] {
				continue
			}
		}
		peers = append(peers, ap)
	}
	return peers, nil
}

// localAddrs returns the addresses of the machine's interfaces.
func localAddrs() map[netip.Addr]bool {
	out := make(map[netip.Addr]bool)
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			out[pfx.Addr().Unmap().WithZone("")] = true
		}
	}
	return out
}

// announceOnce sends one announce. anacrolix's HTTP client leaves out
// numwant, so it is added to the query here; and its bencode decoding
// panics (a runtime error it re-raises) on a dictionary-model peer list
// holding anything but dictionaries of the expected types, which a hostile
// tracker can send: that panic is turned into an error.
func (d *Discoverer) announceOnce(ctx context.Context, cl tracker.Client, req tracker.AnnounceRequest) (res tracker.AnnounceResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed tracker response: %v", r)
		}
	}()
	return cl.Announce(ctx, req, tracker.AnnounceOpt{
		UserAgent: userAgent,
		HttpRequestDirector: func(r *http.Request) error {
			r.URL.RawQuery += "&numwant=" + strconv.Itoa(int(req.NumWant))
			return nil
		},
	})
}

// dialTracker opens an HTTP tracker connection (redirects included): host
// names are resolved here, every address is checked (without
// AllowPrivate), an address itself is dialled (no second resolution to
// rebind), and the connection reads at most MaxTrackerResponse bytes.
func (d *Discoverer) dialTracker(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := d.checkHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var first error
	for _, ip := range ips {
		c, err := d.cfg.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return &limitedConn{Conn: c, left: MaxTrackerResponse}, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// limitedConn is a net.Conn that fails once it has read its allowance.
type limitedConn struct {
	net.Conn
	left int // guarded by the one reader http.Transport has per connection
}

// Read reads within the allowance.
func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooBig
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// listenTracker opens the UDP tracker client's socket (see
// trackerPacketConn).
func (d *Discoverer) listenTracker(network, addr string) (net.PacketConn, error) {
	pc, err := d.cfg.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	return &trackerPacketConn{PacketConn: pc, allowPrivate: d.cfg.AllowPrivate, seen: make(map[uint32]bool)}, nil
}

// maxUDPTransactions caps the transaction IDs a trackerPacketConn
// remembers; one announce pair uses at most four.
const maxUDPTransactions = 64

// trackerPacketConn is the UDP tracker client's socket, guarding two things.
//
// Writes: packets to non-public addresses are refused (without
// AllowPrivate), checked at each write because anacrolix's client resolves
// the tracker's name again for every packet.
//
// Reads: only the first answer to each transaction ID is passed on.
// anacrolix's dispatcher hands answers to a channel of capacity one while
// holding a lock that ending the transaction needs, so a tracker sending
// three answers to one request could block the announce for ever.
type trackerPacketConn struct {
	net.PacketConn
	allowPrivate bool
	seen         map[uint32]bool // transaction IDs answered; used by the one reader
}

// WriteTo writes b to addr if it is allowed.
func (c *trackerPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !c.allowPrivate {
		ua, ok := addr.(*net.UDPAddr)
		if !ok || !isPublic(ua.AddrPort().Addr()) {
			return 0, fmt.Errorf("UDP tracker %v: %w", addr, errRefused)
		}
	}
	return c.PacketConn.WriteTo(b, addr)
}

// ReadFrom reads the next packet that is not a repeated answer.
func (c *trackerPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n < 8 {
			return n, addr, err // too short: the dispatcher rejects it
		}
		tid := binary.BigEndian.Uint32(b[4:8]) // after the action (BEP 15)
		if c.seen[tid] || len(c.seen) >= maxUDPTransactions {
			continue
		}
		c.seen[tid] = true
		return n, addr, nil
	}
}
