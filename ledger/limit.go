package ledger

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/btspeed/btspeed/internal/clientip"
	"github.com/btspeed/btspeed/internal/ratelimit"
	"github.com/btspeed/btspeed/ledger/api"
)

// RequestCost is what a request to the ledger's API costs its client's
// rate limit: one token, or for POST .../v1/batch one per operation (up to
// api.MaxBatch), since each operation costs the ledger what a request
// does. To count a batch it reads the body, at most the batch limit, and
// puts it back for the handler; a body it cannot read or parse costs one
// token, and the handler refuses it.
func RequestCost(r *http.Request) int {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1/batch") || r.Body == nil {
		return 1
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBatchBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || len(body) > maxBatchBody {
		return 1
	}
	var b struct {
		Ops []json.RawMessage `json:"ops"`
	}
	if json.Unmarshal(body, &b) != nil {
		return 1
	}
	return max(1, min(len(b.Ops), api.MaxBatch))
}

// Admit charges req's cost (RequestCost) to client's bucket in lim and
// reports whether it may go on; if not, it has answered 429 (or 413 for a
// batch larger than lim lets one client send at once). A nil lim admits
// everything.
func Admit(w http.ResponseWriter, req *http.Request, lim *ratelimit.Limiter, client netip.Addr, now time.Time) bool {
	if lim == nil {
		return true
	}
	cost := RequestCost(req)
	if lim.AllowN(clientip.Key(client), now, cost) {
		return true
	}
	if cost > lim.Burst() {
		writeError(w, apiErr(api.CodeTooLarge,
			"a batch of %d operations is more than one client may send at once here (%d); send smaller batches", cost, lim.Burst()))
		return false
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, apiErr(api.CodeRateLimited,
		"too many requests from %s (a batch counts each operation); slow down and retry", client))
	return false
}

// Limit serves h behind lim, a per-client rate limit: each request costs
// its client, as client tells it, what RequestCost says.
func Limit(h http.Handler, lim *ratelimit.Limiter, client func(*http.Request) netip.Addr) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Admit(w, r, lim, client(r), time.Now()) {
			h.ServeHTTP(w, r)
		}
	})
}
