package engine_test

// Torrent.Status and Torrent.Peers in a testing/synctest bubble: states,
// the stall timer, rates and time left, read on the bubble's clock.

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/shared/speed"
)

// A torrent nobody seeds looks for peers, then says it stalled, with the
// hint, once StallAfter (30 s by default) passed with no data.
func TestStatusStalledWithoutSeeder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newClient(t, engine.Config{Logger: testLogger(t)})
		mi, _ := makeContent(t, t.TempDir(), "s.bin", 4*bubblePieceLen, bubblePieceLen, 5)
		spec := engine.SpecFromMetaInfo(mi)
		spec.Trackers = [][]string{{"http://127.0.0.1:1/announce"}} // an IP: no DNS lookup (none leaves the machine, none in the bubble)
		spec.Storage = (&memStorage{}).open
		tor := mustAdd(t, cl, spec)

		s := tor.Status()
		if s.State != engine.StateLookingForPeers || s.Hint != "" || s.ETA != 0 || s.DownloadRate != 0 {
			t.Fatalf("at once: %+v, want looking for peers, no hint, no ETA", s)
		}
		if len(s.Trying) != 1 || s.Trying[0] != "tracker 127.0.0.1:1" {
			t.Fatalf("trying %q, want the tracker", s.Trying)
		}
		time.Sleep(30*time.Second - time.Millisecond)
		if s := tor.Status(); s.State != engine.StateLookingForPeers {
			t.Fatalf("just before 30 s: %+v, want still looking for peers", s)
		}
		time.Sleep(time.Millisecond)
		s = tor.Status()
		if s.State != engine.StateStalled || s.Hint != engine.HintNoSeeder || s.Stalled != 30*time.Second {
			t.Fatalf("at 30 s: %+v, want stalled with the no-seeder hint", s)
		}
	})
}

// A magnet link whose info no peer gives stalls with the metadata hint,
// after its own StallAfter.
func TestStatusMagnetStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newClient(t, engine.Config{Logger: testLogger(t), StallAfter: 5 * time.Second})
		tor := mustAdd(t, cl, engine.TorrentSpec{InfoHash: metainfo.NewHashFromHex("0123456789abcdef0123456789abcdef01234567"), Storage: (&memStorage{}).open})
		if s := tor.Status(); s.State != engine.StateLookingForPeers {
			t.Fatalf("at once: %+v, want looking for peers", s)
		}
		time.Sleep(5 * time.Second)
		if s := tor.Status(); s.State != engine.StateStalled || s.Hint != engine.HintNoMetadata {
			t.Fatalf("at 5 s: %+v, want stalled with the metadata hint", s)
		}
	})
}

// A download shows its rate and time left, the peer its client, transport,
// progress, rate and payments; when the peer stops sending, the rate falls
// to 0, the ETA goes, and the torrent stalls. The engine names its own
// client to the peer (BEP 10 "v").
func TestStatusRatesETAAndPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		tor, data, p, provKey, _ := b.buyer(t)
		if s := tor.Status(); s.State != engine.StateDownloading {
			t.Fatalf("connected to a seeder: %+v, want downloading", s)
		}
		if want := "btspeed/" + engine.Version; p.agent != want {
			t.Fatalf("the engine calls itself %q, want %q", p.agent, want)
		}
		const rate = 1_000_000
		p.grant(rate, provKey.Address())
		// The blocks of pieces 0 and 1 are sent once asked for: the engine
		// drops blocks it did not request.
		for asked := map[int]bool{}; len(asked) < 2*bubblePieceLen/engine.BlockSize; {
			r := p.await("the requests for pieces 0 and 1", isType(pp.Request)).m
			if r.Index < 2 {
				asked[int(r.Index)*bubblePieceLen+int(r.Begin)] = true
			}
		}
		start := time.Now()
		for piece := range 2 { // one piece a second
			for begin := 0; begin < bubblePieceLen; begin += engine.BlockSize {
				off := piece*bubblePieceLen + begin
				p.send(pp.Message{Type: pp.Piece, Index: pp.Integer(piece), Begin: pp.Integer(begin), Piece: data[off : off+engine.BlockSize]})
			}
			time.Sleep(time.Second)
		}
		synctest.Wait()
		s := tor.Status()
		// 64 KiB in the 2 s since the first byte; 64 KiB left.
		if s.State != engine.StateDownloading || s.DownloadRate != 32<<10 || s.ETA != 2*time.Second {
			t.Fatalf("after 2 pieces in 2 s: %+v, want downloading at 32 KiB/s, 2 s left", s)
		}
		peers := tor.Peers(50)
		if len(peers) != 1 {
			t.Fatalf("peers %+v, want one", peers)
		}
		pi := peers[0]
		if pi.Addr != "192.0.2.1:6881" || pi.Client != "wirepeer" || pi.Transport != "TCP" || pi.Progress != 1 ||
			pi.Downloaded != 2*bubblePieceLen || pi.DownloadRate != 32<<10 || pi.Account != provKey.Address() {
			t.Fatalf("peer %+v", pi)
		}
		if due := 2 * speed.Price(rate, bubblePieceLen); pi.Spent != due {
			t.Fatalf("paid the peer %d, want %d for two pieces", pi.Spent, due)
		}
		time.Sleep(engine.RateWindow * time.Second)
		if s := tor.Status(); s.DownloadRate != 0 || s.ETA != 0 || s.State != engine.StateDownloading {
			t.Fatalf("%d s after the last piece: %+v, want no rate, no ETA, still downloading", engine.RateWindow, s)
		}
		time.Sleep(30*time.Second - time.Since(start) + time.Second) // 30 s after the last piece
		if s := tor.Status(); s.State != engine.StateStalled || s.Hint != engine.HintNoData {
			t.Fatalf("30 s after the last piece: %+v, want stalled, connected but no data", s)
		}
	})
}

// A complete torrent seeds.
func TestStatusSeeding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		tor, _ := b.content(b.client(mustKey(t), engine.SpeedSettings{}), 2, true)
		time.Sleep(time.Hour)
		if s := tor.Status(); s.State != engine.StateSeeding || s.Hint != "" || s.ETA != 0 {
			t.Fatalf("complete: %+v, want seeding", s)
		}
	})
}
