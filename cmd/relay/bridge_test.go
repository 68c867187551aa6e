package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/btclientstest"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/btspeed/btspeed/shared/httptracker"
	"github.com/gorilla/websocket"
)

// startBridgeRelay runs dist/relay as an operator would, with
// no DHT, no TRON and a ledger elsewhere (the bridge needs neither), plus
// args; it returns the relay's base URL.
func startBridgeRelay(t *testing.T, args ...string) string {
	t.Helper()
	return ledgertest.StartWith(t, ledgertest.Options{Binary: relayBinary(t)}, append([]string{"-data", filepath.Join(t.TempDir(), "data"), "-dht", "off",
		"-tron", "off", "-ledger", "http://127.0.0.1:9"}, args...)...).URL
}

// fakeService is a line-based TCP service that is not BitTorrent (think
// SMTP): it greets with serviceBanner, answers each line and records what
// it receives.
type fakeService struct {
	ln       net.Listener
	received chan []byte // what one connection sent, when it ends
}

// serviceBanner is longer than a handshake, so a relay that waits for 68
// bytes from the peer gets them at once.
const serviceBanner = "220 mail.example.org ESMTP ready; this is not a BitTorrent peer, say HELO\r\n"

func startFakeService(t *testing.T) *fakeService {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeService{ln: ln, received: make(chan []byte, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeService) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	c.Write([]byte(serviceBanner))
	var got []byte
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		got = append(got, line...)
		if err != nil {
			break
		}
		if bytes.HasPrefix(line, []byte("QUIT")) {
			c.Write([]byte("221 bye\r\n"))
			break
		}
		c.Write([]byte("250 ok\r\n"))
	}
	s.received <- got
}

func (s *fakeService) addr() netip.AddrPort { return netip.MustParseAddrPort(s.ln.Addr().String()) }

// outsiderHandshake is a BitTorrent handshake for ih from a peer id without line
// breaks.
func outsiderHandshake(ih [20]byte) []byte {
	hs := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
	hs = append(hs, ih[:]...)
	return append(hs, "-OU0001-outsider0001"...)
}

func outsiderInfoHash() [20]byte {
	var ih [20]byte
	rand.Read(ih[:])
	return ih
}

// outsiderAnnounce tells the relay's HTTP tracker, from this process's address,
// that a peer of ih listens on port.
func outsiderAnnounce(t *testing.T, base string, ih [20]byte, port uint16) {
	t.Helper()
	q := "info_hash=" + url.QueryEscape(string(ih[:])) + "&peer_id=" + url.QueryEscape("-OU0001-outsider0001") +
		"&port=" + strconv.Itoa(int(port)) + "&uploaded=0&downloaded=0&left=0&compact=1&event=started"
	resp, err := http.Get(base + "/announce?" + q)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte("failure reason")) {
		t.Fatalf("announce: %s %s", resp.Status, b)
	}
}

// bridgePeers asks the relay's /bridge/peers with client and returns the
// status and the peers listed.
func bridgePeers(t *testing.T, client *http.Client, base string, ih [20]byte, trackers ...string) (int, []string) {
	t.Helper()
	q := url.Values{"info_hash": {hex.EncodeToString(ih[:])}, "tr": trackers}
	resp, err := client.Get(base + "/bridge/peers?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct{ Peers []string }
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, res.Peers
}

// waitBridgePeer polls /bridge/peers until want is listed for ih (the relay
// searches trackers in the background).
func waitBridgePeer(t *testing.T, base string, ih [20]byte, want netip.AddrPort, trackers ...string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, peers := bridgePeers(t, http.DefaultClient, base, ih, trackers...)
		for _, p := range peers {
			if p == want.String() {
				return peers
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never listed for the torrent: %v", want, peers)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// outsiderTracker is a tracker the outsider runs and names in tr=: it lists
// peers for every torrent.
func outsiderTracker(t *testing.T, peers ...netip.AddrPort) string {
	ans := httptracker.Answer{Interval: 1800}
	for _, p := range peers {
		ans.Peers = append(ans.Peers, httptracker.Peer{Addr: p})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(ans.Encode(true))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/announce"
}

// An outsider makes the relay discover a service that is not BitTorrent
// (announcing its port from the outsider's own address, or naming a
// tracker of its own that lists it) and tries to talk to it through the
// bridge: the service gets at most the BitTorrent handshake, never the
// outsider's commands, and the outsider gets nothing of the service.
// (Everything is on loopback, hence -bridge-private; the addresses a
// public relay dials are public ones, found the same ways.)
func TestBridgeIsNotATunnel(t *testing.T) {
	base := startBridgeRelay(t, "-bridge-private")
	svc := startFakeService(t)
	tr := outsiderTracker(t, svc.addr())
	for _, c := range []struct {
		name     string
		discover func(ih [20]byte)
	}{
		{"announced", func(ih [20]byte) {
			outsiderAnnounce(t, base, ih, svc.addr().Port())
			waitBridgePeer(t, base, ih, svc.addr())
		}},
		{"tracker", func(ih [20]byte) { waitBridgePeer(t, base, ih, svc.addr(), tr) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ih := outsiderInfoHash()
			c.discover(ih)
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/bridge?info_hash="+
				hex.EncodeToString(ih[:])+"&peer="+svc.addr().String(), nil)
			if err != nil {
				t.Fatalf("bridge: %v %v", err, resp)
			}
			defer ws.Close()
			hs := outsiderHandshake(ih)
			ws.WriteMessage(websocket.BinaryMessage, append(append([]byte(nil), hs...), "HELO x\r\nQUIT\r\n"...))
			ws.SetReadDeadline(time.Now().Add(time.Minute))
			var back []byte
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					break
				}
				back = append(back, m...)
				if bytes.Contains(back, []byte("221")) {
					break
				}
			}
			ws.Close()
			var got []byte
			select {
			case got = <-svc.received:
			case <-time.After(time.Minute):
				t.Fatal("the service's connection never ended")
			}
			if len(got) > len(hs) || !bytes.Equal(got, hs[:len(got)]) {
				t.Errorf("the service received %q through the bridge; want at most the handshake", got)
			}
			if len(back) > 0 {
				t.Errorf("the outsider received %q from the service through the bridge", back)
			}
		})
	}
}

// Peers on ports below 1024 (SMTP, HTTP, ...) are neither listed nor
// dialled by default, whether announced to the relay or found through a
// tracker; peers on higher ports still are.
func TestBridgeRefusesLowPorts(t *testing.T) {
	base := startBridgeRelay(t, "-bridge-private")
	high := netip.MustParseAddrPort("127.0.0.1:51413")
	ih := outsiderInfoHash()
	outsiderAnnounce(t, base, ih, 25)
	peers := waitBridgePeer(t, base, ih, high, outsiderTracker(t, netip.MustParseAddrPort("127.0.0.1:80"), high))
	for _, p := range peers {
		if ap := netip.MustParseAddrPort(p); ap.Port() < 1024 {
			t.Errorf("/bridge/peers lists %s: %v", p, peers)
		}
	}
	for _, peer := range []string{"127.0.0.1:25", "127.0.0.1:80"} {
		resp, err := http.Get(base + "/bridge?info_hash=" + hex.EncodeToString(ih[:]) + "&peer=" + peer)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "below 1024") {
			t.Errorf("bridge to %s: %s %s, want 403 (port below 1024)", peer, resp.Status, b)
		}
	}
}

// One client flooding /bridge/peers (each call may make the relay search
// trackers it names) is refused with 429 once its burst is spent, while
// another client is still served.
func TestBridgePeersRateLimited(t *testing.T) {
	base := startBridgeRelay(t)
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
	}
	flooder, other := from(btclientstest.LoopbackIP(t)), from(btclientstest.LoopbackIP(t))
	// Eight tracker URLs a call (of a scheme the relay does not search,
	// so nothing is fetched): the most a call costs.
	var trackers []string
	for i := range 8 {
		trackers = append(trackers, "wss://tracker"+strconv.Itoa(i)+".example/announce")
	}
	ok, limited := 0, false
	for range 50 {
		code, _ := bridgePeers(t, flooder, base, outsiderInfoHash(), trackers...)
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		ok++
	}
	if !limited || ok == 0 {
		t.Fatalf("%d calls served, then limited: %v; want a burst served, then 429", ok, limited)
	}
	if code, _ := bridgePeers(t, other, base, outsiderInfoHash(), trackers...); code != http.StatusOK {
		t.Fatalf("another client got %d while the flooder was limited", code)
	}
}

// -bridge-rate takes whole MiB/s from 1 to 1024; anything else stops the
// relay with a message naming the flag, before it listens.
func TestBridgeRateFlag(t *testing.T) {
	o := ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay")}
	for _, bad := range []string{"0", "-1", "1.5", "lots", "1025"} {
		stderr := ledgertest.Refuses(t, o, "-data", filepath.Join(t.TempDir(), "data"), "-dht", "off", "-tron", "off",
			"-ledger", "http://127.0.0.1:9", "-bridge-rate", bad)
		if !strings.Contains(stderr, "-bridge-rate") || !strings.Contains(stderr, "MiB/s") {
			t.Errorf("-bridge-rate %s: %q, want a refusal naming the flag", bad, stderr)
		}
	}
	startBridgeRelay(t, "-bridge-rate", "64") // accepted: the relay starts
}
