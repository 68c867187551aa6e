package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/engine/storage"
	"github.com/btspeed/btspeed/engine/wstracker"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
)

// parseMixed parses flags that may come before or after the positional
// arguments ("btspeed get MAGNET --out DIR"), returning the positionals.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// peerFlags are what get and seed share: how to reach peers, and Speed.
type peerFlags struct {
	listen   string
	noUTP    bool
	peers    multiFlag
	speedOn  string
	where    where
	wallet   string
	budget   string
	maxPrice string
	reserve  string
	upload   string
	verbose  bool
	stall    time.Duration
}

func (p *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.listen, "listen", ":0", "address to accept peers on, TCP and uTP (port 0: any free port)")
	fs.BoolVar(&p.noUTP, "no-utp", false, "TCP only (uTP yields to other traffic on the link; it is on by default)")
	fs.Var(&p.peers, "peer", "HOST:PORT of a peer to connect to (repeatable)")
	fs.StringVar(&p.speedOn, "speed", "auto", "BitTorrent Speed: on, off, or auto (on when a wallet is installed)")
	p.where.register(fs, true, false)
	fs.StringVar(&p.wallet, "wallet", "", walletUsage("keystore file paying and paid"))
	fs.StringVar(&p.upload, "upload-limit", "0", "most to upload a second, over all peers: e.g. 500KiB or 2MiB (0: no limit); peers that pay are served first within it")
	fs.BoolVar(&p.verbose, "v", false, "log what the engine does to standard error")
}

// client builds the engine client and starts listening.
func (p *peerFlags) client(c *cli, ctx context.Context) (*engine.Client, string, error) {
	cfg := engine.Config{UserAgent: "btspeed/" + version, StallAfter: p.stall}
	var err error
	if cfg.UploadRate, err = parseRate(p.upload); err != nil {
		return nil, "", usageError{"--upload-limit: " + err.Error()}
	}
	if p.verbose {
		cfg.Logger = newLogger(c.err)
	}
	ln, err := net.Listen("tcp", p.listen)
	if err != nil {
		return nil, "", fmt.Errorf("--listen: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	cfg.ListenPort = addr.Port
	var sock *engine.UTPSocket
	if !p.noUTP {
		if sock, err = engine.ListenUTP(net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))); err != nil {
			ln.Close()
			return nil, "", err
		}
		cfg.Transports = append(cfg.Transports, sock.Transport())
	}
	cfg.Transports = append(cfg.Transports, engine.Transport{Name: "tcp", Network: "tcp", Dialer: &net.Dialer{}})
	// ws:// and wss:// trackers introduce browser peers over WebRTC.
	cfg.PeerFinders = []engine.PeerFinder{wstracker.New(wstracker.Config{Logger: cfg.Logger})}
	sp, err := p.speedConfig(c, ctx)
	if err != nil {
		ln.Close()
		if sock != nil {
			sock.Close()
		}
		return nil, "", err
	}
	cfg.Speed = sp
	cl, err := engine.New(cfg)
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	go cl.Serve(ln)
	if sock != nil {
		go cl.Serve(sock)
	}
	return cl, ln.Addr().String(), nil
}

// speedConfig unlocks the wallet and reaches the ledger when Speed is on.
func (p *peerFlags) speedConfig(c *cli, ctx context.Context) (*engine.SpeedConfig, error) {
	switch p.speedOn {
	case "on", "off", "auto":
	default:
		return nil, usageError{fmt.Sprintf("--speed %q: want on, off or auto", p.speedOn)}
	}
	if p.speedOn == "off" {
		return nil, nil
	}
	path, err := c.walletPath(p.wallet)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		if p.speedOn == "auto" {
			return nil, nil
		}
		return nil, human(err, "Speed needs a wallet and there is none at %s: make one with 'btspeed wallet init' (or import a keystore with 'btspeed wallet keystore import --file FILE'), or download without paying with --speed off", path)
	}
	key, err := unlockFile(c, path)
	if err != nil {
		return nil, err
	}
	url := p.where.ledgerURL(c)
	lc := client.New(url, nil)
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := lc.Info(ictx)
	if err != nil {
		return nil, fmt.Errorf("Speed needs the ledger at %s: %w (or use --speed off)", url, err)
	}
	set := engine.SpeedSettings{Enabled: true, SpendingRate: bidder.PPM}
	if p.budget != "" {
		if set.TorrentBudget, err = speed.ParseBTT(p.budget); err != nil {
			return nil, usageError{"--budget: " + err.Error()}
		}
		if set.TorrentBudget == 0 {
			return nil, usageError{"--budget: give an amount above 0 BTT, or --speed off to spend nothing"}
		}
	}
	if p.maxPrice != "" {
		if set.MaxPrice, err = speed.ParseBTT(p.maxPrice); err != nil {
			return nil, usageError{"--max-price: " + err.Error()}
		}
		if set.MaxPrice < 1024 {
			return nil, usageError{"--max-price: give at least 0.001024 BTT per GiB (0.000001 BTT per MiB), or --speed off to pay nothing"}
		}
	}
	if p.reserve != "" {
		if set.Reserve, err = speed.ParseBTT(p.reserve); err != nil {
			return nil, usageError{"--reserve: " + err.Error()}
		}
	}
	fmt.Fprintf(c.err, "Speed on: account %s on ledger %s (%s)\n", key.Address(), info.Ledger, url)
	return &engine.SpeedConfig{Key: key, Ledger: lc, LedgerID: info.Ledger, Settings: set}, nil
}

// interruptible returns a context cancelled by Ctrl-C or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runGet(c *cli, args []string) error {
	fs := c.newFlags("get", "btspeed get MAGNET|FILE.torrent|URL [--out DIR] [--peer HOST:PORT ...] [--speed on|off] [--budget BTT] [--max-price BTT_PER_GIB]")
	var pf peerFlags
	pf.register(fs)
	out := fs.String("out", ".", "directory to save into")
	seed := fs.Bool("seed", false, "keep seeding after the download completes, until interrupted")
	fs.DurationVar(&pf.stall, "stall-after", 30*time.Second, "how long with no data before the download says it stalled")
	fs.StringVar(&pf.budget, "budget", "", "most BTT to spend on this download, counting deposits still locked in channels (default: 1% of the wallet's balance when the download starts)")
	fs.StringVar(&pf.maxPrice, "max-price", "", fmt.Sprintf("most BTT per GiB to bid (default %d; never above %d times the prices paid lately)", bidder.DefaultMaxPrice/speed.BaseUnitsPerBTT, bidder.MarketMultiple))
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one magnet link, .torrent file or URL"}
	}
	ctx, stop := interruptible()
	defer stop()
	spec, err := specFor(ctx, pos[0])
	if err != nil {
		return err
	}
	cl, _, err := pf.client(c, ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	spec.Peers = append(spec.Peers, pf.peers...)
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(*out, info) }
	spec.Check = true // resume: what is already on disk counts
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		return err
	}
	p := progress{w: c.err, start: time.Now()}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			p.show(tor, true)
			cl.Close()
			return fmt.Errorf("interrupted with %s of %s", size(tor.Stats().BytesCompleted), size(tor.Stats().Length))
		case <-tor.Complete():
			done = true
		case <-tick.C:
			if err := tor.Err(); err != nil {
				return err
			}
			p.show(tor, false)
		}
	}
	p.show(tor, true)
	name := tor.Stats().Name
	fmt.Fprintf(c.out, "%s\n", filepath.Join(*out, name))
	if *seed {
		fmt.Fprintln(c.err, "seeding; Ctrl-C to stop")
		return seedUntilDone(ctx, c, tor)
	}
	return cl.Close()
}

// progress draws a one-line progress bar: state, share done, rates, time
// left, peers; a line of its own when the state changes (what the torrent
// tries while it looks for peers, the hint when it stalls).
type progress struct {
	w     io.Writer
	start time.Time
	state engine.State // the last state shown
}

func (p *progress) show(t *engine.Torrent, final bool) {
	s, st := t.Stats(), t.Status()
	if st.State != p.state {
		p.state = st.State
		if msg := stateMessage(st); msg != "" {
			fmt.Fprintf(p.w, "\r%s\n", msg)
		}
	}
	rate := st.DownloadRate
	if final {
		rate = float64(s.Downloaded) / max(time.Since(p.start).Seconds(), 1e-3)
	}
	frac := 0.0
	if s.Length > 0 {
		frac = float64(s.BytesCompleted) / float64(s.Length)
	}
	const width = 24
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	line := fmt.Sprintf("\r%s [%s] %5.1f%% %s/%s down %s/s", st.State, bar, 100*frac, size(s.BytesCompleted), size(s.Length), size(int64(rate)))
	if st.UploadRate > 0 {
		line += " up " + size(int64(st.UploadRate)) + "/s"
	}
	if st.ETA > 0 && !final {
		line += " ETA " + st.ETA.String()
	}
	line += fmt.Sprintf(" peers %d", s.Peers)
	if sp := t.SpeedStats(); sp.Enabled && sp.Budget > 0 {
		line += " spent " + speed.FormatBTT(sp.Spent) + " of " + speed.FormatBTT(sp.Budget) + " BTT"
	} else if sp.Enabled || sp.Spent > 0 {
		line += " spent " + speed.FormatBTT(sp.Spent) + " BTT"
	}
	if s.Name == "" {
		line = fmt.Sprintf("\r%s: fetching the torrent's info from peers... peers %d", st.State, s.Peers)
	}
	fmt.Fprint(p.w, line+"  ")
	if final {
		fmt.Fprintln(p.w)
	}
}

// stateMessage is the line a new state gets: where the torrent looks for
// peers, or why it stalled; "" when the progress line says it all.
func stateMessage(st engine.Status) string {
	switch st.State {
	case engine.StateLookingForPeers:
		if len(st.Trying) == 0 {
			return "looking for peers: no tracker or peer address to try; add --peer HOST:PORT, or use a magnet link or .torrent with trackers"
		}
		return "looking for peers: trying " + strings.Join(st.Trying, ", ")
	case engine.StateStalled:
		return "stalled: " + st.Hint
	}
	return ""
}

// size formats a byte count.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// maxTorrentFile caps a .torrent read from disk or the web.
const maxTorrentFile = engine.MaxMetadataSize + 1<<20

// specFor reads a magnet link, a .torrent file or a .torrent URL.
func specFor(ctx context.Context, arg string) (engine.TorrentSpec, error) {
	if strings.HasPrefix(arg, "magnet:") {
		return engine.SpecFromMagnet(arg)
	}
	var r io.Reader
	if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		req, err := http.NewRequestWithContext(ctx, "GET", arg, nil)
		if err != nil {
			return engine.TorrentSpec{}, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return engine.TorrentSpec{}, fmt.Errorf("fetching %s: %w", arg, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return engine.TorrentSpec{}, fmt.Errorf("fetching %s: %s", arg, resp.Status)
		}
		r = resp.Body
	} else {
		f, err := os.Open(arg)
		if err != nil {
			return engine.TorrentSpec{}, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTorrentFile+1))
	if err != nil {
		return engine.TorrentSpec{}, err
	}
	if len(b) > maxTorrentFile {
		return engine.TorrentSpec{}, fmt.Errorf("%s: larger than %d bytes", arg, maxTorrentFile)
	}
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(b, &mi); err != nil {
		return engine.TorrentSpec{}, human(err, "%s is not a torrent file: give a .torrent file, a magnet link or a URL of one", arg)
	}
	if len(mi.InfoBytes) == 0 {
		return engine.TorrentSpec{}, fmt.Errorf("%s has no info dictionary", arg)
	}
	return engine.SpecFromMetaInfo(&mi), nil
}

// buildTorrent makes a torrent of path (a file or a directory).
func buildTorrent(path string, pieceLength int64, trackers, webSeeds []string, private bool) (*metainfo.MetaInfo, error) {
	return engine.CreateTorrent(path, engine.CreateOptions{PieceLength: pieceLength, Trackers: trackers,
		WebSeeds: webSeeds, Private: private, CreatedBy: "btspeed/" + version})
}

func magnetOf(mi *metainfo.MetaInfo) (string, error) {
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return "", err
	}
	ih := mi.HashInfoBytes()
	m := mi.Magnet(&ih, &info)
	return m.String(), nil
}

func runCreateTorrent(c *cli, args []string) error {
	fs := c.newFlags("create-torrent", "btspeed create-torrent PATH [--out FILE] [--tracker URL ...] [--web-seed URL ...] [--piece-length BYTES] [--private]")
	var trackers, seeds multiFlag
	fs.Var(&trackers, "tracker", "announce URL (repeatable)")
	fs.Var(&seeds, "web-seed", "BEP 19 web seed URL (repeatable)")
	outPath := fs.String("out", "", "where to write the .torrent (default PATH.torrent)")
	pieceLength := fs.Int64("piece-length", 0, "piece length in bytes, a power of two (default: chosen by size)")
	private := fs.Bool("private", false, "private torrent (BEP 27): peers only from trackers")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one file or directory"}
	}
	if pl := *pieceLength; pl != 0 && (pl < 16<<10 || pl > 64<<20 || pl&(pl-1) != 0) {
		return usageError{fmt.Sprintf("--piece-length %d: want a power of two from 16384 to 67108864", pl)}
	}
	path := filepath.Clean(pos[0])
	mi, err := buildTorrent(path, *pieceLength, trackers, seeds, *private)
	if err != nil {
		return err
	}
	if *outPath == "" {
		*outPath = path + ".torrent"
	}
	if err := writeTorrent(*outPath, mi); err != nil {
		return err
	}
	magnet, err := magnetOf(mi)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.err, "wrote %s (info hash %s)\n", *outPath, mi.HashInfoBytes().HexString())
	fmt.Fprintln(c.out, magnet)
	return nil
}

// writeTorrent writes a .torrent without clobbering an existing file.
func writeTorrent(path string, mi *metainfo.MetaInfo) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := mi.Write(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

func runSeed(c *cli, args []string) error {
	fs := c.newFlags("seed", "btspeed seed FILE|DIR [--tracker URL ...] [--reserve BTT_PER_MIB] [--torrent-out FILE] [--upload-limit RATE]")
	var pf peerFlags
	pf.register(fs)
	var trackers multiFlag
	fs.Var(&trackers, "tracker", "announce URL (repeatable)")
	fs.StringVar(&pf.reserve, "reserve", "", "lowest price, BTT per MiB, your upload slots are sold for (default 0: paid slots go to the highest bids, free ones still go by throughput)")
	torrentOut := fs.String("torrent-out", "", "also write the .torrent here")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one file or directory"}
	}
	path, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	mi, err := buildTorrent(path, 0, trackers, nil, false)
	if err != nil {
		return err
	}
	if *torrentOut != "" {
		if err := writeTorrent(*torrentOut, mi); err != nil {
			return err
		}
	}
	ctx, stop := interruptible()
	defer stop()
	cl, addr, err := pf.client(c, ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	spec := engine.SpecFromMetaInfo(mi)
	spec.Storage = func(info *metainfo.Info) (engine.Storage, error) { return storage.OpenFiles(filepath.Dir(path), info) }
	spec.Check = true
	spec.Peers = pf.peers
	tor, err := cl.AddTorrent(spec)
	if err != nil {
		return err
	}
	select {
	case <-tor.Complete():
	default:
		return fmt.Errorf("%s changed while it was hashed: try again", path)
	}
	magnet, err := magnetOf(mi)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, magnet)
	if len(trackers) == 0 {
		fmt.Fprintf(c.err, "warning: no --tracker, so nobody can find this torrent unless you give them your address (--peer %s); to announce it on the relay, run again with --tracker %s\n",
			addr, pf.where.trackerURL(c))
	}
	fmt.Fprintf(c.err, "seeding %s on %s; Ctrl-C to stop\n", filepath.Base(path), addr)
	return seedUntilDone(ctx, c, tor)
}

// seedUntilDone reports uploads and earnings until ctx ends.
func seedUntilDone(ctx context.Context, c *cli, tor *engine.Torrent) error {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.err)
			return nil
		case <-tick.C:
			if err := tor.Err(); err != nil {
				return err
			}
			s, sp := tor.Stats(), tor.SpeedStats()
			line := fmt.Sprintf("\rpeers %d, uploaded %s", s.Peers, size(s.Uploaded))
			if sp.Enabled || sp.Earned > 0 {
				line += ", earned " + speed.FormatBTT(sp.Earned) + " BTT"
			}
			if line != last {
				fmt.Fprint(c.err, line+"  ")
				last = line
			}
		}
	}
}

// newLogger logs text to w at debug level (--v).
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// parseRate reads a rate in bytes a second: a whole number with an optional
// unit (B, KB, KiB, MB, MiB, GB, GiB) and an optional "/s".
func parseRate(s string) (int64, error) {
	v := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(v)
	}
	units := map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000, "MiB": 1 << 20, "GB": 1000 * 1000 * 1000, "GiB": 1 << 30}
	unit, ok := units[strings.TrimSpace(v[i:])]
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if !ok || err != nil || n < 0 || n > (1<<62)/unit {
		return 0, fmt.Errorf("%q is not a rate such as 500KiB or 2MiB (a second)", s)
	}
	return n * unit, nil
}
