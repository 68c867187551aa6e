package relay

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/andybalholm/brotli"
)

// accepts reads Accept-Encoding as RFC 9110 says: a listed coding with
// q=0 is refused, "*" covers what is not listed.
func TestAccepts(t *testing.T) {
	for _, tc := range []struct {
		header, enc string
		want        bool
	}{
		{"gzip, deflate, br, zstd", "br", true},
		{"gzip, deflate, br, zstd", "gzip", true},
		{"gzip, deflate", "br", false},
		{"", "gzip", false},
		{"br;q=0, gzip", "br", false},
		{"br; q=0.000, gzip", "br", false},
		{"br;q=0.5", "br", true},
		{"BR", "br", true},
		{"*", "br", true},
		{"*;q=0", "br", false},
		{"*, br;q=0", "br", false},
		{"br;q=0, *", "br", false},
		{"brotli", "br", false},
	} {
		if got := accepts(tc.header, tc.enc); got != tc.want {
			t.Errorf("accepts(%q, %q) = %v, want %v", tc.header, tc.enc, got, tc.want)
		}
	}
}

// The relay serves the best copy build.sh made that the browser accepts:
// brotli, then gzip, then the file itself, each typed as the original.
func TestServesPrecompressed(t *testing.T) {
	dir := t.TempDir()
	wasm := bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00"), 1000)
	var gz, br bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(wasm)
	zw.Close()
	bw := brotli.NewWriter(&br)
	bw.Write(wasm)
	bw.Close()
	for name, b := range map[string][]byte{"p.wasm": wasm, "p.wasm.gz": gz.Bytes(), "p.wasm.br": br.Bytes(), "g.wasm": wasm, "g.wasm.gz": gz.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := http.FileServer(http.Dir(dir))
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !serveCompressed(w, req, dir) {
			files.ServeHTTP(w, req)
		}
	})
	for _, tc := range []struct{ path, accept, wantEncoding string }{
		{"/p.wasm", "gzip, deflate, br, zstd", "br"},
		{"/p.wasm", "gzip", "gzip"},
		{"/p.wasm", "br;q=0, gzip", "gzip"},
		{"/p.wasm", "", ""},
		{"/g.wasm", "gzip, br", "gzip"}, // no .br made: the gzip copy
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		if enc := res.Header.Get("Content-Encoding"); enc != tc.wantEncoding {
			t.Fatalf("%s with %q: Content-Encoding %q, want %q", tc.path, tc.accept, enc, tc.wantEncoding)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/wasm" {
			t.Fatalf("%s with %q: Content-Type %q", tc.path, tc.accept, ct)
		}
		var body io.Reader = res.Body
		switch tc.wantEncoding {
		case "br":
			body = brotli.NewReader(res.Body)
		case "gzip":
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		got, err := io.ReadAll(body)
		if err != nil || !bytes.Equal(got, wasm) {
			t.Fatalf("%s with %q: %d bytes decoded (%v), want the wasm's %d", tc.path, tc.accept, len(got), err, len(wasm))
		}
	}
}
