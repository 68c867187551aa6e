package bridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/relay/bridge"
	"github.com/btspeed/btspeed/relay/tracker"
	"github.com/gorilla/websocket"
)

// A browser-like peer (engine/relaybridge, the code the browser runs)
// downloads from a Transmission seed through the bridge, over a WebRTC data
// channel (the relay dialling Transmission by TCP, then by uTP) and over
// the WebSocket fallback: Transmission announced itself to the relay's
// tracker, so its address counts as discovered; every byte verified. An
// address nobody announced is refused, and nothing is dialled.
func TestBridgeToTransmission(t *testing.T) {
	btclientstest.Require(t, "transmission-daemon", "transmission-create")
	tr := tracker.New(tracker.Config{})
	trSrv := httptest.NewServer(tr)
	defer trSrv.Close()
	defer tr.Close()

	dir := t.TempDir()
	data := btclientstest.WriteRandomFile(t, filepath.Join(dir, "b.bin"), 3<<20+17, 41)
	torrentFile, ih := btclientstest.MakeTorrent(t, filepath.Join(dir, "b.bin"), 64, trSrv.URL+"/announce")
	ts := btclientstest.StartTransmission(t)
	ts.Add(t, torrentFile, dir)
	ts.WaitSeeding(t, ih, 30*time.Second)
	seedAddr := netip.MustParseAddrPort(ts.PeerAddr())
	deadline := time.Now().Add(30 * time.Second)
	for !tr.Knows(ih, seedAddr) {
		if time.Now().After(deadline) {
			t.Fatalf("Transmission never announced %s to the relay's tracker (%+v)", seedAddr, tr.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ transport, network string }{
		{relaybridge.WebRTC, "tcp"},
		{relaybridge.WebRTC, "utp"},
		{relaybridge.WebSocket, "tcp"},
	} {
		t.Run(c.transport+"-"+c.network, func(t *testing.T) {
			br, url, dials := loopbackBridge(t, tr, c.network)
			rb := relaybridge.Config{Relay: url, RTC: rtctest.Loopback()}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// Not discovered: refused before any dial.
			_, err := relaybridge.Dial(ctx, rb, c.transport, ih, "127.0.0.1:6999", c.network)
			var refused *relaybridge.RefusedError
			if c.transport == relaybridge.WebRTC && (!errors.As(err, &refused) || refused.Status != http.StatusForbidden) {
				t.Fatalf("undiscovered address: %v", err)
			}
			if err == nil {
				t.Fatal("undiscovered address bridged")
			}
			if n := br.Stats().Refused; n != 1 || *dials != 0 {
				t.Fatalf("refusals %d, dials %d", n, *dials)
			}

			conn, err := relaybridge.Dial(ctx, rb, c.transport, ih, seedAddr.String(), c.network)
			if err != nil {
				t.Fatal(err)
			}
			tor := downloadOverConn(t, ctx, conn, mi, data)
			if conns := tor.Stats().Connections; conns[c.transport] != 1 {
				t.Fatalf("connections %v, want one over the bridge's %s", conns, c.transport)
			}
			if bridged := br.Stats().Bytes; bridged < uint64(len(data)) {
				t.Fatalf("bridge piped %d bytes", bridged)
			}
			if *dials != 1 {
				t.Fatalf("%d dials", *dials)
			}
		})
	}
}

// loopbackBridge serves a bridge to the peers tr has seen, dialling from
// a loopback address of its own (Transmission will not take a second
// download from an address it saw finish), over network ("tcp" or "utp");
// both close when t ends. It returns the bridge, its URL and how many
// dials it made.
func loopbackBridge(t *testing.T, tr *tracker.Server, network string) (*bridge.Bridge, string, *int) {
	t.Helper()
	local := netip.MustParseAddr(btclientstest.LoopbackIP(t))
	dials := new(int)
	cfg := bridge.Config{
		Discovered:   tr.Knows,
		AllowPrivate: true, // everything here is on loopback
		RTC:          rtctest.Loopback(),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			*dials++
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IP(local.AsSlice())}}
			return d.DialContext(ctx, network, addr)
		},
	}
	if network == "utp" {
		sock, err := engine.ListenUTP(netip.AddrPortFrom(local, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sock.Close() })
		cfg.DialUTP = func(ctx context.Context, addr string) (net.Conn, error) {
			*dials++
			tp := sock.Transport()
			return tp.Dialer.DialContext(ctx, tp.Network, addr)
		}
	}
	br := bridge.New(cfg)
	t.Cleanup(func() { br.Close() })
	srv := httptest.NewServer(br)
	t.Cleanup(srv.Close)
	return br, srv.URL, dials
}

// downloadOverConn downloads mi with a new engine over conn alone, and
// checks the file is data; the engine closes when t ends.
func downloadOverConn(t *testing.T, ctx context.Context, conn net.Conn, mi *metainfo.MetaInfo, data []byte) *engine.Torrent {
	t.Helper()
	cl, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ih := mi.HashInfoBytes()
	spec := engine.SpecFromMetaInfo(mi)
	spec.Trackers = nil
	out := t.TempDir()
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(out, info) }
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.AddConn(ctx, conn, ih); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete():
	case <-time.After(60 * time.Second):
		t.Fatalf("download through the bridge incomplete: %+v", tor.Stats())
	}
	got, err := os.ReadFile(filepath.Join(out, "b.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs (%v)", err)
	}
	return tor
}

// A handshake for another torrent is cut off.
func TestBridgeChecksTheHandshake(t *testing.T) {
	var ih [20]byte
	ih[0] = 1
	br := bridge.New(bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }, AllowPrivate: true})
	srv := httptest.NewServer(br)
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"?info_hash="+strings.Repeat("01", 20)+"&peer=127.0.0.1:6999", nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := append([]byte("\x13BitTorrent protocol"), make([]byte, 48)...) // names the zero info hash
	ws.WriteMessage(websocket.BinaryMessage, hs)
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("a handshake for another torrent was bridged")
	}
	// Public-only by default.
	strict := bridge.New(bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }})
	if err := strict.Check(ih, netip.MustParseAddrPort("127.0.0.1:6881")); err == nil {
		t.Fatal("loopback allowed without AllowPrivate")
	}
	if err := strict.Check(ih, netip.MustParseAddrPort("192.168.1.2:6881")); err == nil {
		t.Fatal("a private address allowed without AllowPrivate")
	}
	if err := strict.Check(ih, netip.MustParseAddrPort("8.8.8.8:6881")); err != nil {
		t.Fatalf("a public discovered address refused: %v", err)
	}
	// Ports below 1024 only with AllowLowPorts.
	for _, port := range []uint16{25, 80, 443, 1023} {
		if err := strict.Check(ih, netip.AddrPortFrom(netip.MustParseAddr("8.8.8.8"), port)); !errors.Is(err, bridge.ErrLowPort) {
			t.Fatalf("port %d: %v", port, err)
		}
	}
	low := bridge.New(bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }, AllowLowPorts: true})
	if err := low.Check(ih, netip.MustParseAddrPort("8.8.8.8:80")); err != nil {
		t.Fatalf("port 80 with AllowLowPorts: %v", err)
	}
	if st := br.Stats(); st.ClientHandshakesRefused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// fakePeer accepts one connection on loopback, reads the bridge's
// handshake, then behaves as act says; what it received in all comes back
// on the channel when the connection ends.
func fakePeer(t *testing.T, act func(c net.Conn)) (netip.AddrPort, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		rec := &recorder{Conn: c}
		act(rec)
		io.Copy(io.Discard, rec)
		got <- rec.buf.Bytes()
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), got
}

// recorder keeps what is read from a connection.
type recorder struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func testHandshake(ih [20]byte) []byte {
	hs := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
	return append(append(hs, ih[:]...), "-TT0001-bridgetest01"...)
}

// dialBridge opens a WebSocket bridge to peer for ih.
func dialBridge(t *testing.T, srv *httptest.Server, ih [20]byte, peer netip.AddrPort) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"?info_hash="+hex.EncodeToString(ih[:])+"&peer="+peer.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// openBridge serves a bridge with cfg, dials it for peer and torrent ih,
// and sends first as the client's first message; reads time out after 30 s.
// Both close when the test ends.
func openBridge(t *testing.T, cfg bridge.Config, ih [20]byte, peer netip.AddrPort, first []byte) (*bridge.Bridge, *websocket.Conn) {
	t.Helper()
	br := bridge.New(cfg)
	t.Cleanup(func() { br.Close() })
	srv := httptest.NewServer(br)
	t.Cleanup(srv.Close)
	ws := dialBridge(t, srv, ih, peer)
	ws.WriteMessage(websocket.BinaryMessage, first)
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	return br, ws
}

// A client sends its handshake and at once a command of another protocol;
// the bridge hands the peer the handshake alone, and the rest only once the
// peer has answered with a BitTorrent handshake for the same torrent.
// Peers that answer anything else, or nothing in time, get nothing more,
// and the client gets nothing of theirs.
func TestBridgeWaitsForThePeersHandshake(t *testing.T) {
	var ih, other [20]byte
	rand.Read(ih[:])
	other = ih
	other[19] ^= 1
	hs := testHandshake(ih)
	command := []byte("HELO x\r\nQUIT\r\n")
	for _, c := range []struct {
		name string
		act  func(c net.Conn)
	}{
		{"banner", func(c net.Conn) { c.Write([]byte(strings.Repeat("220 mail.example.org ESMTP ", 4) + "\r\n")) }},
		{"short banner", func(c net.Conn) { c.Write([]byte("220 hi\r\n")) }},
		{"silent", func(c net.Conn) {}},
		{"half a handshake", func(c net.Conn) { c.Write(testHandshake(ih)[:40]) }},
		{"another torrent", func(c net.Conn) { c.Write(testHandshake(other)) }},
		{"handshake after a banner", func(c net.Conn) { c.Write(append([]byte("+OK\r\n"), testHandshake(ih)...)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			peer, got := fakePeer(t, c.act)
			br, ws := openBridge(t, bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }, AllowPrivate: true,
				HandshakeTimeout: 500 * time.Millisecond}, ih, peer, append(append([]byte(nil), hs...), command...))
			var back []byte
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					break
				}
				back = append(back, m...)
			}
			ws.Close()
			if b := <-got; len(b) > len(hs) || !bytes.Equal(b, hs[:len(b)]) {
				t.Errorf("the peer received %q; want at most the handshake", b)
			}
			if len(back) > 0 {
				t.Errorf("the client received %q", back)
			}
			if st := br.Stats(); st.PeerHandshakesRefused != 1 || st.Bytes != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	t.Run("bittorrent", func(t *testing.T) { bridgePassesABitTorrentPeer(t, ih, hs, command) })
}

// bridgePassesABitTorrentPeer has a peer answer the client's handshake
// (hs, for torrent ih, sent with command) with its own: the bridge then
// passes everything both ways.
func bridgePassesABitTorrentPeer(t *testing.T, ih [20]byte, hs, command []byte) {
	peer, got := fakePeer(t, func(c net.Conn) {
		io.ReadFull(c, make([]byte, 68))
		c.Write(append(testHandshake(ih), "after"...))
		io.ReadFull(c, make([]byte, len(command)))
	})
	br, ws := openBridge(t, bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return true }, AllowPrivate: true},
		ih, peer, append(append([]byte(nil), hs...), command...))
	var back []byte
	for len(back) < 68+len("after") {
		_, m, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %q: %v", back, err)
		}
		back = append(back, m...)
	}
	if want := append(testHandshake(ih), "after"...); !bytes.Equal(back, want) {
		t.Errorf("the client received %q, want %q", back, want)
	}
	ws.Close()
	if b, want := <-got, append(append([]byte(nil), hs...), command...); !bytes.Equal(b, want) {
		t.Errorf("the peer received %q, want %q", b, want)
	}
	if st := br.Stats(); st.PeerHandshakesRefused != 0 || st.ClientHandshakesRefused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// clock is a settable clock for the rates.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// byHeader tells clients apart by a header, as a trusted proxy would.
func byHeader(r *http.Request) netip.Addr {
	a, _ := netip.ParseAddr(r.Header.Get("X-Client"))
	return a
}

func status(t *testing.T, h http.Handler, target, client string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Client", client)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// /bridge/peers costs 1 plus 1 per tracker URL (at most 9) of a client's
// bucket, which refills at PeersRate with bursts of a minute's worth; a
// client over it gets 429 with Retry-After, others are served; IPv6
// clients count by /64. Bridged connections have their own rate.
func TestBridgeRates(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	br := bridge.New(bridge.Config{Discovered: func([20]byte, netip.AddrPort) bool { return false }, ClientAddr: byHeader,
		PeersRate: 1, ConnectRate: 1, Now: clk.Now})
	defer br.Close()
	peers := http.HandlerFunc(br.ServePeers)
	list := "/bridge/peers?info_hash=" + strings.Repeat("ab", 20)
	for i := range 60 {
		if w := status(t, peers, list, "2001:db8::1"); w.Code != http.StatusOK {
			t.Fatalf("call %d: %d", i, w.Code)
		}
	}
	w := status(t, peers, list, "2001:db8::2") // the same /64
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("61st call from the /64: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if w := status(t, peers, list, "2001:db8:0:1::1"); w.Code != http.StatusOK {
		t.Fatalf("another /64: %d", w.Code)
	}
	clk.now = clk.now.Add(time.Second)
	if w := status(t, peers, list, "2001:db8::1"); w.Code != http.StatusOK {
		t.Fatalf("a second later: %d", w.Code)
	}
	// Tracker URLs cost: 16 given, 8 charged, 9 in all.
	withTrackers := list + strings.Repeat("&tr=udp%3A%2F%2Ftracker.example%3A6969", 16)
	for i := range 6 {
		if w := status(t, peers, withTrackers, "203.0.113.7"); w.Code != http.StatusOK {
			t.Fatalf("call %d with trackers: %d", i, w.Code)
		}
	}
	if w := status(t, peers, withTrackers, "203.0.113.7"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "9" {
		t.Fatalf("7th call with trackers: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Connections: 32 at once (refused here, none being discovered), then 429.
	conn := "/bridge?info_hash=" + strings.Repeat("ab", 20) + "&peer=8.8.8.8:6881"
	for i := range 32 {
		if w := status(t, br, conn, "203.0.113.7"); w.Code != http.StatusForbidden {
			t.Fatalf("connection %d: %d", i, w.Code)
		}
	}
	if w := status(t, br, conn, "203.0.113.7"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("33rd connection: %d", w.Code)
	}
	if st := br.Stats(); st.Limited != 3 || st.Refused != 32 {
		t.Fatalf("stats %+v", st)
	}
}
