//go:build js

package rtc

import (
	"io"
	"testing"
)

// BenchmarkJSOneWay streams 4 MiB a round one way over a data channel
// between two peer connections in one page (BenchmarkInChromium runs it):
// the browser backend's own data path, writes of 64 KiB.
func BenchmarkJSOneWay(b *testing.B) {
	a, c := pair(b, Config{})
	defer a.Close()
	defer c.Close()
	const size, chunk = 4 << 20, 64 << 10
	data := make([]byte, chunk)
	got := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		errc := make(chan error, 1)
		go func() {
			for n := 0; n < size; n += chunk {
				if _, err := a.Write(data); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
