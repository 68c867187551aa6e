//go:build js

package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall/js"
)

// Default is the browser's fetch.
func Default() Doer { return Browser{} }

// Browser sends requests with the browser's fetch. Request bodies are read
// whole before sending; response bodies stream. Cancelling the request's
// context aborts the fetch and the body.
type Browser struct{}

// Do sends req.
func (Browser) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opt, err := fetchOptions(req)
	if err != nil {
		return nil, err
	}
	abort := js.Global().Get("AbortController").New()
	opt.Set("signal", abort.Get("signal"))
	resp, err := await(ctx, abort, js.Global().Call("fetch", req.URL.String(), opt))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	return response(req, resp, abort), nil
}

// fetchOptions is fetch's init object for req: method, headers and the body,
// read whole.
func fetchOptions(req *http.Request) (js.Value, error) {
	opt := js.Global().Get("Object").New()
	opt.Set("method", req.Method)
	opt.Set("credentials", "same-origin")
	opt.Set("redirect", "follow")
	headers := js.Global().Get("Headers").New()
	for k, vs := range req.Header {
		for _, v := range vs {
			headers.Call("append", k, v)
		}
	}
	opt.Set("headers", headers)
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return js.Value{}, fmt.Errorf("fetch: reading the request body: %w", err)
		}
		if len(b) > 0 {
			u := js.Global().Get("Uint8Array").New(len(b))
			js.CopyBytesToJS(u, b)
			opt.Set("body", u)
		}
	}
	return opt, nil
}

// await waits for fetch's promise. When ctx ends first it aborts the fetch,
// waits for the promise to settle, cancels a body that arrived anyway and
// returns ctx's error.
func await(ctx context.Context, abort, promise js.Value) (js.Value, error) {
	type result struct {
		resp js.Value
		err  error
	}
	done := make(chan result, 1)
	success := js.FuncOf(func(this js.Value, args []js.Value) any {
		done <- result{resp: args[0]}
		return nil
	})
	failure := js.FuncOf(func(this js.Value, args []js.Value) any {
		done <- result{err: jsError("fetch", args[0])}
		return nil
	})
	defer success.Release()
	defer failure.Release()
	promise.Call("then", success, failure)
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		abort.Call("abort")
		if r := <-done; r.err == nil {
			r.resp.Get("body").Call("cancel")
		}
		return js.Value{}, ctx.Err()
	}
}

// response turns fetch's Response into req's http.Response, its body
// streaming from the Response's ReadableStream.
func response(req *http.Request, resp, abort js.Value) *http.Response {
	header := http.Header{}
	it := resp.Get("headers").Call("entries")
	for {
		n := it.Call("next")
		if n.Get("done").Bool() {
			break
		}
		pair := n.Get("value")
		header.Add(pair.Index(0).String(), pair.Index(1).String())
	}
	status := resp.Get("status").Int()
	length := int64(-1)
	if cl, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil {
		length = cl
	}
	var body io.ReadCloser = http.NoBody
	if b := resp.Get("body"); !b.IsNull() && !b.IsUndefined() {
		body = &streamReader{reader: b.Call("getReader"), abort: abort, done: req.Context().Done()}
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + resp.Get("statusText").String(),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		ContentLength: length,
		Body:          body,
		Request:       req,
	}
}

// streamReader reads a fetch body's ReadableStream.
type streamReader struct {
	reader js.Value
	abort  js.Value
	done   <-chan struct{}
	buf    []byte
	err    error
	closed bool
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		type chunk struct {
			b   []byte
			eof bool
			err error
		}
		ch := make(chan chunk, 1)
		ok := js.FuncOf(func(this js.Value, args []js.Value) any {
			r := args[0]
			if r.Get("done").Bool() {
				ch <- chunk{eof: true}
				return nil
			}
			v := r.Get("value")
			b := make([]byte, v.Get("byteLength").Int())
			js.CopyBytesToGo(b, v)
			ch <- chunk{b: b}
			return nil
		})
		bad := js.FuncOf(func(this js.Value, args []js.Value) any {
			ch <- chunk{err: jsError("fetch: reading the body", args[0])}
			return nil
		})
		s.reader.Call("read").Call("then", ok, bad)
		var c chunk
		select {
		case c = <-ch:
		case <-s.done:
			s.abort.Call("abort")
			c = <-ch
			c = chunk{err: errors.New("fetch: the request was cancelled")}
		}
		ok.Release()
		bad.Release()
		switch {
		case c.err != nil:
			s.err = c.err
		case c.eof:
			s.err = io.EOF
		default:
			s.buf = c.b
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *streamReader) Close() error {
	if !s.closed {
		s.closed = true
		if s.err == nil {
			s.reader.Call("cancel")
			s.err = errors.New("fetch: body closed")
		}
	}
	return nil
}

// jsError turns a rejected promise's value into an error.
func jsError(what string, v js.Value) error {
	msg := "unknown error"
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			msg = m.String()
		}
	} else if v.Type() == js.TypeString {
		msg = v.String()
	}
	return fmt.Errorf("%s: %s", what, strings.TrimSpace(msg))
}
