//go:build !js

package btclientstest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// Transmission is a transmission-daemon on its own loopback address,
// driven through its JSON-RPC interface. It seeds over TCP and uTP but never
// dials peers on 127.x: the other side connects to PeerAddr.
type Transmission struct {
	IP       string
	PeerPort int
	rpc      string
	session  string
	p        *process
}

// StartTransmission starts a daemon with DHT, LPD, port mapping, PEX-free
// defaults, encryption tolerated (not required), and uTP on.
func StartTransmission(t testing.TB) *Transmission {
	t.Helper()
	Require(t, "transmission-daemon")
	ip := LoopbackIP(t)
	tr := &Transmission{IP: ip, PeerPort: FreePort(t, ip)}
	rpcPort := FreePort(t, ip)
	cfg := t.TempDir()
	// settings.json turns off what flags cannot (PEX).
	settings := map[string]any{"pex-enabled": false, "dht-enabled": false, "lpd-enabled": false, "utp-enabled": true,
		"rpc-whitelist-enabled": false, "rpc-host-whitelist-enabled": false, "speed-limit-up-enabled": false,
		"speed-limit-down-enabled": false, "ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
		"cache-size-mb": 64, "message-level": 2}
	b, _ := json.Marshal(settings)
	if err := os.WriteFile(cfg+"/settings.json", b, 0o600); err != nil {
		t.Fatal(err)
	}
	tr.p = start(t, "transmission-daemon", []string{"-f", "-T", "-O", "-Y", "-M", "--utp", "-et", "-GSR",
		"-i", ip, "-I", "::1", "-r", ip, "-p", strconv.Itoa(rpcPort), "-P", strconv.Itoa(tr.PeerPort),
		"-g", cfg, "-w", t.TempDir(), "-a", "127.*"})
	tr.rpc = "http://" + net.JoinHostPort(ip, strconv.Itoa(rpcPort)) + "/transmission/rpc"
	err := poll(context.Background(), 20*time.Second, "transmission RPC", func() (bool, error) {
		var out struct{}
		return tr.call("session-get", map[string]any{}, &out) == nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// PeerAddr is where peers connect (TCP and uTP).
func (tr *Transmission) PeerAddr() string { return net.JoinHostPort(tr.IP, strconv.Itoa(tr.PeerPort)) }

// call makes one JSON-RPC call, answering the session-id handshake.
func (tr *Transmission) call(method string, args any, out any) error {
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": args})
	for range 2 {
		req, _ := http.NewRequest("POST", tr.rpc, bytes.NewReader(body))
		req.Header.Set("X-Transmission-Session-Id", tr.session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			tr.session = resp.Header.Get("X-Transmission-Session-Id")
			continue
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("transmission %s: %d %s", method, resp.StatusCode, b)
		}
		if r.Result != "success" {
			return fmt.Errorf("transmission %s: %s", method, r.Result)
		}
		return json.Unmarshal(r.Arguments, out)
	}
	return fmt.Errorf("transmission %s: no session id", method)
}

// Add adds a torrent whose data is (or will be) in dir.
func (tr *Transmission) Add(t testing.TB, torrentFile, dir string) {
	t.Helper()
	b, err := os.ReadFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := tr.call("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(b), "download-dir": dir}, &out); err != nil {
		t.Fatal(err)
	}
}

// Progress returns the fraction of ih done (0..1) and whether it is seeding.
func (tr *Transmission) Progress(ih metainfo.Hash) (float64, bool, error) {
	var out struct {
		Torrents []struct {
			PercentDone float64 `json:"percentDone"`
			Status      int     `json:"status"`
			Error       int     `json:"error"`
			ErrorString string  `json:"errorString"`
		} `json:"torrents"`
	}
	err := tr.call("torrent-get", map[string]any{"ids": []string{ih.HexString()}, "fields": []string{"percentDone", "status", "error", "errorString"}}, &out)
	if err != nil {
		return 0, false, err
	}
	if len(out.Torrents) == 0 {
		return 0, false, fmt.Errorf("transmission has no torrent %s", ih.HexString())
	}
	x := out.Torrents[0]
	if x.Error != 0 {
		return x.PercentDone, false, fmt.Errorf("transmission: %s", x.ErrorString)
	}
	return x.PercentDone, x.Status == 6, nil // 6: seeding
}

// WaitSeeding waits until Transmission has verified ih and seeds it.
func (tr *Transmission) WaitSeeding(t testing.TB, ih metainfo.Hash, timeout time.Duration) {
	t.Helper()
	err := poll(context.Background(), timeout, "transmission seeding", func() (bool, error) {
		done, seeding, err := tr.Progress(ih)
		return done == 1 && seeding, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TrackerStat is what Transmission knows of one tracker of a torrent.
type TrackerStat struct {
	Announce              string `json:"announce"`
	HasAnnounced          bool   `json:"hasAnnounced"`
	LastAnnounceSucceeded bool   `json:"lastAnnounceSucceeded"`
	LastAnnounceResult    string `json:"lastAnnounceResult"`
	HasScraped            bool   `json:"hasScraped"`
	LastScrapeSucceeded   bool   `json:"lastScrapeSucceeded"`
	LastScrapeResult      string `json:"lastScrapeResult"`
	SeederCount           int    `json:"seederCount"`
	LeecherCount          int    `json:"leecherCount"`
	DownloadCount         int    `json:"downloadCount"`
}

// Trackers returns Transmission's view of ih's trackers: its announces and
// scrapes, and the counts the scrapes returned.
func (tr *Transmission) Trackers(ih metainfo.Hash) ([]TrackerStat, error) {
	var out struct {
		Torrents []struct {
			TrackerStats []TrackerStat `json:"trackerStats"`
		} `json:"torrents"`
	}
	if err := tr.call("torrent-get", map[string]any{"ids": []string{ih.HexString()}, "fields": []string{"trackerStats"}}, &out); err != nil {
		return nil, err
	}
	if len(out.Torrents) == 0 {
		return nil, fmt.Errorf("transmission has no torrent %s", ih.HexString())
	}
	return out.Torrents[0].TrackerStats, nil
}
