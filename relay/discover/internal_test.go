package discover

import (
	"net/netip"
	"slices"
	"testing"
)

// TestPeerFilter feeds addPeers (where DHT and tracker answers go) a mixed
// batch.
func TestPeerFilter(t *testing.T) {
	batch := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:6881"),
		netip.MustParseAddrPort("192.168.1.2:6881"),
		netip.MustParseAddrPort("[::1]:6881"),
		netip.MustParseAddrPort("[fe80::1%eth0]:6881"),
		netip.MustParseAddrPort("0.0.0.0:6881"),
		netip.MustParseAddrPort("224.0.0.1:6881"),
		netip.MustParseAddrPort("203.0.113.1:0"),
		{},
		netip.MustParseAddrPort("203.0.113.1:6881"),
		netip.MustParseAddrPort("[::ffff:203.0.113.2]:6881"),
		netip.MustParseAddrPort("[2a00:1450::1]:6881"),
	}
	for _, allowPrivate := range []bool{false, true} {
		d, err := New(Config{AllowPrivate: allowPrivate})
		if err != nil {
			t.Fatal(err)
		}
		ih := [20]byte{1}
		d.Lookup(ih, nil) // nowhere to search: only tracks ih
		d.addPeers(ih, batch)
		d.addPeers([20]byte{2}, batch) // not tracked: ignored
		got := d.Peers(ih)
		slices.SortFunc(got, netip.AddrPort.Compare)
		want := []netip.AddrPort{
			netip.MustParseAddrPort("203.0.113.1:6881"),
			netip.MustParseAddrPort("203.0.113.2:6881"),
			netip.MustParseAddrPort("[2a00:1450::1]:6881"),
		}
		if allowPrivate {
			want = append(want,
				netip.MustParseAddrPort("127.0.0.1:6881"),
				netip.MustParseAddrPort("192.168.1.2:6881"),
				netip.MustParseAddrPort("[::1]:6881"),
				netip.MustParseAddrPort("[fe80::1]:6881"),
			)
		}
		slices.SortFunc(want, netip.AddrPort.Compare)
		if !slices.Equal(got, want) {
			t.Errorf("AllowPrivate=%v: Peers = %v, want %v", allowPrivate, got, want)
		}
		st := d.Stats()
		if st.Lookups != 0 || st.Torrents != 1 || st.Peers != len(want) {
			t.Errorf("stats: %+v", st)
		}
		d.Close()
	}
}
