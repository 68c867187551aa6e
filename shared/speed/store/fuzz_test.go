package store

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode: whatever Decode accepts encodes, within the caps, and decodes
// again to the same message; whatever it refuses, it refuses with a
// documented error. Seeds above 4 KiB are left to TestMessagesRoundTrip: the
// fuzzer minimizes large inputs slowly.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages(f) {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	f.Add([]byte("d1:ti99ee"))
	f.Add([]byte("d3:obj3:abc1:ti11ee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		if len(again) > MaxPayload {
			t.Fatalf("%T re-encodes to %d bytes", m, len(again))
		}
		m2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip %#v -> %#v (%v)", m, m2, err)
		}
	})
}
