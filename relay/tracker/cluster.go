package tracker

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/btspeed/btspeed/shared/httptracker"
	"github.com/btspeed/btspeed/shared/webtorrent"
)

// A Cluster shares the tracker's swarms with other relays' trackers (package
// relay/tracker/redisswarm keeps them in Redis). Without one (Config.Cluster
// nil) the tracker keeps its swarms in memory only, as it always has. With
// one, the tracker still keeps its own swarms (its connections, its
// per-address limits, and what it serves while the cluster is down) and
// also records every entry in the cluster, matches announces with the
// cluster's peers, and routes offers and answers for peers held by other
// relays through it.
//
// Every method is bounded by its context; an error makes the tracker fall
// back to its own swarms for that request.
type Cluster interface {
	// ID is this relay's id in the cluster: entries it records name it,
	// and Send to it reaches the handler given to Subscribe.
	ID() string
	// Up says whether the cluster was reachable lately; while it is not,
	// the tracker does not wait for it.
	Up() bool
	// Announce records e (replacing the entry of the same kind and key) or,
	// for a Stopped event, removes it; e nil only reads. It returns up to
	// n other live entries of e's kind (kind when e is nil) in random
	// order, and the swarm's counts across the cluster.
	Announce(ctx context.Context, ih [20]byte, kind Kind, e *Entry, ev httptracker.Event, n int) ([]Entry, httptracker.Counts, error)
	// Remove removes entries of kind by key (a closed connection's).
	Remove(ctx context.Context, kind Kind, keys []SwarmKey) error
	// Lookup returns the live entry of kind and key in the swarm of ih.
	Lookup(ctx context.Context, ih [20]byte, kind Kind, key string) (Entry, bool, error)
	// Counts returns each swarm's counts across the cluster.
	Counts(ctx context.Context, ihs [][20]byte) ([]httptracker.Counts, error)
	// Send hands m to the relay with that id.
	Send(ctx context.Context, relay string, m *Routed) error
	// Subscribe has deliver called with every message sent to this relay,
	// until the cluster is closed.
	Subscribe(deliver func(*Routed))
}

// Kind is the kind of a swarm entry: HTTP peers and WebSocket peers are
// kept apart.
type Kind byte

// The kinds of entries.
const (
	HTTPPeer      Kind = 'h'
	WebSocketPeer Kind = 'w'
)

// An Entry is one peer of a swarm as the cluster holds it.
type Entry struct {
	Key      string         // the address (HTTP) or hex peer id (WebSocket)
	ID       [20]byte       // peer id
	Addr     netip.AddrPort // HTTP peers
	Relay    string         // the relay holding a WebSocket peer's connection
	Complete bool
}

// A SwarmKey names an entry: its swarm and its key there.
type SwarmKey struct {
	InfoHash [20]byte
	Key      string
}

// Routed is an offer or answer on its way to the relay holding the target
// peer's WebSocket.
type Routed struct {
	InfoHash [20]byte `json:"ih"`
	To       string   `json:"to"` // the target's hex peer id
	From     [20]byte `json:"from"`
	OfferID  string   `json:"offer_id"`
	// Offer or Answer, a session description as the client sent it.
	Offer  json.RawMessage `json:"offer,omitempty"`
	Answer json.RawMessage `json:"answer,omitempty"`
}

// clusterTimeout bounds one request's calls to the cluster.
const clusterTimeout = 2 * time.Second

// clusterUp says whether to ask the cluster.
func (s *Server) clusterUp() bool { return s.cfg.Cluster != nil && s.cfg.Cluster.Up() }

// clusterFailed logs and counts a failed cluster call; the caller falls
// back to the local swarms.
func (s *Server) clusterFailed(op string, err error) {
	s.mu.Lock()
	s.stats.ClusterErrors++
	s.mu.Unlock()
	s.log.Debug("cluster call failed, served from local swarms", "op", op, "err", err)
}

// clusterContext is the context of one request's cluster calls.
func clusterContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), clusterTimeout)
}

// deliver hands a message routed from another relay to the local peer it
// is for, if this relay holds its connection.
func (s *Server) deliver(m *Routed) {
	if len(m.To) != 40 || len(m.OfferID) > 64 || (len(m.Offer) == 0) == (len(m.Answer) == 0) {
		s.mu.Lock()
		s.stats.Refused++
		s.mu.Unlock()
		return
	}
	var to *wsConn
	s.mu.Lock()
	if sw := s.swarms[m.InfoHash]; sw != nil {
		if p := sw.peers[m.To]; p != nil && p.conn != nil {
			to = p.conn
		}
	}
	if to != nil {
		s.stats.RoutedIn++
	} else {
		s.stats.RoutedLost++
	}
	s.mu.Unlock()
	if to == nil {
		return
	}
	to.send(&webtorrent.Message{Action: "announce", Offer: m.Offer, Answer: m.Answer, OfferID: m.OfferID,
		PeerID: webtorrent.BinString(m.From[:]), InfoHash: webtorrent.Hashes{webtorrent.BinString(m.InfoHash[:])}})
}

// route hands m to the peer it is for: through this relay's own connection
// when it holds it, through the cluster otherwise.
func (s *Server) route(ctx context.Context, relay string, m *Routed) {
	if relay == s.cfg.Cluster.ID() {
		s.deliver(m)
		return
	}
	if err := s.cfg.Cluster.Send(ctx, relay, m); err != nil {
		s.clusterFailed("send", err)
		return
	}
	s.mu.Lock()
	s.stats.RoutedOut++
	s.mu.Unlock()
}

// clusterRemove takes entries of kind out of the cluster: a closed
// connection's, or one that made room for another.
func (s *Server) clusterRemove(kind Kind, keys []SwarmKey) {
	if len(keys) == 0 || !s.clusterUp() {
		return
	}
	ctx, cancel := clusterContext()
	defer cancel()
	if err := s.cfg.Cluster.Remove(ctx, kind, keys); err != nil {
		s.clusterFailed("remove", err)
	}
}

// clusterDrop takes p, dropped from the swarm of ih to make room for
// another, out of the cluster; p may be nil.
func (s *Server) clusterDrop(ih [20]byte, p *peer) {
	if p == nil {
		return
	}
	kind := HTTPPeer
	if p.conn != nil {
		kind = WebSocketPeer
	}
	s.clusterRemove(kind, []SwarmKey{{ih, p.key}})
}

// clusterCounts returns the cluster's counts of ihs, or nil when the
// cluster is not there.
func (s *Server) clusterCounts(ihs [][20]byte) []httptracker.Counts {
	if !s.clusterUp() {
		return nil
	}
	ctx, cancel := clusterContext()
	defer cancel()
	c, err := s.cfg.Cluster.Counts(ctx, ihs)
	if err != nil || len(c) != len(ihs) {
		s.clusterFailed("counts", err)
		return nil
	}
	return c
}
