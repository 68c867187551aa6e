package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/speed/proxy/requester"
)

// fetchFlags are btspeed fetch's flags.
type fetchFlags struct {
	out, provider, maxPrice, budget, wallet string
	restart                                 bool
	where                                   where
}

// runFetch is 'btspeed fetch URL': the paid proxy's requester
// (docs/speed-protocol.md section 11). A provider fetches URL and sends it
// in chunks, each paid once received whole; FILE.btspeed-fetch beside the
// output keeps the progress and the version (pin), so running the same
// command again resumes at the next chunk, with this provider or another.
func runFetch(c *cli, args []string) error {
	fs := c.newFlags("fetch", "btspeed fetch URL [-o FILE] [--provider HOST:PORT] [--max-price BTT_PER_GIB] [--budget BTT] [--restart] [--wallet FILE] [--relay URL | --ledger URL]")
	var f fetchFlags
	f.where.register(fs, true, false)
	fs.StringVar(&f.out, "o", "", "file to write (default: the URL's file name, in the current directory)")
	fs.StringVar(&f.provider, "provider", "", "the paid proxy provider, HOST:PORT (default: the relay's, as its /proxy says)")
	fs.StringVar(&f.maxPrice, "max-price", "1000", "most BTT per GiB to pay")
	fs.StringVar(&f.budget, "budget", "", "most BTT this download may spend (default: 1% of the wallet's ledger balance)")
	fs.StringVar(&f.wallet, "wallet", "", walletUsage("keystore that pays"))
	fs.BoolVar(&f.restart, "restart", false, "start again from the first chunk, dropping a partial download (after the file changed at its origin)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one URL to fetch"}
	}
	rawURL := pos[0]
	if err := proxy.ValidateURL(rawURL); err != nil {
		return usageError{fmt.Sprintf("%q is not a URL the proxy fetches (an absolute http or https URL, no user name or #fragment): %v", rawURL, err)}
	}
	if f.out == "" {
		f.out = outName(rawURL)
	}
	prog, err := loadProgress(f.out, rawURL, f.restart)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	cfg, err := f.requesterConfig(ctx, c)
	if err != nil {
		return err
	}
	return f.fetch(ctx, c, cfg, prog)
}

// outName is the file name a URL's path ends with, or "download".
func outName(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if b := path.Base(u.Path); b != "/" && b != "." && b != "" {
			return b
		}
	}
	return "download"
}

func statePath(out string) string { return out + ".btspeed-fetch" }

// loadProgress reads the saved progress of a download to out, or starts
// one: a new download never overwrites a file that is not its own.
func loadProgress(out, rawURL string, restart bool) (requester.Progress, error) {
	fresh := requester.Progress{URL: rawURL}
	b, err := os.ReadFile(statePath(out))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(out); err == nil && !restart {
			return fresh, human(nil, "%s already exists: choose another file with -o, or remove it first", out)
		}
		return fresh, nil
	case err != nil:
		return fresh, fmt.Errorf("reading %s: %w", statePath(out), err)
	}
	var p requester.Progress
	if err := json.Unmarshal(b, &p); err != nil {
		return fresh, human(err, "%s is damaged: remove it and %s to start the download again", statePath(out), out)
	}
	if p.URL != rawURL {
		return fresh, human(nil, "%s is a partial download of %s, not of this URL: choose another file with -o", out, p.URL)
	}
	if restart {
		return fresh, nil
	}
	return p, nil
}

// requesterConfig unlocks the wallet and asks the ledger for its id and
// the wallet's balance (for the default budget).
func (f *fetchFlags) requesterConfig(ctx context.Context, c *cli) (requester.Config, error) {
	var cfg requester.Config
	maxPerGiB, err := speed.ParseBTT(f.maxPrice)
	if err != nil || maxPerGiB < 1024 {
		return cfg, usageError{fmt.Sprintf("--max-price %q: give BTT per GiB, at least 0.001024", f.maxPrice)}
	}
	cfg.MaxRate = maxPerGiB / 1024
	if f.budget != "" {
		if cfg.Budget, err = speed.ParseBTT(f.budget); err != nil || cfg.Budget == 0 {
			return cfg, usageError{fmt.Sprintf("--budget %q: give an amount of BTT above 0", f.budget)}
		}
	}
	if cfg.Key, err = c.unlockWallet(f.wallet); err != nil {
		return cfg, err
	}
	lurl := f.where.ledgerURL(c)
	lc := client.New(lurl, nil)
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := lc.Info(ictx)
	if err != nil {
		return cfg, fmt.Errorf("the ledger at %s: %w", lurl, err)
	}
	cfg.Ledger, cfg.LedgerID = lc, info.Ledger
	if cfg.Budget == 0 {
		bal, err := lc.Balance(ictx, cfg.Key.Address())
		if err != nil {
			return cfg, fmt.Errorf("the wallet's balance: %w", err)
		}
		if cfg.Budget = bal / 100; cfg.Budget == 0 {
			return cfg, human(nil, "your ledger balance is %s BTT, so a paid fetch has no budget: put BTT on the ledger first "+
				"('btspeed faucet' on a development ledger, 'btspeed ledger deposit' otherwise), or give --budget", speed.FormatBTT(bal))
		}
	}
	return cfg, nil
}

// providerAddr is --provider, or the relay's provider as its /proxy says.
func (f *fetchFlags) providerAddr(ctx context.Context, c *cli) (string, error) {
	if f.provider != "" {
		return f.provider, nil
	}
	relay := f.where.relayURL(c)
	u, err := url.Parse(relay)
	if err != nil {
		return "", usageError{fmt.Sprintf("--relay %q: %v", relay, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, relay+"/proxy", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking the relay %s for its proxy: %w", relay, err)
	}
	defer resp.Body.Close()
	var pj struct {
		Port int `json:"port"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&pj) != nil || pj.Port == 0 {
		return "", human(nil, "the relay %s offers no paid proxy: name a provider with --provider HOST:PORT, or another relay with --relay", relay)
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(pj.Port)), nil
}

// fetch runs the download from prog to its end through one provider.
func (f *fetchFlags) fetch(ctx context.Context, c *cli, cfg requester.Config, prog requester.Progress) error {
	if prog.Done() {
		return f.finish(c, prog, requester.Result{Progress: prog})
	}
	addr, err := f.providerAddr(ctx, c)
	if err != nil {
		return err
	}
	sink, err := openFileSink(f.out, prog, c)
	if err != nil {
		return err
	}
	defer sink.file.Close()
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	nc, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return human(err, "cannot reach the proxy provider at %s: check --provider (or the relay), then run the same command again", addr)
	}
	cfg.OnHead = func(h proxy.Head) {
		fmt.Fprintf(c.err, "fetching %s through %s: %d bytes in %d chunks from chunk %d, %s BTT per MiB paid to %s\n",
			prog.URL, addr, h.Pin.Length, h.Pin.Chunks(), prog.Next, speed.FormatBTT(h.Rate), h.Payee)
		if h.Pin.ETag == "" && h.Pin.LastModified == 0 {
			fmt.Fprintln(c.err, "note: the origin gives no ETag or Last-Modified, so a change that keeps the length could not be detected on resume")
		}
	}
	res, err := requester.Fetch(ctx, nc, cfg, prog, sink)
	if err != nil {
		return fetchError(err, res, f.out, prog.URL)
	}
	return f.finish(c, res.Progress, res)
}

// finish trims and syncs the file, removes the progress file and says so.
func (f *fetchFlags) finish(c *cli, prog requester.Progress, res requester.Result) error {
	if err := os.Truncate(f.out, int64(prog.Pin.Length)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("finishing %s: %w", f.out, err)
	}
	if prog.Pin.Length == 0 {
		if err := os.WriteFile(f.out, nil, 0o644); err != nil {
			return fmt.Errorf("finishing %s: %w", f.out, err)
		}
	}
	if err := os.Remove(statePath(f.out)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("finishing %s: %w", f.out, err)
	}
	fmt.Fprintf(c.err, "fetched %d bytes; %d chunks paid on this run, %s BTT\n", prog.Pin.Length, res.Chunks, speed.FormatBTT(res.Spent))
	fmt.Fprintln(c.out, f.out)
	return nil
}

// fetchError says what stopped a fetch, in words.
func fetchError(err error, res requester.Result, out, rawURL string) error {
	var changed *requester.ChangedError
	var refused *requester.RefusedError
	held, total := res.Progress.Next, res.Progress.Pin.Chunks()
	switch {
	case errors.As(err, &changed):
		return human(err, "the file changed at its origin after %d of %d chunks: start the download again to get the new version (btspeed fetch %s -o %s --restart); nothing of the new version was paid for", changed.Held, changed.Total, rawURL, out)
	case errors.As(err, &refused):
		return human(err, "the provider refused: %s", refusalWords(refused.Why))
	case errors.Is(err, requester.ErrPrice):
		return human(err, "the provider's price is above --max-price, or the download costs more than --budget: raise them, or use another provider")
	case errors.Is(err, context.Canceled):
		return human(err, "stopped after %d of %d chunks: run the same command again to resume", held, total)
	}
	return human(err, "the download stopped after %d of %d chunks: run the same command again to resume from there (--provider HOST:PORT for another provider)", held, total)
}

// fileSink writes chunks into the output file and the progress beside it.
type fileSink struct {
	file  *os.File
	state string
	c     *cli
}

func openFileSink(out string, prog requester.Progress, c *cli) (*fileSink, error) {
	flags := os.O_RDWR | os.O_CREATE
	if prog.Next == 0 {
		flags |= os.O_TRUNC
	}
	file, err := os.OpenFile(out, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", out, err)
	}
	s := &fileSink{file: file, state: statePath(out), c: c}
	if err := s.save(prog); err != nil {
		file.Close()
		return nil, err
	}
	return s, nil
}

func (s *fileSink) WriteChunk(off uint64, data []byte) error {
	_, err := s.file.WriteAt(data, int64(off))
	return err
}

// Checkpoint makes the chunks durable, then the progress that counts them.
func (s *fileSink) Checkpoint(p requester.Progress) error {
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("syncing: %w", err)
	}
	fmt.Fprintf(s.c.err, "\rchunk %d of %d", p.Next, p.Pin.Chunks())
	if p.Done() {
		fmt.Fprintln(s.c.err)
	}
	return s.save(p)
}

func (s *fileSink) save(p requester.Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp := s.state + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("saving progress: %w", err)
	}
	if err := os.Rename(tmp, s.state); err != nil {
		return fmt.Errorf("saving progress: %w", err)
	}
	return nil
}
