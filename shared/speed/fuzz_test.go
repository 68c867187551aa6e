package speed

import (
	"testing"
)

// FuzzDecode: the round trip property of the services' rig
// (svctest.Codec.Fuzz) over Speed's messages.
func FuzzDecode(f *testing.F) {
	messages.Fuzz(f, sampleMessages(f), "d1:ti99ee", "d1:ti1e4:ratei-1ee")
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
