package speed

import (
	"errors"
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages(f) {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("d1:ti99ee"))
	f.Add([]byte("d1:ti1e4:ratei-1ee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		// What decodes must encode, and decode again to the same message.
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		m2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip %#v -> %#v (%v)", m, m2, err)
		}
	})
}

func FuzzParseHandshake(f *testing.F) {
	f.Add([]byte("d1:md8:bt_speedi1ee8:bt_speedd4:acct21:AAAAAAAAAAAAAAAAAAAAA6:ledger1:x1:vi1eee"))
	f.Add([]byte("d1:md11:ut_metadatai1eee"))
	f.Add([]byte("le"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok, err := ParseHandshake(b)
		if err != nil || !ok {
			return
		}
		if h.Version < 1 || h.Version > Version || ValidateLedgerID(h.Ledger) != nil || h.Account[0] != 0x41 {
			t.Fatalf("accepted an invalid handshake %+v", h)
		}
		enc, err := h.MarshalBencode()
		if err != nil {
			t.Fatal(err)
		}
		outer := append(append([]byte("d1:md8:bt_speedi1ee8:bt_speed"), enc...), 'e')
		h2, ok, err := ParseHandshake(outer)
		if err != nil || !ok || h2 != h {
			t.Fatalf("round trip %+v -> %+v %v %v", h, h2, ok, err)
		}
	})
}
