//go:build !js

// Package btclientstest starts and drives real BitTorrent clients from
// Debian's packages (Transmission, qBittorrent, aria2, opentracker) for
// integration tests: each on its own loopback address, owned by the test
// that started it and stopped at its cleanup, its output kept in the test's
// temporary directory and printed when the test fails.
//
// Without the clients installed the tests skip, naming the packages; with
// BTSPEED_REQUIRE_CLIENTS=1 (set by ./build.sh test) they fail instead.
package btclientstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// Packages names the Debian packages the clients come from.
const Packages = "transmission-cli transmission-daemon qbittorrent-nox aria2 opentracker"

// Require skips the test (or fails it, with BTSPEED_REQUIRE_CLIENTS=1) when
// a binary is missing.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			msg := fmt.Sprintf("%s is not installed: apt-get install %s", b, Packages)
			if os.Getenv("BTSPEED_REQUIRE_CLIENTS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// LoopbackIP returns a fresh address in 127.64.0.0/10 whose ports are free.
func LoopbackIP(t testing.TB) string {
	t.Helper()
	for range 100 {
		ip := fmt.Sprintf("127.%d.%d.%d", 64+rand.IntN(64), rand.IntN(256), 1+rand.IntN(254))
		ln, err := net.Listen("tcp", ip+":0")
		if err == nil {
			ln.Close()
			return ip
		}
	}
	t.Fatal("no free loopback address")
	return ""
}

// FreePort returns a port free for both TCP and UDP on ip.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// MakeTorrent makes a .torrent of path with transmission-create (a real
// client's torrent maker) and returns its file and info hash.
func MakeTorrent(t testing.TB, path string, pieceKiB int, trackers ...string) (string, metainfo.Hash) {
	t.Helper()
	Require(t, "transmission-create")
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".torrent")
	args := []string{"-o", out, "-s", strconv.Itoa(pieceKiB)}
	for _, tr := range trackers {
		args = append(args, "-t", tr)
	}
	if b, err := exec.Command("transmission-create", append(args, path)...).CombinedOutput(); err != nil {
		t.Fatalf("transmission-create: %v\n%s", err, b)
	}
	mi, err := metainfo.LoadFromFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, mi.HashInfoBytes()
}

// WriteRandomFile writes size deterministic pseudo-random bytes to path.
func WriteRandomFile(t testing.TB, path string, size int64, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	b := make([]byte, size)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// process is a client process owned by a test.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// start runs a client; at cleanup it is stopped (SIGTERM, then SIGKILL
// after 5 s) and its log printed if the test failed.
func start(t testing.TB, name string, args []string, env ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
	return p
}

func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// poll calls fn every 100 ms until it returns true or an error, or the
// timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, fn func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := fn()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func trimLines(s string) string { return strings.TrimSpace(s) }

// WithTracker writes a copy of torrentFile announcing to url (trackers are
// outside the info dictionary: the info hash stays the same).
func WithTracker(t testing.TB, torrentFile, url string) string {
	t.Helper()
	mi, err := metainfo.LoadFromFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	mi.Announce, mi.AnnounceList = url, [][]string{{url}}
	out := filepath.Join(t.TempDir(), filepath.Base(torrentFile))
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
	return out
}
