// Package fetch makes HTTP requests in the browser without net/http's
// Transport.
//
// In a js/wasm build, any use of http.Client links net/http's Transport,
// and with it crypto/tls and HTTP/2: about a megabyte of the browser
// peer's compressed download, for code the browser never runs (it has
// fetch). Packages that run in the browser take a Doer and default to
// Default(): http.DefaultClient natively, the browser's fetch in js/wasm.
// *http.Client is a Doer, so native callers pass theirs unchanged.
package fetch

import "net/http"

// Doer sends an HTTP request and returns its response, as (*http.Client).Do.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Or returns d, or Default() when d is nil.
func Or(d Doer) Doer {
	if d == nil {
		return Default()
	}
	return d
}
