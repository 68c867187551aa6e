//go:build !js

package rtc

import (
	"net"
	"strconv"
	"sync"

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

// SCTPReceiveBuffer is the SCTP receive window the package's default API
// (and the relay's) uses: pion's default of 1 MiB holds a data channel to
// about 40 MB/s on loopback here, 4 MiB to about 55.
const SCTPReceiveBuffer = 4 << 20

// Tune applies the package's transport settings to se.
func Tune(se *webrtc.SettingEngine) { se.SetSCTPMaxReceiveBufferSize(SCTPReceiveBuffer) }

var defaultAPI = sync.OnceValue(func() *webrtc.API {
	var se webrtc.SettingEngine
	Tune(&se)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
})
