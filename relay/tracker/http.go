package tracker

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/anacrolix/torrent/bencode"
)

// httpFailure answers a BEP 3 failure: a 200 with "failure reason".
func (s *Server) httpFailure(w http.ResponseWriter, reason string) {
	s.mu.Lock()
	s.stats.Refused++
	s.mu.Unlock()
	writeBencode(w, map[string]any{"failure reason": reason})
}

func writeBencode(w http.ResponseWriter, v any) {
	b, err := bencode.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the answer", http.StatusInternalServerError)
		return
	}
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

// hash20 checks a 20-byte binary query value.
func hash20(v string) ([20]byte, bool) {
	var h [20]byte
	if len(v) != 20 {
		return h, false
	}
	copy(h[:], v)
	return h, true
}

var errQuery = errors.New("bad query")

// serveAnnounce answers a BEP 3 announce.
func (s *Server) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > 4096 {
		s.httpFailure(w, "query too long")
		return
	}
	q := r.URL.Query()
	ih, ok := hash20(q.Get("info_hash"))
	if !ok {
		s.httpFailure(w, "invalid info_hash")
		return
	}
	id, ok := hash20(q.Get("peer_id"))
	if !ok {
		s.httpFailure(w, "invalid peer_id")
		return
	}
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if err != nil || port == 0 {
		s.httpFailure(w, "invalid port")
		return
	}
	left := int64(-1)
	if v := q.Get("left"); v != "" {
		if left, err = strconv.ParseInt(v, 10, 64); err != nil || left < 0 {
			s.httpFailure(w, "invalid left")
			return
		}
	}
	ev, ok := parseEvent(q.Get("event"))
	if !ok {
		s.httpFailure(w, "invalid event")
		return
	}
	numwant := DefaultNumwant
	if v := q.Get("numwant"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			numwant = min(n, MaxNumwant)
		}
	}
	if !s.allowed(ih) {
		s.httpFailure(w, "torrent not served by this tracker")
		return
	}
	ip, err := s.clientIP(r)
	if err != nil {
		s.httpFailure(w, "cannot tell your address")
		return
	}
	addr := netip.AddrPortFrom(ip, uint16(port))
	key := addr.String()

	s.mu.Lock()
	sw := s.swarmLocked(ih, ev != evStopped)
	if sw == nil {
		s.mu.Unlock()
		if ev == evStopped {
			writeBencode(w, map[string]any{"interval": int(s.cfg.Interval.Seconds()), "complete": 0, "incomplete": 0, "peers": ""})
			return
		}
		s.httpFailure(w, "tracker full")
		return
	}
	s.stats.Announces++
	sw.announce(key, peer{id: id, addr: addr}, ev, left, s.cfg.Now(), s.cfg.MaxPeers)
	peers := sw.pick(numwant, key, func(p *peer) bool { return p.conn == nil }, s.rng)
	resp := map[string]any{
		"interval":     int(s.cfg.Interval.Seconds()),
		"min interval": int(s.cfg.Interval.Seconds() / 2),
		"complete":     sw.complete,
		"incomplete":   sw.incomplete,
	}
	var v4, v6 []byte
	var list []map[string]any
	for _, p := range peers {
		a := p.addr.Addr()
		if q.Get("compact") == "0" {
			list = append(list, map[string]any{"peer id": string(p.id[:]), "ip": a.String(), "port": int(p.addr.Port())})
			continue
		}
		if a.Is4() {
			v4 = append(append(v4, a.AsSlice()...), byte(p.addr.Port()>>8), byte(p.addr.Port()))
		} else {
			v6 = append(append(v6, a.AsSlice()...), byte(p.addr.Port()>>8), byte(p.addr.Port()))
		}
	}
	s.mu.Unlock()
	if q.Get("compact") == "0" {
		if list == nil {
			list = []map[string]any{}
		}
		resp["peers"] = list
	} else {
		resp["peers"] = string(v4)
		if len(v6) > 0 {
			resp["peers6"] = string(v6)
		}
	}
	writeBencode(w, resp)
}

// serveScrape answers a BEP 48 scrape.
func (s *Server) serveScrape(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hashes := q["info_hash"]
	if len(hashes) == 0 || len(hashes) > maxScrape {
		s.httpFailure(w, "give 1 to 100 info_hash values")
		return
	}
	files := make(map[string]any, len(hashes))
	s.mu.Lock()
	s.stats.Scrapes++
	for _, h := range hashes {
		ih, ok := hash20(h)
		if !ok {
			s.mu.Unlock()
			s.httpFailure(w, "invalid info_hash")
			return
		}
		st := map[string]int{"complete": 0, "incomplete": 0, "downloaded": 0}
		if sw := s.swarms[ih]; sw != nil {
			st["complete"], st["incomplete"], st["downloaded"] = sw.complete, sw.incomplete, sw.downloaded
		}
		files[string(ih[:])] = st
	}
	s.mu.Unlock()
	writeBencode(w, map[string]any{"files": files})
}
