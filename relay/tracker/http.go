package tracker

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

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

// clientIP is the client's address: the connection's, or with TrustProxy
// the first X-Forwarded-For entry.
func (s *Server) clientIP(r *http.Request) (netip.Addr, error) {
	if s.cfg.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return netip.ParseAddr(strings.TrimSpace(first))
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err
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
	ip, err := s.clientIP(r)
	if err != nil {
		s.httpFailure(w, "cannot tell your address")
		return
	}
	addr := netip.AddrPortFrom(ip, a.Port)
	key := addr.String()
	interval := int(s.cfg.Interval.Seconds())

	s.mu.Lock()
	sw := s.swarmLocked(a.InfoHash, a.Event != httptracker.Stopped)
	if sw == nil {
		s.mu.Unlock()
		if a.Event == httptracker.Stopped {
			writeBencoded(w, httptracker.StoppedAnswer(interval))
			return
		}
		s.httpFailure(w, "tracker full")
		return
	}
	s.stats.Announces++
	sw.announce(key, peer{id: a.PeerID, addr: addr}, a.Event, a.Left, s.cfg.Now(), s.cfg.MaxPeers)
	picked := sw.pick(a.Numwant, key, func(p *peer) bool { return p.conn == nil }, s.rng)
	ans := httptracker.Answer{Interval: interval, Complete: sw.complete, Incomplete: sw.incomplete}
	for _, p := range picked {
		ans.Peers = append(ans.Peers, httptracker.Peer{ID: p.id, Addr: p.addr})
	}
	s.mu.Unlock()
	writeBencoded(w, ans.Encode(a.Compact))
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
	writeBencoded(w, files.Encode())
}
