// Package webseed fetches torrent pieces from HTTP servers that hold the
// torrent's files: BEP 19 ("GetRight style") web seeds. It maps a piece to
// byte ranges of the files it spans and asks for each with an HTTP Range
// request. It does not verify pieces; the engine hashes what it returns.
//
// Torrents are laid out by their v1 file list (as the engine and
// engine/storage do): BEP 47 padding files are never requested but filled
// with zeros. Only http and https URLs are used.
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

	"github.com/btspeed/btspeed/shared/fetch"
)

// Errors returned by ReadPiece; test for them with errors.Is. An HTTP
// status other than 200 and 206 is a *StatusError instead.
var (
	// ErrNoRange: the server ignored a Range request (answering 200 with
	// the whole file) for a range further into the file than MaxSkip.
	ErrNoRange = errors.New("webseed: server does not serve byte ranges")
	// ErrBadResponse: the response is not for what was asked: a 206 whose
	// Content-Range differs from the request, or a whole file of the wrong
	// size.
	ErrBadResponse = errors.New("webseed: response does not match the request")
	// ErrInvalid: the request cannot be made: no HTTP client or info, a URL
	// that is not http(s), a piece the torrent does not have, a buffer too
	// small, or file names that make no URL.
	ErrInvalid = errors.New("webseed: invalid request")
)

// StatusError is an HTTP status other than 200 or 206. The engine backs
// off on it, for RetryAfter when the server said.
type StatusError struct {
	Code       int           // the HTTP status code
	RetryAfter time.Duration // from a Retry-After header (capped at MaxRetryAfter); 0 if none
}

// Error implements error.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("webseed: HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	return s
}

// Limits.
const (
	// DefaultMaxSkip is MaxSkip when Client.MaxSkip is 0.
	DefaultMaxSkip = 64 << 20
	// MaxRetryAfter caps the Retry-After a server can ask for.
	MaxRetryAfter = time.Hour
	// maxTotalLength is the largest torrent laid out (1 PiB, as the
	// engine).
	maxTotalLength = 1 << 50
)

// Client fetches pieces of one torrent from one web seed. Its fields are
// set before use and not changed after; ReadPiece may then be called
// concurrently.
type Client struct {
	HTTP fetch.Doer     // required
	URL  string         // the url-list entry (BEP 19)
	Info *metainfo.Info // the torrent's info

	// MaxSkip caps how far into a file the client reads through a
	// response that ignored Range (a 200 with the whole file) to reach
	// the bytes it asked for; beyond it ReadPiece fails with ErrNoRange.
	// So no request reads more than MaxSkip plus one piece. 0 means
	// DefaultMaxSkip.
	MaxSkip int64
}

// span is a byte range of one file.
type span struct {
	file    *metainfo.FileInfo // nil for a single-file torrent
	fileLen int64
	off, n  int64 // in the file
}

// files calls fn with each v1 file of the torrent and its offset,
// checking lengths; fn returns false to stop.
func (c *Client) files(fn func(f *metainfo.FileInfo, length, start int64) bool) (total int64, err error) {
	info := c.Info
	if !info.HasV1() {
		return 0, fmt.Errorf("%w: BitTorrent v2-only torrents are not supported", ErrInvalid)
	}
	if len(info.Files) == 0 {
		if info.Length < 0 || info.Length > maxTotalLength {
			return 0, fmt.Errorf("%w: length %d", ErrInvalid, info.Length)
		}
		fn(nil, info.Length, 0)
		return info.Length, nil
	}
	more := true
	for i := range info.Files {
		f := &info.Files[i]
		if f.Length < 0 || f.Length > maxTotalLength-total {
			return 0, fmt.Errorf("%w: file length %d", ErrInvalid, f.Length)
		}
		if more {
			more = fn(f, f.Length, total)
		}
		total += f.Length
	}
	return total, nil
}

// ReadPiece fetches piece into buf[:pieceLength] and returns that slice,
// with one HTTP Range request per file the piece spans (padding files are
// zeros, not requested). It does not check the piece's hash.
func (c *Client) ReadPiece(ctx context.Context, piece int, buf []byte) ([]byte, error) {
	if c.HTTP == nil || c.Info == nil {
		return nil, fmt.Errorf("%w: Client needs HTTP and Info", ErrInvalid)
	}
	base, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: url %q: %v", ErrInvalid, c.URL, err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%w: url %q is not http(s)", ErrInvalid, c.URL)
	}
	pl := c.Info.PieceLength
	if pl <= 0 {
		return nil, fmt.Errorf("%w: piece length %d", ErrInvalid, pl)
	}
	total, err := c.files(func(*metainfo.FileInfo, int64, int64) bool { return false })
	if err != nil {
		return nil, err
	}
	if piece < 0 || total == 0 || int64(piece) > (total-1)/pl {
		return nil, fmt.Errorf("%w: no piece %d in a torrent of %d bytes", ErrInvalid, piece, total)
	}
	off := int64(piece) * pl
	n := min(pl, total-off)
	if int64(len(buf)) < n {
		return nil, fmt.Errorf("%w: buffer of %d bytes for piece %d of %d", ErrInvalid, len(buf), piece, n)
	}
	buf = buf[:n]
	var spans []span
	c.files(func(f *metainfo.FileInfo, length, start int64) bool {
		if start >= off+n {
			return false
		}
		if end := start + length; end > off && length > 0 {
			lo, hi := max(off, start), min(off+n, end)
			spans = append(spans, span{file: f, fileLen: length, off: lo - start, n: hi - lo})
		}
		return true
	})
	at := int64(0)
	for _, s := range spans {
		dst := buf[at : at+s.n]
		at += s.n
		if s.file != nil && strings.Contains(s.file.Attr, "p") {
			clear(dst) // BEP 47 padding
			continue
		}
		u, err := c.fileURL(base, s.file)
		if err != nil {
			return nil, err
		}
		if err := c.fetch(ctx, u, s, dst); err != nil {
			return nil, fmt.Errorf("webseed: piece %d: %w", piece, err)
		}
	}
	return buf, nil
}

// fileURL is BEP 19's URL of a file (f nil for a single-file torrent): a
// single file is the URL itself, or the URL plus the torrent's name when
// it ends in "/"; a multi-file torrent's files are URL/name/path...
// (a "/" added after the URL if missing), every element path-escaped.
// The URL's query, if any, is kept.
func (c *Client) fileURL(base *url.URL, f *metainfo.FileInfo) (string, error) {
	if f == nil && !strings.HasSuffix(base.Path, "/") {
		return c.URL, nil
	}
	elems := []string{c.Info.BestName()}
	if f != nil {
		elems = append(elems, f.BestPath()...)
		if len(elems) == 1 {
			return "", fmt.Errorf("%w: a file with no path", ErrInvalid)
		}
	}
	u := *base
	u.Fragment, u.RawFragment = "", ""
	p, raw := u.Path, u.EscapedPath()
	if !strings.HasSuffix(p, "/") {
		p, raw = p+"/", raw+"/"
	}
	for i, e := range elems {
		if e == "" || e == "." || e == ".." {
			return "", fmt.Errorf("%w: file name %q makes no URL", ErrInvalid, e)
		}
		if i > 0 {
			p, raw = p+"/", raw+"/"
		}
		p, raw = p+e, raw+url.PathEscape(e)
	}
	u.Path, u.RawPath = p, raw
	return u.String(), nil
}

// maxSkip returns the effective MaxSkip.
func (c *Client) maxSkip() int64 {
	if c.MaxSkip > 0 {
		return c.MaxSkip
	}
	return DefaultMaxSkip
}

// fetch reads one file range into dst.
func (c *Client) fetch(ctx context.Context, u string, s span, dst []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	last := s.off + s.n - 1
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", s.off, last))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	// Closing early drops the connection rather than draining the rest.
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		start, end, size, err := ParseContentRange(cr)
		if err != nil || start != s.off || end != last || (size >= 0 && size != s.fileLen) {
			return fmt.Errorf("%w: GET %s: asked bytes %d-%d/%d, got Content-Range %q", ErrBadResponse, u, s.off, last, s.fileLen, cr)
		}
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != s.fileLen {
			return fmt.Errorf("%w: GET %s: whole file of %d bytes, want %d", ErrBadResponse, u, resp.ContentLength, s.fileLen)
		}
		if s.off > c.maxSkip() {
			return fmt.Errorf("%w: GET %s answered 200 for bytes from %d (reading through at most %d)", ErrNoRange, u, s.off, c.maxSkip())
		}
		if _, err := io.CopyN(io.Discard, resp.Body, s.off); err != nil {
			return fmt.Errorf("GET %s: skipping to byte %d: %w", u, s.off, noEOF(err))
		}
	default:
		return &StatusError{Code: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if _, err := io.ReadFull(resp.Body, dst); err != nil {
		return fmt.Errorf("GET %s: reading %d bytes: %w", u, len(dst), noEOF(err))
	}
	return nil
}

// noEOF turns a body ending early into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// retryAfter parses a Retry-After header, seconds or an HTTP date
// relative to now, into a wait in [0, MaxRetryAfter]; 0 when absent or
// malformed.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if isDigits(h) {
		secs, err := strconv.ParseInt(h, 10, 64)
		if err != nil || secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // too many digits to parse is long too
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}

// isDigits says whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber parses a non-negative decimal of at most 18 digits (so it
// fits in an int64), nothing else: no sign, no spaces.
func parseNumber(s string) (int64, bool) {
	if !isDigits(s) || len(s) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ParseContentRange parses a Content-Range header of a 206 response,
// "bytes START-END/SIZE" (RFC 9110 section 14.4; the unit in any case),
// returning size -1 when SIZE is "*". It refuses END before START and
// SIZE not beyond END.
func ParseContentRange(h string) (start, end, size int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("%w: Content-Range %q", ErrBadResponse, h)
	}
	if len(h) < 6 || !strings.EqualFold(h[:6], "bytes ") {
		return bad()
	}
	rng, sz, ok := strings.Cut(h[6:], "/")
	if !ok {
		return bad()
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	if start, ok = parseNumber(a); !ok {
		return bad()
	}
	if end, ok = parseNumber(b); !ok || end < start {
		return bad()
	}
	size = -1
	if sz != "*" {
		if size, ok = parseNumber(sz); !ok || size <= end {
			return bad()
		}
	}
	return start, end, size, nil
}
