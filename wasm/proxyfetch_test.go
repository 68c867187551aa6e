//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/provider"
	"github.com/btspeed/btspeed/shared/wallet"
)

// proxyRate is the test relay's proxy price: 1 BTT per MiB, one base unit
// a byte.
const proxyRate = 1 << 20

// startProxyRelay is startRelay with the paid proxy on, paid to a new key;
// loopback origins are allowed when loopback is set (tests only).
func startProxyRelay(t *testing.T, web string, loopback bool) (url string, op wallet.Address) {
	t.Helper()
	key, _ := wallet.GenerateKey()
	url = startRelayWith(t, "127.0.0.1:0", web, rtc.Config{}, func(c *relay.Config) {
		c.Key = key
		c.Proxy = relay.ProxyConfig{Listen: "127.0.0.1:0", Provider: provider.Config{Rate: proxyRate, AllowLoopback: loopback}}
	})
	return url, key.Address()
}

// cutter forwards TCP connections to target and cuts the first one that
// opens the relay's proxy WebSocket once after bytes came back through it:
// a connection dropped in the middle of a chunk.
type cutter struct {
	ln     net.Listener
	target string
	after  int64
	cut    atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startCutter(t *testing.T, target string, after int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, after: after}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() { defer c.wg.Done(); c.forward(nc) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		c.mu.Lock()
		for _, nc := range c.conns {
			nc.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

func (c *cutter) track(ncs ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns = append(c.conns, ncs...)
}

func (c *cutter) forward(in net.Conn) {
	defer in.Close()
	out, err := net.Dial("tcp", c.target)
	if err != nil {
		return
	}
	defer out.Close()
	c.track(in, out)
	br := bufio.NewReader(in)
	first, err := br.Peek(len("GET /proxy/ws"))
	if err != nil {
		return
	}
	cutThis := string(first) == "GET /proxy/ws" && c.cut.CompareAndSwap(false, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(out, br)
		out.Close()
	}()
	if cutThis {
		io.CopyN(in, out, c.after)
		in.Close() // cut: the browser sees its WebSocket drop
	} else {
		io.Copy(in, out)
	}
	in.Close()
	<-done
}

// client.fetch in a real Chromium through a real relay's paid proxy and
// its real ledger: a page fetches a file from a local HTTP server, its
// WebSocket to the proxy is cut in the middle of the second chunk, and the
// fetch resumes from that chunk on a new connection within the same page:
// the bytes are the origin's (SHA-256), and what the page paid equals the
// chunks' price. Fetched again as a ReadableStream read slower than it
// comes, the bytes and the price are the same; the relay's account was paid
// both on the ledger through channels of service "proxy". A relay with the default settings
// refuses a loopback URL with a code and words saying why. A file over
// maxLength is refused with a code.
func TestBrowserProxyFetch(t *testing.T) {
	browsertest.Require(t)
	web := webDir(t)
	relayURL, op := startProxyRelay(t, web, true)
	data := make([]byte, 3*proxy.DefaultChunk+1000)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, req, "data.bin", time.Unix(1_700_000_000, 0), bytes.NewReader(data))
	}))
	defer origin.Close()
	sum := sha256.Sum256(data)
	var want uint64
	for off := 0; off < len(data); off += proxy.DefaultChunk {
		want += speed.Price(proxyRate, uint64(min(proxy.DefaultChunk, len(data)-off)))
	}
	// Cut after a chunk and a half came back: chunk 0 is paid, chunk 1 is not.
	cutURL := startCutter(t, strings.TrimPrefix(relayURL, "http://"), proxy.DefaultChunk*3/2)

	b := browsertest.Start(t, nil)
	p := b.NewPage(t, relayURL+"/blank.html")
	var got struct {
		Hash, Paid, ContentType    string
		TooLarge, StreamHash       string
		StreamPaid                 string
		StreamLength, StreamChunks uint64
		Chunks, Length, BlobBytes  uint64
		Resumed                    int
		Progress                   []uint64
	}
	p.Eval(t, `(async () => {
		const c = await BTSpeed.start({relay: `+jsString(cutURL)+`})
		await c.wallet.create('correct horse battery')
		await c.wallet.faucet({})
		const progress = []
		const res = await c.fetch(`+jsString(origin.URL+"/data.bin")+`, {maxPrice: '2000', budget: '5', onProgress: p => progress.push(p.received)})
		const buf = await res.blob.arrayBuffer()
		// Streamed: read a chunk at a time, slower than it could come.
		const st = await c.fetch(`+jsString(origin.URL+"/data.bin")+`, {maxPrice: '2000', budget: '5', stream: true})
		const reader = st.stream.getReader()
		const parts = []
		for (;;) {
			const {value, done} = await reader.read()
			if (done) break
			parts.push(value)
			await new Promise(r => setTimeout(r, 20))
		}
		const streamed = await st.done
		const sbuf = await new Blob(parts).arrayBuffer()
		let tooLarge = ''
		try { await c.fetch(`+jsString(origin.URL+"/data.bin")+`, {maxPrice: '2000', budget: '5', maxLength: 1000}) } catch (e) { tooLarge = e.code }
		return {hash: await `+sha256JS("buf")+`, paid: res.paid, chunks: res.chunks, length: res.length, blobBytes: buf.byteLength,
			resumed: res.resumed, contentType: res.contentType, progress, tooLarge,
			streamHash: await `+sha256JS("sbuf")+`, streamLength: st.length, streamPaid: streamed.paid, streamChunks: streamed.chunks}
	})()`, &got)
	if got.Hash != hex.EncodeToString(sum[:]) || got.BlobBytes != uint64(len(data)) || got.Length != uint64(len(data)) {
		t.Fatalf("fetched %d bytes (length %d), hash %s; want %d bytes, hash %x", got.BlobBytes, got.Length, got.Hash, len(data), sum)
	}
	if got.Resumed < 1 || got.Chunks != 4 || got.Paid != speed.FormatBTT(want) {
		t.Fatalf("resumed %d times, %d chunks for %s BTT; want a resume, 4 chunks for %s BTT", got.Resumed, got.Chunks, got.Paid, speed.FormatBTT(want))
	}
	if len(got.Progress) != 4 || got.Progress[3] != uint64(len(data)) || got.TooLarge != "too_large" {
		t.Fatalf("progress %v; over maxLength: %q", got.Progress, got.TooLarge)
	}
	if got.StreamHash != got.Hash || got.StreamLength != uint64(len(data)) || got.StreamChunks != 4 || got.StreamPaid != got.Paid {
		t.Fatalf("streamed: hash %s, length %d, %d chunks for %s BTT", got.StreamHash, got.StreamLength, got.StreamChunks, got.StreamPaid)
	}
	t.Logf("fetched %d bytes in %d chunks, resumed %d times, paid %s BTT; and again as a stream", got.Length, got.Chunks, got.Resumed, got.Paid)
	if paid := payouts(t, client.New(relayURL+"/ledger", nil), op, speed.ServiceProxy, 2*want); paid != 2*want {
		t.Fatalf("the relay was paid %d base units through proxy channels, want %d (two fetches)", paid, 2*want)
	}

	refusesLoopback(t, b, web, origin.URL+"/data.bin")
}

// refusesLoopback checks that a relay with the proxy's default settings
// refuses a loopback URL, with a code and words saying why.
func refusesLoopback(t *testing.T, b *browsertest.Browser, web, loopbackURL string) {
	strictURL, _ := startProxyRelay(t, web, false)
	strict := b.NewPage(t, strictURL+"/blank.html")
	var refused struct{ Code, Message string }
	strict.Eval(t, `(async () => {
		const c = await BTSpeed.start({relay: location.origin})
		await c.wallet.create('correct horse battery')
		try { await c.fetch(`+jsString(loopbackURL)+`, {maxPrice: '2000', budget: '1'}); return {code: 'fetched'} }
		catch (e) { return {code: e.code, message: e.message} }
	})()`, &refused)
	if refused.Code != "forbidden_destination" || !strings.Contains(refused.Message, "only fetches from the public Internet") {
		t.Fatalf("a loopback URL with the default settings: %+v", refused)
	}
}

// payouts waits until the channels of service paid to op on the ledger
// add up to want (a provider closes each channel when it is used up or its
// connection ends), and returns what they paid. The ledger has no event
// for it: the history is read every 200 ms, for up to 30 s.
func payouts(t *testing.T, lc *client.Client, op wallet.Address, service string, want uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		es, err := lc.History(context.Background(), op, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var paid uint64
		for _, e := range es {
			if e.Service == service && e.Kind == "channel-payout" {
				paid += uint64(e.Credit)
			}
		}
		if paid >= want {
			return paid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s channels paid %d base units to the provider after 30 s, want %d", service, paid, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
