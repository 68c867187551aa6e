package wstracker

import (
	"testing"
)

// FuzzTrackerMessage feeds the client's decoder what a hostile tracker
// could send: it must never panic, and what it accepts is well formed.
func FuzzTrackerMessage(f *testing.F) {
	ih := "\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f\u0010\u0011\u0012\u0013\u00ff"
	f.Add([]byte(`{"action":"announce","interval":120,"info_hash":"` + ih + `","complete":1,"incomplete":2}`))
	f.Add([]byte(`{"action":"announce","info_hash":"` + ih + `","peer_id":"` + ih + `","offer_id":"` + ih + `","offer":{"type":"offer","sdp":"v=0\r\n"}}`))
	f.Add([]byte(`{"action":"announce","info_hash":"` + ih + `","peer_id":"` + ih + `","offer_id":"` + ih + `","answer":{"type":"answer","sdp":"v=0\r\n"}}`))
	f.Add([]byte(`{"failure reason":"nope"}`))
	f.Add([]byte(`{"action":"announce","info_hash":"short"}`))
	f.Add([]byte(`{"action":"announce","info_hash":"` + ih + `","offer":{"type":"pranswer"},"peer_id":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ih, err := decode(b)
		if err != nil {
			return
		}
		if m == nil {
			t.Fatal("no message and no error")
		}
		if ih == nil {
			return
		}
		sg, err := parseSignal(m)
		if err != nil || sg == nil {
			return
		}
		if sg.desc.SDP == "" || (sg.desc.Type.String() != "offer" && sg.desc.Type.String() != "answer") {
			t.Fatalf("accepted signal %+v", sg.desc)
		}
	})
}
