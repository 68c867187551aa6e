// Package daemon holds what btspeed's servers (cmd/ledger, cmd/relay) share:
// flags mirrored in environment variables, and serving HTTP beside
// background loops with a graceful shutdown.
package daemon

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// EnvFlag registers a string flag whose default comes from an environment
// variable (shown in -h).
func EnvFlag(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		def = v
	}
	fs.StringVar(p, name, def, usage+" ($"+env+")")
}

// Serve serves h on ln and runs each loop until ctx ends or the server
// fails; then it shuts the server down (10 s for requests in flight),
// cancels the loops, calls stopped (if any) and waits for the loops. All
// the goroutines it starts are owned here and ended before it returns.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, stopped func(), loops ...func(context.Context)) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	log.Info("stopping")
	cancel()
	shut, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if serr := srv.Shutdown(shut); serr != nil && err == nil {
		err = serr
	}
	if stopped != nil {
		stopped()
	}
	wg.Wait()
	if err == nil {
		err = <-serveErr
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
