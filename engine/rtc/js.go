//go:build js

package rtc

import "github.com/pion/webrtc/v4"

// blockingReceive: in the browser a message handler must never block the
// event loop, so a full receive queue closes the connection instead.
const blockingReceive = false

// candidatePair is not available from the browser's API through pion.
func candidatePair(*webrtc.PeerConnection) (local, remote string, ok bool) { return "", "", false }

// defaultAPI: the browser's own settings.
func defaultAPI() *webrtc.API { return webrtc.NewAPI() }
