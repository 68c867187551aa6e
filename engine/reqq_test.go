package engine_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/relaybridge"
	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/engine/rtc/rtctest"
)

// The engine keeps reqq - 1 requests outstanding with a peer that
// advertises reqq (Transmission advertises 512 and refuses the 512th), at
// least one, and never more than its own cap (Config.MaxRequests, default
// 1000), whatever a hostile peer advertises. The peer is the test: a seed
// on loopback that the engine dials, which never sends data.
func TestRequestsFollowPeerReqq(t *testing.T) {
	for _, tc := range []struct {
		name string
		reqq int64 // -1: none advertised
		cfg  int   // Config.MaxRequests, 0: the default
		want int
	}{
		{"transmission", 512, 0, 511},
		{"libtorrent", 500, 0, 499},
		{"one", 1, 0, 1},
		{"zero", 0, 0, 1000},
		{"none", -1, 0, 1000},
		{"absurd", 1 << 40, 0, 1000},
		{"absurd-own-cap", 1 << 40, 300, 300},
		{"negative", -5, 0, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rejected := outstandingWith(t, tc.reqq, tc.cfg, tc.want)
			if got != tc.want || rejected != 1 {
				t.Fatalf("reqq %d: at most %d requests outstanding, %d rejected; want %d, 1", tc.reqq, got, rejected, tc.want)
			}
		})
	}
}

// TestRequestsCappedOverWebRTC: over a real pion data channel the engine
// keeps as many requests outstanding as fill a quarter of the channel's
// receive buffer: a direct WebRTC peer advertising reqq 500 gets 128 (rtc's
// default 8 MiB), a bridged one (engine/relaybridge's 32 MiB, labelled as
// relaybridge labels it) what its reqq allows, as from a Transmission seed
// behind the relay, which needs them: it sends once per 500 ms.
func TestRequestsCappedOverWebRTC(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxBuffered int
		bridged     bool
		want        int
	}{
		{"direct", 0, false, 128},
		{"bridged", relaybridge.BridgedMaxBuffered, true, 499},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rtctest.Loopback()
			cfg.MaxBuffered = tc.maxBuffered
			if got, rejected := requestsOverWebRTC(t, cfg, tc.bridged, tc.want); got != tc.want || rejected != 1 {
				t.Fatalf("at most %d requests outstanding over WebRTC, %d rejected; want %d, 1", got, rejected, tc.want)
			}
		})
	}
}

// requestsOverWebRTC connects an engine downloader (its end made with cfg,
// labelled as a bridged connection if bridged) to a seed advertising reqq
// 500 over a pion data channel, and returns seedRequests' counts.
func requestsOverWebRTC(t *testing.T, cfg rtc.Config, bridged bool, want int) (int, int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := rtc.NewOffer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := rtc.NewAnswer(ctx, rtctest.Loopback(), o.Local)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Accept(a.Local); err != nil {
		t.Fatal(err)
	}
	seedc := make(chan *rtc.Conn, 1)
	go func() {
		c, err := a.Connect(ctx)
		if err != nil {
			t.Error(err)
		}
		seedc <- c
	}()
	getc, err := o.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seed := <-seedc
	if seed == nil {
		t.FailNow()
	}
	var nc net.Conn = getc
	if bridged {
		nc = &engine.LabeledConn{Conn: getc, Transport: "bridge (WebRTC)", Peer: "192.0.2.1:51413"}
	}
	mi := testInfo(t)
	cl := newClient(t, engine.Config{Logger: testLogger(t)})
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = (&memStorage{}).open
	tor := mustAdd(t, cl, spec)
	added := make(chan struct{})
	go func() {
		defer close(added)
		tor.AddConn(ctx, nc)
	}()
	defer func() { seed.Close(); <-added }()
	return seedRequests(t, seed, mi, tor, 500, want)
}

// outstandingWith lets an engine downloader dial a seed that advertises
// reqq and unchokes it; once want requests arrived the seed rejects one
// (BEP 6) and waits for the request that refills the pipeline. It returns
// the torrent's MaxOutstanding and Rejected then: a cap above want shows
// as more than want outstanding, since the refill fills all free slots.
func outstandingWith(t *testing.T, reqq int64, maxRequests, want int) (int, int) {
	mi := testInfo(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl := newClient(t, engine.Config{Logger: testLogger(t), MaxRequests: maxRequests})
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage, spec.Peers = (&memStorage{}).open, []string{ln.Addr().String()}
	tor := mustAdd(t, cl, spec)

	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	return seedRequests(t, nc, mi, tor, reqq, want)
}

// testInfo is a torrent of 2048 blocks (more than any cap tested) whose
// pieces never verify.
func testInfo(t *testing.T) *metainfo.MetaInfo {
	const pieceLen, pieces = 256 << 10, 128
	info := metainfo.Info{Name: "r.bin", PieceLength: pieceLen, Length: pieceLen * pieces, Pieces: make([]byte, 20*pieces)}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return &metainfo.MetaInfo{InfoBytes: infoBytes}
}

// seedRequests is the seed's side of outstandingWith over nc.
func seedRequests(t *testing.T, nc net.Conn, mi *metainfo.MetaInfo, tor *engine.Torrent, reqq int64, want int) (int, int) {
	nc.SetDeadline(time.Now().Add(time.Minute)) // only so that a broken engine cannot hang the test
	ih := mi.HashInfoBytes()
	var id [20]byte
	copy(id[:], "-XX0000-reqqseedpeer")
	if _, err := pp.Handshake(context.Background(), nc, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast, pp.ExtensionBitLtep)); err != nil {
		t.Fatal(err)
	}
	hs := map[string]any{"m": map[string]int{}, "v": "reqq-test"}
	if reqq >= 0 || reqq < -1 {
		hs["reqq"] = reqq
	}
	payload, err := bencode.Marshal(hs)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []pp.Message{
		{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: payload},
		{Type: pp.HaveAll},
		{Type: pp.Unchoke},
	} {
		if _, err := nc.Write(m.MustMarshalBinary()); err != nil {
			t.Fatal(err)
		}
	}
	d := pp.Decoder{R: bufio.NewReader(nc), MaxLength: 1 << 20}
	next := func() pp.Message {
		for {
			var m pp.Message
			if err := d.Decode(&m); err != nil {
				t.Fatalf("reading the engine's requests: %v (%+v)", err, tor.Stats())
			}
			if !m.Keepalive && m.Type == pp.Request {
				return m
			}
		}
	}
	first := next()
	for range want - 1 {
		next()
	}
	reject := pp.Message{Type: pp.Reject, Index: first.Index, Begin: first.Begin, Length: first.Length}
	if _, err := nc.Write(reject.MustMarshalBinary()); err != nil {
		t.Fatal(err)
	}
	next()
	st := tor.Stats()
	if st.MaxOutstanding < want {
		t.Fatalf("%d requests arrived, %d counted", want, st.MaxOutstanding)
	}
	return st.MaxOutstanding, st.Rejected
}
