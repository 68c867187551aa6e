package engine

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/btspeed/btspeed/shared/wallet"
)

// State is what a torrent is doing, in words people read.
type State string

// The states of a torrent (Torrent.Status).
const (
	// StateLookingForPeers: no peer connected yet; Status.Trying says
	// where the torrent looks.
	StateLookingForPeers State = "looking for peers"
	// StateFetchingMetadata: connected, getting the torrent's details (a
	// magnet link's info, BEP 9).
	StateFetchingMetadata State = "fetching metadata"
	StateDownloading      State = "downloading"
	StateSeeding          State = "seeding"
	// StateStalled: nothing arrived for Config.StallAfter while incomplete;
	// Status.Hint says what it means.
	StateStalled State = "stalled"
	// StateStopped: a fatal error stopped the torrent (Torrent.Err).
	StateStopped State = "stopped"
)

// Hints shown with StateStalled.
const (
	HintNoSeeder   = "No one is sharing this torrent right now. Keep it running; it will start when a seeder appears."
	HintNoMetadata = "Could not get the torrent's details from any peer yet. Keep it running; it will start when a peer that has them appears."
	HintNoData     = "Connected to peers, but none is sending data right now. Keep it running; it will resume when one does."
)

// Status is a torrent's state, rates and time left, for people.
type Status struct {
	State State
	// Hint explains a stalled torrent ("" otherwise).
	Hint string
	// Trying lists where the torrent looks for peers ("tracker
	// tracker.example", "WebRTC via relay.example", "the relay bridge").
	Trying []string
	// DownloadRate and UploadRate are bytes per second, averaged over the
	// last RateWindow seconds.
	DownloadRate, UploadRate float64
	// ETA is the time left at DownloadRate; 0 when there is none
	// (complete, info unknown, or nothing arriving).
	ETA time.Duration
	// Stalled is how long nothing has arrived (0 unless stalled).
	Stalled time.Duration
}

// Status returns the torrent's state now, read on Config.Now.
func (t *Torrent) Status() Status {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Status{Trying: t.tryingLocked(), DownloadRate: t.down.rate(now), UploadRate: t.up.rate(now)}
	idle := now.Sub(t.lastData)
	stalled := idle >= t.cfg.StallAfter
	switch {
	case t.err != nil:
		s.State = StateStopped
	case t.lay != nil && t.have.Full():
		s.State = StateSeeding
	case stalled:
		s.State, s.Stalled = StateStalled, idle
		switch {
		case t.lay == nil:
			s.Hint = HintNoMetadata
		case len(t.conns) > 0:
			s.Hint = HintNoData
		default:
			s.Hint = HintNoSeeder
		}
	case len(t.conns) == 0:
		s.State = StateLookingForPeers
	case t.lay == nil:
		s.State = StateFetchingMetadata
	default:
		s.State = StateDownloading
	}
	if t.lay != nil && !t.have.Full() && s.DownloadRate >= 1 {
		left := t.lay.total - t.statsCompletedLocked()
		s.ETA = time.Duration(float64(left) / s.DownloadRate * float64(time.Second)).Round(time.Second)
	}
	return s
}

// gotDataLocked records n bytes received for the torrent (piece data or
// its info) at now: the stall timer restarts.
func (t *Torrent) gotDataLocked(now time.Time, n int64) {
	t.lastData = now
	t.down.add(now, n)
}

// tryingLocked names the torrent's peer sources.
func (t *Torrent) tryingLocked() []string {
	var out []string
	seen := make(map[string]bool)
	for _, tier := range t.spec.Trackers {
		for _, u := range tier {
			var s string
			switch {
			case t.cfg.finderFor(u) != nil:
				s = "WebRTC via " + hostOfURL(u)
			case strings.HasPrefix(u, "ws"):
				continue // no finder: not announced to
			default:
				s = "tracker " + hostOfURL(u)
			}
			if !seen[s] && len(seen) < maxTrackers {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for _, src := range t.cfg.PeerSources {
		if s, ok := src.(fmt.Stringer); ok {
			out = append(out, s.String())
		} else {
			out = append(out, "a peer source")
		}
	}
	for i, u := range t.spec.WebSeeds {
		if i == maxTrackers {
			break
		}
		out = append(out, "web seed "+hostOfURL(u))
	}
	if n := len(t.spec.Peers); n > 0 {
		out = append(out, fmt.Sprintf("%d peer address(es) from the link", n))
	}
	return out
}

func hostOfURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

// PeerInfo is one connected peer, for a peers table.
type PeerInfo struct {
	// Addr is the peer's IP:port, or "WebRTC peer" when the browser hides
	// it.
	Addr string
	// Client is the peer's software (BEP 10 "v"), "" if it did not say.
	Client string
	// Transport is how we reach it: TCP, uTP, WebRTC, WebSocket, or
	// "bridge (WebRTC)" / "bridge (WebSocket)" through a relay.
	Transport string
	Outgoing  bool
	// DownloadRate and UploadRate are bytes per second with this peer.
	DownloadRate, UploadRate float64
	Downloaded, Uploaded     int64
	// Progress is the share of the torrent the peer has (0 to 1; 0 before
	// the info is known).
	Progress float64
	// Account is the peer's Speed account (zero for legacy peers); Spent
	// and Earned are what we paid it and it paid us on this torrent, in
	// base units.
	Account       wallet.Address
	Spent, Earned uint64
}

// Peers returns up to limit connected peers (all when limit <= 0), the
// busiest first.
func (t *Torrent) Peers(limit int) []PeerInfo {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerInfo, 0, len(t.conns))
	for c := range t.conns {
		p := PeerInfo{Addr: c.addr, Client: printable(c.userAgent), Transport: transportOf(c.nc), Outgoing: c.outgoing,
			DownloadRate: c.down.rate(now), UploadRate: c.up.rate(now), Downloaded: c.downloaded, Uploaded: c.uploaded}
		if l, ok := c.nc.(*LabeledConn); ok && l.Peer != "" {
			p.Addr = l.Peer
		} else if c.nc.RemoteAddr().Network() == "webrtc" {
			if _, _, err := net.SplitHostPort(c.addr); err != nil {
				p.Addr = "WebRTC peer"
			}
		}
		if c.peerHave.n > 0 {
			p.Progress = float64(c.peerHave.Count()) / float64(c.peerHave.n)
		}
		if c.speed != nil {
			p.Account = c.speed.hs.Account
			p.Spent, p.Earned = c.speed.spent, c.speed.earned
			if t.sp != nil {
				if ps := t.sp.peers[p.Account]; ps != nil {
					p.Spent += ps.Spent
					p.Earned += ps.Earned
				}
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.DownloadRate+a.UploadRate != b.DownloadRate+b.UploadRate {
			return a.DownloadRate+a.UploadRate > b.DownloadRate+b.UploadRate
		}
		if a.Downloaded+a.Uploaded != b.Downloaded+b.Uploaded {
			return a.Downloaded+a.Uploaded > b.Downloaded+b.Uploaded
		}
		return a.Addr < b.Addr
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// printable drops what a terminal or page should not show from a peer's
// string: control characters and invalid UTF-8.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
}

// LabeledConn is a connection that says how it reaches its peer, for
// PeerInfo: engine/relaybridge labels its bridged connections with the
// classic peer's address.
type LabeledConn struct {
	net.Conn
	// Transport names the way ("bridge (WebRTC)"); Peer is the far peer's
	// address ("" keeps RemoteAddr).
	Transport, Peer string
}

// transportOf names how nc reaches its peer.
func transportOf(nc net.Conn) string {
	if l, ok := nc.(*LabeledConn); ok && l.Transport != "" {
		return l.Transport
	}
	switch n := nc.RemoteAddr().Network(); n {
	case "tcp", "tcp4", "tcp6":
		return "TCP"
	case "udp", "utp":
		return "uTP"
	case "webrtc":
		return "WebRTC"
	case "websocket":
		return "WebSocket"
	default:
		return n
	}
}

// RateWindow is the span, in seconds, that rates average over: a rate
// falls to 0 RateWindow seconds after the last byte.
const RateWindow = 5

// rateMeter counts bytes in one-second buckets over the last RateWindow
// seconds; its rate falls to 0 RateWindow seconds after the last byte.
type rateMeter struct {
	first  time.Time // the first byte; zero before
	sec    [RateWindow]int64
	amount [RateWindow]int64
}

func (m *rateMeter) add(now time.Time, n int64) {
	if m.first.IsZero() {
		m.first = now
	}
	s := now.Unix()
	i := s % RateWindow
	if m.sec[i] != s {
		m.sec[i], m.amount[i] = s, 0
	}
	m.amount[i] += n
}

// rate is bytes per second over the window that ends now.
func (m *rateMeter) rate(now time.Time) float64 {
	if m.first.IsZero() {
		return 0
	}
	s := now.Unix()
	var sum int64
	for i := range m.sec {
		if m.sec[i] > s-RateWindow && m.sec[i] <= s {
			sum += m.amount[i]
		}
	}
	if sum == 0 {
		return 0
	}
	// The window: RateWindow-1 whole seconds and the current one so far,
	// or less while the meter is younger than that.
	span := float64(RateWindow-1) + float64(now.Sub(now.Truncate(time.Second)))/float64(time.Second)
	span = min(span, now.Sub(m.first).Seconds())
	return float64(sum) / max(span, 1)
}
