// Package redisswarm is a tracker.Cluster on Redis: relays sharing one
// Redis share their trackers' swarms. Each info hash's WebSocket and HTTP
// peers are a hash and a sorted set of expiries; an announce is one Lua
// script (prune, store, count, pick); offers and answers for a peer whose
// WebSocket another relay holds are PUBLISHed on that relay's channel; each
// relay's heartbeat is its score in a sorted set, so the WebSocket peers
// of a relay that died stop being matched within HeartbeatTTL. The layout
// and the reasons are in docs/self-hosting.md, "Relays on Redis".
//
// The bridge's discoveries are shared too (RecordDiscovered, Discovered),
// so a browser may list classic peers through one relay and bridge to them
// through another.
//
// Everything read from Redis is checked as client input; everything stored
// is capped (entries per swarm and kind, discoveries per torrent, routed
// message size, the subscription's buffer).
package redisswarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/redis/go-redis/v9"
)

// Limits and timings.
const (
	// HeartbeatEvery is how often a relay renews its heartbeat;
	// HeartbeatTTL how long one lasts.
	HeartbeatEvery = time.Second
	HeartbeatTTL   = 5 * time.Second
	// MaxRouted caps one routed offer or answer as published.
	MaxRouted = tracker.MaxMessage + 1024
	// Buffered caps the routed messages waiting to be delivered to this
	// relay's connections (beyond it go-redis drops them).
	Buffered = 1024
	// MaxDiscovered caps the discoveries kept per torrent; DiscoveredTTL
	// is how long one counts.
	MaxDiscovered = 1000
	DiscoveredTTL = 30 * time.Minute
	// opTimeout bounds each command (dial, read, write).
	opTimeout = time.Second
)

// Config configures a Cluster.
type Config struct {
	// URL is the Redis URL (redis://[:password@]host:port/db, or rediss://).
	URL string
	// Interval is the tracker's announce interval: entries expire three
	// intervals after their last announce, as in the tracker (default
	// tracker.DefaultInterval).
	Interval time.Duration
	// MaxPeers caps the entries per swarm and kind (default
	// tracker.DefaultMaxPeers).
	MaxPeers int
	// Prefix starts every key and channel (default "btspeed:").
	Prefix string
	Logger *slog.Logger
}

// Cluster is a tracker.Cluster on Redis. Close it after the tracker.
type Cluster struct {
	cfg Config
	rdb *redis.Client
	id  string
	log *slog.Logger

	up        atomic.Bool
	malformed atomic.Uint64 // entries and messages from Redis that were not ours

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	pubsub *redis.PubSub
}

var _ tracker.Cluster = (*Cluster)(nil)

// New connects to Redis and starts the heartbeat. Redis being unreachable
// is no error: the cluster starts down and comes up when Redis answers.
func New(cfg Config) (*Cluster, error) {
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redisswarm: redis URL: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = opTimeout, opTimeout, opTimeout, opTimeout
	opt.MaxRetries = 1
	if cfg.Interval <= 0 {
		cfg.Interval = tracker.DefaultInterval
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = tracker.DefaultMaxPeers
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "btspeed:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// go-redis logs its pool's failures through one process-wide logger,
	// to stderr by default; they go to the last cluster's log instead (the
	// cluster also reports Redis going down and coming back itself).
	redis.SetLogger(redisLog{cfg.Logger.With("component", "go-redis")})
	var b [8]byte
	rand.Read(b[:])
	c := &Cluster{cfg: cfg, rdb: redis.NewClient(opt), id: hex.EncodeToString(b[:]), log: cfg.Logger.With("component", "redis")}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.up.Store(true) // so the first beat logs only a failure
	c.beat()
	c.wg.Add(1)
	go c.heartbeat()
	return c, nil
}

// ID is this relay's id: random, new at every start.
func (c *Cluster) ID() string { return c.id }

// Up says whether the last heartbeat reached Redis.
func (c *Cluster) Up() bool { return c.up.Load() }

// Malformed counts what came from Redis and was not usable.
func (c *Cluster) Malformed() uint64 { return c.malformed.Load() }

// heartbeat renews the relay's heartbeat until Close.
func (c *Cluster) heartbeat() {
	defer c.wg.Done()
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.beat()
		}
	}
}

// beat renews the heartbeat once and logs the transitions of Up.
func (c *Cluster) beat() {
	ctx, cancel := context.WithTimeout(c.ctx, 2*opTimeout)
	defer cancel()
	now := time.Now()
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, c.relays(), redis.Z{Score: float64(now.Add(HeartbeatTTL).UnixMilli()), Member: c.id})
		p.ZRemRangeByScore(ctx, c.relays(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		return nil
	})
	switch {
	case err != nil && c.up.Swap(false):
		c.log.Warn("redis unavailable: serving from local swarms only", "err", err)
	case err == nil && !c.up.Swap(true):
		c.log.Info("redis back: swarms shared again", "relay", c.id)
	}
}

// Close stops the heartbeat and the subscription and takes the relay out
// of the live ones, so other relays stop matching its peers at once.
func (c *Cluster) Close() error {
	c.cancel()
	c.mu.Lock()
	ps := c.pubsub
	c.pubsub = nil
	c.mu.Unlock()
	if ps != nil {
		ps.Close()
	}
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	c.rdb.ZRem(ctx, c.relays(), c.id)
	cancel()
	return c.rdb.Close()
}

// Subscribe delivers the messages sent to this relay until Close.
func (c *Cluster) Subscribe(deliver func(*tracker.Routed)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pubsub != nil || c.ctx.Err() != nil {
		return
	}
	c.pubsub = c.rdb.Subscribe(c.ctx, c.channel(c.id))
	ch := c.pubsub.Channel(redis.WithChannelSize(Buffered), redis.WithChannelSendTimeout(time.Second))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for m := range ch { // closed by Close
			c.receive(m.Payload, deliver)
		}
	}()
}

// receive checks one routed message and delivers it.
func (c *Cluster) receive(payload string, deliver func(*tracker.Routed)) {
	var r tracker.Routed
	if len(payload) > MaxRouted || json.Unmarshal([]byte(payload), &r) != nil {
		c.malformed.Add(1)
		return
	}
	deliver(&r)
}

// Send publishes m on the channel of relay.
func (c *Cluster) Send(ctx context.Context, relay string, m *tracker.Routed) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("redisswarm: encode: %w", err)
	}
	if len(b) > MaxRouted {
		return nil // a client's message is smaller; drop it as the tracker would
	}
	if err := c.rdb.Publish(ctx, c.channel(relay), b).Err(); err != nil {
		return fmt.Errorf("redisswarm: publish: %w", err)
	}
	return nil
}

// Key names.
func (c *Cluster) relays() string           { return c.cfg.Prefix + "relays" }
func (c *Cluster) channel(id string) string { return c.cfg.Prefix + "relay:" + id }
func (c *Cluster) swarm(ih [20]byte, kind tracker.Kind) (hash, expiries string) {
	base := c.cfg.Prefix + hex.EncodeToString(ih[:]) + ":" + string(rune(kind))
	return base, base + "x"
}
func (c *Cluster) downloaded(ih [20]byte) string {
	return c.cfg.Prefix + hex.EncodeToString(ih[:]) + ":d"
}
func (c *Cluster) counts(ih [20]byte) string {
	return c.cfg.Prefix + hex.EncodeToString(ih[:]) + ":c"
}
func (c *Cluster) discovered(ih [20]byte) string {
	return c.cfg.Prefix + hex.EncodeToString(ih[:]) + ":disc"
}

// errReply is a script answer of the wrong shape.
var errReply = errors.New("redisswarm: unexpected reply from redis")

// redisLog is go-redis's logger over slog, at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
