package webpeer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
)

// Torrent is one of the peer's torrents. Its engine torrent changes when
// the wallet does (engine.go); what it did in the engines before is carried
// over in its counters.
type Torrent struct {
	p  *Peer
	ih metainfo.Hash

	mu       sync.Mutex
	t        *engine.Torrent
	spec     engine.TorrentSpec    // as added, to add it to the next engine
	st       *keptStorage          // nil until the info is known
	override *engine.SpeedSettings // its own Speed settings; nil follows the peer's
	before   carried               // what the engines before this one counted
	gone     chan struct{}         // closed when t is replaced or removed
	dropped  bool                  // removed from the peer
	moveErr  error                 // the last move to a new engine (or resume) failed
	// paused: stopped, in no engine (t is nil), until Resume; snap is what
	// it shows meanwhile, verified its pieces when paused (nil: check them
	// again on resume).
	paused   bool
	snap     Status
	verified []bool
	// checking: kept running from an earlier start, waiting for its turn
	// to hash-check its data and carry on (Peer.recheck).
	checking bool
	// elsewhere: restored paused because its storage would not open
	// (another tab has it, or it no longer fits); its record is not this
	// page's to save until it resumes here.
	elsewhere bool
}

// carried are a torrent's counters from engines it ran in before.
type carried struct {
	downloaded, uploaded int64
	spent, earned        uint64
	conns                map[string]int
	peers                map[string]PeerStatus
}

// InfoHash returns the torrent's info hash.
func (t *Torrent) InfoHash() metainfo.Hash { return t.ih }

// Engine returns the engine's torrent (a new one after the wallet changes,
// nil while paused).
func (t *Torrent) Engine() *engine.Torrent { return t.current() }

func (t *Torrent) current() *engine.Torrent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t
}

// moved records a move from the engine torrent old to nt (nil: err says
// why it failed).
func (t *Torrent) moved(old, nt *engine.Torrent, err error) {
	st, sp := old.Stats(), old.SpeedStats()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.before
	b.downloaded += st.Downloaded
	b.uploaded += st.Uploaded
	b.spent += sp.Spent
	b.earned += sp.Earned
	if b.conns == nil {
		b.conns, b.peers = make(map[string]int), make(map[string]PeerStatus)
	}
	for k, v := range st.Connections {
		b.conns[k] += v
	}
	for _, ps := range sp.Peers {
		a := ps.Account.String()
		was := b.peers[a]
		b.peers[a] = PeerStatus{Account: a, Spent: was.Spent + ps.Spent, Earned: was.Earned + ps.Earned}
	}
	if err != nil {
		t.moveErr = fmt.Errorf("stopped while moving to a new engine: %w", err)
		return
	}
	t.t, t.moveErr = nt, nil
	close(t.gone)
	t.gone = make(chan struct{})
}

// removed marks the torrent removed from the peer.
func (t *Torrent) removed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropped = true
	close(t.gone)
	t.gone = make(chan struct{})
}

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
	// Budget is what the torrent may spend in the engine now (0 until the
	// default, 1% of the wallet, is fixed when it first bids), MaxPrice
	// the most it bids, base units per GiB.
	Budget   uint64 `json:"budget"`
	MaxPrice uint64 `json:"maxPrice"`
	// Speed says whether Speed pays and earns on this torrent now (the
	// wallet unlocked, Speed on globally and for the torrent).
	Speed bool `json:"speed"`
	// Paused says the torrent is stopped until resumed; Checking that it
	// is stopped only until it has hash-checked the data kept from an
	// earlier start (it then runs).
	Paused   bool   `json:"paused"`
	Checking bool   `json:"checking"`
	Error    string `json:"error,omitempty"`
	// State is engine.State: "looking for peers", "fetching metadata",
	// "downloading", "seeding", "stalled" or "stopped"; Hint explains a
	// stalled torrent; Trying lists where it looks for peers.
	State  string   `json:"state"`
	Hint   string   `json:"hint,omitempty"`
	Trying []string `json:"trying"`
	// DownloadRate and UploadRate are bytes per second (averaged over
	// engine.RateWindow seconds); ETA is the seconds left at DownloadRate,
	// 0 when there is none.
	DownloadRate float64 `json:"downloadRate"`
	UploadRate   float64 `json:"uploadRate"`
	ETA          float64 `json:"eta"`
	// PeerList is the connected peers, the busiest first, at most
	// MaxPeerList.
	PeerList []PeerRow `json:"peerList"`
}

// browserHint words an engine hint for a page: the torrent runs while its
// tab is open.
func browserHint(h string) string {
	return strings.Replace(h, "Keep it running;", "Keep the tab open;", 1)
}

// MaxPeerList caps Status.PeerList.
const MaxPeerList = 50

// PeerRow is one connected peer in Status.PeerList.
type PeerRow struct {
	// Addr is IP:port, or "WebRTC peer" when the browser hides it.
	Addr string `json:"address"`
	// Client is the peer's software as it says (BEP 10 "v").
	Client string `json:"client"`
	// Transport: "WebRTC", "bridge (WebRTC)", "bridge (WebSocket)",
	// "WebSocket", "TCP" or "uTP".
	Transport    string  `json:"transport"`
	DownloadRate float64 `json:"downloadRate"`
	UploadRate   float64 `json:"uploadRate"`
	// Progress is the share of the torrent the peer has, 0 to 1.
	Progress float64 `json:"progress"`
	// Account is its Speed account ("" for a peer without Speed); Spent
	// and Earned what we paid it and it paid us here, base units.
	Account string `json:"account"`
	Spent   uint64 `json:"spent"`
	Earned  uint64 `json:"earned"`
}

// peerRows converts the engine's peers.
func peerRows(ps []engine.PeerInfo) []PeerRow {
	out := make([]PeerRow, 0, len(ps))
	for _, p := range ps {
		r := PeerRow{Addr: p.Addr, Client: p.Client, Transport: p.Transport, DownloadRate: p.DownloadRate, UploadRate: p.UploadRate,
			Progress: p.Progress, Spent: p.Spent, Earned: p.Earned}
		if !p.Account.IsZero() {
			r.Account = p.Account.String()
		}
		out = append(out, r)
	}
	return out
}

// PeerStatus is what Speed moved with one peer account on this torrent.
type PeerStatus struct {
	Account string `json:"account"`
	Spent   uint64 `json:"spent"`
	Earned  uint64 `json:"earned"`
}

// Status returns the torrent's state now.
func (t *Torrent) Status() Status {
	t.mu.Lock()
	et, b, moveErr, snap, checking := t.t, t.before, t.moveErr, t.snap, t.checking
	t.mu.Unlock()
	if et == nil {
		s := stoppedStatus(snap, b, moveErr)
		s.Checking = checking
		return s
	}
	st := et.Stats()
	sp := et.SpeedStats()
	s := Status{InfoHash: t.ih.HexString(), Name: st.Name, Length: st.Length, Verified: st.BytesCompleted,
		Downloaded: b.downloaded + st.Downloaded, Uploaded: b.uploaded + st.Uploaded, Peers: st.Peers,
		Conns: st.Connections, Spent: b.spent + sp.Spent, Earned: b.earned + sp.Earned, Budget: sp.Budget, MaxPrice: sp.MaxPrice,
		Speed: et.SpeedSettings().Enabled}
	if moveErr != nil {
		s.Speed = false
	}
	for k, v := range b.conns {
		if s.Conns == nil {
			s.Conns = make(map[string]int)
		}
		s.Conns[k] += v
	}
	s.PeerSpeed = peerSpeed(b.peers, sp.Peers)
	if info := et.Info(); info != nil {
		s.Metadata = true
		s.Files = files(info)
		if st.Length > 0 {
			s.Progress = float64(st.BytesCompleted) / float64(st.Length)
		}
	}
	select {
	case <-et.Complete():
		s.Done, s.Progress = true, 1
	default:
	}
	m := metainfo.Magnet{InfoHash: t.ih, DisplayName: s.Name}
	if s.Metadata {
		m.Params = url.Values{"xl": {strconv.FormatInt(st.Length, 10)}} // BEP 9: what it may cost shows before it starts
	}
	for _, tier := range et.Trackers() {
		m.Trackers = append(m.Trackers, tier...)
	}
	s.MagnetURI = m.String()
	es := et.Status()
	s.State, s.Hint, s.Trying = string(es.State), browserHint(es.Hint), es.Trying
	s.DownloadRate, s.UploadRate, s.ETA = es.DownloadRate, es.UploadRate, es.ETA.Seconds()
	s.PeerList = peerRows(et.Peers(MaxPeerList))
	if err := cmp.Or(moveErr, et.Err()); err != nil {
		s.Error = err.Error()
		s.State = string(engine.StateStopped)
	}
	return s
}

// peerSpeed adds what the engine counted per peer account to what the
// engines before counted.
func peerSpeed(before map[string]PeerStatus, now []engine.PeerSpeed) []PeerStatus {
	peers := maps.Clone(before)
	if peers == nil {
		peers = make(map[string]PeerStatus)
	}
	for _, ps := range now {
		a := ps.Account.String()
		was := peers[a]
		peers[a] = PeerStatus{Account: a, Spent: was.Spent + ps.Spent, Earned: was.Earned + ps.Earned}
	}
	var out []PeerStatus
	for _, a := range slices.Sorted(maps.Keys(peers)) {
		out = append(out, peers[a])
	}
	return out
}

// stoppedStatus is a paused torrent's status: snap as it was, with the
// counters of the engines it ran in.
func stoppedStatus(snap Status, b carried, err error) Status {
	s := Status{InfoHash: snap.InfoHash, Name: snap.Name, MagnetURI: snap.MagnetURI, Length: snap.Length, Files: snap.Files,
		Metadata: snap.Metadata, Done: snap.Done, Progress: snap.Progress, Verified: snap.Verified,
		Downloaded: b.downloaded, Uploaded: b.uploaded, Spent: b.spent, Earned: b.earned, Paused: true}
	if len(b.conns) > 0 {
		s.Conns = maps.Clone(b.conns)
	}
	s.PeerSpeed = peerSpeed(b.peers, nil)
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// length is the storage the torrent takes: its full length once known.
func (t *Torrent) length() int64 {
	t.mu.Lock()
	et, snap := t.t, t.snap
	t.mu.Unlock()
	if et == nil {
		return snap.Length
	}
	if info := et.Info(); info != nil {
		return info.TotalLength()
	}
	return 0
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
// bytes after, are downloaded first (a player streaming the file). A read
// waiting while the torrent moves to a new engine carries on there.
func (t *Torrent) ReadFile(ctx context.Context, i int, p []byte, off, readAhead int64) (int, error) {
	for {
		t.mu.Lock()
		et, gone, dropped := t.t, t.gone, t.dropped
		t.mu.Unlock()
		if dropped {
			return 0, engine.ErrClosed
		}
		if et == nil {
			return 0, ErrPaused
		}
		n, err := readFile(ctx, et, gone, i, p, off, readAhead)
		if errors.Is(err, engine.ErrClosed) {
			select { // closed to move: the next engine's torrent is coming
			case <-gone:
				continue
			case <-ctx.Done():
				return n, ctx.Err()
			}
		}
		return n, err
	}
}

func readFile(ctx context.Context, et *engine.Torrent, gone <-chan struct{}, i int, p []byte, off, readAhead int64) (int, error) {
	select {
	case <-et.GotInfo():
	case <-gone:
		return 0, engine.ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	fs := files(et.Info())
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
	return et.ReadAt(ctx, p, f.Offset+off, readAhead)
}

// MaxBuffered caps the ranges Buffered returns.
const MaxBuffered = 1000

// Buffered returns the byte ranges of file i that are downloaded and
// verified, [start, end) in the file, in order, at most MaxBuffered (a
// player's buffered ranges); none before the info is known or while
// paused.
func (t *Torrent) Buffered(i int) ([][2]int64, error) {
	et := t.current()
	if et == nil {
		return nil, nil
	}
	info, have := et.Info(), et.Verified()
	if info == nil || have == nil {
		return nil, nil
	}
	fs := files(info)
	if i < 0 || i >= len(fs) {
		return nil, fmt.Errorf("webpeer: no file %d", i)
	}
	f, plen := fs[i], info.PieceLength
	out := [][2]int64{}
	for p := f.Offset / plen; p < int64(len(have)) && p*plen < f.Offset+f.Length && len(out) < MaxBuffered; p++ {
		if !have[p] {
			continue
		}
		start, end := max(p*plen-f.Offset, 0), min((p+1)*plen-f.Offset, f.Length)
		if n := len(out); n > 0 && out[n-1][1] == start {
			out[n-1][1] = end
		} else {
			out = append(out, [2]int64{start, end})
		}
	}
	return out, nil
}

// SetSpeed overrides the global Speed settings for this torrent (a nil
// Speed in opts follows them again). The torrent keeps them when it moves
// to another engine; an engine without Speed (the wallet locked) applies
// them once the wallet unlocks.
func (t *Torrent) SetSpeed(opts TorrentOptions) {
	t.p.opMu.Lock() // not while it moves
	defer t.p.opMu.Unlock()
	t.mu.Lock()
	t.override = cloneSettings(opts.Speed)
	et := t.t
	t.mu.Unlock()
	if et != nil { // a paused torrent gets them when it resumes
		et.SetSpeed(opts.Speed)
	}
	t.p.saveTorrent(t)
}

func cloneSettings(s *engine.SpeedSettings) *engine.SpeedSettings {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

// SeedFile is a file to seed: its path inside the torrent and content.
type SeedFile struct {
	Path string
	Data []byte
}

// Seed makes a torrent of files and seeds it. One file: a single-file
// torrent named after it. Several: a directory called name; when the files
// all sit in one folder ("album/a.mp3", "album/b.mp3"), that folder is the
// torrent's directory: its name unless name is given, and not repeated
// inside the torrent. Several files outside a common folder need a name.
func (p *Peer) Seed(name string, in []SeedFile, opts TorrentOptions) (*Torrent, error) {
	if len(in) == 0 {
		return nil, errors.New("webpeer: nothing to seed")
	}
	if len(in) > 1 {
		var dir string
		in, dir = stripFolder(in)
		if name = strings.TrimSpace(name); name == "" {
			name = dir
		}
		if name == "" {
			return nil, fmt.Errorf("webpeer: %d files need a name for their torrent", len(in))
		}
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

// stripFolder takes the folder every file's path starts with off the
// paths, and returns it ("" when they do not share one).
func stripFolder(in []SeedFile) ([]SeedFile, string) {
	dir, _, ok := strings.Cut(strings.TrimLeft(in[0].Path, "/"), "/")
	if !ok || dir == "" {
		return in, ""
	}
	out := make([]SeedFile, len(in))
	for i, f := range in {
		rest, ok := strings.CutPrefix(strings.TrimLeft(f.Path, "/"), dir+"/")
		if !ok || strings.Trim(rest, "/") == "" {
			return in, ""
		}
		out[i] = SeedFile{Path: rest, Data: f.Data}
	}
	return out, dir
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// mediaExt are the extensions of the files a player plays (web/player.js
// has the same list). A map, not a regexp: regexp would add 70 KB of code
// to the browser peer.
var mediaExt = map[string]bool{".mp4": true, ".m4v": true, ".webm": true, ".mkv": true, ".ogv": true, ".ogg": true,
	".mp3": true, ".m4a": true, ".oga": true, ".opus": true, ".wav": true, ".flac": true}

// StreamFile is the offset and length in the torrent of its first video or
// audio file (by the name's extension), n 0 when it has none: what a
// player streams (engine.TorrentSpec.Stream).
func StreamFile(info *metainfo.Info) (off, n int64) {
	for _, f := range files(info) {
		if mediaExt[strings.ToLower(path.Ext(f.Path))] {
			return f.Offset, f.Length
		}
	}
	return 0, 0
}

// isPad says whether f is a BEP 47 padding file (attr "p").
func isPad(f metainfo.FileInfo) bool { return strings.Contains(f.Attr, "p") }
