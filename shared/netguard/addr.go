package netguard

import "net/netip"

// nonPublic lists special-purpose ranges (RFC 6890 and successors) that
// netip's predicates do not cover and that must not be reached on behalf of
// a stranger. Documentation ranges (192.0.2.0/24, 2001:db8::/32, ...) are
// left alone: nothing routes them, so they are harmless.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking, often used inside networks
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated), ::, ::1
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("2001::/32"),      // Teredo
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// IsPublic says whether a is a public unicast address: not loopback,
// private, link-local (where cloud metadata lives, 169.254.169.254),
// multicast, unspecified or another special-purpose range, with IPv4-mapped
// addresses judged as IPv4 and NAT64 and 6to4 addresses by the IPv4 address
// they embed.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return IsPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixTo4.Contains(a):
		return IsPublic(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}
