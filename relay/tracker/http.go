package tracker

import (
	"net/http"
	"net/netip"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/shared/httptracker"
)

// httpFailure answers a BEP 3 failure: a 200 with "failure reason".
func (s *Server) httpFailure(w http.ResponseWriter, reason string) {
	s.mu.Lock()
	s.stats.Refused++
	s.mu.Unlock()
	writeBencoded(w, httptracker.Failure(reason))
}

func writeBencoded(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
}

// refuse answers a refused announce: a BEP 3 failure, with a retry hint
// when a per-address limit refused it.
func (s *Server) refuse(w http.ResponseWriter, r *refusal) {
	s.countRefusal(r)
	if r.limited {
		writeBencoded(w, httptracker.RetryFailure(r.message(), RetryAfter))
		return
	}
	writeBencoded(w, httptracker.Failure(r.message()))
}

// serveAnnounce answers a BEP 3 announce.
func (s *Server) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	a, err := httptracker.ParseAnnounce(r.URL.RawQuery)
	if err != nil {
		s.httpFailure(w, httptracker.Reason(err))
		return
	}
	if !s.allowed(a.InfoHash) {
		s.httpFailure(w, "torrent not served by this tracker")
		return
	}
	ip := s.cfg.ClientAddr(r)
	if !ip.IsValid() {
		s.httpFailure(w, "cannot tell your address")
		return
	}
	from, now := clientip.Key(ip), s.cfg.Now()
	if !s.announces.Allow(from, now) {
		s.refuse(w, refusedAnnounces)
		return
	}
	addr := netip.AddrPortFrom(ip, a.Port)
	key := addr.String()
	interval := int(s.cfg.Interval.Seconds())

	s.mu.Lock()
	sw, no := s.swarmLocked(a.InfoHash, a.Event != httptracker.Stopped, from, now)
	if sw == nil {
		s.mu.Unlock()
		if no == nil {
			writeBencoded(w, httptracker.StoppedAnswer(interval))
			return
		}
		s.refuse(w, no)
		return
	}
	s.stats.Announces++
	// A swarm with no room for this address still answers it with peers.
	_, dropped := s.announceLocked(a.InfoHash, sw, peer{key: key, id: a.PeerID, addr: addr, from: from}, a.Event, a.Left, now)
	picked := sw.pick(a.Numwant, key, func(p *peer) bool { return p.conn == nil }, s.rng)
	ans := httptracker.Answer{Interval: interval, Complete: sw.complete, Incomplete: sw.incomplete}
	for _, p := range picked {
		ans.Peers = append(ans.Peers, httptracker.Peer{ID: p.id, Addr: p.addr})
	}
	s.mu.Unlock()
	s.clusterDrop(a.InfoHash, dropped)
	s.clusterAnnounceHTTP(&a, &ans, Entry{Key: key, ID: a.PeerID, Addr: addr, Complete: a.Left == 0})
	writeBencoded(w, ans.Encode(a.Compact))
}

// clusterAnnounceHTTP records an HTTP announce in the cluster and answers
// it with the cluster's peers and counts; ans stays the local answer when
// there is no cluster or it fails.
func (s *Server) clusterAnnounceHTTP(a *httptracker.Announce, ans *httptracker.Answer, e Entry) {
	if !s.clusterUp() {
		return
	}
	ctx, cancel := clusterContext()
	defer cancel()
	es, c, err := s.cfg.Cluster.Announce(ctx, a.InfoHash, HTTPPeer, &e, a.Event, a.Numwant)
	if err != nil {
		s.clusterFailed("announce", err)
		return
	}
	ans.Complete, ans.Incomplete = c.Complete, c.Incomplete
	ans.Peers = ans.Peers[:0]
	for _, p := range es {
		ans.Peers = append(ans.Peers, httptracker.Peer{ID: p.ID, Addr: p.Addr})
	}
}

// serveScrape answers a BEP 48 scrape.
func (s *Server) serveScrape(w http.ResponseWriter, r *http.Request) {
	hashes, err := httptracker.ParseScrape(r.URL.RawQuery)
	if err != nil {
		s.httpFailure(w, httptracker.Reason(err))
		return
	}
	files := make(httptracker.Files, len(hashes))
	s.mu.Lock()
	s.stats.Scrapes++
	for _, ih := range hashes {
		var c httptracker.Counts
		if sw := s.swarms[ih]; sw != nil {
			c = httptracker.Counts{Complete: sw.complete, Incomplete: sw.incomplete, Downloaded: sw.downloaded}
		}
		files[ih] = c
	}
	s.mu.Unlock()
	if cs := s.clusterCounts(hashes); cs != nil {
		for i, ih := range hashes {
			files[ih] = cs[i]
		}
	}
	writeBencoded(w, files.Encode())
}
