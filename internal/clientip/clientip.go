// Package clientip tells which client an HTTP request comes from, for rate
// limits and per-client caps.
//
// Rules:
//   - The client is the connection's peer address, unless that peer is a
//     trusted proxy (an address inside one of the operator's trusted CIDRs:
//     Caddy or nginx on the same machine, the edge Worker's egress, a relay
//     in front of a ledger).
//   - Behind trusted proxies the client is the right-most X-Forwarded-For
//     entry that is not itself a trusted proxy. Entries to its left were
//     written by the client or by untrusted hops and are never believed, so
//     a client cannot pick its own address by sending the header.
//   - Limits count a client by [Key]: an IPv4 address, or the /64 an IPv6
//     address lies in (one subscriber commonly holds a whole /64, so counting
//     single IPv6 addresses would give each client 2^64 buckets).
//
// With no trusted proxies (the default) headers are ignored entirely.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Header is the header trusted proxies name the client in.
const Header = "X-Forwarded-For"

// Resolver finds a request's client address. The zero Resolver trusts no
// proxy. It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes X-Forwarded-For from the trusted
// prefixes only.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

// ParsePrefixes reads a comma-separated list of CIDRs or single addresses
// ("127.0.0.1/32, ::1, 10.0.0.0/8"); an empty string is no prefix.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not a CIDR such as 10.0.0.0/8: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR: %w", f, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr is the client address of req (unmapped), or the zero Addr when the
// connection's address cannot be read.
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	peer := Peer(req)
	if !peer.IsValid() || !r.Trusted(peer) {
		return peer
	}
	hops := req.Header.Values(Header)
	var entries []string
	for _, h := range hops {
		entries = append(entries, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			// A garbled entry from a trusted hop: stop at the last hop we can name.
			return client
		}
		client = a.Unmap()
		if !r.Trusted(client) {
			return client
		}
	}
	return client
}

// Peer is the connection's peer address, unmapped, or the zero Addr.
func Peer(req *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Forward sets the X-Forwarded-For header of out, a request a proxy makes on
// behalf of in, to in's client as resolved here, so a next hop that trusts
// this proxy counts the right client. Whatever in carried is dropped, also
// when the client cannot be told.
func (r *Resolver) Forward(out, in *http.Request) {
	out.Header.Del(Header)
	if client := r.Addr(in); client.IsValid() {
		out.Header.Set(Header, client.String())
	}
}

// Key is the address limits count a client under: IPv4 as is, IPv6 by its
// /64.
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
