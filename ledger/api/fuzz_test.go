package api

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

func FuzzU64(f *testing.F) {
	for _, s := range []string{"0", "1", "18446744073709551615", "18446744073709551616", "-1", "01", " 1", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var u U64
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return
		}
		// Only canonical decimal strings decode, so they print back the same.
		if got := strconv.FormatUint(uint64(u), 10); got != s {
			t.Fatalf("%q decoded to %d, prints %q", s, u, got)
		}
	})
}

// FuzzRequests decodes arbitrary JSON into every request type the ledger
// accepts; whatever decodes must encode and decode back to the same value.
func FuzzRequests(f *testing.F) {
	f.Add([]byte(`{"ledger":"l","from":"TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH","to":"TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC","amount":"5","nonce":"1","sig":"0x` + zeros(130) + `"}`))
	f.Add([]byte(`{"seq":"1","paid":"2","payer_sig":"0x` + zeros(130) + `","payee_sig":"0x` + zeros(130) + `"}`))
	f.Add([]byte(`{"ops":[{"close":{"channel":"` + zeros(64) + `","seq":"1","paid":"0"}}]}`))
	f.Add([]byte(`{"ledger":"l","from":"TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH","to":"TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC","amount":"5","nonce":"1","memo":"Order #42 \u2014 \u00e9\ud83d\ude00","sig":"0x` + zeros(130) + `"}`))
	f.Add([]byte(`{"ledger":"l","payer":"TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH","payee":"TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC","deposit":"5","deadline":1800000000,"nonce":"1","service":"proxy","sig":"0x` + zeros(130) + `"}`))
	f.Add([]byte(`{"amount":1}`))
	f.Add([]byte(`{"ledger":"l","account":"TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH","to":"TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC","amount":"5","nonce":"1","sig":"0x` + zeros(130) + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&TransferRequest{}, &OpenRequest{}, &CloseRequest{}, &FaucetRequest{}, &Batch{}, &WithdrawRequest{}} {
			if json.Unmarshal(b, v) != nil {
				continue
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T does not encode: %v", v, err)
			}
			again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := json.Unmarshal(enc, again); err != nil {
				t.Fatalf("%T: re-decoding %s: %v", v, enc, err)
			}
			if !reflect.DeepEqual(v, again) {
				t.Fatalf("%T round trip: %+v != %+v", v, v, again)
			}
		}
	})
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
