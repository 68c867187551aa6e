package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is one relay's Prometheus registry: its own counters, a snapshot
// of the tracker's, bridge's, discoverer's and seeder's counts at each
// scrape, and the Go runtime and process collectors. Each relay has its
// own registry (never the library's global one), so two relays in one
// process do not collide.
type metrics struct {
	reg           *prometheus.Registry
	requests      prometheus.Counter
	ledgerLatency prometheus.Histogram // of gateway requests
}

// latencyBuckets are the gateway latency histogram's upper bounds, in
// seconds.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// newMetrics registers r's metrics in a registry of their own.
func newMetrics(r *Relay) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "btspeed_relay_http_requests_total", Help: "HTTP requests served."}),
		ledgerLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "btspeed_ledger_gateway_seconds", Help: "Time the ledger took to answer gateway requests.", Buckets: latencyBuckets}),
	}
	m.reg.MustRegister(m.requests, m.ledgerLatency, snapshots{r},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry in Prometheus' exposition formats.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// snapshot is a metric read from the relay's parts at each scrape.
type snapshot struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

func counter(name, help string) snapshot {
	return snapshot{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue}
}

func gauge(name, help string) snapshot {
	return snapshot{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue}
}

// The metrics snapshots collects, in the order it sends them.
var (
	mSwarms          = gauge("btspeed_tracker_swarms", "Swarms the tracker knows.")
	mPeers           = gauge("btspeed_tracker_peers", "Peers in the tracker's swarms.")
	mWebSockets      = gauge("btspeed_tracker_websockets", "Open WebSocket connections.")
	mAnnounces       = counter("btspeed_tracker_announces_total", "Announces answered.")
	mScrapes         = counter("btspeed_tracker_scrapes_total", "Scrapes answered.")
	mOffers          = counter("btspeed_tracker_offers_relayed_total", "WebRTC offers handed to peers.")
	mAnswers         = counter("btspeed_tracker_answers_relayed_total", "WebRTC answers handed back.")
	mTrackerRefused  = counter("btspeed_tracker_refused_total", "Malformed or refused tracker requests.")
	mRateLimited     = counter("btspeed_tracker_rate_limited_total", "Tracker announces refused by a per-address rate (announces, new swarms).")
	mSocketsRefused  = counter("btspeed_tracker_sockets_refused_total", "WebSocket connections refused by the per-address cap.")
	mBridgeBytes     = counter("btspeed_bridge_bytes_total", "Bytes piped between browser peers and classic peers.")
	mBridgeOpen      = gauge("btspeed_bridge_connections", "Open bridged connections.")
	mBridgeRefused   = counter("btspeed_bridge_refused_total", "Bridge requests refused (malformed, not discovered, not public, port below 1024, over the caps).")
	mBridgeLimited   = counter("btspeed_bridge_limited_total", "Bridge requests and peer lists refused by the per-client rates.")
	mClientHandshake = counter("btspeed_bridge_client_handshakes_refused_total", "Bridged connections cut because the browser's first bytes were not a BitTorrent handshake for the torrent.")
	mPeerHandshake   = counter("btspeed_bridge_peer_handshakes_refused_total", "Bridged connections cut because the peer did not answer with a BitTorrent handshake for the torrent in time.")
	mDiscTorrents    = gauge("btspeed_discover_torrents", "Torrents the relay searches classic peers for.")
	mDiscPeers       = gauge("btspeed_discover_peers", "Classic peers discovered (DHT and trackers) and not expired.")
	mDiscLookups     = counter("btspeed_discover_lookups_total", "Peer searches started.")
	mDHTNodes        = gauge("btspeed_discover_dht_nodes", "Nodes in the relay's DHT routing table.")
	mGatewayLimited  = counter("btspeed_ledger_gateway_limited_total", "Ledger gateway requests refused by the rate limit.")
	mSeederPeers     = gauge("btspeed_seeder_peers", "Peers connected to the relay's seeds.")
	mSeederUp        = counter("btspeed_seeder_uploaded_bytes_total", "Piece bytes the relay's seeds sent.")
	mEarned          = counter("btspeed_seeder_earned_base_units_total", "What Speed peers paid the relay, in base units.")
	// With -redis only.
	mClusterUp        = gauge("btspeed_tracker_cluster_up", "1 while Redis answers the relay's heartbeat (swarms shared), 0 while the relay serves from its own swarms.")
	mClusterErrors    = counter("btspeed_tracker_cluster_errors_total", "Tracker requests served from local swarms because Redis failed.")
	mClusterRouted    = counter("btspeed_tracker_cluster_routed_total", "Offers and answers published to other relays.")
	mClusterDelivered = counter("btspeed_tracker_cluster_delivered_total", "Offers and answers from other relays written to this relay's WebSockets.")
	mClusterMalformed = counter("btspeed_tracker_cluster_malformed_total", "Entries and messages from Redis that were not usable.")
)

// snapshots collects the counts the relay's parts keep themselves, one
// Stats call per part per scrape.
type snapshots struct{ r *Relay }

// Describe sends every metric's description, the Speed earnings included
// (a relay without a wallet leaves it out of Collect: the registry
// allows that).
func (s snapshots) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range []snapshot{mSwarms, mPeers, mWebSockets, mAnnounces, mScrapes, mOffers, mAnswers, mTrackerRefused,
		mRateLimited, mSocketsRefused, mBridgeBytes, mBridgeOpen, mBridgeRefused, mBridgeLimited, mClientHandshake,
		mPeerHandshake, mDiscTorrents, mDiscPeers, mDiscLookups, mDHTNodes, mGatewayLimited, mSeederPeers, mSeederUp, mEarned,
		mClusterUp, mClusterErrors, mClusterRouted, mClusterDelivered, mClusterMalformed} {
		ch <- m.desc
	}
}

// Collect reads the parts' counts.
func (s snapshots) Collect(ch chan<- prometheus.Metric) {
	r := s.r
	send := func(m snapshot, v uint64) { ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(v)) }
	st := r.tracker.Stats()
	send(mSwarms, uint64(st.Swarms))
	send(mPeers, uint64(st.Peers))
	send(mWebSockets, uint64(st.WebSockets))
	send(mAnnounces, st.Announces)
	send(mScrapes, st.Scrapes)
	send(mOffers, st.OffersRelayed)
	send(mAnswers, st.AnswersRelayed)
	send(mTrackerRefused, st.Refused)
	send(mRateLimited, st.RateLimited)
	send(mSocketsRefused, st.SocketsRefused)
	if r.cluster != nil {
		up := uint64(0)
		if r.cluster.Up() {
			up = 1
		}
		send(mClusterUp, up)
		send(mClusterErrors, st.ClusterErrors)
		send(mClusterRouted, st.RoutedOut)
		send(mClusterDelivered, st.RoutedIn)
		send(mClusterMalformed, r.cluster.Malformed())
	}
	bs := r.bridge.Stats()
	send(mBridgeBytes, bs.Bytes)
	send(mBridgeOpen, uint64(bs.Open))
	send(mBridgeRefused, bs.Refused)
	send(mBridgeLimited, bs.Limited)
	send(mClientHandshake, bs.ClientHandshakesRefused)
	send(mPeerHandshake, bs.PeerHandshakesRefused)
	ds := r.discover.Stats()
	send(mDiscTorrents, uint64(ds.Torrents))
	send(mDiscPeers, uint64(ds.Peers))
	send(mDiscLookups, ds.Lookups)
	send(mDHTNodes, uint64(ds.DHTNodes))
	send(mGatewayLimited, r.limiter.Refused())
	var peers, up uint64
	for _, sd := range r.seeds {
		ts := sd.Torrent.Stats()
		peers += uint64(ts.Peers)
		up += uint64(ts.Uploaded)
	}
	send(mSeederPeers, peers)
	send(mSeederUp, up)
	if r.engine != nil {
		_, earned, _ := r.engine.SpeedTotals()
		send(mEarned, earned)
	}
}
