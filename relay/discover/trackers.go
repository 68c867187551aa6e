package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/anacrolix/torrent/tracker"
	"github.com/btspeed/btspeed/engine/trackerclient"
	"github.com/btspeed/btspeed/shared/netguard"
)

// stopTimeout bounds the "stopped" announce that follows a successful
// "started" one; it is sent even when Close has begun.
const stopTimeout = 5 * time.Second

// userAgent is sent to HTTP trackers.
const userAgent = "btspeed-relay"

var (
	// errRefused is the SSRF guard's refusal of a non-public address.
	errRefused = errors.New("not a public address")
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
			if !netguard.IsPublic(ip) {
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
	if errors.Is(err, errRefused) || errors.Is(err, trackerclient.ErrRefused) {
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
	o := trackerclient.Options{
		DialContext:  d.dialTracker,
		ListenPacket: d.cfg.ListenPacket,
		UserAgent:    userAgent,
		Logger:       anacrolixLogger(d.log.With("component", "tracker client", "tracker", rawURL)),
	}
	if !d.cfg.AllowPrivate {
		o.Allow = netguard.IsPublic
	}
	cl, err := trackerclient.New(rawURL, o)
	if err != nil {
		return nil, err
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
	res, err := cl.Announce(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("announcing started: %w", err)
	}
	req.Event, req.NumWant = tracker.Stopped, 0
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer scancel()
	if _, err := cl.Announce(sctx, req); err != nil {
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
			return c, nil // trackerclient caps what it reads
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}
