package main

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine"
)

// btspeed get of a torrent nobody seeds says where it looks for peers, then,
// after --stall-after with no data, that it stalled and what that means;
// the progress line carries the state.
func TestGetStalled(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	content := filepath.Join(dir, "lonely.bin")
	data := make([]byte, 100<<10)
	r := rand.New(rand.NewPCG(3, 3))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(content, data, 0o644)
	mi, err := buildTorrent(content, 0, []string{"http://127.0.0.1:1/announce"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	torrentFile := filepath.Join(dir, "lonely.torrent")
	if err := writeTorrent(torrentFile, mi); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "get", torrentFile, "--out", t.TempDir(), "--listen", "127.0.0.1:0", "--speed", "off", "--stall-after", "2s")
	cmd.Env = append(os.Environ(), "BTSPEED_WALLET="+filepath.Join(dir, "none.json"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stderr)
		s.Split(scanCRLF)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default: // the test stopped reading
			}
		}
	}()
	want := []string{
		"looking for peers: trying tracker 127.0.0.1:1",
		"looking for peers [",
		"stalled: " + engine.HintNoSeeder,
		"stalled [",
	}
	for _, w := range want {
		for found := false; !found; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("get ended before printing %q", w)
				}
				t.Logf("get: %s", l)
				found = strings.HasPrefix(l, w)
			case <-time.After(2 * time.Minute):
				t.Fatalf("get printed no %q", w)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	for l := range lines {
		t.Logf("get: %s", l)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("an interrupted get exited 0")
	}
}
