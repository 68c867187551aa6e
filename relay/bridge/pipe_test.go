package bridge

import (
	"context"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// The bridge paces each direction at BytesPerSecond, however long the
// connection sat idle first: 4 MiB at 1 MiB/s takes about 4 s of the
// bubble's clock (less the first burst, an eighth of a second's worth),
// after 10 s of silence as on a fresh connection. The old pacing, which
// counted from the connection's start, let the first 10 MiB after such a
// wait through at once.
func TestCopyPacesAfterIdle(t *testing.T) {
	const perSecond, size = 1 << 20, 4 << 20
	for _, idle := range []time.Duration{0, 10 * time.Second} {
		synctest.Test(t, func(t *testing.T) {
			b := New(Config{BytesPerSecond: perSecond})
			defer b.Close()
			src, in := net.Pipe()
			out, dst := net.Pipe()
			done := make(chan struct{})
			go func() { b.copy(context.Background(), dst, src, b.limiter()); dst.Close(); close(done) }()
			got := make(chan int64, 1)
			go func() { n, _ := io.Copy(io.Discard, out); got <- n }()
			time.Sleep(idle)
			start := time.Now()
			go func() { in.Write(make([]byte, size)); in.Close() }()
			n := <-got
			took := time.Since(start)
			<-done
			if n != size {
				t.Fatalf("copied %d bytes, want %d", n, size)
			}
			min := time.Duration(float64(size-perSecond/8) / perSecond * float64(time.Second))
			if took < min || took > min+time.Second {
				t.Errorf("after %v idle, %d bytes at %d B/s took %v of the bubble's clock, want %v..%v", idle, size, perSecond, took, min, min+time.Second)
			}
			if st := b.Stats(); st.Bytes != size {
				t.Errorf("the bridge counted %d bytes, want %d", st.Bytes, size)
			}
		})
	}
}

// A copy stops when its context ends, even while it waits for the pace.
func TestCopyStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Config{BytesPerSecond: 1 << 10})
		defer b.Close()
		src, in := net.Pipe()
		out, dst := net.Pipe()
		defer in.Close()
		defer out.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { b.copy(ctx, dst, src, b.limiter()); close(done) }()
		go io.Copy(io.Discard, out)
		go in.Write(make([]byte, 1<<20)) // about 17 minutes' worth at 1 KiB/s
		time.Sleep(5 * time.Second)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the copy ended before its context")
		default:
		}
		cancel()
		<-done
	})
}
