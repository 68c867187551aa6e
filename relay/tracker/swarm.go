// Package tracker is the relay's BitTorrent tracker: an HTTP tracker (BEP 3
// announce with BEP 23 compact peers and IPv6 peers6, BEP 48 scrape) and a
// WebTorrent tracker over WebSocket, speaking bittorrent-tracker's wire
// format, where announces carry WebRTC offers that the tracker hands to other
// peers of the swarm and answers travel back the same way. Both kinds of
// peer live in one set of swarms, kept apart as bittorrent-tracker does: HTTP
// announces are answered with HTTP peers, WebSocket offers go to WebSocket
// peers.
//
// Everything a client sends is bounded: WebSocket messages (MaxMessage),
// offers per announce (MaxOffers), peers per swarm and swarms per tracker
// (Config), and messages per second per connection. So is what one address
// may do (an IPv4 address, or an IPv6 /64): announces and new swarms per
// second, entries per swarm, WebSocket connections at once. A full swarm
// makes room for a newcomer only from an address holding more entries in it
// than the newcomer's, so a flood never displaces the others; a newcomer it
// has no room for is still answered with peers over HTTP.
package tracker

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/btspeed/btspeed/shared/httptracker"
)

// peer is one peer of a swarm: an HTTP peer (addr) or a WebSocket peer
// (conn).
type peer struct {
	key      string // in swarm.peers: the address for HTTP peers, the hex peer id for WebSocket peers
	id       [20]byte
	addr     netip.AddrPort // HTTP peers
	conn     *wsConn        // WebSocket peers
	from     netip.Addr     // the announcing address's clientip.Key
	complete bool
	seen     time.Time
}

// swarm is the peers of one info hash. Guarded by Server.mu.
type swarm struct {
	peers      map[string]*peer // by peer key
	perAddr    map[netip.Addr]int
	complete   int
	incomplete int
	downloaded int // completed events seen (BEP 48)
}

func newSwarm() *swarm {
	return &swarm{peers: make(map[string]*peer), perAddr: make(map[netip.Addr]int)}
}

// announce applies p's announce. It returns p's entry (nil after stopped,
// or when the swarm has no room for p) and the entry that made room for
// it, if one did.
func (s *swarm) announce(p peer, ev httptracker.Event, left int64, now time.Time, maxPeers, perAddr int) (entry, dropped *peer) {
	old := s.peers[p.key]
	if ev == httptracker.Stopped {
		s.remove(p.key)
		return nil, nil
	}
	if old == nil {
		dropped, ok := s.room(p.from, maxPeers, perAddr)
		if !ok {
			return nil, nil
		}
		if dropped != nil {
			s.remove(dropped.key)
		}
		p.complete = left == 0
		p.seen = now
		np := p
		s.peers[np.key] = &np
		s.perAddr[np.from]++
		if np.complete {
			s.complete++
		} else {
			s.incomplete++
		}
		if ev == httptracker.Completed {
			s.downloaded++
		}
		return &np, dropped
	}
	// The same key is the same address (HTTP) or connection (WebSocket):
	// from does not change.
	old.seen = now
	old.addr, old.conn = p.addr, p.conn
	if !old.complete && left == 0 {
		old.complete = true
		s.complete++
		s.incomplete--
		if ev == httptracker.Completed {
			s.downloaded++
		}
	}
	return old, nil
}

// room finds the entry a newcomer from address from displaces. An address
// holding perAddr entries replaces its own least recently seen. A full
// swarm gives up the least recently seen entry of the address holding the
// most, when that address would still hold at least as many as from after
// the move; otherwise there is no room (ok false). So a full swarm evens
// out what addresses hold, and never drops the entry of an address holding
// no more than the newcomer's: a flood takes no established peer's place.
func (s *swarm) room(from netip.Addr, maxPeers, perAddr int) (dropped *peer, ok bool) {
	if s.perAddr[from] >= perAddr {
		return s.oldest(func(a netip.Addr) bool { return a == from }), true
	}
	if len(s.peers) < maxPeers {
		return nil, true
	}
	most := 0
	for _, n := range s.perAddr {
		most = max(most, n)
	}
	if most <= s.perAddr[from]+1 {
		return nil, false
	}
	return s.oldest(func(a netip.Addr) bool { return s.perAddr[a] == most }), true
}

// oldest is the least recently seen peer whose address matches.
func (s *swarm) oldest(match func(netip.Addr) bool) *peer {
	var o *peer
	for _, p := range s.peers {
		if match(p.from) && (o == nil || p.seen.Before(o.seen)) {
			o = p
		}
	}
	return o
}

func (s *swarm) remove(key string) {
	p := s.peers[key]
	if p == nil {
		return
	}
	if p.complete {
		s.complete--
	} else {
		s.incomplete--
	}
	if s.perAddr[p.from] <= 1 {
		delete(s.perAddr, p.from)
	} else {
		s.perAddr[p.from]--
	}
	delete(s.peers, key)
}

// expire drops peers not seen since before cutoff.
func (s *swarm) expire(cutoff time.Time) {
	for k, p := range s.peers {
		if p.seen.Before(cutoff) {
			s.remove(k)
		}
	}
}

// pick returns up to n peers other than self matching keep, in random
// order.
func (s *swarm) pick(n int, selfKey string, keep func(*peer) bool, rng *rand.Rand) []*peer {
	if n <= 0 {
		return nil
	}
	all := make([]*peer, 0, len(s.peers))
	for k, p := range s.peers {
		if k != selfKey && keep(p) {
			all = append(all, p)
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if len(all) > n {
		all = all[:n]
	}
	return all
}
