package wasmbuild

import (
	"bytes"

	"github.com/andybalholm/brotli"
)

// Brotli returns raw compressed as the relay serves it to browsers that accept br (Content-Encoding: br): at
// brotli's highest quality (11) and a 16 MiB window. The wasm is compressed once, at build time, and
// downloaded by every page: for the embed build 1.99 MB against 2.75 MB for gzip -9, in about 37 s of one core
// (quality 10: 2.03 MB in 21 s; docs/wasm-size.md).
func Brotli(raw []byte) []byte { return BrotliAt(raw, brotli.BestCompression) }

// BrotliAt is Brotli at another quality (0 to 11): the browser tests use the fastest, 0.13 s for 11 MB.
func BrotliAt(raw []byte, quality int) []byte {
	var b bytes.Buffer
	w := brotli.NewWriterOptions(&b, brotli.WriterOptions{Quality: quality, LGWin: 24})
	w.Write(raw) // a bytes.Buffer does not fail
	w.Close()
	return b.Bytes()
}
