//go:build !js

package relay

import (
	"net/http"
	"path"
	"strings"
)

// The headers the relay sends with the web app (web/_headers holds the same
// for the edge Worker's static assets; TestHeadersFileMatches keeps the two
// equal).
//
// The app's pages load only their own scripts, styles and wasm ('self',
// 'wasm-unsafe-eval' to compile the Go wasm): nothing inline. connect-src
// stays open to https: and wss: because the browser peer legitimately
// reaches other servers: the origin relay named in edge.json, WebSocket
// trackers in magnet links, .torrent URLs people paste. A relay whose public
// URL is plain http (development, tests, a LAN) lets it reach http: and ws:
// too; an https one does not, which also keeps a page from probing
// http://localhost services.

// cspDirectives are the app's policy, in order; connect-src and style-src
// vary (see contentSecurityPolicy).
var cspDirectives = []string{
	"default-src 'self'",
	"script-src 'self' 'wasm-unsafe-eval'",
	"style-src 'self'",
	"img-src 'self' data: blob:",
	"media-src 'self' blob:",
	"worker-src 'self'",
	"frame-src 'self'",
	"object-src 'none'",
	"base-uri 'none'",
	"form-action 'self'",
	"connect-src 'self' https: wss:",
	// The app's pages stay out of other sites' frames (clickjacking the
	// wallet, or the Pay button of pay.html); the embed pages drop this one.
	"frame-ancestors 'none'",
}

// headersFile is the edge's copy of these headers (Workers static assets
// read it; the relay does not serve it).
const headersFile = "_headers"

// embedPages are the pages other sites frame: the player the <bt-speed>
// element shows (embed.js). At the edge /embed is the same page.
var embedPages = map[string]bool{"/embed.html": true, "/embed": true}

// contentSecurityPolicy is the policy of the page at urlPath (cleaned);
// insecure (a relay served over plain http) lets connect-src reach http:
// and ws: too. The example publisher page (web/example) keeps inline styles
// and <bt-speed>'s shadow styles, as a publisher's page would; its scripts
// stay external.
func contentSecurityPolicy(urlPath string, insecure bool) string {
	example := urlPath == "/example" || strings.HasPrefix(urlPath, "/example/")
	var out []string
	for _, d := range cspDirectives {
		switch {
		case strings.HasPrefix(d, "frame-ancestors ") && embedPages[urlPath]:
			continue
		case strings.HasPrefix(d, "connect-src ") && insecure:
			d += " http: ws:"
		case strings.HasPrefix(d, "style-src ") && example:
			d += " 'unsafe-inline'"
		}
		out = append(out, d)
	}
	return strings.Join(out, "; ")
}

// noSniff makes browsers trust the Content-Type of every response (a JSON
// answer or a seeded file is never run as a script or styled as CSS).
func noSniff(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// pageHeaders sets the web app's security headers for req: its
// Content-Security-Policy, and X-Frame-Options for browsers without
// frame-ancestors (except on the embed pages, which any site may frame).
func (r *Relay) pageHeaders(w http.ResponseWriter, req *http.Request) {
	p := path.Clean("/" + req.URL.Path)
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy(p, !strings.HasPrefix(r.cfg.PublicURL, "https://")))
	if !embedPages[p] {
		h.Set("X-Frame-Options", "DENY")
	}
}
