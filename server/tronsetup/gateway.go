//go:build !js

package tronsetup

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// gatewayReads are the read-only calls of a node's HTTP API that /tron/
// forwards, under /wallet/ and /walletsolidity/, by GET (TronWeb sends
// some of them so, with the arguments in the query) or POST: what the
// browser wallet (webpeer), TronWeb and the embedded devnet use.
var gatewayReads = []string{"getaccount", "gettransactionbyid", "gettransactioninfobyid", "getnowblock", "getblock", "getassetissuebyid"}

// gatewayWrites are the calls /tron/ forwards under /wallet/ by POST
// only: building a TRX or TRC-10 transfer for the client to sign, and
// broadcasting a signed transaction.
var gatewayWrites = []string{"createtransaction", "transferasset", "broadcasttransaction"}

// maxGatewayBody caps a request body forwarded to the node.
const maxGatewayBody = 1 << 20

// gatewayMethods maps each path the gateway forwards to its methods
// (OPTIONS, for a browser's CORS preflight, everywhere).
var gatewayMethods = func() map[string][]string {
	m := map[string][]string{}
	for _, c := range gatewayReads {
		m["/wallet/"+c] = []string{http.MethodGet, http.MethodPost, http.MethodOptions}
		m["/walletsolidity/"+c] = []string{http.MethodGet, http.MethodPost, http.MethodOptions}
	}
	for _, c := range gatewayWrites {
		m["/wallet/"+c] = []string{http.MethodPost, http.MethodOptions}
	}
	return m
}()

// gateway lets through to next (the proxy to a node, which adds the
// operator's API key) only the documented calls of TRON's HTTP API
// (docs/tron.md), with their methods; anything else gets a JSON error in
// TRON's form, {"Error": "..."}: 404 for another path, 405 for another
// method. The path must be exactly one of the list (no escapes, no dot
// segments), so what reaches the node is what was checked.
func gateway(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		methods, ok := gatewayMethods[r.URL.Path]
		if !ok || r.URL.RawPath != "" {
			gatewayError(w, http.StatusNotFound, fmt.Sprintf("this gateway does not forward %q: it serves TRON's /wallet/ and /walletsolidity/ calls %s, and /wallet/ %s (docs/tron.md)",
				truncate(r.URL.Path, 80), strings.Join(gatewayReads, ", "), strings.Join(gatewayWrites, ", ")))
			return
		}
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			gatewayError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(methods, ", "), truncate(r.Method, 20)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxGatewayBody)
		next.ServeHTTP(w, r)
	})
}

func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Error": msg})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
