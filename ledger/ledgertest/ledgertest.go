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
	buildMu sync.Mutex
	built   = map[string]string{} // package and tags -> binary
)

// Binary builds cmd/ledger once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return Build(t, "github.com/btspeed/btspeed/cmd/ledger")
}

// Build builds a command once per test process and returns its path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	return BuildTags(t, pkg, "")
}

// BuildTags is Build with build tags (go build -tags), e.g.
// "btspeed_crashtest" for a ledger that obeys $BTSPEED_CRASH_AT.
func BuildTags(t testing.TB, pkg, tags string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	id := pkg + " " + tags
	if p, ok := built[id]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "btspeed-bin")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q %s: %v\n%s", tags, pkg, err, out)
	}
	built[id] = bin
	return bin
}

// Process is a running ledger. One goroutine, started by Start, owns the
// process: it reads stdout and waits for the exit.
type Process struct {
	mu      sync.Mutex
	lines   []string // stdout
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
	return StartWith(t, Options{}, args...)
}

// Options are StartWith's.
type Options struct {
	Binary string   // default: cmd/ledger
	Env    []string // added to the environment
}

// StartWith is Start with another binary (one that also takes -listen and
// prints "listening on URL") or more environment.
//
// The ledger runs without its per-client rate limit
// (BTSPEED_LEDGER_RATE=0): tests load it from one address. A test of the
// limit passes -rate.
func StartWith(t testing.TB, o Options, args ...string) *Process {
	t.Helper()
	if o.Binary == "" {
		o.Binary = Binary(t)
	}
	cmd := exec.Command(o.Binary, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "BTSPEED_LEDGER_RATE=0"), o.Env...)
	name := filepath.Base(o.Binary)
	cmd.Stderr = &testLog{t: t, name: name}
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
			p.mu.Lock()
			p.lines = append(p.lines, lines.Text())
			p.mu.Unlock()
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
		t.Fatalf("%s exited before serving: %v", name, p.exitErr)
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatalf("%s did not start within 30 s", name)
	}
	return nil
}

// Refuses runs the binary as StartWith does and expects it to refuse to
// start: to exit with an error before it serves. It returns what the
// process wrote on standard error; a process that serves fails the test.
func Refuses(t testing.TB, o Options, args ...string) string {
	t.Helper()
	if o.Binary == "" {
		o.Binary = Binary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Binary, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), o.Env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s %s started and served at %s; want a refusal", filepath.Base(o.Binary), strings.Join(args, " "), u)
		}
	}
	if err := cmd.Wait(); err == nil || ctx.Err() != nil {
		t.Fatalf("%s %s: exit %v (%v), want an error exit; stderr: %s", filepath.Base(o.Binary), strings.Join(args, " "), err, ctx.Err(), stderr.String())
	}
	return stderr.String()
}

// Printed returns the rest of the first line the process printed on
// stdout that starts with prefix ("" if none yet).
func (p *Process) Printed(prefix string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
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
	t    testing.TB
	name string // the binary's
	mu   sync.Mutex
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { recover() }() // the test may have ended
	l.t.Logf("%s: %s", l.name, strings.TrimRight(string(b), "\n"))
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
