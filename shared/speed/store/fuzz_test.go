package store

import "testing"

// FuzzDecode: the rig's round trip property (svctest.Codec.Fuzz) over
// storage's messages; its corpus is under testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	messages.Fuzz(f, sampleMessages(f), "d1:ti99ee", "d3:obj3:abc1:ti11ee")
}
