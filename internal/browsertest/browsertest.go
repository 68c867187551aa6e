//go:build !js

// Package browsertest drives Debian's Chromium from Go tests, through
// playwright-core (interop/browser/driver.mjs, one JSON command per line).
// The driver runs under a command wrapper, so a test can start it inside a
// network namespace it made (WebRTC in Chromium gathers candidates only on
// a real interface with a default route; see internal/netnstest).
//
// Tests skip when Node, the npm packages or Chromium are missing, unless
// BTSPEED_REQUIRE_BROWSER=1 (build.sh test sets it), which fails them.
package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Chromium is the browser the tests use.
const Chromium = "/usr/bin/chromium"

// Command makes the command that runs name with args (exec.CommandContext,
// or a netns wrapper).
type Command func(ctx context.Context, name string, args ...string) *exec.Cmd

// Dir is interop/browser, found from this file.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "interop", "browser")
}

// Require skips (or fails, with BTSPEED_REQUIRE_BROWSER=1) a test that
// cannot run a browser here.
func Require(t testing.TB) {
	t.Helper()
	var missing string
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "playwright-core")); err != nil {
		missing = "interop/browser/node_modules (npm ci there)"
	} else if _, err := os.Stat(Chromium); err != nil {
		missing = Chromium + " (apt-get install chromium)"
	}
	if missing == "" {
		return
	}
	if os.Getenv("BTSPEED_REQUIRE_BROWSER") == "1" {
		t.Fatalf("browser test needs %s", missing)
	}
	t.Skipf("browser test needs %s", missing)
}

// Browser is one Chromium with its driver.
type Browser struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	next  int
	wait  map[int]chan reply
	dead  chan struct{}
	err   error
	pages int
}

type reply struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// Start launches the driver (and Chromium) with command (nil: directly)
// and stops it when the test ends. Pages of secureOrigins (plain http
// origins such as a relay on a network namespace's address) get a secure
// context: crypto.subtle, service workers, OPFS.
func Start(t testing.TB, command Command, secureOrigins ...string) *Browser {
	t.Helper()
	Require(t)
	if command == nil {
		command = exec.CommandContext
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := command(ctx, "node", filepath.Join(Dir(), "driver.mjs"))
	cmd.Dir = Dir()
	if len(secureOrigins) > 0 {
		cmd.Env = append(os.Environ(), "BTSPEED_SECURE_ORIGINS="+strings.Join(secureOrigins, ","))
	}
	cmd.Stderr = &logWriter{t: t}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the browser driver: %v", err)
	}
	ready := make(chan reply, 1) // the driver's first line has id 0
	b := &Browser{cmd: cmd, in: in, wait: map[int]chan reply{0: ready}, dead: make(chan struct{})}
	go b.read(out)
	t.Cleanup(func() {
		in.Close()
		select {
		case <-b.dead:
		case <-time.After(10 * time.Second):
		}
		cancel()
		cmd.Wait()
	})
	select {
	case r := <-ready:
		if !r.OK {
			t.Fatalf("browser driver: %s", r.Error)
		}
	case <-b.dead:
		t.Fatalf("the browser driver exited: %v", b.err)
	case <-time.After(60 * time.Second):
		t.Fatal("the browser did not start in 60 s")
	}
	return b
}

// logWriter passes the driver's standard error to the test log.
type logWriter struct{ t testing.TB }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Logf("browser: %s", p)
	return len(p), nil
}

func (b *Browser) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		b.mu.Lock()
		ch := b.wait[r.ID]
		delete(b.wait, r.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	b.mu.Lock()
	b.err = sc.Err()
	b.mu.Unlock()
	close(b.dead)
}

// call sends one command and waits for its answer.
func (b *Browser) call(cmd map[string]any, timeout time.Duration) (json.RawMessage, error) {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan reply, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	cmd["id"] = id
	line, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	_, err = b.in.Write(append(line, '\n'))
	b.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("browser driver: %w", err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return nil, fmt.Errorf("browser: %s", r.Error)
		}
		return r.Value, nil
	case <-b.dead:
		return nil, fmt.Errorf("the browser driver exited: %v", b.err)
	case <-time.After(timeout):
		return nil, fmt.Errorf("browser: %v timed out after %v", cmd["op"], timeout)
	}
}

// Page is one page in its own browser context (its own storage).
type Page struct {
	b  *Browser
	id string
	// Timeout bounds each command (default 2 min).
	Timeout time.Duration
}

// page makes the next page of b, with a new id and the default timeout;
// the driver opens nothing until a command names it.
func (b *Browser) page() *Page {
	b.mu.Lock()
	b.pages++
	id := "p" + strconv.Itoa(b.pages)
	b.mu.Unlock()
	return &Page{b: b, id: id, Timeout: 2 * time.Minute}
}

// NewPage opens url in a fresh context.
func (b *Browser) NewPage(t testing.TB, url string) *Page {
	t.Helper()
	p := b.page()
	p.Do(t, map[string]any{"op": "newPage", "url": url})
	return p
}

// NewProfilePage starts a Chromium of its own on the profile in dir (its
// storage kept there) and opens url in it. Closing the page stops that
// Chromium; a NewProfilePage on the same dir then starts it again, as a
// user restarting the browser.
func (b *Browser) NewProfilePage(t testing.TB, url, dir string) *Page {
	t.Helper()
	p := b.page()
	p.Do(t, map[string]any{"op": "newProfilePage", "url": url, "userDataDir": dir})
	return p
}

// NewPopupBlockingPage is NewProfilePage with Chromium's popup blocker on
// (the driver's Playwright turns it off elsewhere): window.open outside a
// user's gesture returns null there.
func (b *Browser) NewPopupBlockingPage(t testing.TB, url, dir string) *Page {
	t.Helper()
	p := b.page()
	p.Do(t, map[string]any{"op": "newProfilePage", "url": url, "userDataDir": dir, "popupBlocking": true})
	return p
}

// NewTab opens url in another tab of p's browser context (the same
// profile and storage); closing it closes only the tab.
func (p *Page) NewTab(t testing.TB, url string) *Page {
	t.Helper()
	tab := p.b.page()
	tab.Do(t, map[string]any{"op": "newTab", "of": p.id, "url": url})
	return tab
}

// Popup returns the oldest window p opened (window.open) not taken yet,
// waiting up to timeout for one; closing it closes only that window.
func (p *Page) Popup(t testing.TB, timeout time.Duration) *Page {
	t.Helper()
	w := p.b.page()
	w.Timeout = timeout + time.Minute
	w.Do(t, map[string]any{"op": "popup", "of": p.id, "timeout": timeout.Milliseconds()})
	w.Timeout = 2 * time.Minute
	return w
}

// Do runs a driver command on the page and returns its value; failures
// fail the test.
func (p *Page) Do(t testing.TB, cmd map[string]any) json.RawMessage {
	t.Helper()
	v, err := p.Try(cmd)
	if err != nil {
		t.Fatalf("%s %v: %v\nconsole: %s", p.id, cmd["op"], err, p.logs())
	}
	return v
}

// Try runs a driver command and returns its error.
func (p *Page) Try(cmd map[string]any) (json.RawMessage, error) {
	cmd["page"] = p.id
	return p.b.call(cmd, p.Timeout)
}

func (p *Page) logs() string {
	v, err := p.b.call(map[string]any{"op": "logs", "page": p.id}, 10*time.Second)
	if err != nil {
		return err.Error()
	}
	return string(v)
}

// Logs returns the console errors and page errors seen so far.
func (p *Page) Logs(t testing.TB) []string {
	var out []string
	json.Unmarshal(p.Do(t, map[string]any{"op": "logs"}), &out)
	return out
}

// CSPViolations returns what the page's Content-Security-Policies (its own
// and its frames') blocked so far: the securitypolicyviolation events the
// driver logs, one line each.
func (p *Page) CSPViolations(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, l := range p.Logs(t) {
		if _, v, ok := strings.Cut(l, "csp violation: "); ok {
			out = append(out, v)
		}
	}
	return out
}

// Eval evaluates a JavaScript expression (a Promise is awaited) and
// decodes its value into v (v may be nil).
func (p *Page) Eval(t testing.TB, expr string, v any) {
	t.Helper()
	raw := p.Do(t, map[string]any{"op": "eval", "expr": expr})
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("decoding %s: %v", raw, err)
		}
	}
}

// EvalErr evaluates expr and returns the error it threw, if any.
func (p *Page) EvalErr(expr string) error {
	_, err := p.Try(map[string]any{"op": "eval", "expr": expr})
	return err
}

// Click, Fill, WaitFor, WaitForFunction, SetFiles, Screenshot, Reload and
// Goto do what Playwright's page methods of those names do.
func (p *Page) Click(t testing.TB, sel string) {
	t.Helper()
	p.Do(t, map[string]any{"op": "click", "sel": sel})
}

// Fill types value into the field sel.
func (p *Page) Fill(t testing.TB, sel, value string) {
	t.Helper()
	p.Do(t, map[string]any{"op": "fill", "sel": sel, "value": value})
}

// Text returns the text content of sel.
func (p *Page) Text(t testing.TB, sel string) string {
	t.Helper()
	var s string
	json.Unmarshal(p.Do(t, map[string]any{"op": "text", "sel": sel}), &s)
	return s
}

// WaitFor waits until sel is visible.
func (p *Page) WaitFor(t testing.TB, sel string, timeout time.Duration) {
	t.Helper()
	p.Do(t, map[string]any{"op": "waitFor", "sel": sel, "timeout": timeout.Milliseconds()})
}

// WaitForFunction waits until the JavaScript expression is truthy.
func (p *Page) WaitForFunction(t testing.TB, expr string, timeout time.Duration) {
	t.Helper()
	if timeout+10*time.Second > p.Timeout {
		defer func(old time.Duration) { p.Timeout = old }(p.Timeout)
		p.Timeout = timeout + 10*time.Second
	}
	p.Do(t, map[string]any{"op": "waitForFunction", "expr": expr, "timeout": timeout.Milliseconds()})
}

// SetFiles sets the files of the file input sel.
func (p *Page) SetFiles(t testing.TB, sel string, files ...string) {
	t.Helper()
	p.Do(t, map[string]any{"op": "setFiles", "sel": sel, "files": files})
}

// Screenshot saves the page as a PNG.
func (p *Page) Screenshot(t testing.TB, path string, fullPage bool) {
	t.Helper()
	p.Do(t, map[string]any{"op": "screenshot", "path": path, "fullPage": fullPage})
}

// SetViewport resizes the page.
func (p *Page) SetViewport(t testing.TB, width, height int) {
	t.Helper()
	p.Do(t, map[string]any{"op": "setViewport", "width": width, "height": height})
}

// Reload reloads the page.
func (p *Page) Reload(t testing.TB) { t.Helper(); p.Do(t, map[string]any{"op": "reload"}) }

// Goto opens url.
func (p *Page) Goto(t testing.TB, url string) {
	t.Helper()
	p.Do(t, map[string]any{"op": "goto", "url": url})
}

// Close closes the page and its context.
func (p *Page) Close(t testing.TB) { t.Helper(); p.Do(t, map[string]any{"op": "closePage"}) }
