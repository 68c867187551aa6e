//go:build !js

package btclientstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Tracker is an opentracker on its own loopback address.
type Tracker struct {
	addr string
	p    *process
}

// StartOpentracker starts opentracker (HTTP and UDP on one port) serving
// the listed torrents: Debian builds it in whitelist mode.
func StartOpentracker(t testing.TB, infoHashes ...metainfo.Hash) *Tracker {
	t.Helper()
	Require(t, "opentracker")
	ip := LoopbackIP(t)
	port := strconv.Itoa(FreePort(t, ip))
	tr := &Tracker{addr: net.JoinHostPort(ip, port)}
	dir := t.TempDir()
	var list strings.Builder
	for _, ih := range infoHashes {
		list.WriteString(ih.HexString() + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Run as root, opentracker chroots into dir and becomes "nobody" before it
	// reads the list: t.TempDir's 0700 would hide it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// -w is read inside the chroot that -d makes.
	tr.p = start(t, "opentracker", []string{"-i", ip, "-p", port, "-P", port, "-d", dir, "-w", "whitelist"})
	err := poll(context.Background(), 10*time.Second, "opentracker", func() (bool, error) {
		resp, err := http.Get("http://" + tr.addr + "/stats")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// AnnounceURL is the tracker's HTTP announce URL.
func (tr *Tracker) AnnounceURL() string { return "http://" + tr.addr + "/announce" }

// WaitSeeders waits until the tracker's scrape counts n seeds of ih.
func (tr *Tracker) WaitSeeders(t testing.TB, ih metainfo.Hash, n int, timeout time.Duration) {
	t.Helper()
	url := "http://" + tr.addr + "/scrape?info_hash=" + neturl.QueryEscape(string(ih[:]))
	err := poll(context.Background(), timeout, "tracker seeders", func() (bool, error) {
		resp, err := http.Get(url)
		if err != nil {
			return false, fmt.Errorf("scrape: %w", err)
		}
		defer resp.Body.Close()
		var sc struct {
			Files map[string]struct {
				Complete int `bencode:"complete"`
			} `bencode:"files"`
		}
		if err := bencode.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&sc); err != nil {
			return false, fmt.Errorf("scrape: %w", err)
		}
		return sc.Files[string(ih[:])].Complete == n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Aria2Download runs aria2c on its own loopback address until it has
// downloaded torrentFile into dir (it finds peers through the torrent's
// trackers), or ctx ends.
func Aria2Download(ctx context.Context, t testing.TB, torrentFile, dir string) error {
	t.Helper()
	Require(t, "aria2c")
	ip := LoopbackIP(t)
	port := strconv.Itoa(FreePort(t, ip))
	logPath := dir + ".aria2.log"
	cmd := exec.CommandContext(ctx, "aria2c", "--interface="+ip, "--listen-port="+port,
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--seed-time=0", "--check-integrity=true", "--bt-require-crypto=false", "--summary-interval=0",
		"--console-log-level=warn", "--log="+logPath, "--log-level=info",
		"--dir="+dir, torrentFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(logPath)
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		return fmt.Errorf("aria2c: %v\n%s\nlog tail:\n%s", err, out, log)
	}
	return nil
}
