package engine

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/btspeed/btspeed/shared/fetch"
)

// Version is the engine's version, in the default user agent (BEP 10
// "v"); the peer id prefix "-BS0100-" carries it too.
const Version = "0.1.0"

// Protocol limits.
const (
	// BlockSize is the request size the engine asks peers for (BEP 3's
	// customary 16 KiB).
	BlockSize = 16 << 10
	// MaxRequestLength is the largest request the engine serves; longer
	// requests close the connection.
	MaxRequestLength = 128 << 10
	// MaxMessageLength caps one wire message, checked before it is read:
	// a piece message of MaxRequestLength plus its header, or a bitfield of
	// 1M pieces, whichever is larger.
	MaxMessageLength = 256 << 10
	// MaxMetadataSize caps the info dictionary fetched from peers (BEP 9).
	MaxMetadataSize = 16 << 20
	// metadataPieceSize is BEP 9's metadata block.
	metadataPieceSize = 16 << 10
	// maxCandidates caps the peer addresses a torrent keeps for dialing.
	maxCandidates = 2000
)

// Dialer opens a connection to a peer; net.Dialer.DialContext is one, a uTP
// socket's DialContext another.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Transport is a named way to reach peers: "tcp" or "utp".
type Transport struct {
	// Name is the network given to Dialer ("tcp", "udp" for uTP sockets)
	// and shown in logs and stats.
	Name    string
	Network string
	Dialer  Dialer
}

// A PeerFinder introduces peers the engine cannot dial by address:
// engine/wstracker's WebTorrent tracker client, which pairs WebRTC offers
// and answers through WebSocket trackers, is one.
type PeerFinder interface {
	// Handles says whether the finder serves this tracker URL.
	Handles(trackerURL string) bool
	// Run announces t to trackerURL and hands the connections it opens to
	// t.AddConn until ctx ends (the torrent closes).
	Run(ctx context.Context, t *Torrent, trackerURL string)
}

// A TierFinder is a PeerFinder that fails over among the URLs of a tier
// it handles, BEP 12 style: it announces to one at a time and moves on to
// the next when that one fails. The engine hands it a tier's URLs together
// when the tier holds more than one of them.
type TierFinder interface {
	PeerFinder
	// RunTier announces t to one of urls at a time, in order, until ctx
	// ends.
	RunTier(ctx context.Context, t *Torrent, urls []string)
}

// A PeerSource finds peers for every torrent, whatever its trackers:
// engine/relaybridge's Source, which reaches classic peers through a
// relay's bridge, is one.
type PeerSource interface {
	// Run finds peers for t and hands the connections it opens to
	// t.AddConn until ctx ends (the torrent closes).
	Run(ctx context.Context, t *Torrent)
}

// Config configures a Client. The zero value works: a random peer id, TCP
// dialing, the default limits, logs discarded.
type Config struct {
	// PeerID is the BitTorrent peer id; zero picks a random one with the
	// prefix "-BS0100-".
	PeerID [20]byte
	// Logger receives the engine's logs; nil discards them. Nothing a peer
	// sends is logged above Info.
	Logger *slog.Logger
	// Now is the clock the Speed machines read (payment and channel
	// deadlines, bids, bans); nil is time.Now. The engine's timers (the
	// choking round, Speed retries) wait on the time package, which
	// testing/synctest virtualises.
	Now func() time.Time
	// Transports are tried in order when dialing a peer; empty means TCP
	// with a plain net.Dialer (none in the browser, GOOS=js).
	Transports []Transport
	// HTTPClient fetches from web seeds (BEP 19), each piece within two
	// minutes; nil is fetch.Default() (the browser's fetch in js/wasm).
	HTTPClient fetch.Doer
	// TrackerDialer dials HTTP trackers; nil is a plain net.Dialer. Tests
	// bind it to the client's loopback address so a tracker records the
	// address the client listens on.
	TrackerDialer Dialer
	// ListenPort is announced to peers in the extended handshake (BEP 10
	// "p") and to trackers; 0 when not listening.
	ListenPort int
	// MaxConnsPerTorrent caps the connections of one torrent (default 50).
	MaxConnsPerTorrent int
	// MaxRequests caps the requests the engine keeps outstanding with one
	// peer (default 1000: Transmission sends what is queued every 500 ms, so
	// the rate from it is about outstanding x 16 KiB / 0.5 s); a peer's own
	// "reqq" lowers it to reqq - 1; a WebRTC connection to as many blocks as
	// fill a quarter of its receive buffer (128 by default).
	MaxRequests int
	// MaxPeerRequests caps the requests a peer may queue with us (default
	// 500, advertised as "reqq"); more are rejected.
	MaxPeerRequests int
	// UploadRate caps what the client uploads, in bytes per second, over
	// all its torrents and peers (0: no limit; upload.go).
	UploadRate int64
	// UploadSlots and OptimisticSlots are the choker's slots per torrent
	// (defaults 4 and 1).
	UploadSlots     int
	OptimisticSlots int
	// ChokeInterval is the choking round (default 10 s).
	ChokeInterval time.Duration
	// PEXInterval is how often peers are told of each other (BEP 11;
	// default 1 min, the least BEP 11 allows).
	PEXInterval time.Duration
	// DialTimeout bounds one dial plus handshake (default 10 s).
	DialTimeout time.Duration
	// IdleTimeout closes a connection that sent nothing, not even a
	// keep-alive, for this long (default 3 min).
	IdleTimeout time.Duration
	// UserAgent is sent as BEP 10 "v" (default "btspeed/" + Version).
	UserAgent string
	// StallAfter is how long an incomplete torrent may get no data before
	// its status says it stalled (default 30 s; Torrent.Status).
	StallAfter time.Duration
	// PeerFinders serve the tracker URLs the engine's own HTTP/UDP tracker
	// client cannot (ws://, wss://); without one such trackers are skipped.
	PeerFinders []PeerFinder
	// PeerSources run for every torrent.
	PeerSources []PeerSource
	// Speed turns BitTorrent Speed on; nil makes the engine a legacy peer.
	Speed *SpeedConfig
}

// finderFor returns the PeerFinder for a tracker URL, or nil.
func (c Config) finderFor(url string) PeerFinder {
	for _, f := range c.PeerFinders {
		if f.Handles(url) {
			return f
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.PeerID == ([20]byte{}) {
		copy(c.PeerID[:], "-BS0100-")
		rand.Read(c.PeerID[8:])
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(c.Transports) == 0 && runtime.GOOS != "js" {
		// A browser cannot dial TCP: there, peers come only through
		// PeerFinders, PeerSources and AddConn.
		c.Transports = []Transport{{Name: "tcp", Network: "tcp", Dialer: &net.Dialer{}}}
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 30 * time.Second
	}
	if c.MaxConnsPerTorrent <= 0 {
		c.MaxConnsPerTorrent = 50
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 1000
	}
	if c.MaxPeerRequests <= 0 {
		c.MaxPeerRequests = 500
	}
	if c.UploadSlots <= 0 {
		c.UploadSlots = 4
	}
	if c.OptimisticSlots < 0 {
		c.OptimisticSlots = 0
	} else if c.OptimisticSlots == 0 {
		c.OptimisticSlots = 1
	}
	if c.ChokeInterval <= 0 {
		c.ChokeInterval = 10 * time.Second
	}
	if c.PEXInterval <= 0 {
		c.PEXInterval = time.Minute
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 3 * time.Minute
	}
	if c.UserAgent == "" {
		c.UserAgent = "btspeed/" + Version
	}
	return c
}
