package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// TLS is the flags that make a server serve HTTPS itself, with
// certificates an ACME CA (Let's Encrypt by default) issues and renews,
// instead of behind a TLS-terminating proxy.
type TLS struct {
	Domains   string // -tls-domain: host names, comma-separated; "" leaves TLS off
	Cache     string // -tls-cache: the account key and certificates
	Directory string // -acme-directory: the CA's directory URL
	Email     string // -acme-email: the CA's contact for expiry notices
	HTTPAddr  string // -http-addr: ACME http-01 challenges and the redirect to HTTPS
}

// Register registers the flags; cacheDefault names the default of
// -tls-cache in -h (the caller fills an empty Cache in, see On).
func (t *TLS) Register(fs *flag.FlagSet, cacheDefault string) {
	EnvFlag(fs, &t.Domains, "tls-domain", "BTSPEED_TLS_DOMAIN", "", "serve HTTPS on -listen with certificates from ACME for these host names, comma-separated (default: plain HTTP, e.g. behind a TLS proxy)")
	EnvFlag(fs, &t.Cache, "tls-cache", "BTSPEED_TLS_CACHE", "", "directory for the ACME account key and the certificates (default "+cacheDefault+")")
	EnvFlag(fs, &t.Directory, "acme-directory", "BTSPEED_ACME_DIRECTORY", autocert.DefaultACMEDirectory, "the ACME CA's directory URL")
	EnvFlag(fs, &t.Email, "acme-email", "BTSPEED_ACME_EMAIL", "", "contact address the ACME CA may write to about the certificates")
	EnvFlag(fs, &t.HTTPAddr, "http-addr", "BTSPEED_HTTP_ADDR", ":80", "with -tls-domain: address answering ACME http-01 challenges and redirecting the rest to https://")
}

// On tells whether -tls-domain asks for HTTPS.
func (t *TLS) On() bool { return strings.TrimSpace(t.Domains) != "" }

// hosts are the -tls-domain names, trimmed and lower-case.
func (t *TLS) hosts() []string {
	var hosts []string
	for _, h := range strings.Split(t.Domains, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// PublicURL is the https:// URL of the first host name, with the port of
// the main listener ln unless it is 443.
func (t *TLS) PublicURL(ln net.Listener) string {
	return "https://" + hostPort(t.hosts()[0], port(ln.Addr().String()))
}

// Served is a TLS listener for the main address and the loop that serves
// the HTTP one; Serve runs the loop with its others.
type Served struct {
	Listener net.Listener          // TLS on the main address
	HTTPAddr string                // where the HTTP listener listens
	Loop     func(context.Context) // serves the HTTP listener until its context ends
}

// Listen wraps ln, the main listener, in TLS with certificates from the
// ACME CA (tls-alpn-01 challenges are answered there) and listens on
// -http-addr for http-01 challenges and redirects. log gets the HTTP
// server's errors.
func (t *TLS) Listen(ln net.Listener, log *slog.Logger) (*Served, error) {
	hosts := t.hosts()
	for _, h := range hosts {
		if !strings.Contains(strings.Trim(h, "."), ".") || net.ParseIP(h) != nil {
			return nil, fmt.Errorf("-tls-domain %q: want DNS names with a dot (ACME CAs certify no bare host or IP address)", h)
		}
	}
	if t.Cache == "" {
		return nil, errors.New("-tls-cache: no directory for the certificates")
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(t.Cache),
		HostPolicy: hostPolicy(hosts),
		Email:      t.Email,
		Client:     &acme.Client{DirectoryURL: t.Directory},
	}
	hl, err := net.Listen("tcp", t.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("-http-addr (ACME http-01 and the redirect to HTTPS): %w", err)
	}
	srv := &http.Server{Handler: m.HTTPHandler(redirect(hosts, port(ln.Addr().String()))),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	loop := func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("serving -http-addr", "err", err)
			}
		})
		<-ctx.Done()
		shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		srv.Shutdown(shut)
		wg.Wait()
	}
	return &Served{Listener: tls.NewListener(ln, m.TLSConfig()), HTTPAddr: hl.Addr().String(), Loop: loop}, nil
}

// Wrap wraps ln in TLS with ACME certificates when -tls-domain asks for
// it, and returns the loop serving -http-addr, after printing on w where
// it listens ("redirecting http://ADDR to https"). Without -tls-domain it
// returns ln and a loop that does nothing.
func (t *TLS) Wrap(ln net.Listener, log *slog.Logger, w io.Writer) (net.Listener, func(context.Context), error) {
	if !t.On() {
		return ln, func(context.Context) {}, nil
	}
	s, err := t.Listen(ln, log)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(w, "redirecting http://%s to https\n", s.HTTPAddr)
	return s.Listener, s.Loop, nil
}

// hostPolicy allows the host names in hosts: autocert.HostWhitelist, but
// for the port an http-01 validation's Host header carries when the CA
// validates on a port other than 80.
func hostPolicy(hosts []string) autocert.HostPolicy {
	allowed := autocert.HostWhitelist(hosts...)
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return allowed(ctx, host)
	}
}

// redirect sends GET and HEAD requests to the same path over HTTPS on
// httpsPort, on the host asked for if it is one of hosts (else the
// first); other methods get 400.
func redirect(hosts []string, httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "Use HTTPS.", http.StatusBadRequest)
			return
		}
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !slices.Contains(hosts, host) {
			host = hosts[0]
		}
		http.Redirect(w, r, "https://"+hostPort(host, httpsPort)+r.URL.RequestURI(), http.StatusFound)
	})
}

// port is the port of a host:port address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// hostPort joins host and port, leaving HTTPS's default port out.
func hostPort(host, port string) string {
	if port == "443" || port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}
