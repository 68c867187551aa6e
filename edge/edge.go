// Package edge is btspeed at the edge: a Cloudflare Worker (built with
// github.com/syumai/workers, main package in edge/worker) that serves the
// web app close to readers, runs an HTTP tracker whose state is in D1, and
// hands the stateful parts (/ledger/, /tron/, the WebSocket tracker, the
// bridge) to an origin relay. docs/edge.md says what runs where.
//
// The package itself is portable Go: the Worker gives it a D1 database
// and an HTTP client over the Workers fetch API.
package edge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures the edge's handler.
type Config struct {
	Tracker *Tracker
	// Origin is the relay the edge forwards /ledger/ and /tron/ to, and
	// that browsers use for what needs a connection (WebSocket tracker,
	// bridge).
	Origin *url.URL
	// Client reaches the origin (the Workers fetch API in the Worker).
	Client *http.Client
}

// Limits of what is forwarded.
const (
	MaxForwardBody  = 1 << 20  // request bodies to the origin
	MaxForwardReply = 16 << 20 // answers from the origin
)

// New returns the edge's handler. The platform serves the web app's files
// itself (Workers static assets); the Worker sees only the paths it runs
// first: /announce, /scrape, /ledger/*, /tron/* and /edge.json.
func New(cfg Config) (http.Handler, error) {
	if cfg.Tracker == nil || cfg.Origin == nil || cfg.Client == nil {
		return nil, fmt.Errorf("edge: needs a tracker, an origin and a client")
	}
	if cfg.Origin.Scheme != "http" && cfg.Origin.Scheme != "https" || cfg.Origin.Host == "" {
		return nil, fmt.Errorf("edge: origin %q is not an http(s) URL", cfg.Origin)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /announce", cfg.Tracker.Announce)
	mux.HandleFunc("GET /scrape", cfg.Tracker.Scrape)
	fwd := &forwarder{origin: cfg.Origin, client: cfg.Client}
	mux.Handle("/ledger/", fwd)
	mux.Handle("/tron/", fwd)
	mux.HandleFunc("GET /edge.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		json.NewEncoder(w).Encode(map[string]string{"relay": strings.TrimRight(cfg.Origin.String(), "/"), "tracker": "/announce"})
	})
	return mux, nil
}

// forwarder passes requests on to the origin relay and its answers back.
type forwarder struct {
	origin *url.URL
	client *http.Client
}

// hopByHop are headers that belong to one connection, not the request.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length"}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxForwardBody {
		http.Error(w, fmt.Sprintf("body over %d bytes", MaxForwardBody), http.StatusRequestEntityTooLarge)
		return
	}
	var body io.Reader
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxForwardBody+1))
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) > MaxForwardBody {
			http.Error(w, fmt.Sprintf("body over %d bytes", MaxForwardBody), http.StatusRequestEntityTooLarge)
			return
		}
		body = strings.NewReader(string(b))
	}
	u := *f.origin
	u.Path = strings.TrimRight(f.origin.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	for _, h := range hopByHop {
		req.Header.Del(h)
	}
	// The origin trusts the Worker's X-Forwarded-For (its
	// -trusted-proxies): it names the client Cloudflare saw, never what the
	// client wrote.
	req.Header.Del("X-Forwarded-For")
	if ip, err := CFConnectingIP(r); err == nil {
		req.Header.Set("X-Forwarded-For", ip.String())
	}
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		http.Error(w, "the origin relay did not answer: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	for _, h := range hopByHop {
		w.Header().Del(h)
	}
	w.Header().Set("Server-Timing", fmt.Sprintf("origin;dur=%d", time.Since(start).Milliseconds()))
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, MaxForwardReply))
}
