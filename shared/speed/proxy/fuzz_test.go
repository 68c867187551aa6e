package proxy

import "testing"

// FuzzDecode: the rig's round trip property (svctest.Codec.Fuzz) over the
// proxy's messages; its corpus is under testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	messages.Fuzz(f, sampleMessages(f), "d1:ti99ee", "d2:idi1e1:ti3ee", "d2:idi1e1:ti6eexx")
}
