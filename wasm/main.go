//go:build js

// Command wasm is the browser peer: package webpeer (the engine with WebRTC
// and bridged peers, Speed, the wallet) compiled to WebAssembly and bound to
// JavaScript. It registers globalThis.BTSpeedGo.start(options JSON), which
// resolves to an object of functions; web/btspeed.js wraps that object in
// the documented API (docs/js-api.md). Every call that waits on the network
// returns a Promise and runs on its own goroutine, so the page's event loop
// never waits for Go. Amounts cross as decimal BTT strings.
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
	{webpeer.ErrNoExchange, "no_exchange"},
	{webpeer.ErrNoTron, "no_tron"},
	{webpeer.ErrTronBalance, "tron_balance"},
	{webpeer.ErrBadAddress, "bad_address"},
	{webpeer.ErrBadAmount, "bad_amount"},
	{webpeer.ErrLedgerBalance, "insufficient_funds"},
	{webpeer.ErrReserve, "reserve"},
	{webpeer.ErrBelowMinimum, "below_minimum"},
	{webpeer.ErrNodeBuilt, "node_mismatch"},
	{webpeer.ErrLocked, "locked"},
	{webpeer.ErrNoWallet, "no_wallet"},
	{webpeer.ErrWrongPassword, "wrong_password"},
	{webpeer.ErrShortPassword, "short_password"},
}

// errorCode is err's code: one of errorCodes, else the ledger's API code,
// else "".
func errorCode(err error) string {
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

// withdrawalJS is a withdrawal's status for JavaScript: amounts in BTT,
// times in unix milliseconds.
type withdrawalJS struct {
	ID         string `json:"id"`
	To         string `json:"to"`
	Amount     string `json:"amount"`
	Status     string `json:"status"`
	Time       int64  `json:"time"`
	Queue      uint64 `json:"queue"`
	TxID       string `json:"txid,omitempty"`
	Expiration int64  `json:"expiration,omitempty"`
	Attempts   int    `json:"attempts"`
	Block      int64  `json:"block,omitempty"`
}

func withdrawalView(w api.WithdrawalStatus) withdrawalJS {
	return withdrawalJS{ID: w.ID, To: w.To.String(), Amount: speed.FormatBTT(uint64(w.Amount)), Status: w.Status, Time: w.Time * 1000,
		Queue: uint64(w.Queue), TxID: w.TxID, Expiration: w.Expiration, Attempts: w.Attempts, Block: w.Block}
}

// movementJS is a deposit or withdrawal in tronHistory().
type movementJS struct {
	Kind   string `json:"kind"`
	Amount string `json:"amount"`
	Status string `json:"status"`
	Time   int64  `json:"time"`
	TxID   string `json:"txid,omitempty"`
	ID     string `json:"id,omitempty"`
	To     string `json:"to,omitempty"`
	Block  int64  `json:"block,omitempty"`
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
			Relay: o.Relay, Trackers: o.Trackers, KV: localStorage{js.Global().Get("localStorage")},
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

func (b binding) torrent(v js.Value) (*webpeer.Torrent, error) {
	ih, err := parseIH(v)
	if err != nil {
		return nil, err
	}
	for _, t := range b.p.Torrents() {
		if t.InfoHash() == ih {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no torrent %s", ih.HexString())
}

type binding struct{ p *webpeer.Peer }

// bytesOf copies a Uint8Array into Go.
func bytesOf(v js.Value) []byte {
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// byHash is a binding of f on the torrent whose info hash is the first
// argument.
func byHash(f func(metainfo.Hash) error, arg func([]js.Value, int) js.Value) func([]js.Value) any {
	return func(args []js.Value) any {
		ihv := arg(args, 0)
		return promise(func() (any, error) {
			ih, err := parseIH(ihv)
			if err != nil {
				return nil, err
			}
			return nil, f(ih)
		})
	}
}

// bind builds the object btspeed.js wraps.
func bind(p *webpeer.Peer) js.Value {
	b := binding{p}
	w := p.Wallet()
	arg := func(args []js.Value, i int) js.Value {
		if i < len(args) {
			return args[i]
		}
		return js.Undefined()
	}
	str := func(args []js.Value, i int) string {
		if v := arg(args, i); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	fns := map[string]func(args []js.Value) any{
		"ledgerID":      func([]js.Value) any { return p.LedgerID() },
		"walletState":   func([]js.Value) any { return w.State() },
		"walletAddress": func([]js.Value) any { return w.Address() },
		"walletCreate": func(args []js.Value) any {
			pw := str(args, 0)
			return promise(func() (any, error) {
				phrase, addr, err := w.Create(pw)
				return toJSON(map[string]string{"phrase": phrase, "address": addr}), err
			})
		},
		"walletRestore": func(args []js.Value) any {
			phrase, pw := str(args, 0), str(args, 1)
			return promise(func() (any, error) {
				addr, err := w.Restore(phrase, pw)
				return toJSON(map[string]string{"address": addr}), err
			})
		},
		"walletUnlock": func(args []js.Value) any {
			pw := str(args, 0)
			return promise(func() (any, error) { return nil, w.Unlock(pw) })
		},
		"walletLock": func([]js.Value) any {
			return promise(func() (any, error) { w.Lock(); return nil, nil })
		},
		"walletExport": func([]js.Value) any {
			return promise(func() (any, error) { return w.ExportKeystore() })
		},
		"walletBalance": func([]js.Value) any {
			return promise(func() (any, error) {
				bal, err := w.Balance(context.Background())
				return toJSON(walletBalance{speed.FormatBTT(bal.Ledger), speed.FormatBTT(bal.Locked)}), err
			})
		},
		"walletFaucet": func(args []js.Value) any {
			progress := arg(args, 0)
			return promise(func() (any, error) {
				res, err := w.Faucet(context.Background(), func(tries uint64) {
					if progress.Type() == js.TypeFunction {
						progress.Invoke(float64(tries))
					}
				})
				return toJSON(map[string]string{"amount": speed.FormatBTT(uint64(res.Amount)), "balance": speed.FormatBTT(uint64(res.Balance)), "trx": speed.FormatBTT(uint64(res.TRX))}), err
			})
		},
		"walletTronBalance": func([]js.Value) any {
			return promise(func() (any, error) {
				a, err := w.TronAccount(context.Background())
				return toJSON(map[string]any{"address": a.Address, "trx": speed.FormatBTT(a.TRX), "btt": speed.FormatBTT(a.BTT), "token": a.Token, "exists": a.Exists}), err
			})
		},
		"walletExchange": func([]js.Value) any {
			return promise(func() (any, error) {
				x, err := w.Exchange(context.Background())
				return toJSON(map[string]any{"address": x.Address.String(), "token": x.Token, "confirmations": x.Confirmations,
					"minWithdrawal": speed.FormatBTT(uint64(x.MinWithdrawal)), "available": speed.FormatBTT(uint64(x.Available))}), err
			})
		},
		"walletDeposit": func(args []js.Value) any {
			amount := str(args, 0)
			return promise(func() (any, error) {
				v, err := parseAmount(amount)
				if err != nil {
					return nil, err
				}
				d, err := w.Deposit(context.Background(), v)
				return toJSON(map[string]any{"txid": d.TxID, "amount": speed.FormatBTT(d.Amount), "exchange": d.Exchange, "expiration": d.Expiration.UnixMilli()}), err
			})
		},
		"walletWithdraw": func(args []js.Value) any {
			amount, to := str(args, 0), str(args, 1)
			return promise(func() (any, error) {
				v, err := parseAmount(amount)
				if err != nil {
					return nil, err
				}
				st, err := w.Withdraw(context.Background(), v, to)
				return toJSON(withdrawalView(st)), err
			})
		},
		"walletWithdrawal": func(args []js.Value) any {
			id := str(args, 0)
			return promise(func() (any, error) {
				st, err := w.Withdrawal(context.Background(), id)
				return toJSON(withdrawalView(st)), err
			})
		},
		"walletTronHistory": func([]js.Value) any {
			return promise(func() (any, error) {
				ms, err := w.TronHistory(context.Background())
				out := make([]movementJS, 0, len(ms))
				for _, m := range ms {
					out = append(out, movementJS{Kind: m.Kind, Amount: speed.FormatBTT(m.Amount), Status: m.Status, Time: m.Time.UnixMilli(),
						TxID: m.TxID, ID: m.ID, To: m.To, Block: m.Block})
				}
				return toJSON(out), err
			})
		},
		"add": func(args []js.Value) any {
			src, opts := arg(args, 0), str(args, 1)
			var data []byte
			if src.Type() == js.TypeString {
				data = []byte(src.String())
			} else if src.InstanceOf(js.Global().Get("Uint8Array")) {
				data = bytesOf(src)
			}
			return promise(func() (any, error) {
				var o torrentOptionsJS
				if opts != "" {
					if err := json.Unmarshal([]byte(opts), &o); err != nil {
						return nil, fmt.Errorf("options: %w", err)
					}
				}
				to, err := o.options(p.Settings())
				if err != nil {
					return nil, err
				}
				t, err := p.Add(context.Background(), data, to)
				if err != nil {
					return nil, err
				}
				return t.InfoHash().HexString(), nil
			})
		},
		"seed": func(args []js.Value) any {
			name, list, opts := str(args, 0), arg(args, 1), str(args, 2)
			var files []webpeer.SeedFile
			if list.Type() == js.TypeObject {
				for i := 0; i < list.Get("length").Int(); i++ {
					f := list.Index(i)
					files = append(files, webpeer.SeedFile{Path: f.Get("path").String(), Data: bytesOf(f.Get("data"))})
				}
			}
			return promise(func() (any, error) {
				var o torrentOptionsJS
				if opts != "" {
					if err := json.Unmarshal([]byte(opts), &o); err != nil {
						return nil, fmt.Errorf("options: %w", err)
					}
				}
				to, err := o.options(p.Settings())
				if err != nil {
					return nil, err
				}
				t, err := p.Seed(name, files, to)
				if err != nil {
					return nil, err
				}
				return t.InfoHash().HexString(), nil
			})
		},
		"torrents": func([]js.Value) any {
			return promise(func() (any, error) {
				var out []torrentJS
				for _, t := range p.Torrents() {
					out = append(out, torrentView(t.Status()))
				}
				return toJSON(out), nil
			})
		},
		"read": func(args []js.Value) any {
			ihv, fileIdx, off, n, ahead := arg(args, 0), arg(args, 1).Int(), arg(args, 2).Float(), arg(args, 3).Int(), 0.0
			if v := arg(args, 4); v.Type() == js.TypeNumber {
				ahead = v.Float()
			}
			return promise(func() (any, error) {
				t, err := b.torrent(ihv)
				if err != nil {
					return nil, err
				}
				buf := make([]byte, min(max(n, 0), 16<<20))
				got, err := t.ReadFile(context.Background(), fileIdx, buf, int64(off), int64(ahead))
				if err != nil && got == 0 {
					return nil, err
				}
				u := js.Global().Get("Uint8Array").New(got)
				js.CopyBytesToJS(u, buf[:got])
				return u, nil
			})
		},
		"setSpeed": func(args []js.Value) any {
			ihv, opts := arg(args, 0), str(args, 1)
			return promise(func() (any, error) {
				t, err := b.torrent(ihv)
				if err != nil {
					return nil, err
				}
				var o torrentOptionsJS
				if err := json.Unmarshal([]byte(opts), &o); err != nil {
					return nil, fmt.Errorf("options: %w", err)
				}
				to, err := o.options(p.Settings())
				if err != nil {
					return nil, err
				}
				t.SetSpeed(to)
				return nil, nil
			})
		},
		"buffered": func(args []js.Value) any {
			ihv, fileIdx := arg(args, 0), arg(args, 1).Int()
			return promise(func() (any, error) {
				t, err := b.torrent(ihv)
				if err != nil {
					return nil, err
				}
				r, err := t.Buffered(fileIdx)
				if err != nil {
					return nil, err
				}
				return toJSON(r), nil
			})
		},
		"remove":  byHash(p.Remove, arg),
		"pause":   byHash(p.Pause, arg),
		"resume":  byHash(p.Resume, arg),
		"storage": func([]js.Value) any { return promise(func() (any, error) { return toJSON(p.Storage()), nil }) },
		"settingsGet": func([]js.Value) any {
			return promise(func() (any, error) {
				return toJSON(settingsView(p.Settings())), nil
			})
		},
		"settingsSet": func(args []js.Value) any {
			raw := str(args, 0)
			return promise(func() (any, error) {
				var in settingsJS
				if err := json.Unmarshal([]byte(raw), &in); err != nil {
					return nil, fmt.Errorf("settings: %w", err)
				}
				s, err := in.settings()
				if err != nil {
					return nil, err
				}
				return nil, p.SetSettings(s)
			})
		},
		"history": func([]js.Value) any {
			type pt struct {
				Time   int64  `json:"time"`
				Spent  string `json:"spent"`
				Earned string `json:"earned"`
			}
			return promise(func() (any, error) {
				var out []pt
				for _, h := range p.History() {
					out = append(out, pt{h.Time.UnixMilli(), speed.FormatBTT(h.Spent), speed.FormatBTT(h.Earned)})
				}
				return toJSON(out), nil
			})
		},
		"totals": func([]js.Value) any {
			return promise(func() (any, error) {
				spent, earned := p.Totals()
				return toJSON(map[string]string{"spent": speed.FormatBTT(spent), "earned": speed.FormatBTT(earned)}), nil
			})
		},
		"close": func([]js.Value) any {
			return promise(func() (any, error) { return nil, p.Close() })
		},
	}
	obj := js.Global().Get("Object").New()
	for name, f := range fns {
		obj.Set(name, js.FuncOf(func(this js.Value, args []js.Value) any { return f(args) }))
	}
	return obj
}
