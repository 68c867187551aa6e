package webseed

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// content writes files under root/name and returns the torrent's info.
func content(t *testing.T, root, name string, files map[string]int) *metainfo.Info {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for p, n := range files {
		full := filepath.Join(root, name, p)
		if len(files) == 1 && p == "" {
			full = filepath.Join(root, name)
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
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

func checkAllPieces(t *testing.T, c *Client) {
	t.Helper()
	buf := make([]byte, c.Info.PieceLength)
	for i := range c.Info.NumPieces() {
		b, err := c.ReadPiece(context.Background(), i, buf)
		if err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if h := sha1.Sum(b); !bytes.Equal(h[:], c.Info.Pieces[i*20:i*20+20]) {
			t.Fatalf("piece %d does not hash right", i)
		}
	}
}

func TestSingleAndMultiFile(t *testing.T) {
	root := t.TempDir()
	single := content(t, root, "movie file #1?.bin", map[string]int{"": 200_000})
	multi := content(t, root, "album é", map[string]int{"a b.txt": 5, "sub/c#d": 100_000, "sub/e?.bin": 70_001})
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	checkAllPieces(t, &Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: single})
	checkAllPieces(t, &Client{HTTP: srv.Client(), URL: srv.URL + "/" + "movie%20file%20%231%3F.bin", Info: single})
	checkAllPieces(t, &Client{HTTP: srv.Client(), URL: srv.URL, Info: multi})
}

func TestServerIgnoringRange(t *testing.T) {
	root := t.TempDir()
	info := content(t, root, "f.bin", map[string]int{"": 100_000})
	data, _ := os.ReadFile(filepath.Join(root, "f.bin"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(data) // 200, whole file
	}))
	defer srv.Close()
	checkAllPieces(t, &Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: info})
}

func TestErrors(t *testing.T) {
	root := t.TempDir()
	info := content(t, root, "f.bin", map[string]int{"": 100_000})
	cases := map[string]struct {
		h     http.HandlerFunc
		check func(error) bool
	}{
		"503 with Retry-After": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
		}, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == 503 && se.RetryAfter == 7*time.Second
		}},
		"404": {func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == 404
		}},
		"short body": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-32767/100000")
			w.WriteHeader(206)
			w.Write(make([]byte, 100))
		}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		"wrong range": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 5-32772/100000")
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

// An endless body is read no further than the piece needs.
func TestEndlessBody(t *testing.T) {
	info := &metainfo.Info{Name: "f", PieceLength: 32 << 10, Length: 1 << 40, Pieces: make([]byte, 20*(1<<40)/(32<<10))}
	var served int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for {
			n, err := w.Write(buf) // 200, never ending, Range ignored
			served += int64(n)
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := &Client{HTTP: srv.Client(), URL: srv.URL + "/", Info: info}
	if _, err := c.ReadPiece(context.Background(), 1, make([]byte, info.PieceLength)); err != nil {
		t.Fatal(err)
	}
	// Far into the file: refused rather than read through.
	if _, err := c.ReadPiece(context.Background(), 1<<20, make([]byte, info.PieceLength)); !errors.Is(err, ErrNoRange) {
		t.Fatalf("got %v, want ErrNoRange", err)
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-9/*", "bytes 9-5/10", "bytes -1-2/3", "bytes 0-0/0", "items 0-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		start, end, err := ParseContentRange(h)
		if err == nil && (start < 0 || end < start) {
			t.Fatalf("%q parsed as %d-%d", h, start, end)
		}
	})
}
