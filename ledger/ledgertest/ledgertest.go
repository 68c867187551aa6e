//go:build !js

// Package ledgertest runs the real ledger (cmd/ledger) as a separate
// process for other packages' tests, and funds accounts on it from the dev
// genesis treasury.
package ledgertest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/ledger/genesis"
	"github.com/btspeed/btspeed/shared/wallet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/ledger once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledger-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ledger")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/btspeed/btspeed/cmd/ledger").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/ledger: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Process is a running ledger. One goroutine, started by Start, owns the
// process: it reads stdout and waits for the exit.
type Process struct {
	cmd     *exec.Cmd
	URL     string        // http://127.0.0.1:PORT
	exited  chan struct{} // closed when the process has exited
	exitErr error         // valid after exited is closed
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is the process's exit error, valid once Exited is closed.
func (p *Process) ExitErr() error { return p.exitErr }

// Start runs the ledger with args (plus -listen 127.0.0.1:0) and waits
// until it prints its address. The process is killed at cleanup if still
// running.
func Start(t testing.TB, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = &testLog{t: t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
				urlc <- u
			}
		}
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.Kill)
	select {
	case p.URL = <-urlc:
		return p
	case <-p.exited:
		t.Fatalf("ledger exited before serving: %v", p.exitErr)
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatal("ledger did not start within 30 s")
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits for a graceful exit, returning its error.
func (p *Process) Stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.exitErr
	case <-ctx.Done():
		p.Kill()
		return ctx.Err()
	}
}

// testLog sends the process's log lines to the test log.
type testLog struct {
	t  testing.TB
	mu sync.Mutex
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { recover() }() // the test may have ended
	l.t.Logf("ledger: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// Fund transfers amount base units to each account from the dev genesis
// treasury (genesis.DevKeys()[0]); the ledger must run the dev genesis.
func Fund(ctx context.Context, c *client.Client, accounts []wallet.Address, amount uint64) error {
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("ledgertest: info: %w", err)
	}
	keys, err := genesis.DevKeys()
	if err != nil {
		return err
	}
	for _, a := range accounts {
		var b [8]byte
		rand.Read(b[:])
		req, err := api.Transfer{Ledger: info.Ledger, From: keys[0].Address(), To: a, Amount: amount, Nonce: binary.BigEndian.Uint64(b[:])}.Sign(keys[0])
		if err != nil {
			return err
		}
		if _, err := c.Transfer(ctx, req); err != nil {
			return fmt.Errorf("ledgertest: funding %s: %w", a, err)
		}
	}
	return nil
}
