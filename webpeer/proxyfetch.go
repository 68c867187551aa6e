//go:build !btspeed_embed

package webpeer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/btspeed/btspeed/shared/fetch"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/requester"
)

// The paid proxy's requester in the browser (docs/speed-protocol.md
// section 11, docs/js-api.md client.fetch): the relay's provider is reached
// over GET /proxy/ws, a WebSocket carrying the proxy connection's bytes,
// since a page cannot open TCP. A dropped connection is resumed from the
// next chunk with the same pin.

// Errors of a proxied fetch a page can act on.
var (
	ErrFetchURL     = errors.New("not a URL the proxy fetches: an absolute http or https URL, no user name or #fragment")
	ErrFetchLost    = errors.New("the connection to the relay's proxy was lost")
	ErrFetchChanged = errors.New("the content changed at its origin during the download")
	ErrNoProxy      = errors.New("the relay is not a paid proxy provider")
)

// FetchOptions are a proxied fetch's limits and hooks.
type FetchOptions struct {
	// MaxPrice is the most paid, base units per GiB (0: the settings').
	MaxPrice uint64
	// Budget caps what the fetch spends, base units (0: 1% of the
	// wallet's balance).
	Budget uint64
	// OnHead is told the content's length, type and price once known.
	OnHead func(proxy.Head)
	// Retries is how many times a dropped connection is dialled again
	// without progress in between (0: DefaultFetchRetries).
	Retries int
}

// DefaultFetchRetries is FetchOptions.Retries' default.
const DefaultFetchRetries = 4

// proxyWSReadLimit caps one WebSocket message from the provider: a proxy
// connection's largest message and its framing.
const proxyWSReadLimit = 64<<10 + 1<<10

// FetchResult is what a proxied fetch did, over all its connections.
type FetchResult struct {
	Head     proxy.Head
	Progress requester.Progress
	Chunks   uint64 // chunks received whole and paid for
	Paid     uint64 // base units signed over to the provider
	Resumed  int    // connections dialled again after a drop
}

// Fetch fetches rawURL through the relay's paid proxy, handing each whole
// chunk to sink before paying for it, and dials again after a drop, from
// the next chunk, until the content is whole or the provider refuses. The
// wallet must be unlocked.
func (p *Peer) Fetch(ctx context.Context, rawURL string, o FetchOptions, sink requester.Sink) (FetchResult, error) {
	if err := proxy.ValidateURL(rawURL); err != nil {
		return FetchResult{}, fmt.Errorf("%w: %v", ErrFetchURL, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel) // the peer closing ends it
	defer stop()
	cfg, err := p.fetchConfig(ctx, o)
	if err != nil {
		return FetchResult{}, err
	}
	if err := p.serviceOn(ctx, "/proxy", ErrNoProxy); err != nil {
		return FetchResult{}, err
	}
	retries := o.Retries
	if retries <= 0 {
		retries = DefaultFetchRetries
	}
	out := FetchResult{Progress: requester.Progress{URL: rawURL}}
	for failed := 0; ; {
		res, err := p.fetchOnce(ctx, cfg, out.Progress, sink)
		out.Progress, out.Chunks, out.Paid = res.Progress, out.Chunks+res.Chunks, out.Paid+res.Spent
		if !res.Head.Pin.IsZero() {
			out.Head = res.Head
		}
		cfg.Budget -= min(cfg.Budget, res.Spent)
		if err == nil || !resumable(err) || ctx.Err() != nil {
			return out, fetchError(err)
		}
		if res.Chunks > 0 {
			failed = 0
		}
		if failed++; failed > retries {
			return out, fmt.Errorf("%w after %d of %d chunks: %w", ErrFetchLost, out.Progress.Next, out.Progress.Pin.Chunks(), err)
		}
		p.log.Info("proxied fetch: connection lost, resuming", "url", rawURL, "next", out.Progress.Next, "err", err)
		if err := sleepCtx(ctx, time.Duration(failed)*time.Second); err != nil {
			return out, err
		}
		out.Resumed++
	}
}

// serviceOn asks the relay whether it offers a paid service at path (GET
// /proxy, GET /store): a 404 is off, returned as errOff. A browser cannot
// tell why a WebSocket failed to open, so this is asked first.
func (p *Peer) serviceOn(ctx context.Context, path string, errOff error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.Relay+path, nil)
	if err != nil {
		return fmt.Errorf("webpeer: %w", err)
	}
	resp, err := fetch.Or(p.cfg.HTTPClient).Do(req)
	if err != nil {
		return nil // the WebSocket's dial says what is wrong
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w (%s%s answers 404)", errOff, p.cfg.Relay, path)
	}
	return nil
}

// fetchConfig is the requester's configuration: the unlocked key, the
// relay's ledger and the limits.
func (p *Peer) fetchConfig(ctx context.Context, o FetchOptions) (requester.Config, error) {
	key := p.wallet.unlocked()
	if key == nil {
		if p.wallet.State() == StateNone {
			return requester.Config{}, ErrNoWallet
		}
		return requester.Config{}, ErrLocked
	}
	maxPrice := o.MaxPrice
	if maxPrice == 0 {
		maxPrice = p.Settings().MaxPrice
	}
	cfg := requester.Config{Key: key, Ledger: p.ledger, LedgerID: p.ledgerID, MaxRate: max(1, maxPrice/1024), Budget: o.Budget, OnHead: o.OnHead}
	if cfg.Budget == 0 {
		bal, err := p.ledger.Balance(ctx, key.Address())
		if err != nil {
			return cfg, fmt.Errorf("webpeer: the wallet's balance, for the default budget: %w", err)
		}
		cfg.Budget = bal / 100
	}
	return cfg, nil
}

// fetchOnce runs the fetch from prog on one WebSocket to the relay.
func (p *Peer) fetchOnce(ctx context.Context, cfg requester.Config, prog requester.Progress, sink requester.Sink) (requester.Result, error) {
	u := "ws" + strings.TrimPrefix(p.cfg.Relay, "http") + "/proxy/ws"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ws, resp, err := websocket.Dial(dctx, u, nil)
	cancel()
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return requester.Result{Progress: prog}, fmt.Errorf("%w (%s answers 404)", ErrNoProxy, u)
	}
	if err != nil {
		return requester.Result{Progress: prog}, fmt.Errorf("webpeer: dialling the relay's proxy %s: %w", u, err)
	}
	ws.SetReadLimit(proxyWSReadLimit)
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	return requester.Fetch(ctx, nc, cfg, prog, sink)
}

// resumable says whether a fetch that failed with err may go on with
// another connection: not after a refusal, a change at the origin or a
// price over the limits.
func resumable(err error) bool {
	var refused *requester.RefusedError
	var changed *requester.ChangedError
	return !errors.As(err, &refused) && !errors.As(err, &changed) &&
		!errors.Is(err, requester.ErrPrice) && !errors.Is(err, requester.ErrProvider) && !errors.Is(err, ErrNoProxy)
}

// fetchError marks a change at the origin with ErrFetchChanged.
func fetchError(err error) error {
	var changed *requester.ChangedError
	if errors.As(err, &changed) {
		return fmt.Errorf("%w: %w", ErrFetchChanged, err)
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
