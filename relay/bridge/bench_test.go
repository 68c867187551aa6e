package bridge_test

// BenchmarkBridge downloads the same torrent from the same btspeed seed
// (loopback TCP, in memory) side by side in one run:
//
//	direct            the downloader dials the seed over TCP
//	bridge-websocket  through the bridge: WebSocket to the relay, TCP on
//	bridge-webrtc     through the bridge: a WebRTC data channel to the
//	                  relay, TCP on
//	direct-webrtc     a data channel straight to the same seed (what the
//	                  WebRTC transport costs by itself, bridge or not)
//
// The bridge's per-connection cap (32 MiB/s by default, an operator
// setting) is lifted here so the figures show the bridge's own cost.
// Reported: MB/s of payload and, for the bridged runs, ratio-to-direct
// (from the direct run of the same invocation). Run with
// ./build.sh bench bridge, or:
//
//	go test ./relay/bridge -run '^$' -bench Bridge -benchtime 1x

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/relay/bridge"
)

var benchSize = flag.Int64("bridge.size", 256<<20, "bytes BenchmarkBridge moves per download")

// BenchmarkBridge: see the top of this file.
func BenchmarkBridge(b *testing.B) {
	data := make([]byte, *benchSize)
	rand.Read(data)
	infoBytes, ih := benchInfo(b, data)

	seed, err := engine.New(engine.Config{UploadSlots: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer seed.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go seed.Serve(ln)
	seedAddr := netip.MustParseAddrPort(ln.Addr().String())
	seedFromMemory(b, seed, ih, infoBytes, data)

	br := bridge.New(bridge.Config{
		Discovered:     func(h [20]byte, a netip.AddrPort) bool { return h == ih && a == seedAddr },
		AllowPrivate:   true,
		BytesPerSecond: 1 << 40,
		RTC:            rtctest.Loopback(),
	})
	defer br.Close()
	srv := httptest.NewServer(br)
	defer srv.Close()
	bb := &bridgeBench{ih: ih, infoBytes: infoBytes, size: len(data), seedAddr: seedAddr, relay: srv.URL}

	var direct float64
	// A first download warms the seed (its storage, buffers, the
	// runtime) so the first measured run is not penalised.
	bb.download(b, nil, engine.TorrentSpec{Peers: []string{seedAddr.String()}})
	b.Run("direct", func(b *testing.B) {
		for range b.N {
			direct = bb.download(b, nil, engine.TorrentSpec{Peers: []string{seedAddr.String()}})
		}
	})
	var directRTC float64
	b.Run("direct-webrtc", func(b *testing.B) {
		for range b.N {
			directRTC = bb.download(b, func(ctx context.Context, cl *engine.Client) error {
				a, c := rtcPair(b)
				go seed.AddConn(ctx, a, ih)
				return cl.AddConn(ctx, c, ih)
			}, engine.TorrentSpec{})
			b.ReportMetric(directRTC/direct, "ratio-to-direct")
		}
	})
	for _, tr := range []string{relaybridge.WebSocket, relaybridge.WebRTC} {
		b.Run("bridge-"+tr, func(b *testing.B) {
			for range b.N {
				if mbs := bb.download(b, bb.bridged(tr), engine.TorrentSpec{}); direct > 0 {
					b.ReportMetric(mbs/direct, "ratio-to-direct")
					if tr == relaybridge.WebRTC && directRTC > 0 {
						b.ReportMetric(mbs/directRTC, "ratio-to-direct-webrtc")
					}
				}
			}
		})
	}
}

// benchInfo is the bencoded info of a one-file torrent of data in 1 MiB
// pieces, and its info hash.
func benchInfo(b *testing.B, data []byte) ([]byte, metainfo.Hash) {
	info := metainfo.Info{Name: "bench.bin", PieceLength: 1 << 20, Length: int64(len(data))}
	if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}); err != nil {
		b.Fatal(err)
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		b.Fatal(err)
	}
	return infoBytes, metainfo.HashBytes(infoBytes)
}

// seedFromMemory has seed seed torrent ih, data held in memory, and waits
// until it has checked every piece.
func seedFromMemory(b *testing.B, seed *engine.Client, ih metainfo.Hash, infoBytes, data []byte) {
	st, err := seed.AddTorrent(engine.TorrentSpec{InfoHash: ih, InfoBytes: infoBytes, Check: true,
		Storage: func(i *metainfo.Info) (engine.Storage, error) {
			m, err := storage.NewMemory(i, 1<<32)
			if err == nil {
				_, err = m.WriteAt(data, 0)
			}
			return m, err
		}})
	if err != nil {
		b.Fatal(err)
	}
	<-st.Complete()
}

// bridgeBench is what BenchmarkBridge's downloads share: the torrent (ih,
// infoBytes, size bytes), the seed's address and the relay's bridge URL.
type bridgeBench struct {
	ih        metainfo.Hash
	infoBytes []byte
	size      int
	seedAddr  netip.AddrPort
	relay     string
}

// download downloads the torrent with a new client (spec says where the
// peers are; connect, when set, adds a connection), reports its MB/s and
// returns it.
func (bb *bridgeBench) download(b *testing.B, connect func(ctx context.Context, cl *engine.Client) error, spec engine.TorrentSpec) float64 {
	cl, err := engine.New(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	spec.InfoHash, spec.InfoBytes = bb.ih, bb.infoBytes
	spec.Storage = func(i *metainfo.Info) (engine.Storage, error) { return storage.NewMemory(i, 1<<32) }
	start := time.Now()
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		b.Fatal(err)
	}
	if connect != nil {
		if err := connect(context.Background(), cl); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-tor.Complete():
	case <-time.After(10 * time.Minute):
		b.Fatalf("incomplete: %+v", tor.Stats())
	}
	mbs := float64(bb.size) / time.Since(start).Seconds() / 1e6
	b.ReportMetric(mbs, "MB/s")
	return mbs
}

// bridged connects a client to the seed through the relay's bridge, over
// transport, the relay dialling the seed by TCP.
func (bb *bridgeBench) bridged(transport string) func(ctx context.Context, cl *engine.Client) error {
	return func(ctx context.Context, cl *engine.Client) error {
		c, err := relaybridge.Dial(ctx, relaybridge.Config{Relay: bb.relay, RTC: rtctest.Loopback()}, transport, bb.ih, bb.seedAddr.String(), "tcp")
		if err != nil {
			return err
		}
		return cl.AddConn(ctx, c, bb.ih)
	}
}

// rtcPair opens a data channel between two peer connections in this
// process.
func rtcPair(b *testing.B) (net.Conn, net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, err := rtc.NewOffer(ctx, rtctest.Loopback())
	if err != nil {
		b.Fatal(err)
	}
	a, err := rtc.NewAnswer(ctx, rtctest.Loopback(), o.Local)
	if err != nil {
		b.Fatal(err)
	}
	if err := o.Accept(a.Local); err != nil {
		b.Fatal(err)
	}
	done := make(chan *rtc.Conn, 1)
	go func() { c, _ := a.Connect(ctx); done <- c }()
	oc, err := o.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ac := <-done
	if ac == nil {
		b.Fatal("answerer did not connect")
	}
	return oc, ac
}
