// Package pebbletest runs Pebble, Let's Encrypt's test ACME CA (the
// Debian package pebble), on loopback for tests of btspeed's servers'
// ACME certificates, with pebble-challtestsrv as its DNS server: every
// name resolves to 127.0.0.1, so Pebble really validates the http-01 and
// tls-alpn-01 challenges against the server under test.
package pebbletest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Package names the Debian package Pebble comes from.
const Package = "pebble"

// Config says where Pebble validates challenges: on 127.0.0.1 at
// HTTPPort (http-01) and TLSPort (tls-alpn-01).
type Config struct {
	HTTPPort, TLSPort int
}

// Pebble is a running Pebble.
type Pebble struct {
	Directory string         // the ACME directory URL
	CAFile    string         // PEM of the CA of Pebble's own HTTPS (for SSL_CERT_FILE)
	Roots     *x509.CertPool // the root Pebble issues certificates under (/roots/0)
}

// Start runs pebble-challtestsrv and Pebble, stopped at the test's end;
// it skips the test when they are not installed (fails it with
// BTSPEED_REQUIRE_CLIENTS=1).
func Start(t testing.TB, c Config) *Pebble {
	t.Helper()
	for _, b := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(b); err != nil {
			msg := fmt.Sprintf("%s is not installed: apt-get install %s", b, Package)
			if os.Getenv("BTSPEED_REQUIRE_CLIENTS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := wfeCertificate(t)
	p := &Pebble{CAFile: filepath.Join(dir, "ca.pem")}
	writeFile(t, p.CAFile, caPEM)
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	dns, dnsManagement := FreePort(t), FreePort(t)
	start(t, dir, "pebble-challtestsrv", []string{"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dns01", "127.0.0.1:" + strconv.Itoa(dns), "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", "127.0.0.1:" + strconv.Itoa(dnsManagement)})
	listen, management := FreePort(t), FreePort(t)
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(management),
		"certificate":             filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": c.HTTPPort, "tlsPort": c.TLSPort, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	writeFile(t, filepath.Join(dir, "pebble.json"), cfg)
	// No random sleeps before validating, no nonces refused at random.
	start(t, dir, "pebble", []string{"-config", filepath.Join(dir, "pebble.json"), "-dnsserver", "127.0.0.1:" + strconv.Itoa(dns)},
		"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}, Timeout: 10 * time.Second}
	p.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", listen)
	waitOK(t, client, p.Directory)
	root := waitOK(t, client, fmt.Sprintf("https://127.0.0.1:%d/roots/0", management))
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(root) {
		t.Fatalf("Pebble's /roots/0 is no PEM certificate:\n%s", root)
	}
	return p
}

// waitOK polls url (every 100 ms, 30 s at most: the programs are starting)
// until it answers 200, and returns the body.
func waitOK(t testing.TB, client *http.Client, url string) []byte {
	t.Helper()
	var last error
	for range 300 {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return body
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Pebble does not answer %s: %v", url, last)
	return nil
}

// wfeCertificate makes a CA and, under it, the certificate of Pebble's
// own HTTPS for 127.0.0.1 and localhost (the Debian package ships none).
func wfeCertificate(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// FreePort returns a port free on 127.0.0.1 for TCP and UDP (the DNS
// server takes both).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs name with its output in a log file, printed (its tail) if
// the test fails; at cleanup it is stopped (SIGTERM, then SIGKILL after
// 5 s) and waited for.
func start(t testing.TB, dir, name string, args []string, env ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = lf, lf, dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		lf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		select {
		case <-exited:
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
}
