package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/netguard"
	"github.com/btspeed/btspeed/shared/speed/proxy"
)

// fetch is one fetch in progress: the origin's answer being read, one chunk
// at a time, as chunks are sent (nothing is read ahead of the chunk being
// sent).
type fetch struct {
	id     uint32
	pin    proxy.Pin
	ctype  string
	next   uint64 // the next chunk to send
	body   io.ReadCloser
	idle   *time.Timer // cancels the origin request when it stalls
	cancel context.CancelFunc
	wait   time.Duration
}

func (f *fetch) close() {
	f.idle.Stop()
	f.cancel()
	f.body.Close()
}

// read fills b with the next bytes of content.
func (f *fetch) read(b []byte) ([]byte, error) {
	for got := 0; got < len(b); {
		f.idle.Reset(f.wait)
		k, err := f.body.Read(b[got:])
		got += k
		if err != nil && got < len(b) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// open asks the origin for m.URL from chunk m.From on, checks the answer
// against the provider's caps and m's pin, and returns the fetch, or the
// refusal to send.
func (p *Provider) open(ctx context.Context, m proxy.Fetch) (*fetch, *proxy.Refused) {
	refused := func(why proxy.Reason, format string, a ...any) (*fetch, *proxy.Refused) {
		return nil, &proxy.Refused{ID: m.ID, Why: why, Text: fmt.Sprintf(format, a...)}
	}
	u, err := url.Parse(m.URL)
	if err != nil || proxy.ValidateURL(m.URL) != nil {
		return refused(proxy.ReasonBadURL, "bad url")
	}
	chunk := p.cfg.Chunk
	if !m.Pin.IsZero() {
		chunk = m.Pin.Chunk
	}
	fctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return refused(proxy.ReasonBadURL, "bad url")
	}
	req.Header.Set("User-Agent", "btspeed-proxy")
	req.Header.Set("Accept-Encoding", "identity")
	if m.From > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", m.From*uint64(chunk)))
		if v := ifRange(m.Pin); v != "" {
			req.Header.Set("If-Range", v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		cancel()
		if errors.Is(err, netguard.ErrForbidden) || errors.Is(err, netguard.ErrRedirect) {
			return refused(proxy.ReasonForbidden, "%v", err)
		}
		return refused(proxy.ReasonOrigin, "%v", err)
	}
	pin, r := p.check(resp, m, chunk)
	if r != nil {
		resp.Body.Close()
		cancel()
		return nil, r
	}
	f := &fetch{id: m.ID, pin: pin, ctype: resp.Header.Get("Content-Type"), next: m.From, body: resp.Body,
		cancel: cancel, wait: p.cfg.IdleTimeout, idle: time.AfterFunc(p.cfg.IdleTimeout, cancel)}
	if len(f.ctype) > proxy.MaxCTypeLen {
		f.ctype = ""
	}
	return f, nil
}

// ifRange is the If-Range value for pin: its ETag if strong, else its
// Last-Modified.
func ifRange(pin proxy.Pin) string {
	if pin.ETag != "" && !strings.HasPrefix(pin.ETag, "W/") {
		return pin.ETag
	}
	if pin.LastModified != 0 {
		return time.Unix(int64(pin.LastModified), 0).UTC().Format(http.TimeFormat)
	}
	return ""
}

// check reads the origin's answer into a pin and compares it with the
// fetch's: any difference, or a whole body when a range was asked for, is
// ReasonChanged.
func (p *Provider) check(resp *http.Response, m proxy.Fetch, chunk uint32) (proxy.Pin, *proxy.Refused) {
	refused := func(why proxy.Reason, pin proxy.Pin, format string, a ...any) (proxy.Pin, *proxy.Refused) {
		return proxy.Pin{}, &proxy.Refused{ID: m.ID, Why: why, Text: fmt.Sprintf(format, a...), Pin: pin}
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return refused(proxy.ReasonOrigin, proxy.Pin{}, "content encoding %q", ce)
	}
	pin := proxy.Pin{ETag: resp.Header.Get("ETag"), Chunk: chunk}
	if len(pin.ETag) > proxy.MaxETagLen {
		pin.ETag = ""
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil && t.Unix() > 0 {
		pin.LastModified = uint64(t.Unix())
	}
	switch {
	case resp.StatusCode == http.StatusOK && resp.ContentLength >= 0:
		pin.Length = uint64(resp.ContentLength)
	case resp.StatusCode == http.StatusPartialContent:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != m.From*uint64(chunk) {
			return refused(proxy.ReasonOrigin, proxy.Pin{}, "content range %q", resp.Header.Get("Content-Range"))
		}
		pin.Length = total
	case resp.StatusCode == http.StatusOK:
		return refused(proxy.ReasonOrigin, proxy.Pin{}, "no content length")
	default:
		return refused(proxy.ReasonOrigin, proxy.Pin{}, "the origin answered %s", resp.Status)
	}
	if pin.Length > p.cfg.MaxLength || pin.Length > proxy.MaxLength {
		return refused(proxy.ReasonTooLarge, proxy.Pin{}, "%d bytes, above the cap of %d", pin.Length, p.cfg.MaxLength)
	}
	if m.From > 0 && resp.StatusCode == http.StatusOK {
		return refused(proxy.ReasonChanged, pin, "the origin sent the whole content, not the range")
	}
	if !m.Pin.IsZero() && m.Pin != pin {
		return refused(proxy.ReasonChanged, pin, "the content changed at its origin")
	}
	if m.From > pin.Chunks() {
		return refused(proxy.ReasonOther, pin, "from chunk %d of %d", m.From, pin.Chunks())
	}
	return pin, nil
}

// contentRange parses "bytes START-END/TOTAL".
func contentRange(v string) (start, total uint64, ok bool) {
	v, ok = strings.CutPrefix(v, "bytes ")
	rng, tot, ok2 := strings.Cut(v, "/")
	first, _, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(first, 10, 64)
	total, err2 := strconv.ParseUint(tot, 10, 64)
	return start, total, err1 == nil && err2 == nil && start < total
}
