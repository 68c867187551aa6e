// Package webseed fetches torrent pieces from HTTP servers that hold the
// torrent's files: BEP 19 ("GetRight style") web seeds. It maps a piece to
// byte ranges of the files it spans and asks for each with an HTTP Range
// request. It does not verify pieces; the engine hashes what it returns.
package webseed

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

	"github.com/anacrolix/torrent/metainfo"
)

// Errors returned by ReadPiece.
var (
	// ErrNoRange: the server ignored a Range request for a range too far
	// into a file to read through.
	ErrNoRange = errors.New("webseed: server does not serve byte ranges")
	// ErrBadResponse: a 206 whose Content-Range is not the range asked for.
	ErrBadResponse = errors.New("webseed: response does not match the request")
)

// StatusError is an HTTP status other than 200 or 206.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from a Retry-After header, 0 if none
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("webseed: HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// maxSkip is how far into a file the client reads through a response that
// ignored Range (a 200 with the whole file) before giving up.
const maxSkip = 64 << 20

// Client fetches pieces of one torrent from one web seed.
type Client struct {
	HTTP *http.Client
	URL  string // the url-list entry
	Info *metainfo.Info
}

// span is a byte range of one file.
type span struct {
	url     string
	off, n  int64
	padding bool
}

// spans maps [off, off+n) of the torrent onto its files.
func (c *Client) spans(off, n int64) ([]span, error) {
	var out []span
	var pos int64
	base := c.URL
	files := c.Info.UpvertedFiles()
	multi := len(c.Info.Files) > 0
	for _, f := range files {
		start, end := pos, pos+f.Length
		pos = end
		if end <= off || start >= off+n || f.Length == 0 {
			continue
		}
		lo, hi := max(off, start), min(off+n, end)
		s := span{off: lo - start, n: hi - lo, padding: strings.Contains(f.Attr, "p")}
		if !s.padding {
			u, err := c.fileURL(base, f, multi)
			if err != nil {
				return nil, err
			}
			s.url = u
		}
		out = append(out, s)
	}
	return out, nil
}

// fileURL is BEP 19's URL for a file: single-file torrents use the URL as
// is (or URL + name when it ends in "/"); multi-file torrents use URL/name/
// path, each element escaped.
func (c *Client) fileURL(base string, f metainfo.FileInfo, multi bool) (string, error) {
	if _, err := url.Parse(base); err != nil {
		return "", fmt.Errorf("webseed: url %q: %w", base, err)
	}
	name := c.Info.BestName()
	if !multi {
		if strings.HasSuffix(base, "/") {
			return base + url.PathEscape(name), nil
		}
		return base, nil
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	parts := []string{url.PathEscape(name)}
	for _, e := range f.BestPath() {
		parts = append(parts, url.PathEscape(e))
	}
	return base + strings.Join(parts, "/"), nil
}

// ReadPiece fetches piece into buf (which must hold the piece) and returns
// it.
func (c *Client) ReadPiece(ctx context.Context, piece int, buf []byte) ([]byte, error) {
	pl := c.Info.PieceLength
	total := c.Info.TotalLength()
	off := int64(piece) * pl
	if piece < 0 || pl <= 0 || off >= total {
		return nil, fmt.Errorf("webseed: no piece %d", piece)
	}
	n := min(pl, total-off)
	if int64(len(buf)) < n {
		return nil, fmt.Errorf("webseed: buffer of %d bytes for a piece of %d", len(buf), n)
	}
	buf = buf[:n]
	spans, err := c.spans(off, n)
	if err != nil {
		return nil, err
	}
	at := int64(0)
	for _, s := range spans {
		dst := buf[at : at+s.n]
		at += s.n
		if s.padding {
			clear(dst)
			continue
		}
		if err := c.fetch(ctx, s, dst); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// fetch reads one file range into dst.
func (c *Client) fetch(ctx context.Context, s span, dst []byte) error {
	req, err := http.NewRequestWithContext(ctx, "GET", s.url, nil)
	if err != nil {
		return fmt.Errorf("webseed: %w", err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", s.off, s.off+s.n-1))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("webseed: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, err := ParseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != s.off || end != s.off+s.n-1 {
			return fmt.Errorf("%w: asked %d-%d, got %q", ErrBadResponse, s.off, s.off+s.n-1, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if s.off > maxSkip {
			return fmt.Errorf("%w (offset %d)", ErrNoRange, s.off)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, s.off); err != nil {
			return fmt.Errorf("webseed: skipping to %d: %w", s.off, unexpected(err))
		}
	default:
		e := &StatusError{Code: resp.StatusCode}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(min(secs, 3600)) * time.Second
		}
		return e
	}
	if _, err := io.ReadFull(resp.Body, dst); err != nil {
		return fmt.Errorf("webseed: reading %s: %w", s.url, unexpected(err))
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ParseContentRange parses "bytes START-END/SIZE" (SIZE may be "*").
func ParseContentRange(h string) (start, end int64, err error) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("webseed: content range %q", h)
	}
	rng, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("webseed: content range %q", h)
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("webseed: content range %q", h)
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
		return 0, 0, fmt.Errorf("webseed: content range %q", h)
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, fmt.Errorf("webseed: content range %q", h)
	}
	if size != "*" {
		if n, err := strconv.ParseInt(size, 10, 64); err != nil || n <= end {
			return 0, 0, fmt.Errorf("webseed: content range %q", h)
		}
	}
	return start, end, nil
}
