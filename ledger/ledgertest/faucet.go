package ledgertest

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/wallet"
)

// From is an HTTP client whose connections leave from the local address
// src (a loopback address such as 127.0.0.5: each is a different client
// to a server on 127.0.0.1). header, when set, is added to every request
// (a client writing its own X-Forwarded-For).
func From(src netip.Addr, header http.Header) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	return &http.Client{Transport: headerRT{tr, header}}
}

type headerRT struct {
	rt http.RoundTripper
	h  http.Header
}

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(h.h) > 0 {
		r = r.Clone(r.Context())
		for k, vs := range h.h {
			r.Header[k] = vs
		}
	}
	return h.rt.RoundTrip(r)
}

// ClaimFaucet solves the faucet's current challenge for a new account and
// claims its grant through c.
func ClaimFaucet(ctx context.Context, c *client.Client) (api.FaucetResult, error) {
	k, err := wallet.GenerateKey()
	if err != nil {
		return api.FaucetResult{}, err
	}
	res, _, err := c.ClaimFaucet(ctx, k, nil)
	return res, err
}
