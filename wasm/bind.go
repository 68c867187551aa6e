//go:build js

package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/webpeer"
)

// binding is the object btspeed.js wraps: one method per function it
// calls, each taking the call's arguments and returning a value or a
// Promise. The wallet's methods are in bind_wallet.go, the torrents' in
// bind_torrents.go.
type binding struct {
	p *webpeer.Peer
	w *webpeer.Wallet
}

// args are a call's arguments; a missing one reads as undefined.
type args []js.Value

func (a args) at(i int) js.Value {
	if i < len(a) {
		return a[i]
	}
	return js.Undefined()
}

// str is argument i if it is a string, else "".
func (a args) str(i int) string {
	if v := a.at(i); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// bind builds the object btspeed.js wraps.
func bind(p *webpeer.Peer) js.Value {
	b := binding{p: p, w: p.Wallet()}
	fns := map[string]func(args) any{
		"ledgerID":        func(args) any { return p.LedgerID() },
		"walletState":     func(args) any { return b.w.State() },
		"walletAddress":   func(args) any { return b.w.Address() },
		"walletCreate":    b.walletCreate,
		"walletRestore":   b.walletRestore,
		"walletUnlock":    b.walletUnlock,
		"walletLock":      b.walletLock,
		"walletExport":    b.walletExport,
		"walletBalance":   b.walletBalance,
		"walletFaucet":    b.walletFaucet,
		"walletTransfer":  b.walletTransfer,
		"walletTransfers": b.walletTransfers,
		"add":             b.add,
		"seed":            b.seed,
		"torrents":        b.torrents,
		"read":            b.read,
		"setSpeed":        b.setSpeed,
		"buffered":        b.buffered,
		"remove":          b.byHash(p.Remove),
		"pause":           b.byHash(p.Pause),
		"resume":          b.byHash(p.Resume),
		"storage":         func(args) any { return promise(func() (any, error) { return toJSON(p.Storage()), nil }) },
		"settingsGet":     b.settingsGet,
		"settingsSet":     b.settingsSet,
		"history":         b.history,
		"totals":          b.totals,
		"close":           func(args) any { return promise(func() (any, error) { return nil, p.Close() }) },
	}
	b.bindApp(fns)
	obj := js.Global().Get("Object").New()
	for name, f := range fns {
		obj.Set(name, js.FuncOf(func(this js.Value, a []js.Value) any { return f(a) }))
	}
	return obj
}

// byHash is a binding of f on the torrent whose info hash is the first
// argument.
func (b binding) byHash(f func(metainfo.Hash) error) func(args) any {
	return func(a args) any {
		ihv := a.at(0)
		return promise(func() (any, error) {
			ih, err := parseIH(ihv)
			if err != nil {
				return nil, err
			}
			return nil, f(ih)
		})
	}
}

func (b binding) settingsGet(args) any {
	return promise(func() (any, error) { return toJSON(settingsView(b.p.Settings())), nil })
}

func (b binding) settingsSet(a args) any {
	raw := a.str(0)
	return promise(func() (any, error) {
		var in settingsJS
		if err := json.Unmarshal([]byte(raw), &in); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		s, err := in.settings()
		if err != nil {
			return nil, err
		}
		return nil, b.p.SetSettings(s)
	})
}

// historyPoint is one point of the Speed history.
type historyPoint struct {
	Time   int64  `json:"time"`
	Spent  string `json:"spent"`
	Earned string `json:"earned"`
}

func (b binding) history(args) any {
	return promise(func() (any, error) {
		var out []historyPoint
		for _, h := range b.p.History() {
			out = append(out, historyPoint{h.Time.UnixMilli(), speed.FormatBTT(h.Spent), speed.FormatBTT(h.Earned)})
		}
		return toJSON(out), nil
	})
}

func (b binding) totals(args) any {
	return promise(func() (any, error) {
		spent, earned := b.p.Totals()
		return toJSON(map[string]string{"spent": speed.FormatBTT(spent), "earned": speed.FormatBTT(earned)}), nil
	})
}
