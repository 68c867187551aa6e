package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/proxy/provider"
)

// ProxyConfig makes the relay a provider of the paid proxy
// (docs/speed-protocol.md section 11), paid to Config.Key through its
// ledger. Off unless Listen is set.
type ProxyConfig struct {
	// Listen is where proxy connections (TCP) are accepted; "" is off.
	Listen string
	// Caps and price: provider.Config's Rate, MaxLength, UploadRate,
	// MaxConns and AllowLoopback (tests only; never on by default).
	Provider provider.Config
}

// proxyServer is the running provider.
type proxyServer struct {
	prov   *provider.Provider
	addr   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startProxy listens and serves proxy connections until Close.
func (r *Relay) startProxy() error {
	pc := r.cfg.Proxy
	if r.cfg.Key == nil {
		return errors.New("relay: the proxy provider needs a wallet to be paid to")
	}
	cfg := pc.Provider
	cfg.Key, cfg.Logger = r.cfg.Key, r.log.With("component", "proxy")
	switch {
	case r.cfg.Ledger != nil:
		cfg.Ledger, cfg.LedgerID = r.cfg.Ledger, r.cfg.Ledger.ID()
	case r.cfg.LedgerURL != "":
		lc := client.New(r.cfg.LedgerURL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		info, err := lc.Info(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("relay: the proxy provider's ledger: %w", err)
		}
		cfg.Ledger, cfg.LedgerID = lc, info.Ledger
	default:
		return errors.New("relay: the proxy provider needs a ledger")
	}
	prov, err := provider.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", pc.Listen)
	if err != nil {
		return fmt.Errorf("relay: proxy listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &proxyServer{prov: prov, addr: ln.Addr().String(), cancel: cancel}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := prov.Serve(ctx, ln); err != nil {
			r.log.Error("proxy provider", "err", err)
		}
	}()
	r.proxy = p
	r.log.Info("paid proxy provider", "addr", p.addr, "rate", speed.FormatBTT(cfg.Rate), "ledger", cfg.LedgerID)
	return nil
}

// ProxyAddr is where the relay serves the paid proxy ("" when off).
func (r *Relay) ProxyAddr() string {
	if r.proxy == nil {
		return ""
	}
	return r.proxy.addr
}

// close stops accepting and waits for the connections, which close their
// channels on the ledger first.
func (p *proxyServer) close() {
	p.cancel()
	p.wg.Wait()
}

// proxyJSON is GET /proxy: where the relay's provider listens and its price.
type proxyJSON struct {
	Port int    `json:"port"` // on the relay's host
	Rate string `json:"rate"` // BTT per MiB
}

func (r *Relay) serveProxy(w http.ResponseWriter, req *http.Request) {
	cors(w)
	if r.proxy == nil {
		http.Error(w, "this relay is not a proxy provider", http.StatusNotFound)
		return
	}
	_, port, _ := net.SplitHostPort(r.proxy.addr)
	n, _ := strconv.Atoi(port)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(proxyJSON{Port: n, Rate: speed.FormatBTT(r.cfg.Proxy.Provider.Rate)})
}
