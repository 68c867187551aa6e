package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
)

// ErrForbidden says a destination is not on the public Internet.
var ErrForbidden = errors.New("netguard: the destination is not a public address")

// Dialer dials public addresses only. It resolves host names itself, refuses
// a name if any address it resolves to is not public (one such address is
// enough for a rebinding attack), and dials the checked addresses, never the
// name; its net.Dialer's Control checks the address once more at connect
// time. The zero Dialer is ready to use and allows nothing but public
// addresses.
type Dialer struct {
	// AllowLoopback also admits loopback addresses (127.0.0.0/8, ::1),
	// for tests on one machine. Never on by default: private, link-local
	// and every other non-public range stay refused even then.
	AllowLoopback bool
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver *net.Resolver
	// Net is the dialer used for each checked address (timeouts, keep
	// alive); its Control is replaced.
	Net net.Dialer
}

// Allowed says whether d may connect to a.
func (d *Dialer) Allowed(a netip.Addr) bool {
	if IsPublic(a) {
		return true
	}
	return d.AllowLoopback && a.Unmap().IsLoopback()
}

// Resolve returns the addresses of host (an address or a name), refusing
// with ErrForbidden when any of them is not allowed.
func (d *Dialer) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		r := d.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, fmt.Errorf("netguard: resolving %q: %w", host, err)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("netguard: %q has no address", host)
	}
	for _, ip := range ips {
		if !d.Allowed(ip) {
			return nil, fmt.Errorf("%q is %v: %w", host, ip, ErrForbidden)
		}
	}
	return ips, nil
}

// DialContext connects to addr (host:port) if every address of host is
// allowed, trying them in turn. It has net.Dialer's signature, for
// http.Transport.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: %w", err)
	}
	ips, err := d.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	nd := d.Net
	nd.Control = d.control
	var first error
	for _, ip := range ips {
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// control refuses, at connect time, an address that is not allowed.
func (d *Dialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: dialing %q: %w", address, err)
	}
	if !d.Allowed(ap.Addr()) {
		return fmt.Errorf("dialing %v: %w", ap.Addr(), ErrForbidden)
	}
	return nil
}

// ErrRedirect says an HTTP redirect was refused.
var ErrRedirect = errors.New("netguard: redirect refused")

// CheckRedirect is an http.Client CheckRedirect that follows at most max
// redirects, only to http and https URLs without user info, and never from
// https to http. Where a redirect goes is checked by the client's Dialer
// when it connects, as for the first request.
func CheckRedirect(max int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		u := req.URL
		switch {
		case len(via) > max:
			return fmt.Errorf("%w: more than %d redirects", ErrRedirect, max)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("%w: to a %q URL", ErrRedirect, u.Scheme)
		case u.User != nil:
			return fmt.Errorf("%w: to a URL with user info", ErrRedirect)
		case len(via) > 0 && via[len(via)-1].URL.Scheme == "https" && u.Scheme == "http":
			return fmt.Errorf("%w: from https to http", ErrRedirect)
		}
		return nil
	}
}
