//go:build !js

package rtc

import (
	"net"
	"strconv"

	"github.com/pion/webrtc/v4"
)

// blockingReceive: natively a full receive queue waits, which pushes back
// on the sender through SCTP's receive window.
const blockingReceive = true

// candidatePair returns the selected ICE candidates' addresses.
func candidatePair(pc *webrtc.PeerConnection) (local, remote string, ok bool) {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return "", "", false
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return "", "", false
	}
	return net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port))),
		net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))), true
}
