//go:build js && wasm

// Command worker is btspeed's Cloudflare Worker (package edge), built with
// github.com/syumai/workers: GOOS=js GOARCH=wasm, then workers-assets-gen
// for the JavaScript that loads it. build.sh builds it into dist/edge;
// edge/wrangler.toml deploys it.
//
// Bindings: the D1 database DB (the tracker's state), the variable ORIGIN
// (the origin relay's URL) and, optionally, ANNOUNCE_INTERVAL (seconds).
package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"syscall/js"
	"time"

	"github.com/btspeed/btspeed/edge"
	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
	"github.com/syumai/workers/cloudflare/d1"
	"github.com/syumai/workers/cloudflare/fetch"
)

func main() {
	h, err := handler()
	if err != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "btspeed edge misconfigured: "+err.Error(), http.StatusInternalServerError)
		})
	}
	workers.Serve(h)
}

func handler() (http.Handler, error) {
	c, err := d1.OpenConnector("DB")
	if err != nil {
		return nil, fmt.Errorf("D1 binding DB: %w", err)
	}
	origin, err := url.Parse(getenv("ORIGIN"))
	if err != nil {
		return nil, fmt.Errorf("ORIGIN: %w", err)
	}
	t := &edge.Tracker{DB: sql.OpenDB(c), ClientIP: edge.CFConnectingIP}
	if s := getenv("ANNOUNCE_INTERVAL"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			return nil, fmt.Errorf("ANNOUNCE_INTERVAL %q: want seconds, at least 10", s)
		}
		t.Interval = time.Duration(n) * time.Second
	}
	return edge.New(edge.Config{Tracker: t, Origin: origin, Client: fetch.NewClient().HTTPClient(fetch.RedirectModeFollow)})
}

// getenv reads a variable binding; an absent one is "".
func getenv(name string) string {
	v := cloudflare.GetBinding(name)
	if v.Type() != js.TypeString {
		return ""
	}
	return v.String()
}
