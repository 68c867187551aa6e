// Package pgtest gives tests and benchmarks a PostgreSQL server to run
// against, and a fresh database on it for each test:
//
//   - BTSPEED_PG_URL set: that server. The URL's role must be allowed to
//     create databases; each test gets one of its own, dropped afterwards.
//   - otherwise a private, throwaway cluster from the PostgreSQL binaries in
//     PATH or /usr/lib/postgresql/<newest>/bin: initdb into a temporary
//     directory, postgres listening on 127.0.0.1 on a free port (and a socket
//     in that directory only), stopped (fast shutdown) and deleted by Stop.
//     Running as root, both run as the postgres OS user, since PostgreSQL
//     refuses to run as root. Should the test process die without Stop, the
//     server gets SIGQUIT (Pdeathsig) and the next run removes the
//     directory.
//   - no binaries: Start returns an error wrapping ErrUnavailable, and Skip
//     (or Require, under Main) skips the test saying how to install
//     PostgreSQL, unless BTSPEED_REQUIRE_PG is set (as in CI), when it fails.
//
// A package whose tests all share one server runs them under Main from its
// TestMain and calls NewDB; the server starts at the first NewDB or Require
// and stops when the tests end. Anything else (a benchmark, say) calls Start
// and stops the server itself:
//
//	srv, err := pgtest.Start()
//	if err != nil {
//		pgtest.Skip(b, err)
//	}
//	b.Cleanup(srv.Stop)
//	url := srv.NewDB(b)
//
// The server is tuned for tests only in ways that keep it honest: commits
// are synced (fsync and synchronous_commit stay on), so what a benchmark
// measures is what a real server would do.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable is wrapped by Start's error when there is no PostgreSQL to
// run: no BTSPEED_PG_URL and no binaries.
var ErrUnavailable = errors.New("pgtest: PostgreSQL is not available")

// Server is a PostgreSQL server tests create databases on. It is safe for
// concurrent use.
type Server struct {
	adminURL string  // the server's maintenance database, or BTSPEED_PG_URL
	runID    string  // in database names, to tell concurrent runs apart
	proc     *server // nil for BTSPEED_PG_URL
	seq      atomic.Int64
}

// Start returns the server BTSPEED_PG_URL names, or starts a private one.
// The caller calls Stop.
func Start() (*Server, error) {
	var b [3]byte
	_, _ = rand.Read(b[:])
	s := &Server{runID: hex.EncodeToString(b[:])}
	if u := os.Getenv("BTSPEED_PG_URL"); u != "" {
		s.adminURL = u
		return s, nil
	}
	bin, err := findPostgres()
	if err != nil {
		return nil, fmt.Errorf("%w (%v): install it (apt-get install postgresql) or set BTSPEED_PG_URL to a server where this role may create databases", ErrUnavailable, err)
	}
	p, err := startServer(bin)
	if err != nil {
		return nil, fmt.Errorf("pgtest: starting PostgreSQL from %s: %w", bin, err)
	}
	s.proc = p
	s.adminURL = p.url
	return s, nil
}

// Stop stops a private server and deletes its files; with BTSPEED_PG_URL it
// does nothing. Calling it more than once is harmless.
func (s *Server) Stop() {
	if s != nil && s.proc != nil {
		s.proc.stop()
	}
}

// URL returns the connection URL of the server's maintenance database.
func (s *Server) URL() string { return s.adminURL }

// NewDB creates an empty database for tb, dropped when tb ends, and returns
// its URL.
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("btspeed_t_%s_%d_%d", s.runID, os.Getpid(), s.seq.Add(1))
	if err := s.admin(func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	}); err != nil {
		tb.Fatalf("creating database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := s.admin(func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			return err
		}); err != nil {
			tb.Errorf("dropping database %s: %v", name, err)
		}
	})
	u, err := WithDatabase(s.adminURL, name)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// admin runs fn on a connection to the maintenance database.
func (s *Server) admin(fn func(ctx context.Context, c *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(ctx, c)
}

// Skip ends tb for Start's error: a skip when PostgreSQL is unavailable
// (a failure if BTSPEED_REQUIRE_PG is set), a failure otherwise.
func Skip(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, ErrUnavailable) {
		tb.Fatal(err)
	}
	if os.Getenv("BTSPEED_REQUIRE_PG") != "" {
		tb.Fatal(err.Error() + "; BTSPEED_REQUIRE_PG is set, so this is a failure")
	}
	tb.Skip(err.Error())
}

// WithDatabase returns the connection string u naming database db instead.
func WithDatabase(u, db string) (string, error) {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		p, err := url.Parse(u)
		if err != nil {
			return "", fmt.Errorf("pgtest: %s: %v", redact(u), err)
		}
		p.Path, p.RawPath = "/"+db, ""
		return p.String(), nil
	}
	return u + " dbname=" + db, nil // keyword/value: the last setting wins
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "the URL"
}

// Exec runs one statement on the database at u, failing tb if it fails.
func Exec(tb testing.TB, u, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// One server for a package's tests: Main, Require and NewDB.

var shared struct {
	active bool // Main is running the tests
	once   sync.Once
	srv    *Server
	err    error
}

// Main runs a package's tests (call it from TestMain) with one server for
// all of them, started by the first Require or NewDB and stopped when the
// tests end, however they end.
func Main(m *testing.M) int {
	shared.active = true
	defer func() {
		shared.srv.Stop()
	}()
	return m.Run()
}

// Default returns the server Main shares, starting it on first use.
func Default() (*Server, error) {
	if !shared.active {
		return nil, errors.New("pgtest: Default, Require and NewDB need pgtest.Main in the package's TestMain")
	}
	shared.once.Do(func() { shared.srv, shared.err = Start() })
	return shared.srv, shared.err
}

// Require returns the shared server, or skips tb (see Skip) when there is no
// PostgreSQL.
func Require(tb testing.TB) *Server {
	tb.Helper()
	s, err := Default()
	if err != nil {
		Skip(tb, err)
	}
	return s
}

// NewDB creates an empty database on the shared server for tb, dropped when
// tb ends, and returns its URL; without PostgreSQL it skips tb (see Skip).
func NewDB(tb testing.TB) string {
	tb.Helper()
	return Require(tb).NewDB(tb)
}

// Finding and running PostgreSQL.

// findPostgres returns the directory holding initdb and postgres: the one
// that postgres in PATH lives in, else the newest /usr/lib/postgresql/*/bin.
func findPostgres() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	for _, b := range []string{"postgres", "initdb"} {
		if p, err := exec.LookPath(b); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(r)) {
				return filepath.Dir(r), nil
			}
			if has(filepath.Dir(p)) {
				return filepath.Dir(p), nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, vb := version(a), version(b)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no initdb and postgres in PATH or /usr/lib/postgresql/*/bin")
}

type server struct {
	dir    string
	url    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	done   atomic.Bool
}

const dirPrefix = "btspeed-pgtest-"

// startServer initdbs a cluster in a new temporary directory and starts it.
func startServer(bin string) (*server, error) {
	var cred *syscall.Credential
	var uid, gid = -1, -1
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL must run as another user, and there is no postgres user: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	base := tempBase(cred != nil)
	removeStale(base)
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // another process may take the free port first
		s, err := launch(bin, dir, data, cred)
		if err == nil {
			ok = true
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// launch starts postgres on a free port and waits until it accepts
// connections.
func launch(bin, dir, data string, cred *syscall.Credential) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=200",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGQUIT is PostgreSQL's immediate shutdown, for when this process
	// dies without stopping the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{
		dir:    dir,
		url:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", port),
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgx.Connect(ctx, s.url)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited: %s", bytes.TrimSpace(log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", err, log)
		}
	}
}

// stop shuts the server down as pg_ctl stop -m fast would (SIGINT: roll back
// the sessions, checkpoint, exit), kills it if that takes too long, and
// removes its directory.
func (s *server) stop() {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.kill()
	}
	os.RemoveAll(s.dir)
}

func (s *server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // its process group
	<-s.exited
}

// tempBase is where the cluster's directory goes: the usual temporary
// directory, unless the postgres user could not reach into it.
func tempBase(asOther bool) string {
	base := os.TempDir()
	if !asOther {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// removeStale deletes the directories of earlier runs whose process died.
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), dirPrefix)
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}
