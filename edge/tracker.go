package edge

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/httptracker"
)

// Tracker is an HTTP tracker (BEP 3 announce with compact peers, BEP 48
// scrape) whose state is in a SQL database: D1 at the edge. Every request
// is answered from the database alone, so any number of Worker instances
// share one swarm.
type Tracker struct {
	DB       *sql.DB
	Interval time.Duration // announce interval (default 30 min)
	MaxPeers int           // per torrent (default 1000)
	Now      func() time.Time
	// ClientIP says who asked: on Cloudflare the CF-Connecting-IP header,
	// which the platform sets and clients cannot.
	ClientIP func(r *http.Request) (netip.Addr, error)
}

func (t *Tracker) interval() time.Duration {
	if t.Interval <= 0 {
		return 30 * time.Minute
	}
	return t.Interval
}

func (t *Tracker) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// CFConnectingIP reads the client's address from CF-Connecting-IP.
func CFConnectingIP(r *http.Request) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("CF-Connecting-IP")))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no CF-Connecting-IP: %w", err)
	}
	return a.Unmap(), nil
}

func writeBencoded(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
}

// failure answers a BEP 3 failure; err's detail stays in the log.
func failure(w http.ResponseWriter, reason string) { writeBencoded(w, httptracker.Failure(reason)) }

// Announce serves /announce.
func (t *Tracker) Announce(w http.ResponseWriter, r *http.Request) {
	a, err := httptracker.ParseAnnounce(r.URL.RawQuery)
	if err != nil {
		failure(w, httptracker.Reason(err))
		return
	}
	ip, err := t.ClientIP(r)
	if err != nil {
		failure(w, "cannot tell your address")
		return
	}
	addr := netip.AddrPortFrom(ip, a.Port).String()
	ih := hex.EncodeToString(a.InfoHash[:])
	interval := int(t.interval().Seconds())
	ctx := r.Context()
	ans, err := withSchema(ctx, t.DB, func() (httptracker.Answer, error) { return t.announce(ctx, a, ih, addr) })
	if err != nil {
		http.Error(w, "tracker storage: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if a.Event == httptracker.Stopped {
		writeBencoded(w, httptracker.StoppedAnswer(interval))
		return
	}
	if ans.Interval == -1 {
		failure(w, "swarm full")
		return
	}
	ans.Interval = interval
	writeBencoded(w, ans.Encode(a.Compact))
}

func (t *Tracker) announce(ctx context.Context, a httptracker.Announce, ih, addr string) (httptracker.Answer, error) {
	now := t.now().Unix()
	expired := now - 2*int64(t.interval().Seconds()) - 60
	if _, err := t.DB.ExecContext(ctx, `DELETE FROM peers WHERE info_hash = ? AND seen < ?`, ih, expired); err != nil {
		return httptracker.Answer{}, err
	}
	if rand.IntN(100) == 0 { // now and then, the torrents nobody asks for
		if _, err := t.DB.ExecContext(ctx, `DELETE FROM peers WHERE seen < ?`, expired); err != nil {
			return httptracker.Answer{}, err
		}
	}
	if a.Event == httptracker.Stopped {
		_, err := t.DB.ExecContext(ctx, `DELETE FROM peers WHERE info_hash = ? AND addr = ?`, ih, addr)
		return httptracker.Answer{}, err
	}
	var n, known int
	if err := t.DB.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(CASE WHEN addr = ? THEN 1 END) FROM peers WHERE info_hash = ?`, addr, ih).Scan(&n, &known); err != nil {
		return httptracker.Answer{}, err
	}
	maxPeers := t.MaxPeers
	if maxPeers <= 0 {
		maxPeers = 1000
	}
	if known == 0 && n >= maxPeers {
		return httptracker.Answer{Interval: -1}, nil
	}
	complete := 0
	if a.Left == 0 {
		complete = 1
	}
	if _, err := t.DB.ExecContext(ctx, `INSERT INTO peers (info_hash, addr, peer_id, complete, seen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (info_hash, addr) DO UPDATE SET peer_id = excluded.peer_id, complete = excluded.complete, seen = excluded.seen`,
		ih, addr, hex.EncodeToString(a.PeerID[:]), complete, now); err != nil {
		return httptracker.Answer{}, err
	}
	if a.Event == httptracker.Completed {
		if _, err := t.DB.ExecContext(ctx, `INSERT INTO torrents (info_hash, downloaded) VALUES (?, 1)
			ON CONFLICT (info_hash) DO UPDATE SET downloaded = downloaded + 1`, ih); err != nil {
			return httptracker.Answer{}, err
		}
	}
	var ans httptracker.Answer
	if err := t.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(complete), 0), COUNT(*) - COALESCE(SUM(complete), 0) FROM peers WHERE info_hash = ?`, ih).
		Scan(&ans.Complete, &ans.Incomplete); err != nil {
		return ans, err
	}
	if a.Numwant == 0 {
		return ans, nil
	}
	rows, err := t.DB.QueryContext(ctx, `SELECT peer_id, addr FROM peers WHERE info_hash = ? AND addr <> ? ORDER BY random() LIMIT ?`, ih, addr, a.Numwant)
	if err != nil {
		return ans, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, pa string
		if err := rows.Scan(&id, &pa); err != nil {
			return ans, err
		}
		ap, err := netip.ParseAddrPort(pa)
		idb, herr := hex.DecodeString(id)
		if err != nil || herr != nil || len(idb) != 20 {
			continue // not written by this tracker
		}
		ans.Peers = append(ans.Peers, httptracker.Peer{ID: [20]byte(idb), Addr: ap})
	}
	return ans, rows.Err()
}

// Scrape serves /scrape.
func (t *Tracker) Scrape(w http.ResponseWriter, r *http.Request) {
	hashes, err := httptracker.ParseScrape(r.URL.RawQuery)
	if err != nil {
		failure(w, httptracker.Reason(err))
		return
	}
	ctx := r.Context()
	files, err := withSchema(ctx, t.DB, func() (httptracker.Files, error) { return t.scrape(ctx, hashes) })
	if err != nil {
		http.Error(w, "tracker storage: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeBencoded(w, files.Encode())
}

func (t *Tracker) scrape(ctx context.Context, hashes [][20]byte) (httptracker.Files, error) {
	expired := t.now().Unix() - 2*int64(t.interval().Seconds()) - 60
	files := make(httptracker.Files, len(hashes))
	for _, h := range hashes {
		ih := hex.EncodeToString(h[:])
		var c httptracker.Counts
		if err := t.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(complete), 0), COUNT(*) - COALESCE(SUM(complete), 0) FROM peers WHERE info_hash = ? AND seen >= ?`, ih, expired).
			Scan(&c.Complete, &c.Incomplete); err != nil {
			return nil, err
		}
		err := t.DB.QueryRowContext(ctx, `SELECT downloaded FROM torrents WHERE info_hash = ?`, ih).Scan(&c.Downloaded)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		files[h] = c
	}
	return files, nil
}

// withSchema runs fn, and once more after creating the schema when the
// database has no tables yet: a new D1 database needs no migration step.
func withSchema[T any](ctx context.Context, db *sql.DB, fn func() (T, error)) (T, error) {
	v, err := fn()
	if err == nil || !strings.Contains(err.Error(), "no such table") {
		return v, err
	}
	for _, stmt := range Schema() {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return v, fmt.Errorf("creating the schema: %w", err)
		}
	}
	return fn()
}
