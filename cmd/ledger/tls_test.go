//go:build !js

package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/pebbletest"
	"github.com/btspeed/btspeed/ledger/ledgertest"
)

// The ledger with -tls-domain serves its API over HTTPS with a
// certificate from an ACME CA (Pebble, validating http-01 on -http-addr),
// cached beside -db by default.
func TestLedgerTLSFromACME(t *testing.T) {
	const name = "ledger.btspeed.test"
	httpsPort, httpPort := pebbletest.FreePort(t), pebbletest.FreePort(t)
	pb := pebbletest.Start(t, pebbletest.Config{HTTPPort: httpPort, TLSPort: pebbletest.FreePort(t)})
	dir := t.TempDir()
	p := ledgertest.StartWith(t, ledgertest.Options{Env: []string{"SSL_CERT_FILE=" + pb.CAFile}},
		"-listen", "127.0.0.1:"+strconv.Itoa(httpsPort), "-db", filepath.Join(dir, "l.db"), "-faucet-difficulty", "8",
		"-tls-domain", name, "-acme-directory", pb.Directory, "-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort))
	base := "https://" + name + ":" + strconv.Itoa(httpsPort)
	if p.URL != base {
		t.Fatalf("the ledger prints %q, want %q", p.URL, base)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		var d net.Dialer
		return d.DialContext(ctx, network, "127.0.0.1:"+port)
	}
	client := &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pb.Roots}, DialContext: dial}}
	resp, err := client.Get(base + "/v1/info")
	if err != nil {
		t.Fatalf("GET %s/v1/info with Pebble's root: %v", base, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"btspeed-devnet"`) {
		t.Fatalf("GET /v1/info: %s %s", resp.Status, body)
	}
	if cn := resp.TLS.PeerCertificates[0].DNSNames; len(cn) != 1 || cn[0] != name {
		t.Fatalf("certificate for %v, want %s", cn, name)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", name)); err != nil {
		t.Fatalf("the certificate is not cached beside -db: %v", err)
	}
	// http:// redirects to https://.
	resp, err = client.Get("http://" + name + ":" + strconv.Itoa(httpPort) + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("http:// then the redirect: %s, over TLS %v", resp.Status, resp.TLS != nil)
	}
}
