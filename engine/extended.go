package engine

import (
	"bytes"
	"crypto/sha1"
	"net"
	"strconv"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// extHandshake is the part of a peer's BEP 10 handshake the engine reads.
type extHandshake struct {
	M            map[string]int64 `bencode:"m"`
	V            string           `bencode:"v"`
	Reqq         int64            `bencode:"reqq"`
	MetadataSize int64            `bencode:"metadata_size"`
	P            int64            `bencode:"p"`
}

// gotExtendedLocked dispatches a BEP 10 message.
func (c *conn) gotExtendedLocked(m *pp.Message) error {
	switch m.ExtendedID {
	case pp.HandshakeExtendedID:
		return c.gotExtHandshakeLocked(m.ExtendedPayload)
	case extMetadata:
		return c.gotMetadataLocked(m.ExtendedPayload)
	case extPex:
		c.gotPexLocked(m.ExtendedPayload)
		return nil
	case extSpeed:
		return c.t.speedMessageLocked(c, m.ExtendedPayload)
	}
	return nil // an extension we never advertised: ignore
}

func (c *conn) gotExtHandshakeLocked(payload []byte) error {
	t := c.t
	var h extHandshake
	if err := bencode.Unmarshal(payload, &h); err != nil {
		return c.protocolError("extended handshake: %w", err)
	}
	c.ext = make(map[string]int, len(h.M))
	for name, id := range h.M {
		if id > 0 && id < 256 && len(c.ext) < 64 {
			c.ext[name] = int(id)
		}
	}
	if len(h.V) > 64 {
		h.V = h.V[:64]
	}
	c.userAgent = h.V
	if h.Reqq > 0 {
		c.maxReqs = reqsFor(h.Reqq, c.requestLimit())
	}
	if h.P > 0 && h.P < 65536 && !c.outgoing {
		if ip := remoteIP(c.nc); ip != nil {
			c.listenAddr = net.JoinHostPort(ip.String(), strconv.Itoa(int(h.P)))
		}
	}
	if h.MetadataSize > 0 && c.ext["ut_metadata"] > 0 {
		if h.MetadataSize > MaxMetadataSize {
			return c.protocolError("metadata of %d bytes", h.MetadataSize)
		}
		c.metadataSize = int(h.MetadataSize)
		t.requestMetadataLocked()
	}
	t.speedGotHandshakeLocked(c, payload)
	return nil
}

// metadataMsg is a BEP 9 message's dictionary.
type metadataMsg struct {
	Type      pp.ExtendedMetadataRequestMsgType `bencode:"msg_type"`
	Piece     int                               `bencode:"piece"`
	TotalSize int                               `bencode:"total_size,omitempty"`
}

// metaFetch is the state of fetching a torrent's info from peers.
type metaFetch struct {
	size      int
	pieces    [][]byte
	asked     []*conn     // who each missing piece was asked of
	askedAt   []time.Time // when
	have      int
	from      map[*conn]bool
	badSource map[[20]byte]bool // peers whose metadata failed the hash
}

func (c *conn) gotMetadataLocked(payload []byte) error {
	t := c.t
	r := bytes.NewReader(payload)
	var m metadataMsg
	if err := bencode.NewDecoder(r).Decode(&m); err != nil {
		return c.protocolError("ut_metadata: %w", err)
	}
	data := payload[len(payload)-r.Len():]
	switch m.Type {
	case pp.RequestMetadataExtensionMsgType:
		id := c.ext["ut_metadata"]
		if id == 0 {
			return nil
		}
		if t.infoBytes == nil || m.Piece < 0 || m.Piece*metadataPieceSize >= len(t.infoBytes) {
			c.sendLocked(pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(id),
				ExtendedPayload: bencode.MustMarshal(metadataMsg{Type: pp.RejectMetadataExtensionMsgType, Piece: m.Piece})})
			return nil
		}
		start := m.Piece * metadataPieceSize
		end := min(start+metadataPieceSize, len(t.infoBytes))
		msg := bencode.MustMarshal(metadataMsg{Type: pp.DataMetadataExtensionMsgType, Piece: m.Piece, TotalSize: len(t.infoBytes)})
		c.sendLocked(pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(id), ExtendedPayload: append(msg, t.infoBytes[start:end]...)})
	case pp.DataMetadataExtensionMsgType:
		f := t.meta
		if f == nil || m.Piece < 0 || m.Piece >= len(f.pieces) || f.asked[m.Piece] != c {
			return nil // not asked, or already known: ignore
		}
		want := min(metadataPieceSize, f.size-m.Piece*metadataPieceSize)
		if m.TotalSize != f.size || len(data) != want {
			return c.protocolError("metadata piece %d of %d bytes (want %d of %d)", m.Piece, len(data), want, f.size)
		}
		f.pieces[m.Piece] = bytes.Clone(data)
		f.asked[m.Piece] = nil
		f.have++
		f.from[c] = true
		t.lastData = t.cfg.Now()
		if f.have == len(f.pieces) {
			t.metadataCompleteLocked()
		} else {
			t.requestMetadataLocked()
		}
	case pp.RejectMetadataExtensionMsgType:
		if f := t.meta; f != nil && m.Piece >= 0 && m.Piece < len(f.pieces) && f.asked[m.Piece] == c {
			f.asked[m.Piece] = nil
			c.metadataSize = 0 // it will not give us this info
			t.requestMetadataLocked()
		}
	}
	return nil
}

// requestMetadataLocked asks peers for the info's missing pieces.
func (t *Torrent) requestMetadataLocked() {
	if t.lay != nil || t.closed {
		return
	}
	if t.meta == nil {
		// Size the fetch by the first peer that offers the metadata.
		for c := range t.conns {
			if c.metadataSize > 0 {
				n := (c.metadataSize + metadataPieceSize - 1) / metadataPieceSize
				t.meta = &metaFetch{
					size:      c.metadataSize,
					pieces:    make([][]byte, n),
					asked:     make([]*conn, n),
					askedAt:   make([]time.Time, n),
					from:      make(map[*conn]bool),
					badSource: make(map[[20]byte]bool),
				}
				break
			}
		}
		if t.meta == nil {
			return
		}
	}
	f := t.meta
	now := time.Now()
	for i := range f.pieces {
		if f.pieces[i] != nil || (f.asked[i] != nil && !f.asked[i].closed && now.Sub(f.askedAt[i]) < 30*time.Second) {
			continue
		}
		for c := range t.conns {
			if c.metadataSize != f.size || c.ext["ut_metadata"] == 0 || f.badSource[c.peerID] || c == f.asked[i] {
				continue
			}
			f.asked[i], f.askedAt[i] = c, now
			c.sendLocked(pp.Message{Type: pp.Extended, ExtendedID: pp.ExtensionNumber(c.ext["ut_metadata"]),
				ExtendedPayload: bencode.MustMarshal(metadataMsg{Type: pp.RequestMetadataExtensionMsgType, Piece: i})})
			break
		}
	}
}

// metadataCompleteLocked checks the fetched info against the info hash
// and, if it matches, starts the download.
func (t *Torrent) metadataCompleteLocked() {
	f := t.meta
	infoBytes := bytes.Join(f.pieces, nil)
	if metainfo.Hash(sha1.Sum(infoBytes)) != t.ih {
		for c := range f.from {
			f.badSource[c.peerID] = true
			c.closeLocked(c.protocolError("sent metadata that does not hash to the info hash"))
		}
		t.meta = nil
		t.requestMetadataLocked()
		return
	}
	lay, err := parseInfo(infoBytes, t.ih)
	if err != nil {
		t.failLocked(err)
		return
	}
	if err := t.setInfoLocked(lay, infoBytes); err != nil {
		t.failLocked(err)
		return
	}
	t.log.Info("got the info from peers", "name", lay.info.BestName(), "pieces", lay.numPieces)
	for c := range t.conns {
		c.infoArrivedLocked()
	}
	t.requestFromAllLocked()
}

// maxPexAdded caps the peers taken from one PEX message (BEP 11 allows 50
// per message).
const maxPexAdded = 50

func (c *conn) gotPexLocked(payload []byte) {
	t := c.t
	if t.lay != nil && t.lay.private() {
		return
	}
	msg, err := pp.LoadPexMsg(payload)
	if err != nil {
		c.log.Debug("bad pex message", "err", err)
		return
	}
	n := 0
	for _, a := range append(msg.Added, msg.Added6...) {
		if n >= maxPexAdded {
			break
		}
		if a.Port <= 0 || a.Port >= 65536 || a.IP.IsUnspecified() {
			continue
		}
		t.addCandidateLocked(a.String(), "pex")
		n++
	}
}

// pexLocked sends each ut_pex peer the peers added and dropped since the
// last message (BEP 11: at most once a minute).
func (t *Torrent) pexLocked() {
	if t.lay != nil && t.lay.private() {
		return
	}
	current := make(map[string]krpc.NodeAddr)
	for c := range t.conns {
		addr := c.addr
		if !c.outgoing {
			addr = c.listenAddr
		}
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		p, _ := strconv.Atoi(port)
		ip := net.ParseIP(host)
		if ip == nil {
			continue
		}
		current[addr] = krpc.NodeAddr{IP: ip, Port: p}
	}
	for c := range t.conns {
		id := c.ext["ut_pex"]
		if id == 0 {
			continue
		}
		if c.pexSent == nil {
			c.pexSent = make(map[string]bool)
		}
		var msg pp.PexMsg
		for addr, na := range current {
			if c.pexSent[addr] || addr == c.addr || addr == c.listenAddr || msg.Len() >= maxPexAdded {
				continue
			}
			c.pexSent[addr] = true
			if na.IP.To4() != nil {
				msg.Added = append(msg.Added, krpc.NodeAddr{IP: na.IP.To4(), Port: na.Port})
				msg.AddedFlags = append(msg.AddedFlags, 0)
			} else {
				msg.Added6 = append(msg.Added6, na)
				msg.Added6Flags = append(msg.Added6Flags, 0)
			}
		}
		for addr := range c.pexSent {
			if _, ok := current[addr]; ok || msg.Len() >= 2*maxPexAdded {
				continue
			}
			delete(c.pexSent, addr)
			host, port, _ := net.SplitHostPort(addr)
			p, _ := strconv.Atoi(port)
			if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
				msg.Dropped = append(msg.Dropped, krpc.NodeAddr{IP: ip.To4(), Port: p})
			}
		}
		if msg.Len() > 0 {
			c.sendLocked(msg.Message(pp.ExtensionNumber(id)))
		}
	}
}

// reqsFor is how many requests to keep outstanding with a peer that
// advertised reqq: one fewer than reqq (Transmission advertises 512 and
// refuses the 512th), at least 1, at most our own cap. A peer advertising
// nothing or 0 keeps our cap (the caller skips it).
func reqsFor(reqq int64, limit int) int {
	return int(max(1, min(int64(limit), reqq-1)))
}
