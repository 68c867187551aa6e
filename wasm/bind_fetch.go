//go:build js && !btspeed_embed

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall/js"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/requester"
	"github.com/btspeed/btspeed/webpeer"
)

// fetchOptionsJS are client.fetch's options as btspeed.js passes them:
// decimal BTT strings.
type fetchOptionsJS struct {
	MaxPrice string `json:"maxPrice"` // BTT per GiB
	Budget   string `json:"budget"`   // BTT
}

// fetchResultJS is what client.fetch resolves to, besides the bytes.
type fetchResultJS struct {
	Length      uint64 `json:"length"`
	ContentType string `json:"contentType"`
	ETag        string `json:"etag,omitempty"`
	Chunks      uint64 `json:"chunks"`
	ChunkSize   uint32 `json:"chunkSize"`
	Paid        string `json:"paid"`  // BTT
	Rate        string `json:"rate"`  // BTT per MiB
	Payee       string `json:"payee"` // the provider's account
	Resumed     int    `json:"resumed"`
}

// proxyFetch fetches URL argument 0 through the relay's paid proxy with
// the options JSON argument 1, calling argument 2 with (offset, bytes) for
// each whole chunk before it is paid for and argument 3 with the head's
// JSON once known; argument 4, an AbortSignal, stops it. It resolves to
// fetchResultJS's JSON.
func (b binding) proxyFetch(a args) any {
	rawURL, raw, onChunk, onHead, signal := a.str(0), a.str(1), a.at(2), a.at(3), a.at(4)
	return promise(func() (any, error) {
		var in fetchOptionsJS
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &in); err != nil {
				return nil, fmt.Errorf("fetch options: %w", err)
			}
		}
		var o webpeer.FetchOptions
		var err error
		if o.MaxPrice, err = optionalAmount(in.MaxPrice, "maxPrice"); err != nil {
			return nil, err
		}
		if o.Budget, err = optionalAmount(in.Budget, "budget"); err != nil {
			return nil, err
		}
		if onHead.Type() == js.TypeFunction {
			o.OnHead = func(h proxy.Head) { onHead.Invoke(toJSON(headView(h, 0, 0))) }
		}
		ctx, cancel := abortable(signal)
		defer cancel()
		res, err := b.p.Fetch(ctx, strings.TrimSpace(rawURL), o, &jsSink{onChunk: onChunk})
		if err != nil {
			return nil, fetchWords(err, res)
		}
		v := headView(res.Head, res.Chunks, res.Paid)
		v.Resumed = res.Resumed
		return toJSON(v), nil
	})
}

func headView(h proxy.Head, chunks, paid uint64) fetchResultJS {
	return fetchResultJS{Length: h.Pin.Length, ContentType: h.ContentType, ETag: h.Pin.ETag, Chunks: chunks, ChunkSize: h.Pin.Chunk,
		Paid: speed.FormatBTT(paid), Rate: speed.FormatBTT(h.Rate), Payee: h.Payee.String()}
}

// optionalAmount is a decimal BTT option, 0 when absent.
func optionalAmount(s, name string) (uint64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	v, err := parseAmount(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// abortable is a context that an AbortSignal (when one is given) cancels.
func abortable(signal js.Value) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if signal.Type() != js.TypeObject {
		return ctx, cancel
	}
	if signal.Get("aborted").Truthy() {
		cancel()
		return ctx, cancel
	}
	fn := js.FuncOf(func(js.Value, []js.Value) any { cancel(); return nil })
	signal.Call("addEventListener", "abort", fn)
	return ctx, func() {
		signal.Call("removeEventListener", "abort", fn)
		fn.Release()
		cancel()
	}
}

// jsSink hands each whole chunk to a JavaScript function.
type jsSink struct{ onChunk js.Value }

// WriteChunk hands the chunk over; when the function returns a Promise (a
// stream whose reader is behind), it waits for it, so the chunk is paid and
// the next one asked for only once the page has room.
func (s *jsSink) WriteChunk(off uint64, data []byte) error {
	if s.onChunk.Type() != js.TypeFunction {
		return nil
	}
	u := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u, data)
	return await(s.onChunk.Invoke(float64(off), u))
}

// errStopped is a page that stopped reading a streamed fetch.
var errStopped = errors.New("the page stopped reading the stream")

// await waits for v when it is a Promise: nil once it resolves, errStopped
// if it rejects.
func await(v js.Value) error {
	if v.Type() != js.TypeObject || v.Get("then").Type() != js.TypeFunction {
		return nil
	}
	done := make(chan error, 1)
	ok := js.FuncOf(func(js.Value, []js.Value) any { done <- nil; return nil })
	fail := js.FuncOf(func(js.Value, []js.Value) any { done <- errStopped; return nil })
	defer ok.Release()
	defer fail.Release()
	v.Call("then", ok, fail)
	return <-done
}

func (s *jsSink) Checkpoint(requester.Progress) error { return nil }

// Codes of a proxied fetch's errors (docs/js-api.md).
var refusalCodes = map[proxy.Reason]string{
	proxy.ReasonBadURL: "bad_url", proxy.ReasonForbidden: "forbidden_destination", proxy.ReasonTooLarge: "too_large",
	proxy.ReasonOrigin: "origin_failed", proxy.ReasonBusy: "busy", proxy.ReasonRate: "over_price", proxy.ReasonUnpaid: "unpaid",
}

// fetchError is a proxied fetch's error for a page: words saying what
// happened and what to do, a code, and the cause after them.
type fetchError struct {
	code, words string
	cause       error
}

func (e *fetchError) Error() string { return e.words + " (" + e.cause.Error() + ")" }
func (e *fetchError) Unwrap() error { return e.cause }

// errorCode is the code the page sees (main.go's errorCode).
func (e *fetchError) errorCode() string { return e.code }

// fetchWords explains err, which stopped a fetch after res.
func fetchWords(err error, res webpeer.FetchResult) error {
	var refused *requester.RefusedError
	held, total := res.Progress.Next, res.Progress.Pin.Chunks()
	e := &fetchError{cause: err}
	switch {
	case errors.As(err, &refused):
		e.code = refusalCodes[refused.Why]
		if e.code == "" {
			e.code = "refused"
		}
		e.words = "the relay's proxy refused the download: " + refusalWords(refused.Why)
	case errors.Is(err, webpeer.ErrFetchChanged):
		e.code, e.words = "content_changed", fmt.Sprintf("the file changed at its origin after %d of %d chunks: fetch it again to get the new version; nothing of the new version was paid for", held, total)
	case errors.Is(err, requester.ErrPrice):
		e.code, e.words = "over_price", "the relay's proxy costs more than maxPrice, or this download more than the budget: raise them, or use another relay"
	case errors.Is(err, webpeer.ErrFetchLost):
		e.code, e.words = "connection_lost", fmt.Sprintf("the connection to the relay's proxy was lost after %d of %d chunks, and retrying did not help: check the network, then fetch again", held, total)
	case errors.Is(err, context.Canceled) || errors.Is(err, errStopped):
		e.code, e.words = "aborted", fmt.Sprintf("the download was stopped after %d of %d chunks", held, total)
	default:
		if c := errorCode(err); c != "" {
			return err // the wallet's and the ledger's errors keep their own
		}
		e.code, e.words = "failed", fmt.Sprintf("the download stopped after %d of %d chunks", held, total)
	}
	return e
}

// refusalWords say why a provider refused, and what to do.
func refusalWords(r proxy.Reason) string {
	switch r {
	case proxy.ReasonBadURL:
		return "the URL is not one it fetches (an absolute http or https URL, without a user name)"
	case proxy.ReasonForbidden:
		return "it only fetches from the public Internet, and this URL is on a loopback or private address"
	case proxy.ReasonTooLarge:
		return "the file is larger than it serves"
	case proxy.ReasonOrigin:
		return "the site failed to answer or gave no length: try again later"
	case proxy.ReasonBusy:
		return "it is busy: try again in a minute"
	case proxy.ReasonRate:
		return "its price is above maxPrice: raise it, or use another relay"
	case proxy.ReasonUnpaid:
		return "a chunk went unpaid, or this wallet is banned for a while"
	}
	return "for another reason (see the cause)"
}
