//go:build !js

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/internal/browsertest"
)

// rtcStats samples the WebRTC connections of a seeding and a downloading
// page over each download (BTSPEED_BENCH_RTCSTATS=1): every 100 ms each
// page records its RTCPeerConnections' getStats (transport and data channel
// bytes and packets, the selected candidate pair's round-trip time) and its
// data channels' bufferedAmount, and the benchmark logs the stalls: stretches
// of at least 500 ms in which the downloading page received under 64 KiB,
// with what the seeding page did meanwhile. docs/browser-performance.md has
// what it found.
type rtcStats struct {
	seed, get *browsertest.Page
}

// rtcHookJS wraps the page's RTCPeerConnection (before anything creates
// one) to keep every connection and data channel, and defines
// __rtcStart() and __rtcStop() (returning the samples).
const rtcHookJS = `(() => {
	const O = window.RTCPeerConnection
	const pcs = [], chs = []
	function P (...a) {
		const pc = new O(...a)
		pcs.push(pc)
		const cdc = pc.createDataChannel.bind(pc)
		pc.createDataChannel = (...x) => { const ch = cdc(...x); chs.push(ch); return ch }
		pc.addEventListener('datachannel', e => chs.push(e.channel))
		return pc
	}
	P.prototype = O.prototype
	Object.setPrototypeOf(P, O)
	window.RTCPeerConnection = P
	let samples = [], timer = null, busy = false
	window.__rtcStart = () => {
		samples = []
		const t0 = performance.now()
		timer = setInterval(async () => {
			if (busy) return
			busy = true
			const s = { t: Math.round(performance.now() - t0), rx: 0, tx: 0, prx: 0, ptx: 0, dcrx: 0, dctx: 0, buf: 0, rtt: -1 }
			for (const pc of pcs) {
				if (pc.connectionState === 'closed') continue
				const st = await pc.getStats()
				st.forEach(r => {
					if (r.type === 'transport') { s.rx += r.bytesReceived || 0; s.tx += r.bytesSent || 0; s.prx += r.packetsReceived || 0; s.ptx += r.packetsSent || 0 }
					if (r.type === 'data-channel') { s.dcrx += r.bytesReceived || 0; s.dctx += r.bytesSent || 0 }
					if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && r.currentRoundTripTime !== undefined) s.rtt = Math.max(s.rtt, r.currentRoundTripTime * 1000)
				})
			}
			for (const ch of chs) if (ch.readyState === 'open') s.buf += ch.bufferedAmount
			samples.push(s)
			busy = false
		}, 100)
		return null
	}
	window.__rtcStop = () => { clearInterval(timer); return samples }
	return null
})()`

// newRTCStats hooks both pages (before their clients start) when
// BTSPEED_BENCH_RTCSTATS is set; a nil *rtcStats does nothing.
func newRTCStats(b *testing.B, seed, get *browsertest.Page) *rtcStats {
	if os.Getenv("BTSPEED_BENCH_RTCSTATS") == "" {
		return nil
	}
	seed.Eval(b, rtcHookJS, nil)
	get.Eval(b, rtcHookJS, nil)
	return &rtcStats{seed: seed, get: get}
}

func (r *rtcStats) start(b *testing.B) {
	if r == nil {
		return
	}
	r.seed.Eval(b, `__rtcStart()`, nil)
	r.get.Eval(b, `__rtcStart()`, nil)
}

// rtcSample is one page's sample: ms since the start, bytes and packets
// over its transports and data channels, its channels' bufferedAmount, the
// largest round-trip time of its selected candidate pairs (ms; -1: none).
type rtcSample struct {
	T, Rx, Tx, Prx, Ptx, Dcrx, Dctx, Buf int64
	RTT                                  float64
}

// stop logs the download's stalls (what: "btspeed" or "webtorrent").
func (r *rtcStats) stop(b *testing.B, what string) {
	if r == nil {
		return
	}
	var seed, get []rtcSample
	r.seed.Eval(b, `__rtcStop()`, &seed)
	r.get.Eval(b, `__rtcStop()`, &get)
	b.Logf("%s: %s", what, rtcStalls(seed, get))
}

// rtcStalls describes the stretches of at least 500 ms in which get
// received under 64 KiB of data channel bytes, with seed's samples over
// them.
func rtcStalls(seed, get []rtcSample) string {
	var sb strings.Builder
	at := func(t int64) rtcSample { // seed's last sample at or before t
		var s rtcSample
		for _, x := range seed {
			if x.T > t {
				break
			}
			s = x
		}
		return s
	}
	var total int64
	n := 0
	if len(get) == 0 {
		return "no samples"
	}
	// Up to the last byte received (connections close after the download).
	top := 0
	for k, x := range get {
		if x.Dcrx > get[top].Dcrx {
			top = k
		}
	}
	get = get[:top+1]
	for i := 0; i < len(get); {
		j := i + 1
		for j < len(get) && get[j].Dcrx-get[i].Dcrx < 64<<10 {
			j++
		}
		end := j - 1
		if end > i && get[end].T-get[i].T >= 500 && get[end].Dcrx < get[len(get)-1].Dcrx {
			s0, s1 := at(get[i].T), at(get[end].T)
			kind := "before any data"
			if get[i].Dcrx > get[0].Dcrx {
				kind = "stall"
				n++
				total += get[end].T - get[i].T
			}
			fmt.Fprintf(&sb, "\n  %s at %d ms for %d ms: get rx %d B in %d packets (rtt %.0f ms), sent %d B; seed sent %d B in %d packets (data channel %d B), buffered %d -> %d B, rtt %.0f ms",
				kind, get[i].T, get[end].T-get[i].T, get[end].Rx-get[i].Rx, get[end].Prx-get[i].Prx, get[end].RTT, get[end].Tx-get[i].Tx,
				s1.Tx-s0.Tx, s1.Ptx-s0.Ptx, s1.Dctx-s0.Dctx, s0.Buf, s1.Buf, s1.RTT)
			i = end
			continue
		}
		i = j
	}
	if len(get) == 0 {
		return "no samples"
	}
	last := get[len(get)-1]
	s0, s1 := at(get[0].T), at(last.T)
	first, data := int64(-1), int64(-1)
	for _, x := range get {
		if first < 0 && x.Dcrx > get[0].Dcrx {
			first = x.T
		}
		if data < 0 && x.Dcrx-get[0].Dcrx >= 64<<10 {
			data = x.T
		}
	}
	return fmt.Sprintf("first bytes at %d ms, 64 KiB at %d ms; %d ms sampled, %d B received, %d stalls, %d ms stalled; packets: seed sent %d, get received %d; get sent %d, seed received %d%s",
		first, data, last.T, last.Dcrx-get[0].Dcrx, n, total, s1.Ptx-s0.Ptx, last.Prx-get[0].Prx, last.Ptx-get[0].Ptx, s1.Prx-s0.Prx, sb.String())
}
