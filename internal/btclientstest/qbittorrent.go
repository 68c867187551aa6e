//go:build !js

package btclientstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// Qbittorrent is a qbittorrent-nox (libtorrent-rasterbar) on its own
// loopback address, driven through its Web API.
type Qbittorrent struct {
	IP       string
	PeerPort int
	api      string
	p        *process
}

// StartQbittorrent starts qbittorrent-nox with DHT, LSD, PEX and port
// mapping off; protocol is "TCP", "UTP" or "Both".
func StartQbittorrent(t testing.TB, protocol string) *Qbittorrent {
	t.Helper()
	Require(t, "qbittorrent-nox")
	ip := LoopbackIP(t)
	q := &Qbittorrent{IP: ip, PeerPort: FreePort(t, ip)}
	web := FreePort(t, ip)
	profile := t.TempDir()
	conf := fmt.Sprintf(`[LegalNotice]
Accepted=true

[BitTorrent]
Session\DHTEnabled=false
Session\LSDEnabled=false
Session\PeXEnabled=false
Session\Interface=lo
Session\InterfaceName=lo
Session\InterfaceAddress=%[1]s
Session\Port=%[2]d
Session\BTProtocol=%[3]s
Session\MultiConnectionsPerIp=true
Session\QueueingSystemEnabled=false
Session\AnonymousModeEnabled=false
Session\Encryption=0

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\ResolvePeerCountries=false
General\Locale=en
WebUI\Address=%[1]s
WebUI\Port=%[4]d
WebUI\LocalHostAuth=false
WebUI\AuthSubnetWhitelistEnabled=true
WebUI\AuthSubnetWhitelist=127.0.0.0/8
WebUI\CSRFProtection=false
WebUI\HostHeaderValidation=false
WebUI\UseUPnP=false
`, ip, q.PeerPort, protocol, web)
	dir := filepath.Join(profile, "qBittorrent", "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "qBittorrent.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	q.p = start(t, "qbittorrent-nox", []string{"--profile=" + profile}, "HOME="+profile)
	q.api = "http://" + net.JoinHostPort(ip, strconv.Itoa(web)) + "/api/v2"
	err := poll(context.Background(), 30*time.Second, "qBittorrent Web API", func() (bool, error) {
		resp, err := http.Get(q.api + "/app/version")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Errorf("status %d", resp.StatusCode)
	})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// PeerAddr is where peers connect.
func (q *Qbittorrent) PeerAddr() string { return net.JoinHostPort(q.IP, strconv.Itoa(q.PeerPort)) }

func (q *Qbittorrent) post(path string, body io.Reader, contentType string) error {
	resp, err := http.Post(q.api+path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) == "Fails." {
		return fmt.Errorf("qBittorrent %s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

// Add adds a torrent to download into (or seed from) savePath.
func (q *Qbittorrent) Add(t testing.TB, torrentFile, savePath string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("torrents", filepath.Base(torrentFile))
	b, err := os.ReadFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(b)
	w.WriteField("savepath", savePath)
	w.WriteField("paused", "false")
	w.Close()
	if err := q.post("/torrents/add", &body, w.FormDataContentType()); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	// The add is asynchronous: wait until the torrent is listed and past
	// its initial check, so that peers added next stick.
	err = poll(context.Background(), 20*time.Second, "qBittorrent adding the torrent", func() (bool, error) {
		_, state, err := q.Progress(mi.HashInfoBytes())
		return err == nil && !strings.HasPrefix(state, "checking") && state != "allocating" && state != "moving", err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// AddPeers tells qBittorrent to connect to addrs for ih.
func (q *Qbittorrent) AddPeers(t testing.TB, ih metainfo.Hash, addrs ...string) {
	t.Helper()
	form := url.Values{"hashes": {ih.HexString()}, "peers": {strings.Join(addrs, "|")}}
	err := poll(context.Background(), 10*time.Second, "qBittorrent addPeers", func() (bool, error) {
		err := q.post("/torrents/addPeers", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Progress returns ih's progress (0..1) and state.
func (q *Qbittorrent) Progress(ih metainfo.Hash) (float64, string, error) {
	resp, err := http.Get(q.api + "/torrents/info?hashes=" + ih.HexString())
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out []struct {
		Progress float64 `json:"progress"`
		State    string  `json:"state"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return 0, "", err
	}
	if len(out) == 0 {
		return 0, "", fmt.Errorf("qBittorrent has no torrent %s", ih.HexString())
	}
	return out[0].Progress, out[0].State, nil
}

// WaitComplete waits until ih is fully downloaded and checked.
func (q *Qbittorrent) WaitComplete(t testing.TB, ih metainfo.Hash, timeout time.Duration) {
	t.Helper()
	var last string
	err := poll(context.Background(), timeout, "qBittorrent download", func() (bool, error) {
		p, state, err := q.Progress(ih)
		last = fmt.Sprintf("progress %.3f, state %s", p, state)
		return p == 1, err
	})
	if err != nil {
		t.Fatalf("%v (%s)", err, last)
	}
}
