//go:build !js

// Package rtctest configures WebRTC for tests: candidates only on the
// interfaces a test names, so nothing leaves the machine.
package rtctest

import (
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/pion/webrtc/v4"
)

// Loopback gathers IPv4 host candidates on the loopback interface only.
func Loopback() rtc.Config { return Interfaces("lo") }

// Interfaces gathers IPv4 host candidates on the named interfaces only
// (loopback included when named), e.g. a veth end a test created.
func Interfaces(names ...string) rtc.Config {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool {
		for _, n := range names {
			if n == name {
				return true
			}
		}
		return false
	})
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	rtc.Tune(&se)
	return rtc.Config{API: webrtc.NewAPI(webrtc.WithSettingEngine(se))}
}
