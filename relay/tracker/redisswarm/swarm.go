package redisswarm

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/shared/httptracker"
	"github.com/redis/go-redis/v9"
)

// maxRelayID caps a relay id read from an entry.
const maxRelayID = 64

// Announce records, removes or only reads (e nil) an entry and returns up
// to n other live entries of the kind, and the swarm's counts.
func (c *Cluster) Announce(ctx context.Context, ih [20]byte, kind tracker.Kind, e *tracker.Entry, ev httptracker.Event, n int) ([]tracker.Entry, httptracker.Counts, error) {
	if e != nil {
		kind = c.kindOf(e)
	}
	op, key, val := "read", "", ""
	if e != nil {
		op, key, val = "put", e.Key, encode(kind, e)
		if ev == httptracker.Stopped {
			op = "stop"
		}
	}
	completed := "0"
	if ev == httptracker.Completed {
		completed = "1"
	}
	res, err := c.runOn(ctx, c.rdb, ih, kind, op, key, val, n, completed, false).Result()
	if err != nil {
		return nil, httptracker.Counts{}, fmt.Errorf("redisswarm: announce: %w", err)
	}
	return c.parseAnnounce(res, kind)
}

// kindOf is an entry's kind: HTTP peers have addresses.
func (c *Cluster) kindOf(e *tracker.Entry) tracker.Kind {
	if e.Addr.IsValid() {
		return tracker.HTTPPeer
	}
	return tracker.WebSocketPeer
}

// runOn runs the announce script on r: by its SHA only when sha is set (in
// a pipeline, where Run's fallback to EVAL cannot work).
func (c *Cluster) runOn(ctx context.Context, r redis.Scripter, ih [20]byte, kind tracker.Kind, op, key, val string, n int, completed string, sha bool) *redis.Cmd {
	other := tracker.HTTPPeer
	wsIdx := "1"
	if kind == tracker.HTTPPeer {
		other, wsIdx = tracker.WebSocketPeer, "3"
	}
	h, x := c.swarm(ih, kind)
	oh, ox := c.swarm(ih, other)
	now := time.Now()
	life := 3 * c.cfg.Interval
	keys := []string{h, x, oh, ox, c.downloaded(ih), c.relays(), c.counts(ih)}
	args := []any{now.UnixMilli(), now.Add(life).UnixMilli(), key, val, op, n, c.cfg.MaxPeers, completed, (life + time.Minute).Milliseconds(), wsIdx,
		HeartbeatTTL.Milliseconds()}
	if sha {
		return announceScript.EvalSha(ctx, r, keys, args...)
	}
	return announceScript.Run(ctx, r, keys, args...)
}

// encode is an entry's value in its swarm's hash.
func encode(kind tracker.Kind, e *tracker.Entry) string {
	complete, relay, addr := "0", "-", "-"
	if e.Complete {
		complete = "1"
	}
	if kind == tracker.WebSocketPeer {
		relay = e.Relay
	} else {
		addr = e.Addr.String()
	}
	return complete + "|" + relay + "|" + hex.EncodeToString(e.ID[:]) + "|" + addr
}

// decode reads an entry of kind back, or reports it malformed.
func decode(kind tracker.Kind, key, val string) (tracker.Entry, bool) {
	f := strings.Split(val, "|")
	if len(f) != 4 || (f[0] != "0" && f[0] != "1") {
		return tracker.Entry{}, false
	}
	e := tracker.Entry{Key: key, Complete: f[0] == "1"}
	id, err := hex.DecodeString(f[2])
	if err != nil || len(id) != 20 {
		return tracker.Entry{}, false
	}
	copy(e.ID[:], id)
	switch kind {
	case tracker.WebSocketPeer:
		if f[1] == "" || f[1] == "-" || len(f[1]) > maxRelayID || key != f[2] {
			return tracker.Entry{}, false
		}
		e.Relay = f[1]
	default:
		ap, err := netip.ParseAddrPort(f[3])
		if err != nil || ap.Port() == 0 || ap.String() != key {
			return tracker.Entry{}, false
		}
		e.Addr = ap
	}
	return e, true
}

// parseAnnounce reads the announce script's answer.
func (c *Cluster) parseAnnounce(res any, kind tracker.Kind) ([]tracker.Entry, httptracker.Counts, error) {
	a, ok := res.([]any)
	if !ok || len(a) != 4 {
		return nil, httptracker.Counts{}, errReply
	}
	var counts [3]int
	for i := range counts {
		v, ok := a[i].(int64)
		if !ok || v < 0 {
			return nil, httptracker.Counts{}, errReply
		}
		counts[i] = int(v)
	}
	pairs, ok := a[3].([]any)
	if !ok {
		return nil, httptracker.Counts{}, errReply
	}
	var out []tracker.Entry
	for i := 0; i+1 < len(pairs); i += 2 {
		k, ok1 := pairs[i].(string)
		v, ok2 := pairs[i+1].(string)
		e, ok3 := decode(kind, k, v)
		if !ok1 || !ok2 || !ok3 {
			c.malformed.Add(1)
			continue
		}
		out = append(out, e)
	}
	return out, httptracker.Counts{Complete: counts[0], Incomplete: counts[1], Downloaded: counts[2]}, nil
}

// Remove removes entries of kind (and their swarms' cached counts).
func (c *Cluster) Remove(ctx context.Context, kind tracker.Kind, keys []tracker.SwarmKey) error {
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			h, x := c.swarm(k.InfoHash, kind)
			p.HDel(ctx, h, k.Key)
			p.ZRem(ctx, x, k.Key)
			p.Del(ctx, c.counts(k.InfoHash)) // recounted at the next announce
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisswarm: remove: %w", err)
	}
	return nil
}

// Lookup returns one live entry.
func (c *Cluster) Lookup(ctx context.Context, ih [20]byte, kind tracker.Kind, key string) (tracker.Entry, bool, error) {
	h, x := c.swarm(ih, kind)
	ws := "0"
	if kind == tracker.WebSocketPeer {
		ws = "1"
	}
	v, err := lookupScript.Run(ctx, c.rdb, []string{h, x, c.relays()}, time.Now().UnixMilli(), key, ws).Text()
	if err == redis.Nil {
		return tracker.Entry{}, false, nil
	}
	if err != nil {
		return tracker.Entry{}, false, fmt.Errorf("redisswarm: lookup: %w", err)
	}
	e, ok := decode(kind, key, v)
	if !ok {
		c.malformed.Add(1)
	}
	return e, ok, nil
}

// Counts returns the counts of each swarm.
func (c *Cluster) Counts(ctx context.Context, ihs [][20]byte) ([]httptracker.Counts, error) {
	cmds := make([]*redis.Cmd, len(ihs))
	pipe := func(p redis.Pipeliner) error {
		for i, ih := range ihs {
			cmds[i] = c.runOn(ctx, p, ih, tracker.WebSocketPeer, "read", "", "", 0, "0", true)
		}
		return nil
	}
	_, err := c.rdb.Pipelined(ctx, pipe)
	if redis.HasErrorPrefix(err, "NOSCRIPT") { // a new or restarted Redis
		if err = announceScript.Load(ctx, c.rdb).Err(); err == nil {
			_, err = c.rdb.Pipelined(ctx, pipe)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("redisswarm: counts: %w", err)
	}
	out := make([]httptracker.Counts, len(ihs))
	for i, cmd := range cmds {
		_, cnt, err := c.parseAnnounce(cmd.Val(), tracker.WebSocketPeer)
		if err != nil {
			return nil, fmt.Errorf("redisswarm: counts: %w", err)
		}
		out[i] = cnt
	}
	return out, nil
}

// RecordDiscovered records classic peers a relay found for ih (for the
// bridge of any relay to dial); at most MaxDiscovered per torrent are
// kept, the most recent.
func (c *Cluster) RecordDiscovered(ctx context.Context, ih [20]byte, addrs []netip.AddrPort) error {
	if len(addrs) == 0 {
		return nil
	}
	addrs = addrs[:min(len(addrs), MaxDiscovered)]
	now := time.Now()
	exp := float64(now.Add(DiscoveredTTL).UnixMilli())
	zs := make([]redis.Z, len(addrs))
	for i, a := range addrs {
		zs[i] = redis.Z{Score: exp, Member: canonical(a).String()}
	}
	k := c.discovered(ih)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, zs...)
		p.ZRemRangeByScore(ctx, k, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		p.ZRemRangeByRank(ctx, k, 0, -MaxDiscovered-1)
		p.PExpire(ctx, k, DiscoveredTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisswarm: record discovered: %w", err)
	}
	return nil
}

// Discovered says whether a relay recorded addr for ih and it has not
// expired.
func (c *Cluster) Discovered(ctx context.Context, ih [20]byte, addr netip.AddrPort) (bool, error) {
	exp, err := c.rdb.ZScore(ctx, c.discovered(ih), canonical(addr).String()).Result()
	if err == redis.Nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redisswarm: discovered: %w", err)
	}
	return exp > float64(time.Now().UnixMilli()), nil
}

// canonical is addr as the discoverer compares addresses: IPv4-mapped
// addresses in their IPv4 form, no zone.
func canonical(addr netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(addr.Addr().Unmap().WithZone(""), addr.Port())
}
