package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/pebbletest"
	"github.com/btspeed/btspeed/ledger/ledgertest"
	"github.com/gorilla/websocket"
)

// tlsName is the relay's host name in the TLS tests: Pebble's DNS server
// (pebble-challtestsrv) and the tests' clients resolve every name to
// 127.0.0.1.
const tlsName = "relay.btspeed.test"

// The relay with -tls-domain gets its certificate from an ACME CA
// (Pebble) that really validates a challenge: tls-alpn-01 on the main
// address (Pebble's http-01 port has nothing), or http-01 on -http-addr
// (Pebble's tls-alpn-01 port has nothing, so autocert falls back to it).
// A client trusting Pebble's root then gets https:// and wss:// from it,
// and http:// redirects to https://.
func TestRelayTLSFromACME(t *testing.T) {
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			httpsPort, httpPort, nothing := pebbletest.FreePort(t), pebbletest.FreePort(t), pebbletest.FreePort(t)
			cfg := pebbletest.Config{HTTPPort: nothing, TLSPort: httpsPort}
			if challenge == "http-01" {
				cfg = pebbletest.Config{HTTPPort: httpPort, TLSPort: nothing}
			}
			pb := pebbletest.Start(t, cfg)
			data := t.TempDir()
			start := func() *ledgertest.Process {
				// SSL_CERT_FILE: the relay's ACME client trusts Pebble's own HTTPS.
				return ledgertest.StartWith(t, ledgertest.Options{Binary: ledgertest.Build(t, "github.com/btspeed/btspeed/cmd/relay"),
					Env: []string{"SSL_CERT_FILE=" + pb.CAFile}},
					"-listen", "127.0.0.1:"+strconv.Itoa(httpsPort), "-data", data, "-faucet-difficulty", "0",
					"-peer-listen", "127.0.0.1:0", "-dht", "off", "-tron-grpc", "off", "-banner",
					"-tls-domain", tlsName, "-acme-directory", pb.Directory, "-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort))
			}
			p := start()
			base := "https://" + tlsName + ":" + strconv.Itoa(httpsPort)
			if p.URL != base {
				t.Fatalf("the relay prints %q, want %q", p.URL, base)
			}
			wss := "wss://" + tlsName + ":" + strconv.Itoa(httpsPort)
			if b := p.Printed("  relay    "); !strings.HasPrefix(b, base+" ") || !strings.Contains(b, " "+wss+" ") {
				t.Fatalf("the banner's relay line %q lacks %s and %s", b, base, wss)
			}
			if r := p.Printed("redirecting http://"); r != "127.0.0.1:"+strconv.Itoa(httpPort)+" to https" {
				t.Fatalf("the relay prints redirecting http://%s", r)
			}
			serial := checkTLSRelay(t, pb, base, httpPort)
			// The certificate and the ACME account are cached under -data:
			// started again, the relay serves the same certificate.
			if m, _ := filepath.Glob(filepath.Join(data, "acme", tlsName+"*")); len(m) == 0 {
				t.Fatalf("no certificate for %s cached in %s/acme", tlsName, data)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.Stop(ctx); err != nil {
				t.Fatalf("stopping the relay: %v", err)
			}
			start()
			if again := checkTLSRelay(t, pb, base, httpPort); again.Cmp(serial) != 0 {
				t.Fatalf("restarted, the relay serves certificate %v, not the cached %v", again, serial)
			}
		})
	}
}

// checkTLSRelay checks the relay at base (https://tlsName:PORT) serves
// HTTPS and WSS under a certificate from pb, and redirects http:// on
// httpPort to it; it returns the certificate's serial number.
func checkTLSRelay(t *testing.T, pb *pebbletest.Pebble, base string, httpPort int) *big.Int {
	t.Helper()
	tlsConf := &tls.Config{RootCAs: pb.Roots}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, DialContext: dialLoopback}}
	// The first handshake waits for the ACME order.
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET %s/healthz with Pebble's root: %v", base, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("GET /healthz: %s %s", resp.Status, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !slices.Equal(leaf.DNSNames, []string{tlsName}) {
		t.Fatalf("certificate for %v, want %s", leaf.DNSNames, tlsName)
	}
	// Without Pebble's root the certificate is not trusted: it is Pebble's.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialLoopback}}
	var unknown x509.UnknownAuthorityError
	if _, err := plain.Get(base + "/healthz"); !errors.As(err, &unknown) {
		t.Fatalf("GET without Pebble's root: %v, want an unknown authority", err)
	}

	// The WebTorrent tracker over wss://.
	wd := &websocket.Dialer{TLSClientConfig: tlsConf, NetDialContext: dialLoopback, HandshakeTimeout: 10 * time.Second}
	ws, _, err := wd.Dial("wss"+strings.TrimPrefix(base, "https")+"/announce", nil)
	if err != nil {
		t.Fatalf("wss:// announce: %v", err)
	}
	defer ws.Close()
	announce := `{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","numwant":1,"left":0,"event":"started","offers":[]}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(announce)); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"action":"announce"`) || !strings.Contains(string(msg), `"interval"`) {
		t.Fatalf("wss:// announce answer %s, %v", msg, err)
	}

	// http:// answers with a redirect to the same path over https://, which
	// a client follows to the relay.
	httpBase := "http://" + tlsName + ":" + strconv.Itoa(httpPort)
	noFollow := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialLoopback},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(httpBase + "/seeds?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != base+"/seeds?x=1" {
		t.Fatalf("http:// answers %s, Location %q; want a redirect to %s/seeds?x=1", resp.Status, loc, base)
	}
	resp, err = client.Get(httpBase + "/seeds")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("following the redirect: %s, TLS %v", resp.Status, resp.TLS != nil)
	}
	return leaf.SerialNumber
}

// dialLoopback dials 127.0.0.1 at addr's port, whatever its host: the
// tests' names resolve there.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}
