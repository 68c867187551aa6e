//go:build cgo && !js

package engine

import (
	"fmt"

	utp "github.com/anacrolix/go-libutp"
	alog "github.com/anacrolix/log"
)

// UTPSocket is a uTP (BEP 29) socket: libutp through anacrolix/go-libutp,
// whose LEDBAT congestion control makes BitTorrent traffic yield to other
// traffic on the link (M33). It is a net.Listener for Client.Serve and a
// Dialer for a Transport.
type UTPSocket struct {
	*utp.Socket
}

// ListenUTP opens a uTP socket on a UDP address ("127.0.0.1:0").
func ListenUTP(addr string) (*UTPSocket, error) {
	s, err := utp.NewSocket("udp", addr, utp.WithLogger(alog.Default.FilterLevel(alog.Critical)))
	if err != nil {
		return nil, fmt.Errorf("engine: uTP socket on %s: %w", addr, err)
	}
	return &UTPSocket{s}, nil
}

// Transport returns a Transport that dials peers over this socket.
func (s *UTPSocket) Transport() Transport {
	return Transport{Name: "utp", Network: "udp", Dialer: s.Socket}
}
