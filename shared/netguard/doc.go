// Package netguard keeps connections made on behalf of strangers on the
// public Internet: IsPublic judges one address, Dialer resolves a host
// itself, checks every address it resolves to and dials a checked address
// (no second resolution, so DNS rebinding cannot swap it), and
// CheckRedirect bounds and checks an HTTP client's redirects. The relay's
// peer discovery and the paid proxy's provider (docs/speed-protocol.md
// section 11.6) use it.
package netguard
