// Package redistest gives tests a private Redis: redis-server from PATH
// (Debian's redis-server package), listening on 127.0.0.1 on a free port,
// with its working directory in a temporary one and no persistence
// (--save "" --appendonly no). The server dies with the test process
// (Pdeathsig) and is stopped by the test's cleanup.
//
// Without redis-server, Start skips the test saying how to install it,
// unless BTSPEED_REQUIRE_REDIS is set (as in CI), when it fails.
//
// Failover is the scenario relays sharing swarms through such a Redis must
// pass, run by relay's in-process cluster test and cmd/relay's processes.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a private redis-server.
type Server struct {
	// URL is the server's redis:// URL.
	URL  string
	Addr string

	cmd  *exec.Cmd
	once sync.Once
	done chan struct{}
}

// Start starts a private Redis for tb, stopped when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not installed (apt-get install redis-server)"
		if os.Getenv("BTSPEED_REQUIRE_REDIS") != "" {
			tb.Fatal(msg + "; BTSPEED_REQUIRE_REDIS is set, so this is a failure")
		}
		tb.Skip(msg)
	}
	var last error
	for range 5 { // a free port may be taken between the probe and the start
		s, err := start(bin, tb.TempDir())
		if err == nil {
			tb.Cleanup(s.Stop)
			return s
		}
		last = err
	}
	tb.Fatalf("redistest: starting redis-server: %v", last)
	return nil
}

// start runs redis-server in dir on a free loopback port and waits until
// it answers.
func start(bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--logfile", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{URL: "redis://" + addr + "/0", Addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, errors.New("redistest: redis-server exited at start (port taken?)")
		case <-time.After(50 * time.Millisecond):
		}
		if i == 200 {
			s.Stop()
			return nil, fmt.Errorf("redistest: redis-server does not answer: %w", err)
		}
	}
}

// freePort is a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills the server (SIGKILL: it keeps nothing) and waits for it.
// Calling it more than once is harmless.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
}

// Client is a client of the server, closed when tb ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}
