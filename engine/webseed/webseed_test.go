package webseed

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// content writes files (relative paths, "/"-separated) under root/name, or
// the single file root/name when files has the one key "", and returns
// the torrent's info built from them.
func content(t *testing.T, root, name string, files map[string]int) *metainfo.Info {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for p, n := range files {
		full := filepath.Join(root, name, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info := &metainfo.Info{PieceLength: 32 << 10}
	if err := info.BuildFromFilePath(filepath.Join(root, name)); err != nil {
		t.Fatal(err)
	}
	return info
}

// checkAllPieces fetches every piece and checks it against the info's
// SHA-1.
func checkAllPieces(t *testing.T, c *Client) {
	t.Helper()
	buf := make([]byte, c.Info.PieceLength)
	for i := range c.Info.NumPieces() {
		b, err := c.ReadPiece(context.Background(), i, buf)
		if err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		p := c.Info.Piece(i)
		if int64(len(b)) != p.Length() {
			t.Fatalf("piece %d: %d bytes, want %d", i, len(b), p.Length())
		}
		if metainfo.HashBytes(b) != p.V1Hash().Unwrap() {
			t.Fatalf("piece %d does not match its hash", i)
		}
	}
}

// recorder wraps a handler, recording the escaped paths asked for.
type recorder struct {
	h     http.Handler
	mu    sync.Mutex
	paths []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.EscapedPath())
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

func TestSingleAndMultiFile(t *testing.T) {
	root := t.TempDir()
	single := content(t, root, "movie file #1?.bin", map[string]int{"": 200_000})
	multi := content(t, root, "album é 100%", map[string]int{"a b.txt": 5, "sub/c#d": 100_000, "sub/e?.bin": 70_001, "日本/x y": 40_000})
	rec := &recorder{h: http.FileServer(http.Dir(root))}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	for _, c := range []*Client{
		{HTTP: srv.Client(), URL: srv.URL + "/", Info: single},
		{HTTP: srv.Client(), URL: srv.URL + "/movie%20file%20%231%3F.bin", Info: single},
		{HTTP: srv.Client(), URL: srv.URL, Info: multi},
		{HTTP: srv.Client(), URL: srv.URL + "/", Info: multi},
		{HTTP: srv.Client(), URL: srv.URL + "/?token=x#frag", Info: multi},
	} {
		checkAllPieces(t, c)
	}
	want := map[string]bool{
		"/movie%20file%20%231%3F.bin":                       true,
		"/album%20%C3%A9%20100%25/a%20b.txt":                true,
		"/album%20%C3%A9%20100%25/sub/c%23d":                true,
		"/album%20%C3%A9%20100%25/sub/e%3F.bin":             true,
		"/album%20%C3%A9%20100%25/%E6%97%A5%E6%9C%AC/x%20y": true,
	}
	seen := map[string]bool{}
	for _, p := range rec.paths {
		if !want[p] {
			t.Errorf("asked for %q", p)
		}
		seen[p] = true
	}
	if len(seen) != len(want) {
		t.Errorf("asked for %d distinct paths, want %d", len(seen), len(want))
	}
}

func TestServerIgnoringRange(t *testing.T) {
	root := t.TempDir()
	info := content(t, root, "f.bin", map[string]int{"": 100_000})
	data, err := os.ReadFile(filepath.Join(root, "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(data) // 200, whole file
	}))
	defer srv.Close()
	checkAllPieces(t, &Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: info})
	// Past MaxSkip, the client refuses to read through.
	c := &Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: info, MaxSkip: 40_000}
	if _, err := c.ReadPiece(context.Background(), 1, make([]byte, info.PieceLength)); err != nil {
		t.Fatalf("piece 1 (offset 32768 <= MaxSkip): %v", err)
	}
	if _, err := c.ReadPiece(context.Background(), 2, make([]byte, info.PieceLength)); !errors.Is(err, ErrNoRange) {
		t.Fatalf("piece 2 (offset 65536 > MaxSkip): %v, want ErrNoRange", err)
	}
}

// Padding files are zeros and never asked for; a hybrid torrent is read by
// its v1 files.
func TestPadFiles(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 10), bytes.Repeat([]byte{2}, 20_000)
	pl := int64(16 << 10)
	info := &metainfo.Info{Name: "t", PieceLength: pl, MetaVersion: 2, Files: []metainfo.FileInfo{
		{Length: 10, Path: []string{"a"}},
		{Length: pl - 10, Path: []string{".pad", strconv.FormatInt(pl-10, 10)}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		{Length: 20_000, Path: []string{"b"}},
	}, FileTree: metainfo.FileTree{Dir: map[string]metainfo.FileTree{
		"a": {File: metainfo.FileTreeFile{Length: 10}},
		"b": {File: metainfo.FileTreeFile{Length: 20_000}},
	}}}
	files := map[string][]byte{"/t/a": a, "/t/b": b}
	var asked []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	c := &Client{HTTP: srv.Client(), URL: srv.URL, Info: info}
	want := append(append(append([]byte{}, a...), make([]byte, pl-10)...), b...)
	buf := make([]byte, pl)
	for i := range 3 {
		got, err := c.ReadPiece(context.Background(), i, buf)
		if err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		lo := int64(i) * pl
		if !bytes.Equal(got, want[lo:min(lo+pl, int64(len(want)))]) {
			t.Fatalf("piece %d differs", i)
		}
	}
	if _, err := c.ReadPiece(context.Background(), 3, buf); !errors.Is(err, ErrInvalid) {
		t.Fatalf("piece past the end: %v", err)
	}
	for _, p := range asked {
		if p != "/t/a" && p != "/t/b" {
			t.Fatalf("asked for %q", p)
		}
	}
}

func TestErrors(t *testing.T) {
	root := t.TempDir()
	info := content(t, root, "f.bin", map[string]int{"": 100_000})
	retryDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	statusIs := func(code int, retry func(time.Duration) bool) func(error) bool {
		return func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == code && retry(se.RetryAfter)
		}
	}
	cases := map[string]struct {
		h     http.HandlerFunc
		check func(error) bool
	}{
		"503 with Retry-After seconds": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
		}, statusIs(503, func(d time.Duration) bool { return d == 7*time.Second })},
		"429 with Retry-After date": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", retryDate)
			w.WriteHeader(429)
		}, statusIs(429, func(d time.Duration) bool { return d > 80*time.Second && d <= 90*time.Second })},
		"503 with a huge Retry-After": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "99999999999999999999999")
			w.WriteHeader(503)
		}, statusIs(503, func(d time.Duration) bool { return d == MaxRetryAfter })},
		"503 with a bad Retry-After": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "-5")
			w.WriteHeader(503)
		}, statusIs(503, func(d time.Duration) bool { return d == 0 })},
		"404": {func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			statusIs(404, func(d time.Duration) bool { return d == 0 })},
		"short 206 body": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-32767/100000")
			w.WriteHeader(206)
			w.Write(make([]byte, 100))
		}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		"short 200 body": {func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush() // no Content-Length: chunked
			w.Write(make([]byte, 100))
		}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		"200 of the wrong size": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "50000")
			w.Write(make([]byte, 50_000))
		}, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
		"wrong range": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 5-32772/100000")
			w.WriteHeader(206)
			w.Write(make([]byte, 32768))
		}, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
		"wrong file size": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-32767/99999")
			w.WriteHeader(206)
			w.Write(make([]byte, 32768))
		}, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
		"206 without Content-Range": {func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(206)
			w.Write(make([]byte, 32768))
		}, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			_, err := (&Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: info}).ReadPiece(context.Background(), 0, make([]byte, info.PieceLength))
			if !c.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// countingTransport counts the response body bytes its caller reads.
type countingTransport struct {
	rt   http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// An endless body (Range ignored) is read no further than the piece
// needs, and not at all past MaxSkip.
func TestEndlessBody(t *testing.T) {
	info := &metainfo.Info{Name: "f", PieceLength: 32 << 10, Length: 1 << 40}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(1<<40, 10))
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ct := &countingTransport{rt: srv.Client().Transport}
	c := &Client{HTTP: &http.Client{Transport: ct}, URL: srv.URL + "/", Info: info}
	if _, err := c.ReadPiece(context.Background(), 5, make([]byte, info.PieceLength)); err != nil {
		t.Fatal(err)
	}
	if got, want := ct.read.Load(), int64(6*(32<<10)); got != want {
		t.Fatalf("read %d body bytes, want %d", got, want)
	}
	ct.read.Store(0)
	if _, err := c.ReadPiece(context.Background(), 1<<20, make([]byte, info.PieceLength)); !errors.Is(err, ErrNoRange) {
		t.Fatalf("got %v, want ErrNoRange", err)
	}
	if got := ct.read.Load(); got != 0 {
		t.Fatalf("read %d body bytes of a refused response", got)
	}
	// An endless 206 is read only as far as asked.
	srv206 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-32767/1099511627776")
		w.WriteHeader(206)
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	defer srv206.Close()
	ct = &countingTransport{rt: srv206.Client().Transport}
	c = &Client{HTTP: &http.Client{Transport: ct}, URL: srv206.URL + "/", Info: info}
	if _, err := c.ReadPiece(context.Background(), 0, make([]byte, info.PieceLength)); err != nil {
		t.Fatal(err)
	}
	if got := ct.read.Load(); got != 32<<10 {
		t.Fatalf("read %d body bytes of an endless 206, want %d", got, 32<<10)
	}
}

func TestCancel(t *testing.T) {
	info := &metainfo.Info{Name: "f", PieceLength: 32 << 10, Length: 100}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := (&Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: info}).ReadPiece(ctx, 0, make([]byte, 100))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

// Bad requests and hostile infos give ErrInvalid, never a panic or a
// request.
func TestInvalid(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	defer srv.Close()
	good := &metainfo.Info{Name: "f", PieceLength: 100, Length: 250}
	multi := func(name string, path ...string) *metainfo.Info {
		return &metainfo.Info{Name: name, PieceLength: 100, Files: []metainfo.FileInfo{{Length: 10, Path: path}}}
	}
	cases := map[string]struct {
		c     *Client
		piece int
		buf   int
	}{
		"no HTTP client":    {&Client{URL: srv.URL, Info: good}, 0, 100},
		"no info":           {&Client{HTTP: srv.Client(), URL: srv.URL}, 0, 100},
		"file URL":          {&Client{HTTP: srv.Client(), URL: "file:///etc/passwd", Info: good}, 0, 100},
		"ftp URL":           {&Client{HTTP: srv.Client(), URL: "ftp://example.com/f", Info: good}, 0, 100},
		"no host":           {&Client{HTTP: srv.Client(), URL: "http:///f", Info: good}, 0, 100},
		"unparsable URL":    {&Client{HTTP: srv.Client(), URL: "http://[::1", Info: good}, 0, 100},
		"negative piece":    {&Client{HTTP: srv.Client(), URL: srv.URL, Info: good}, -1, 100},
		"piece past end":    {&Client{HTTP: srv.Client(), URL: srv.URL, Info: good}, 3, 100},
		"huge piece":        {&Client{HTTP: srv.Client(), URL: srv.URL, Info: good}, 1 << 62, 100},
		"small buffer":      {&Client{HTTP: srv.Client(), URL: srv.URL, Info: good}, 0, 99},
		"zero piece length": {&Client{HTTP: srv.Client(), URL: srv.URL, Info: &metainfo.Info{Name: "f", Length: 10}}, 0, 100},
		"negative length":   {&Client{HTTP: srv.Client(), URL: srv.URL, Info: &metainfo.Info{Name: "f", PieceLength: 100, Length: -10}}, 0, 100},
		"dotdot element":    {&Client{HTTP: srv.Client(), URL: srv.URL, Info: multi("t", "..", "x")}, 0, 100},
		"empty path":        {&Client{HTTP: srv.Client(), URL: srv.URL, Info: multi("t")}, 0, 100},
		"dot name":          {&Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: &metainfo.Info{Name: ".", PieceLength: 100, Length: 10}}, 0, 100},
		"v2 only": {&Client{HTTP: srv.Client(), URL: srv.URL, Info: &metainfo.Info{Name: "t", PieceLength: 100, MetaVersion: 2, FileTree: metainfo.FileTree{Dir: map[string]metainfo.FileTree{
			"x": {File: metainfo.FileTreeFile{Length: 5}},
		}}}}, 0, 100},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := c.c.ReadPiece(context.Background(), c.piece, make([]byte, c.buf)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests made", n)
	}
}

func TestParseContentRange(t *testing.T) {
	good := map[string][3]int64{
		"bytes 0-99/100":      {0, 99, 100},
		"bytes 5-9/*":         {5, 9, -1},
		"Bytes 0-0/1":         {0, 0, 1},
		"bytes 7-7/999999999": {7, 7, 999999999},
	}
	for h, want := range good {
		s, e, n, err := ParseContentRange(h)
		if err != nil || [3]int64{s, e, n} != want {
			t.Errorf("%q: %d %d %d %v, want %v", h, s, e, n, err, want)
		}
	}
	for _, h := range []string{"", "bytes", "bytes */100", "bytes 9-5/10", "bytes 0-9/9", "bytes -1-2/3", "bytes +1-2/3",
		"bytes 1-2", "bytes 1-2/3/4", "items 0-1/2", "bytes 0-1 /2", " bytes 0-1/2", "bytes 0-99999999999999999999/*", "bytes 0-1/0x10"} {
		if _, _, _, err := ParseContentRange(h); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%q accepted", h)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-9/*", "bytes 9-5/10", "bytes -1-2/3", "bytes 0-0/0", "items 0-1/2",
		"BYTES 1-2/3", "bytes 0-999999999999999999/*", "bytes 1-2/3/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		start, end, size, err := ParseContentRange(h)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("%q: error %v is not ErrBadResponse", h, err)
			}
			return
		}
		if start < 0 || end < start || (size != -1 && size <= end) {
			t.Fatalf("%q parsed as %d-%d/%d", h, start, end, size)
		}
		// Its canonical spelling parses the same.
		canon := "bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10) + "/"
		if size < 0 {
			canon += "*"
		} else {
			canon += strconv.FormatInt(size, 10)
		}
		s2, e2, n2, err := ParseContentRange(canon)
		if err != nil || s2 != start || e2 != end || n2 != size {
			t.Fatalf("%q: canonical %q parses as %d-%d/%d, %v", h, canon, s2, e2, n2, err)
		}
	})
}
