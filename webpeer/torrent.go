package webpeer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
)

// Torrent is one of the peer's torrents.
type Torrent struct {
	p *Peer
	t *engine.Torrent
}

// InfoHash returns the torrent's info hash.
func (t *Torrent) InfoHash() metainfo.Hash { return t.t.InfoHash() }

// Engine returns the engine's torrent.
func (t *Torrent) Engine() *engine.Torrent { return t.t }

// File is one file of a torrent.
type File struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
	Offset int64  `json:"-"`
}

// Status is a snapshot for the page.
type Status struct {
	InfoHash   string         `json:"infoHash"`
	Name       string         `json:"name"`
	MagnetURI  string         `json:"magnetURI"`
	Length     int64          `json:"length"`
	Files      []File         `json:"files"`
	Metadata   bool           `json:"metadata"`
	Done       bool           `json:"done"`
	Progress   float64        `json:"progress"`
	Verified   int64          `json:"verified"`
	Downloaded int64          `json:"downloaded"`
	Uploaded   int64          `json:"uploaded"`
	Peers      int            `json:"peers"`
	Conns      map[string]int `json:"connections"`
	Spent      uint64         `json:"spent"`
	Earned     uint64         `json:"earned"`
	PeerSpeed  []PeerStatus   `json:"peerAccounts"`
	// Speed says whether Speed pays and earns on this torrent now (the
	// wallet unlocked, Speed on globally and for the torrent).
	Speed bool   `json:"speed"`
	Error string `json:"error,omitempty"`
}

// PeerStatus is what Speed moved with one peer account on this torrent.
type PeerStatus struct {
	Account string `json:"account"`
	Spent   uint64 `json:"spent"`
	Earned  uint64 `json:"earned"`
}

// Status returns the torrent's state now.
func (t *Torrent) Status() Status {
	st := t.t.Stats()
	sp := t.t.SpeedStats()
	s := Status{InfoHash: t.InfoHash().HexString(), Name: st.Name, Length: st.Length, Verified: st.BytesCompleted,
		Downloaded: st.Downloaded, Uploaded: st.Uploaded, Peers: st.Peers, Conns: st.Connections,
		Spent: sp.Spent, Earned: sp.Earned, Speed: t.t.SpeedSettings().Enabled}
	for _, ps := range sp.Peers {
		s.PeerSpeed = append(s.PeerSpeed, PeerStatus{Account: ps.Account.String(), Spent: ps.Spent, Earned: ps.Earned})
	}
	if info := t.t.Info(); info != nil {
		s.Metadata = true
		s.Files = files(info)
		if st.Length > 0 {
			s.Progress = float64(st.BytesCompleted) / float64(st.Length)
		}
	}
	select {
	case <-t.t.Complete():
		s.Done, s.Progress = true, 1
	default:
	}
	m := metainfo.Magnet{InfoHash: t.InfoHash(), DisplayName: s.Name}
	for _, tier := range t.t.Trackers() {
		m.Trackers = append(m.Trackers, tier...)
	}
	s.MagnetURI = m.String()
	if err := t.t.Err(); err != nil {
		s.Error = err.Error()
	}
	return s
}

func files(info *metainfo.Info) []File {
	var out []File
	var off int64
	for _, f := range info.UpvertedFiles() {
		path := info.BestName()
		if len(info.Files) > 0 {
			path += "/" + strings.Join(f.BestPath(), "/")
		}
		if !isPad(f) {
			out = append(out, File{Path: path, Length: f.Length, Offset: off})
		}
		off += f.Length
	}
	return out
}

// ReadFile reads up to len(p) bytes of file i at off, waiting until they
// are downloaded and verified; the pieces holding them, and readAhead
// bytes after, are downloaded first (a player streaming the file).
func (t *Torrent) ReadFile(ctx context.Context, i int, p []byte, off, readAhead int64) (int, error) {
	select {
	case <-t.t.GotInfo():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	fs := files(t.t.Info())
	if i < 0 || i >= len(fs) {
		return 0, fmt.Errorf("webpeer: no file %d", i)
	}
	f := fs[i]
	if off < 0 || off >= f.Length {
		return 0, io.EOF
	}
	if rest := f.Length - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	readAhead = min(readAhead, f.Length-off-int64(len(p)))
	return t.t.ReadAt(ctx, p, f.Offset+off, readAhead)
}

// SetSpeed overrides the global Speed settings for this torrent (a nil
// Speed in opts follows them again).
func (t *Torrent) SetSpeed(opts TorrentOptions) { t.t.SetSpeed(opts.Speed) }

// SeedFile is a file to seed: its path inside the torrent and content.
type SeedFile struct {
	Path string
	Data []byte
}

// Seed makes a torrent of files (one file: a single-file torrent named
// after it; several: a directory called name) and seeds it.
func (p *Peer) Seed(name string, in []SeedFile, opts TorrentOptions) (*Torrent, error) {
	if len(in) == 0 {
		return nil, errors.New("webpeer: nothing to seed")
	}
	var total int64
	for _, f := range in {
		total += int64(len(f.Data))
	}
	info := metainfo.Info{PieceLength: engine.AutoPieceLength(total)}
	var all []byte
	byPath := make(map[string][]byte)
	if len(in) == 1 {
		info.Name, info.Length = baseName(in[0].Path), int64(len(in[0].Data))
		all = in[0].Data
	} else {
		info.Name = name
		all = make([]byte, 0, total)
		for _, f := range in {
			parts := strings.Split(strings.Trim(f.Path, "/"), "/")
			if _, dup := byPath[strings.Join(parts, "/")]; dup {
				return nil, fmt.Errorf("webpeer: %s is given twice", f.Path)
			}
			byPath[strings.Join(parts, "/")] = f.Data
			info.Files = append(info.Files, metainfo.FileInfo{Path: parts, Length: int64(len(f.Data))})
			all = append(all, f.Data...)
		}
	}
	if info.Name == "" {
		return nil, errors.New("webpeer: the torrent needs a name")
	}
	if err := info.GeneratePieces(func(fi metainfo.FileInfo) (io.ReadCloser, error) {
		if len(in) == 1 {
			return io.NopCloser(bytes.NewReader(all)), nil
		}
		return io.NopCloser(bytes.NewReader(byPath[strings.Join(fi.Path, "/")])), nil
	}); err != nil {
		return nil, fmt.Errorf("webpeer: hashing: %w", err)
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("webpeer: encoding the info: %w", err)
	}
	spec := engine.TorrentSpec{InfoHash: metainfo.HashBytes(infoBytes), InfoBytes: infoBytes, DisplayName: info.Name}
	return p.addSpec(spec, opts, all)
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// isPad says whether f is a BEP 47 padding file (attr "p").
func isPad(f metainfo.FileInfo) bool { return strings.Contains(f.Attr, "p") }
