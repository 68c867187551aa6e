//go:build js

// Command wasm is the browser peer: package webpeer (the engine with WebRTC
// and bridged peers, Speed, the wallet) compiled to WebAssembly and bound to
// JavaScript. It registers globalThis.BTSpeedGo.start(options JSON), which
// resolves to an object of functions; web/btspeed.js wraps that object in
// the documented API (docs/js-api.md). Every call that waits on the network
// returns a Promise and runs on its own goroutine, so the page's event loop
// never waits for Go. Amounts cross as decimal BTT strings.
//
// Built with the tag btspeed_embed it is the embed build (btspeed-embed.wasm,
// which the player of <bt-speed> loads): bind_app.go, bind_fetch.go and
// bind_store.go, the calls only the app uses, are left out
// (docs/wasm-size.md, "The embed build"); BTSpeedGo.build says which.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/webpeer"
	"github.com/btspeed/btspeed/webpeer/idbstore"

	"github.com/btspeed/btspeed/engine/rtc"
)

// version is set by build.sh.
var version = "dev"

func main() {
	js.Global().Set("BTSpeedGo", js.ValueOf(map[string]any{
		"version": version,
		"build":   build,
		"start":   js.FuncOf(start),
	}))
	select {}
}

// jsError turns err into a JavaScript Error, with a code when the error
// is one a page can act on (docs/js-api.md).
func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	if c := errorCode(err); c != "" {
		e.Set("code", c)
	}
	return e
}

// errorCodes name the errors a page can act on.
var errorCodes = []struct {
	err  error
	code string
}{
	{webpeer.ErrBadAddress, "bad_address"},
	{webpeer.ErrBadAmount, "bad_amount"},
	{webpeer.ErrLocked, "locked"},
	{webpeer.ErrNoWallet, "no_wallet"},
	{webpeer.ErrWrongPassword, "wrong_password"},
	{webpeer.ErrShortPassword, "short_password"},
	{webpeer.ErrSelfTransfer, "bad_address"},
	{webpeer.ErrBadMemo, "bad_memo"},
}

// codedError is an error that carries its own code (a proxied fetch's).
type codedError interface{ errorCode() string }

// errorCode is err's code: its own, else one of errorCodes, else the
// ledger's API code, else "".
func errorCode(err error) string {
	var ce codedError
	if errors.As(err, &ce) {
		return ce.errorCode()
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return api.CodeOf(err)
}

// parseAmount reads a decimal BTT string for a deposit or withdrawal.
func parseAmount(s string) (uint64, error) {
	v, err := speed.ParseBTT(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w (%s)", webpeer.ErrBadAmount, strings.TrimPrefix(err.Error(), "speed: "))
	}
	if v == 0 {
		return 0, webpeer.ErrBadAmount
	}
	return v, nil
}

// promise runs f on a goroutine and settles a Promise with its result: a
// string (JSON for structured values), a js.Value, or nil.
func promise(f func() (any, error)) js.Value {
	executor := js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := f()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := js.Global().Get("Promise").New(executor)
	executor.Release() // the executor ran synchronously inside New
	return p
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// localStorage is the page's localStorage as a webpeer.KV.
type localStorage struct{ ls js.Value }

func (l localStorage) Get(k string) (string, bool) {
	v := l.ls.Call("getItem", k)
	if v.IsNull() || v.IsUndefined() {
		return "", false
	}
	return v.String(), true
}

func (l localStorage) Set(k, v string) (err error) {
	defer func() {
		if r := recover(); r != nil { // QuotaExceededError surfaces as a panic
			err = fmt.Errorf("localStorage: %v", r)
		}
	}()
	l.ls.Call("setItem", k, v)
	return nil
}

func (l localStorage) Delete(k string) { l.ls.Call("removeItem", k) }

// startOptions is what BTSpeed.start passes (docs/js-api.md).
type startOptions struct {
	Relay      string          `json:"relay"`
	Relays     []string        `json:"relays"`
	Trackers   []string        `json:"trackers"`
	ICEServers []rtc.ICEServer `json:"iceServers"`
	// StallAfter: seconds with no data before a torrent's state is
	// "stalled" (default 30).
	StallAfter float64 `json:"stallAfter"`
	// Keep: false keeps nothing for the next start (an embedded player):
	// torrents and their data live as long as the page.
	Keep *bool `json:"keep"`
}

// browserStorage keeps every torrent's data in IndexedDB (opened on first
// need), within the user's storage limit, where it outlives the page.
type browserStorage struct {
	// prefix goes before each torrent's namespace: "" for the torrents
	// kept, a page's own for a page that keeps nothing (swept once it goes).
	prefix string
	once   sync.Once
	db     *idbstore.DB
	err    error
}

func (b *browserStorage) open() (*idbstore.DB, error) {
	b.once.Do(func() { b.db, b.err = idbstore.Open(context.Background()) })
	if b.err != nil {
		return nil, fmt.Errorf("browser storage: %w", b.err)
	}
	return b.db, nil
}

// storage opens torrent ih's data.
func (b *browserStorage) storage(ih metainfo.Hash, info *metainfo.Info, limit int64) (engine.Storage, error) {
	db, err := b.open()
	if err != nil {
		return nil, fmt.Errorf("%s needs %w", info.BestName(), err)
	}
	return db.Open(context.Background(), b.prefix+ih.HexString(), info.TotalLength())
}

// forget deletes torrent ih's data.
func (b *browserStorage) forget(ih metainfo.Hash) error {
	db, err := b.open()
	if err != nil {
		return err
	}
	return db.Drop(context.Background(), b.prefix+ih.HexString())
}

// sweep deletes the data of torrents not kept.
func (b *browserStorage) sweep(keep []metainfo.Hash) error {
	db, err := b.open()
	if err != nil {
		return err
	}
	names := make(map[string]bool, len(keep))
	for _, ih := range keep {
		names[ih.HexString()] = true
	}
	return db.Sweep(context.Background(), func(n string) bool { return names[n] })
}

// pagePrefix starts the namespaces of pages that keep nothing.
const pagePrefix = "page-"

// sweepPages deletes what pages that kept nothing left (swept too when a
// keeping client starts).
func (b *browserStorage) sweepPages() error {
	db, err := b.open()
	if err != nil {
		return err
	}
	return db.Sweep(context.Background(), func(n string) bool { return !strings.HasPrefix(n, pagePrefix) })
}

// start(optionsJSON) resolves to the client object.
func start(this js.Value, args []js.Value) any {
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return promise(func() (any, error) { return nil, errors.New("start: want the options as JSON") })
	}
	var o startOptions
	raw := args[0].String()
	return promise(func() (any, error) {
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return nil, fmt.Errorf("start: options: %w", err)
		}
		keep := o.Keep == nil || *o.Keep
		bs := &browserStorage{}
		if !keep {
			var id [8]byte
			rand.Read(id[:])
			bs.prefix = pagePrefix + hex.EncodeToString(id[:]) + "-"
			if err := bs.sweepPages(); err != nil {
				js.Global().Get("console").Call("warn", "btspeed: deleting what earlier players left: "+err.Error())
			}
		}
		p, err := webpeer.Start(context.Background(), webpeer.Config{
			Relay: o.Relay, Relays: o.Relays, Trackers: o.Trackers, KV: localStorage{js.Global().Get("localStorage")},
			RTC: rtc.Config{ICEServers: o.ICEServers}, Storage: bs.storage, Forget: bs.forget, Sweep: bs.sweep, KeepNothing: !keep,
			StallAfter: time.Duration(o.StallAfter * float64(time.Second)),
		})
		if err != nil {
			return nil, err
		}
		return bind(p), nil
	})
}

// amounts converts base units to BTT strings for JavaScript.
type walletBalance struct {
	Ledger string `json:"ledger"`
	Locked string `json:"locked"`
}

type torrentJS struct {
	webpeer.Status
	Spent  string `json:"spent"`
	Earned string `json:"earned"`
	// Budget is what the torrent may spend in all ("0" until the default,
	// 1% of the wallet, is fixed), MaxPrice the most it bids per GiB.
	Budget   string         `json:"budget"`
	MaxPrice string         `json:"maxPrice"`
	Peers    []peerJS       `json:"peerAccounts"`
	Count    int            `json:"peers"`
	Conns    map[string]int `json:"connections"`
	PeerList []peerRowJS    `json:"peerList"`
}

// peerRowJS is webpeer.PeerRow with its amounts in BTT.
type peerRowJS struct {
	webpeer.PeerRow
	Spent  string `json:"spent"`
	Earned string `json:"earned"`
}

type peerJS struct {
	Account string `json:"account"`
	Spent   string `json:"spent"`
	Earned  string `json:"earned"`
}

func torrentView(s webpeer.Status) torrentJS {
	v := torrentJS{Status: s, Spent: speed.FormatBTT(s.Spent), Earned: speed.FormatBTT(s.Earned), Budget: speed.FormatBTT(s.Budget),
		MaxPrice: speed.FormatBTT(maxPriceOf(s.MaxPrice)), Count: s.Peers, Conns: s.Conns}
	for _, p := range s.PeerSpeed {
		v.Peers = append(v.Peers, peerJS{Account: p.Account, Spent: speed.FormatBTT(p.Spent), Earned: speed.FormatBTT(p.Earned)})
	}
	v.PeerList = make([]peerRowJS, 0, len(s.PeerList))
	for _, p := range s.PeerList {
		v.PeerList = append(v.PeerList, peerRowJS{PeerRow: p, Spent: speed.FormatBTT(p.Spent), Earned: speed.FormatBTT(p.Earned)})
	}
	return v
}

func parseIH(v js.Value) (metainfo.Hash, error) {
	var ih metainfo.Hash
	b, err := hex.DecodeString(v.String())
	if err != nil || len(b) != 20 {
		return ih, errors.New("want a 40-digit hex info hash")
	}
	copy(ih[:], b)
	return ih, nil
}
