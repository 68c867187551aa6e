//go:build !js

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this package run the real ledger binary as a separate process.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ledgerBinary builds the ledger once per test run.
func ledgerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledger-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ledger")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// ledgerProcess is a running ledger. One goroutine, started by
// startLedger, owns the process: it reads stdout and waits for the exit.
type ledgerProcess struct {
	cmd     *exec.Cmd
	URL     string        // http://127.0.0.1:PORT
	exited  chan struct{} // closed when the process has exited
	exitErr error         // valid after exited is closed
}

// startLedger runs the ledger with args (plus -listen 127.0.0.1:0) and waits
// until it prints its address. The process is killed at cleanup if still
// running.
func startLedger(t *testing.T, args ...string) *ledgerProcess {
	t.Helper()
	cmd := exec.Command(ledgerBinary(t), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = &testLog{t: t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ledgerProcess{cmd: cmd, exited: make(chan struct{})}
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
func (p *ledgerProcess) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits for a graceful exit, returning its error.
func (p *ledgerProcess) Stop(ctx context.Context) error {
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
	t  *testing.T
	mu sync.Mutex
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { recover() }() // the test may have ended
	l.t.Logf("ledger: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestLedgerProcessServesAndStops(t *testing.T) {
	p := startLedger(t, "-db", filepath.Join(t.TempDir(), "l.db"), "-faucet-difficulty", "8")
	resp, err := httpGet(p.URL + "/v1/invariant")
	if err != nil || !strings.Contains(resp, `"ok":true`) {
		t.Fatalf("invariant: %s %v", resp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}
