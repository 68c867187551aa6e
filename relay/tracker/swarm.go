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
// (Config), and messages per second per connection.
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
	id       [20]byte
	addr     netip.AddrPort // HTTP peers
	conn     *wsConn        // WebSocket peers
	complete bool
	seen     time.Time
}

// swarm is the peers of one info hash. Guarded by Server.mu.
type swarm struct {
	peers      map[string]*peer // by peer key: the address for HTTP peers, the peer id for WebSocket peers
	complete   int
	incomplete int
	downloaded int // completed events seen (BEP 48)
}

func newSwarm() *swarm { return &swarm{peers: make(map[string]*peer)} }

// announce applies an announce and returns the peer (nil after stopped).
func (s *swarm) announce(key string, p peer, ev httptracker.Event, left int64, now time.Time, maxPeers int) *peer {
	old := s.peers[key]
	if ev == httptracker.Stopped {
		s.remove(key)
		return nil
	}
	if old == nil {
		if len(s.peers) >= maxPeers {
			s.evictOldest()
		}
		p.complete = left == 0
		p.seen = now
		np := p
		s.peers[key] = &np
		if np.complete {
			s.complete++
		} else {
			s.incomplete++
		}
		if ev == httptracker.Completed {
			s.downloaded++
		}
		return &np
	}
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
	return old
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
	delete(s.peers, key)
}

func (s *swarm) evictOldest() {
	var oldest string
	var at time.Time
	for k, p := range s.peers {
		if oldest == "" || p.seen.Before(at) {
			oldest, at = k, p.seen
		}
	}
	s.remove(oldest)
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
