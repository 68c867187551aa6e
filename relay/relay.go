//go:build !js

package relay

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/internal/ratelimit"
	"github.com/btspeed/btspeed/ledger"
	"github.com/btspeed/btspeed/ledger/server"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/btspeed/btspeed/relay/discover"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/btspeed/btspeed/relay/tracker/redisswarm"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Config configures a relay. Zero values pick the defaults noted.
type Config struct {
	// Ledger is an embedded ledger to serve under /ledger/ (and to pay the
	// seeder through); LedgerURL proxies /ledger/ to a ledger elsewhere
	// instead. One of them is needed for Speed.
	Ledger    *server.Ledger
	LedgerURL string
	// WebDir is served at / (the web app and its wasm); "" serves nothing.
	WebDir string
	// Seed lists files or directories the relay seeds, with Speed when Key
	// is set (earning for its account), and Reserve as its reserve price.
	Seed    []string
	Key     *wallet.PrivateKey
	Reserve uint64
	// PeerListen is where the seeder accepts BitTorrent peers, TCP and uTP
	// (default ":0"); PublicURL is the relay's own base URL, used in the
	// magnet links it prints (default from the HTTP listener).
	PeerListen string
	PublicURL  string
	// BridgeAllowPrivate lets the bridge dial private and loopback
	// addresses (tests, LANs); public addresses only otherwise.
	BridgeAllowPrivate bool
	// BridgeAllowLowPorts lets the bridge list and dial peers on ports
	// below 1024; refused otherwise.
	BridgeAllowLowPorts bool
	// BridgePeersRate caps GET /bridge/peers per client (bridge.Config's
	// PeersRate: default 1 token a second, a call costing 1 plus 1 per
	// tracker URL; negative: no limit).
	BridgePeersRate float64
	// BridgeBytesPerSecond caps each direction of each bridged connection
	// (bridge.Config's BytesPerSecond: default 32 MiB/s).
	BridgeBytesPerSecond int
	// RTC configures the relay's WebRTC side (bridges, and browser peers
	// of its seeds); a nil RTC.API is built from RTCPort and RTCPublicIPs.
	RTC rtc.Config
	// RTCPort, when set, carries every WebRTC connection on this one UDP
	// port (for firewalls); otherwise each takes an ephemeral port.
	RTCPort int
	// RTCPublicIPs are announced as the relay's ICE host candidates (a
	// relay behind a 1:1 NAT); empty announces the interfaces' addresses.
	RTCPublicIPs []string
	// DHT is the listen address of the relay's DHT node (BEP 5), which
	// finds classic peers for the torrents browsers join; "" turns it off
	// (the torrents' own trackers are still searched). DHTBootstrap lists
	// its starting nodes (default: the well-known global ones).
	DHT          string
	DHTBootstrap []string
	// LedgerRate caps /ledger/, /tron/ and /healthz requests per client
	// per second (default 20, bursts of 40); a /ledger/v1/batch counts
	// each of its operations.
	LedgerRate int
	// Clients tells which client a request comes from, for every
	// per-client limit (nil: the connection's peer, no proxy trusted).
	// With a remote ledger (LedgerURL) the relay names the client to it
	// in X-Forwarded-For; that ledger trusts the relay's address.
	Clients *clientip.Resolver
	// Tron, when set, serves TRON's HTTP API (a node's /wallet/...) at
	// /tron/: the embedded devnet's, or a proxy to a node.
	Tron    http.Handler
	Tracker tracker.Config
	// StoreWS, when set, takes the storage connections of GET /store/ws
	// for a storage provider serving it (cmd/relay's -store-listen); at
	// most StoreWSPerAddr at once per client address (default
	// DefaultServiceWSPerAddr).
	StoreWS        *WSListener
	StoreWSPerAddr int
	// Proxy makes the relay a paid proxy provider (off by default).
	Proxy ProxyConfig
	// Redis, a redis:// URL, makes the tracker share its swarms with the
	// other relays on that Redis (package relay/tracker/redisswarm; see
	// docs/self-hosting.md, "Relays on Redis"); "" keeps them in memory.
	Redis   string
	Logger  *slog.Logger
	Version string
}

// Relay is the relay: tracker, gateways, web server and seeder.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	tracker *tracker.Server
	bridge  *bridge.Bridge
	ledger  http.Handler
	engine  *engine.Client
	proxy   *proxyServer
	storeWS *serviceWS // nil: no storage provider behind /store/ws
	seeds   []Seeded
	limiter *ratelimit.Limiter
	mux     *http.ServeMux
	peer    string // the seeder's peer address

	metrics  *metrics
	discover *discover.Discoverer
	cluster  *redisswarm.Cluster // nil without Config.Redis
	closers  []io.Closer
}

// Seeded is a torrent the relay seeds.
type Seeded struct {
	Path    string
	Magnet  string
	Torrent *engine.Torrent
}

// New builds the relay and starts seeding.
func New(cfg Config) (*Relay, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LedgerRate <= 0 {
		cfg.LedgerRate = 20
	}
	if cfg.PeerListen == "" {
		cfg.PeerListen = ":0"
	}
	cfg.Tracker.Logger = cfg.Logger
	if cfg.Clients == nil {
		cfg.Clients = clientip.New(nil)
	}
	if cfg.Tracker.ClientAddr == nil {
		cfg.Tracker.ClientAddr = cfg.Clients.Addr
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, limiter: ratelimit.New(float64(cfg.LedgerRate), 2*cfg.LedgerRate, 0)}
	if cfg.Redis != "" {
		cl, err := redisswarm.New(redisswarm.Config{URL: cfg.Redis, Interval: cfg.Tracker.Interval, MaxPeers: cfg.Tracker.MaxPeers, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		r.cluster = cl
		r.cfg.Tracker.Cluster = cl
		r.closers = append(r.closers, cl) // closed after the tracker
	}
	r.tracker = tracker.New(r.cfg.Tracker)
	if r.cfg.RTC.API == nil {
		api, closer, err := RTCAPI(cfg.RTCPort, cfg.RTCPublicIPs)
		if err != nil {
			r.tracker.Close()
			for _, c := range r.closers { // the Redis cluster's goroutines
				c.Close()
			}
			return nil, err
		}
		r.cfg.RTC.API = api
		if closer != nil {
			r.closers = append(r.closers, closer)
		}
	}
	if err := r.startBridge(); err != nil {
		r.tracker.Close()
		for _, c := range r.closers {
			c.Close()
		}
		return nil, err
	}
	if err := r.ledgerGateway(); err != nil {
		r.Close()
		return nil, err
	}
	if cfg.StoreWS != nil {
		r.storeWS = newServiceWS(cfg.StoreWS, cfg.StoreWSPerAddr)
	}
	r.routes()
	if cfg.Proxy.Listen != "" {
		if err := r.startProxy(); err != nil {
			r.Close()
			return nil, err
		}
	}
	if len(cfg.Seed) > 0 {
		if err := r.startSeeding(); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// ledgerGateway makes /ledger/: the embedded ledger's handler, or a
// reverse proxy to Config.LedgerURL passing the client's address on for the
// ledger's limits; none without either.
func (r *Relay) ledgerGateway() error {
	switch cfg := r.cfg; {
	case cfg.Ledger != nil:
		r.ledger = http.StripPrefix("/ledger", cfg.Ledger.Handler())
	case cfg.LedgerURL != "":
		u, err := url.Parse(cfg.LedgerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("relay: ledger URL %q", cfg.LedgerURL)
		}
		p := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			cfg.Clients.Forward(pr.Out, pr.In) // the client, for the ledger's limits
		}}
		r.ledger = http.StripPrefix("/ledger", p)
	}
	return nil
}

// startBridge opens the bridge's uTP socket and peer discovery (the DHT and
// the torrents' trackers) and makes the bridge.
func (r *Relay) startBridge() error {
	// The bridge reaches uTP peers through a socket of its own.
	utp, err := engine.ListenUTP(":0")
	if err != nil {
		return fmt.Errorf("relay: bridge uTP socket: %w", err)
	}
	r.closers = append(r.closers, utp)
	// Classic peers come from this tracker (those that announced over
	// HTTP), the DHT and the torrents' own trackers.
	port := 6881
	if _, p, err := net.SplitHostPort(r.cfg.PeerListen); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			port = n
		}
	}
	disc, err := discover.New(discover.Config{DHTAddr: r.cfg.DHT, DHTBootstrap: r.cfg.DHTBootstrap, AllowPrivate: r.cfg.BridgeAllowPrivate,
		Port: port, Logger: r.cfg.Logger.With("component", "discover")})
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	r.discover = disc
	r.closers = append(r.closers, disc)
	// The bridge dials only peers discovered for the torrent.
	r.bridge = bridge.New(bridge.Config{
		Discovered: func(ih [20]byte, a netip.AddrPort) bool {
			return r.tracker.Knows(ih, a) || disc.Knows(ih, a) || r.clusterDiscovered(ih, a)
		},
		Peers: func(ih [20]byte, trackers []string) []netip.AddrPort {
			found := disc.LookupPeers(ih, trackers)
			r.recordDiscovered(ih, found)
			return append(r.tracker.HTTPPeers(ih, 100), found...)
		},
		AllowPrivate: r.cfg.BridgeAllowPrivate, AllowLowPorts: r.cfg.BridgeAllowLowPorts, PeersRate: r.cfg.BridgePeersRate,
		BytesPerSecond: r.cfg.BridgeBytesPerSecond, ClientAddr: r.cfg.Clients.Addr, Logger: r.cfg.Logger.With("component", "bridge"), RTC: r.cfg.RTC,
		DialUTP: func(ctx context.Context, addr string) (net.Conn, error) {
			tp := utp.Transport()
			return tp.Dialer.DialContext(ctx, tp.Network, addr)
		}})
	return nil
}

// clusterDiscovered says whether another relay discovered a for ih (with
// Config.Redis).
func (r *Relay) clusterDiscovered(ih [20]byte, a netip.AddrPort) bool {
	if r.cluster == nil || !r.cluster.Up() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ok, err := r.cluster.Discovered(ctx, ih, a)
	if err != nil {
		r.log.Warn("redis: discovered peers unavailable", "err", err)
	}
	return ok
}

// recordDiscovered shares the classic peers found for ih with the other
// relays' bridges (with Config.Redis).
func (r *Relay) recordDiscovered(ih [20]byte, found []netip.AddrPort) {
	if r.cluster == nil || !r.cluster.Up() || len(found) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.cluster.RecordDiscovered(ctx, ih, found); err != nil {
		r.log.Warn("redis: recording discovered peers", "err", err)
	}
}

// routes makes the relay's mux.
func (r *Relay) routes() {
	r.mux = http.NewServeMux()
	r.mux.Handle("/announce", r.tracker)
	r.mux.Handle("/scrape", r.tracker)
	r.mux.Handle("/bridge", r.bridge)
	r.mux.HandleFunc("/bridge/peers", r.bridge.ServePeers)
	r.mux.HandleFunc("/healthz", func(w http.ResponseWriter, req *http.Request) {
		if r.limit(w, req) {
			r.healthz(w, req)
		}
	})
	r.mux.HandleFunc("/seeds", r.serveSeeds)
	r.mux.HandleFunc("/proxy", r.serveProxy)
	r.mux.HandleFunc("/proxy/ws", r.serveProxyWS)
	r.mux.HandleFunc("/store", r.serveStore)
	r.mux.HandleFunc("/store/ws", r.serveStoreWS)
	r.metrics = newMetrics(r)
	r.mux.Handle("/metrics", r.metrics.handler())
	if r.ledger != nil {
		r.mux.HandleFunc("/ledger/", r.serveLedger)
	}
	if r.cfg.Tron != nil {
		tron := http.StripPrefix("/tron", r.cfg.Tron)
		r.mux.HandleFunc("/tron/", func(w http.ResponseWriter, req *http.Request) {
			if r.limit(w, req) {
				tron.ServeHTTP(w, req)
			}
		})
	}
	if r.cfg.WebDir != "" {
		r.mux.Handle("/", r.static(r.cfg.WebDir))
	}
}

// ServeHTTP serves the relay: WebSocket upgrades go to the tracker, but
// for the bridge's and the paid services'.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.metrics.requests.Inc()
	noSniff(w)
	if strings.EqualFold(req.Header.Get("Upgrade"), "websocket") && req.URL.Path != "/bridge" && req.URL.Path != "/proxy/ws" && req.URL.Path != "/store/ws" {
		r.tracker.ServeHTTP(w, req)
		return
	}
	r.mux.ServeHTTP(w, req)
}

// TrackerStats returns the tracker's counters.
func (r *Relay) TrackerStats() tracker.Stats { return r.tracker.Stats() }

// Seeds returns what the relay seeds.
func (r *Relay) Seeds() []Seeded { return r.seeds }

// PeerAddr is where the seeder accepts peers ("" when not seeding).
func (r *Relay) PeerAddr() string { return r.peer }

// Close stops seeding (closing the channels that pay the relay) and the
// tracker's connections.
func (r *Relay) Close() error {
	if r.proxy != nil {
		r.proxy.close()
	}
	if r.storeWS != nil {
		r.storeWS.ln.Close() // a /store/ws being handed over is closed
	}
	r.tracker.Close()
	r.bridge.Close()
	var err error
	if r.engine != nil {
		err = r.engine.Close()
	}
	for _, c := range r.closers {
		c.Close()
	}
	return err
}

// RTCAPI builds the pion API for the relay's WebRTC side: every connection
// on one UDP port when port > 0 (the returned closer releases it), and
// publicIPs announced as host candidates when given.
//
// Multicast DNS is off: browsers hide their addresses behind .local names,
// which mean nothing across the internet, and resolving them would send
// multicast queries onto the operator's LAN. The browser still reaches the
// relay's candidates, and ICE learns its address from those checks.
func RTCAPI(port int, publicIPs []string) (*webrtc.API, io.Closer, error) {
	var se webrtc.SettingEngine
	rtc.Tune(&se)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	var closer io.Closer
	if port > 0 {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
		if err != nil {
			return nil, nil, fmt.Errorf("relay: WebRTC UDP port: %w", err)
		}
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, conn))
		closer = conn
	}
	if len(publicIPs) > 0 {
		se.SetNAT1To1IPs(publicIPs, webrtc.ICECandidateTypeHost)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)), closer, nil
}

// Expire runs the tracker's expiry every interval until ctx ends.
func (r *Relay) Expire(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.tracker.Expire()
		}
	}
}

func (r *Relay) healthz(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.cfg.Ledger != nil {
		if _, err := r.cfg.Ledger.Supply(req.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"ok":false,"error":%q}`+"\n", err.Error())
			return
		}
	}
	fmt.Fprintln(w, `{"ok":true}`)
}

// seedJSON is one entry of GET /seeds.
type seedJSON struct {
	Name   string `json:"name"`
	Length int64  `json:"length"`
	Magnet string `json:"magnet"`
}

// serveSeeds lists what the relay seeds (the web app offers them), with
// CORS so embedding pages can read it too.
func (r *Relay) serveSeeds(w http.ResponseWriter, req *http.Request) {
	cors(w)
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	out := make([]seedJSON, 0, len(r.seeds))
	for _, s := range r.seeds {
		e := seedJSON{Name: filepath.Base(s.Path), Magnet: s.Magnet}
		if info := s.Torrent.Info(); info != nil {
			e.Name, e.Length = info.BestName(), info.TotalLength()
		}
		out = append(out, e)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// serveLedger forwards /ledger/ to the ledger, rate-limited per client,
// a batch costing one token per operation.
func (r *Relay) serveLedger(w http.ResponseWriter, req *http.Request) {
	cors(w)
	if !ledger.Admit(w, req, r.limiter, r.cfg.Clients.Addr(req), time.Now()) {
		return
	}
	if req.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	start := time.Now()
	r.ledger.ServeHTTP(w, req)
	r.metrics.ledgerLatency.Observe(time.Since(start).Seconds())
}

// limit answers 429 and false when the client is over the gateway rate.
func (r *Relay) limit(w http.ResponseWriter, req *http.Request) bool {
	if !r.limiter.Allow(clientip.Key(r.cfg.Clients.Addr(req)), time.Now()) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"code":"rate_limited","message":"too many gateway requests from your address"}}`, http.StatusTooManyRequests)
		return false
	}
	return true
}

// cors lets pages on any origin use the relay (publishers embed it).
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
}

// static serves dir with CORS headers, the right types (wasm included) and
// the app's security headers (headers.go).
func (r *Relay) static(dir string) http.Handler {
	mime.AddExtensionType(".wasm", "application/wasm")
	mime.AddExtensionType(".mjs", "text/javascript")
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		cors(w)
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		r.pageHeaders(w, req)
		if path.Base(req.URL.Path) == headersFile {
			http.NotFound(w, req) // the edge's copy of these headers
			return
		}
		if serveCompressed(w, req, dir) {
			return
		}
		files.ServeHTTP(w, req)
	})
}

// precompressed are the encodings build.sh stores next to a file (the
// browser peer's wasm: 11.9 MB raw), best first: NAME.br (brotli, about 2.0
// MB for the embed's) and NAME.gz (gzip -9, about 2.75 MB).
var precompressed = []struct{ encoding, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

// serveCompressed serves dir/PATH.br or dir/PATH.gz for PATH, the best one
// build.sh made that the client accepts.
func serveCompressed(w http.ResponseWriter, req *http.Request, dir string) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || strings.HasSuffix(req.URL.Path, "/") {
		return false
	}
	name := path.Clean("/" + req.URL.Path)
	for _, pc := range precompressed {
		if !accepts(req.Header.Get("Accept-Encoding"), pc.encoding) {
			continue
		}
		if serveFile(w, req, dir, name, pc.encoding, pc.ext) {
			return true
		}
	}
	return false
}

// serveFile serves dir/name+ext as name, with Content-Encoding encoding,
// if it is there.
func serveFile(w http.ResponseWriter, req *http.Request, dir, name, encoding, ext string) bool {
	f, err := http.Dir(dir).Open(name + ext)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Encoding", encoding)
	h.Add("Vary", "Accept-Encoding")
	http.ServeContent(w, req, name, st.ModTime(), f)
	return true
}

// accepts says whether an Accept-Encoding header accepts encoding: listed
// by name without q=0, or else matched by "*" without q=0.
func accepts(header, encoding string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		q, hasQ := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q=")
		ok := !hasQ || strings.Trim(q, "0.") != "" // q=0, q=0.0, ...: refused
		switch {
		case strings.EqualFold(name, encoding):
			return ok
		case name == "*":
			star = ok
		}
	}
	return star
}

// startSeeding makes a torrent of each seed path and seeds it.
func (r *Relay) startSeeding() error {
	ln, err := net.Listen("tcp", r.cfg.PeerListen)
	if err != nil {
		return fmt.Errorf("relay: peer listener: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	sock, err := engine.ListenUTP(net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port)))
	if err != nil {
		ln.Close()
		return err
	}
	cfg := engine.Config{Logger: r.log, ListenPort: addr.Port, UserAgent: "btspeed-relay/" + cmp.Or(r.cfg.Version, "dev"),
		Transports: []engine.Transport{sock.Transport(), {Name: "tcp", Network: "tcp", Dialer: &net.Dialer{}}},
		// Browser peers (ours and WebTorrent's) reach the seeds over
		// WebRTC through the WebSocket tracker.
		PeerFinders: []engine.PeerFinder{wstracker.New(wstracker.Config{RTC: r.cfg.RTC, Logger: r.log})}}
	if r.cfg.Key != nil && r.cfg.Ledger != nil {
		cfg.Speed = &engine.SpeedConfig{Key: r.cfg.Key, Ledger: r.cfg.Ledger, LedgerID: r.cfg.Ledger.ID(),
			Settings: engine.SpeedSettings{Enabled: true, Reserve: r.cfg.Reserve}}
	}
	cl, err := engine.New(cfg)
	if err != nil {
		ln.Close()
		sock.Close()
		return err
	}
	r.engine, r.peer = cl, ln.Addr().String()
	if addr.IP.IsUnspecified() {
		// Listening on every address: peers reach it at the public host.
		host := "127.0.0.1"
		if u, err := url.Parse(r.cfg.PublicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		r.peer = net.JoinHostPort(host, strconv.Itoa(addr.Port))
	}
	go cl.Serve(ln)
	go cl.Serve(sock)
	for _, p := range r.cfg.Seed {
		s, err := r.seed(p)
		if err != nil {
			cl.Close()
			return err
		}
		r.seeds = append(r.seeds, s)
	}
	return nil
}

// seed makes a torrent of path and seeds it.
func (r *Relay) seed(path string) (Seeded, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Seeded{}, err
	}
	var trackers []string
	if r.cfg.PublicURL != "" {
		base := strings.TrimSuffix(r.cfg.PublicURL, "/")
		trackers = []string{base + "/announce", "ws" + strings.TrimPrefix(base, "http")}
	}
	mi, err := engine.CreateTorrent(abs, engine.CreateOptions{Trackers: trackers, CreatedBy: "btspeed-relay/" + cmp.Or(r.cfg.Version, "dev")})
	if err != nil {
		return Seeded{}, fmt.Errorf("relay: seed %s: %w", path, err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return Seeded{}, err
	}
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(filepath.Dir(abs), i) }
	spec.Check = true
	tor, err := r.engine.AddTorrent(spec)
	if err != nil {
		return Seeded{}, err
	}
	ih := mi.HashInfoBytes()
	m := mi.Magnet(&ih, &info)
	// xl (BEP 9, the exact length) lets an app say before it starts what
	// the download may cost.
	m.Params = url.Values{"x.pe": {r.peer}, "xl": {strconv.FormatInt(info.TotalLength(), 10)}}
	r.log.Info("seeding", "path", abs, "infohash", ih.HexString(), "speed", r.engine != nil && r.cfg.Key != nil)
	return Seeded{Path: abs, Magnet: m.String(), Torrent: tor}, nil
}
