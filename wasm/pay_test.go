//go:build !js

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// payMemo is the memo the shop sends: markup in it must show as text.
const payMemo = `Order #42 <b>not bold</b> <img src=x onerror=alert(1)> — merci`

// serveShop serves a merchant's page on addr (host:0), another origin than
// the relay's: /shop.html loads btspeed.js from the relay, starts a client
// and has a button per payment (#pay-a 1.5 BTT, #pay-b 2 BTT, to payee);
// each outcome goes to window.payResults. /shop.html?auto asks to pay 1 BTT
// as it loads, without a click, and posts the outcome to /report, which
// sends it on reports (the test must not touch that page: every Playwright
// call gives the page a user's activation). An iframe of thirdURL (another
// origin) sits in it. /evil.html is that third origin's page: told
// {forge: n}, it posts forged answers to the page around it; told {ask: T},
// it asks for a payment itself (window.frameResult in the page around it).
func serveShop(t testing.TB, addr, relayURL, payee, thirdURL string) (url string, reports <-chan payResult) {
	t.Helper()
	mux := http.NewServeMux()
	reported := make(chan payResult, 8)
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var res payResult
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&res); err == nil {
			select {
			case reported <- res:
			default:
			}
		}
	})
	mux.HandleFunc("/shop.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<script src="%s/btspeed.js"></script>
<style>body { margin: 24px; font: 16px system-ui, sans-serif }</style></head>
<body><h1>A shop on another site</h1>
<button id="pay-a">Pay 1.5 BTT</button> <button id="pay-b">Pay 2 BTT</button>
<iframe id="third" src="%s/evil.html"></iframe>
<script>
window.payResults = []
const payee = %q
const report = res => {
	payResults.push(res)
	if (location.search === '?auto') fetch('/report', {method: 'POST', body: JSON.stringify(res)})
}
const outcome = p => p.then(r => report({id: r.id, amount: r.amount}), e => report({code: e.code, message: e.message}))
window.payFrom = (amount, memo) => outcome(client.wallet.pay({to: payee, amount, memo}))
document.getElementById('pay-a').onclick = () => payFrom('1.5', %q)
document.getElementById('pay-b').onclick = () => payFrom('2', 'second order')
addEventListener('message', e => {
	if (e.data && e.data.forged) window.forgedDone = true
	if (e.data && e.data.frameResult) window.frameResult = e.data.frameResult
})
BTSpeed.start({relay: %q}).then(c => {
	window.client = c
	window.ready = true
	// ?auto: pay as soon as the page loaded, with no click.
	if (location.search === '?auto') payFrom('1', 'no click')
})
</script></body></html>`, html.EscapeString(relayURL), html.EscapeString(thirdURL), payee, payMemo, relayURL)
	})
	mux.HandleFunc("/evil.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>third</title><p>a third origin</p>
<script src="%s/btspeed.js"></script><script>
addEventListener('message', e => {
	if (e.data && e.data.ask) {
		BTSpeed.pay({to: e.data.ask, amount: '900', memo: 'from the frame'}).then(r => parent.postMessage({frameResult: 'paid'}, '*'),
			err => parent.postMessage({frameResult: err.code}, '*'))
		return
	}
	if (!e.data || !e.data.forge) return
	parent.postMessage({btspeed: 'pay', type: 'paid', n: e.data.forge, id: 'forged', amount: '1000'}, '*')
	parent.postMessage({btspeed: 'pay', type: 'error', n: e.data.forge, code: 'refused', message: 'forged'}, '*')
	parent.postMessage({forged: true}, '*')
})
</script>`, html.EscapeString(relayURL))
	})
	return browsertest.Serve(t, browsertest.Listen(t, addr), mux).URL, reported
}

type payResult struct{ ID, Amount, Code, Message string }

// payRig is TestPayForPage's world: a relay with its ledger, a shop on
// another origin (with a frame of a third one), a buyer's wallet in the
// relay's origin of one browser profile, and a payee.
type payRig struct {
	relayURL, shopURL, third string
	payee, buyer             wallet.Address
	payeeKey, buyerKey       *wallet.PrivateKey // the buyer's is the browser wallet's, restored from its phrase
	lc                       *client.Client
	browser                  *browsertest.Browser
	reports                  <-chan payResult // from /shop.html?auto
	home, shop               *browsertest.Page
	// buyerWas and payeeWas are the ledger balances after the last payment.
	buyerWas, payeeWas uint64
}

// A page of another origin takes payments through client.wallet.pay: the
// btspeed origin's window shows who asks (the origin the request came
// from), the payee, the amount, the memo as text and the balance after;
// the test unlocks and clicks Pay there, the ledger makes the transfer (the
// memo signed, in both histories) and the page's promise resolves with its
// id. A second request the user refuses rejects with code refused and
// moves nothing; one whose window the user closes rejects with closed.
// Forged answers from a third origin, and requests from it or from another
// sender, are ignored; a frame of the third origin asks in its own name.
// The app's Speed tab then shows the payment beside Speed. With the popup
// blocker on, a page asking without a click is told to call pay from one.
func TestPayForPage(t *testing.T) {
	r := newPayRig(t)
	// Requests a page cannot make: checked before any window opens.
	var bad []string
	r.shop.Eval(t, `Promise.all([
		client.wallet.pay({to: 'TnotAnAddress', amount: '1'}),
		client.wallet.pay({to: `+jsString(r.payee.String())+`, amount: '1.1234567'}),
		client.wallet.pay({to: `+jsString(r.payee.String())+`, amount: '0'}),
		client.wallet.pay({to: `+jsString(r.payee.String())+`, amount: '1', memo: 'é'.repeat(71)}),
		client.wallet.pay({to: `+jsString(r.payee.String())+`, amount: '1', memo: 'a\u0000b'}),
	].map(p => p.then(() => 'paid', e => e.code)))`, &bad)
	if strings.Join(bad, ",") != "bad_address,bad_amount,bad_amount,bad_memo,bad_memo" {
		t.Fatalf("invalid requests: %v", bad)
	}
	t.Run("the user confirms", r.confirms)
	t.Run("the user refuses", r.refuses)
	t.Run("a frame of another origin asks in its own name, for too much", r.frameAsks)
	t.Run("the app shows payments beside Speed", r.appShows)
	t.Run("without a click the popup blocker stops it", r.blocked)
	t.Run("no wallet in this browser", r.noWallet)
}

func newPayRig(t *testing.T) *payRig {
	browsertest.Require(t)
	r := &payRig{}
	r.relayURL = startRelay(t, "127.0.0.1:0", webDir(t), rtc.Config{})
	r.third, _ = serveShop(t, "127.0.0.1:0", r.relayURL, "", "") // only its /evil.html is used
	r.payeeKey, _ = wallet.GenerateKey()
	r.payee = r.payeeKey.Address()
	phrase, err := wallet.NewMnemonic(12)
	if err != nil {
		t.Fatal(err)
	}
	if r.buyerKey, err = phrase.DeriveKey("", 0); err != nil {
		t.Fatal(err)
	}
	r.shopURL, r.reports = serveShop(t, "127.0.0.1:0", r.relayURL, r.payee.String(), r.third)
	if r.shopURL == r.relayURL || r.third == r.relayURL || r.third == r.shopURL {
		t.Fatal("the shop, the third page and the relay must be three origins")
	}
	// The confirmation window is never framed: the relay's headers say so.
	resp, err := http.Get(r.relayURL + "/pay.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "frame-ancestors 'none'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("pay.html: %s, CSP %q, X-Frame-Options %q", resp.Status, csp, resp.Header.Get("X-Frame-Options"))
	}
	b := browsertest.Start(t, nil)
	r.browser = b
	r.lc = client.New(r.relayURL+"/ledger", nil)

	// The buyer's wallet, in the relay's origin of this browser profile.
	r.home = b.NewPage(t, r.relayURL+"/blank.html")
	var buyer string
	r.home.Eval(t, `(async () => {
		const c = await BTSpeed.start({relay: location.origin})
		await c.wallet.restore(`+jsString(phrase.String())+`, 'password1234')
		await c.wallet.faucet({})
		const a = c.wallet.address
		await c.destroy()
		return a
	})()`, &buyer)
	if r.buyer, err = wallet.ParseAddress(buyer); err != nil || r.buyer != r.buyerKey.Address() {
		t.Fatalf("the restored wallet is %s, want %s: %v", buyer, r.buyerKey.Address(), err)
	}
	r.buyerWas, r.payeeWas = r.balances(t)
	r.shop = r.home.NewTab(t, r.shopURL+"/shop.html")
	r.shop.WaitForFunction(t, `window.ready === true`, 60*time.Second)
	return r
}

// balances are the buyer's and the payee's on the ledger.
func (r *payRig) balances(t *testing.T) (uint64, uint64) {
	t.Helper()
	a, err1 := r.lc.Balance(context.Background(), r.buyer)
	p, err2 := r.lc.Balance(context.Background(), r.payee)
	if err1 != nil || err2 != nil {
		t.Fatalf("ledger balances: %v %v", err1, err2)
	}
	return a, p
}

// unmoved fails the test if the ledger moved since the last payment.
func (r *payRig) unmoved(t *testing.T, after string) {
	t.Helper()
	if a, p := r.balances(t); a != r.buyerWas || p != r.payeeWas {
		t.Fatalf("after %s the ledger moved: buyer %d (was %d), payee %d (was %d)", after, a, r.buyerWas, p, r.payeeWas)
	}
}

// window takes the confirmation window the shop opened, once it shows the
// request.
func (r *payRig) window(t *testing.T) *browsertest.Page {
	t.Helper()
	pop := r.shop.Popup(t, 30*time.Second)
	pop.WaitFor(t, "#pay-form:not([hidden])", 90*time.Second)
	pop.WaitForFunction(t, `document.getElementById('pay-after').textContent !== '…'`, 30*time.Second)
	return pop
}

// results are the outcomes of the shop's payments so far.
func (r *payRig) results(t *testing.T, n int) []payResult {
	t.Helper()
	r.shop.WaitForFunction(t, `payResults.length >= `+strconv.Itoa(n), 60*time.Second)
	var res []payResult
	r.shop.Eval(t, `payResults`, &res)
	return res
}

func (r *payRig) confirms(t *testing.T) {
	r.shop.Click(t, "#pay-a")
	pop := r.window(t)
	var shown struct {
		Origin, Amount, To, Memo, Balance, After string
		MemoElements                             int
		Locked                                   bool
	}
	pop.Eval(t, `(() => {
		const t = id => document.getElementById(id).textContent
		return {origin: t('pay-origin'), amount: t('pay-amount'), to: t('pay-to'), memo: t('pay-memo'), balance: t('pay-balance'),
			after: t('pay-after'), memoElements: document.getElementById('pay-memo').children.length, locked: !document.getElementById('pay-unlock').hidden}
	})()`, &shown)
	wantAfter := speed.FormatBTT(r.buyerWas - 1_500_000)
	if shown.Origin != r.shopURL || shown.Amount != "1.5" || shown.To != r.payee.String() || shown.Memo != payMemo || shown.MemoElements != 0 ||
		!shown.Locked || btt(shown.Balance) != btt(speed.FormatBTT(r.buyerWas)) || btt(shown.After) != btt(wantAfter) {
		t.Fatalf("the confirmation window shows %+v; want origin %s, 1.5 BTT to %s, memo as text, balance after %s", shown, r.shopURL, r.payee, wantAfter)
	}
	r.forge(t, pop)
	pop.Screenshot(t, screenshotPath(t, "pay-confirm.png"), true)

	pop.Fill(t, "#pay-password", "password1234")
	pop.Click(t, "#pay-ok")
	res := r.results(t, 1)
	if len(res) != 1 || res[0].ID == "" || res[0].ID == "forged" || res[0].Amount != "1.500000" {
		t.Fatalf("the page's promise: %+v", res)
	}
	pop.WaitFor(t, "#pay-done:not([hidden])", 10*time.Second)
	pop.Screenshot(t, screenshotPath(t, "pay-paid.png"), true)
	noCSPViolations(t, pop)
	buyerNow, payeeNow := r.balances(t)
	if buyerNow != r.buyerWas-1_500_000 || payeeNow != r.payeeWas+1_500_000 {
		t.Fatalf("ledger: buyer %d (was %d), payee %d (was %d): want 1.5 BTT moved", buyerNow, r.buyerWas, payeeNow, r.payeeWas)
	}
	for _, a := range []wallet.Address{r.buyer, r.payee} {
		h, err := r.lc.History(context.Background(), a, 0, 1)
		if err != nil || len(h) != 1 || h[0].Kind != "transfer" || h[0].Ref != res[0].ID || h[0].Memo != payMemo {
			t.Fatalf("%s's history (%v): %+v, want the transfer %s with the memo", a, err, h, res[0].ID)
		}
	}
	r.buyerWas, r.payeeWas = buyerNow, payeeNow
	pop.Close(t)
}

// forge has the third origin post answers to the shop with the open
// request's own number (the shop's promise must ignore them: they come
// before the real one), and makes requests reach the window from another
// origin through the opener and from another window (which change nothing).
func (r *payRig) forge(t *testing.T, pop *browsertest.Page) {
	t.Helper()
	var n string
	pop.Eval(t, `pay.n`, &n)
	r.shop.Eval(t, `document.getElementById('third').contentWindow.postMessage({forge: `+jsString(n)+`}, '*')`, nil)
	r.shop.WaitForFunction(t, `window.forgedDone === true`, 10*time.Second)
	pop.Eval(t, `(() => {
		const req = {btspeed: 'pay', type: 'request', n: 'x', to: `+jsString(r.buyer.String())+`, amount: '900', memo: 'forged'}
		window.dispatchEvent(new MessageEvent('message', {data: req, origin: `+jsString(r.third)+`, source: window.opener}))
		window.dispatchEvent(new MessageEvent('message', {data: req, origin: `+jsString(r.shopURL)+`, source: window}))
		return null
	})()`, nil)
	var still struct{ Origin, Amount string }
	pop.Eval(t, `({origin: document.getElementById('pay-origin').textContent, amount: document.getElementById('pay-amount').textContent})`, &still)
	if still.Origin != r.shopURL || still.Amount != "1.5" {
		t.Fatalf("after the forged requests the window shows %+v", still)
	}
}

func (r *payRig) refuses(t *testing.T) {
	r.shop.Click(t, "#pay-b")
	pop := r.window(t)
	// Another request while this one is open is refused at once.
	var busy payResult
	r.shop.Eval(t, `client.wallet.pay({to: `+jsString(r.payee.String())+`, amount: '1'}).then(r => r, e => ({code: e.code}))`, &busy)
	if busy.Code != "busy" {
		t.Fatalf("a second request while one is open: %+v", busy)
	}
	pop.Screenshot(t, screenshotPath(t, "pay-refuse.png"), true)
	pop.Click(t, "#pay-refuse")
	if res := r.results(t, 2); res[1].Code != "refused" {
		t.Fatalf("refused: %+v", res[1])
	}
	r.unmoved(t, "a refusal")
	// Closing the window without an answer rejects with closed.
	r.shop.Click(t, "#pay-b")
	r.window(t).Close(t)
	if res := r.results(t, 3); res[2].Code != "closed" {
		t.Fatalf("closed: %+v", res[2])
	}
	r.unmoved(t, "closing the window")
}

// frameAsks: the third origin's frame inside the shop asks for 900 BTT,
// more than the wallet holds. The window names the frame's origin, never
// the shop's, says the balance is too low and offers no Pay; closing it
// answers insufficient_funds.
func (r *payRig) frameAsks(t *testing.T) {
	r.shop.Eval(t, `document.getElementById('third').contentWindow.postMessage({ask: `+jsString(r.payee.String())+`}, '*')`, nil)
	pop := r.window(t)
	var shown struct {
		Origin, Amount, Error string
		Disabled              bool
	}
	pop.Eval(t, `({origin: document.getElementById('pay-origin').textContent, amount: document.getElementById('pay-amount').textContent,
		error: document.getElementById('pay-error').textContent, disabled: document.getElementById('pay-ok').disabled})`, &shown)
	if shown.Origin != r.third || shown.Amount != "900" || !strings.Contains(shown.Error, "balance is too low") || !shown.Disabled {
		t.Fatalf("a request from the frame shows %+v, want origin %s, too low a balance, no Pay", shown, r.third)
	}
	pop.Screenshot(t, screenshotPath(t, "pay-insufficient.png"), true)
	pop.Click(t, "#pay-refuse")
	r.shop.WaitForFunction(t, `window.frameResult !== undefined`, 30*time.Second)
	var got string
	r.shop.Eval(t, `window.frameResult`, &got)
	if got != "insufficient_funds" {
		t.Fatalf("the frame's request: %q", got)
	}
	r.unmoved(t, "the frame's request")
}

func (r *payRig) appShows(t *testing.T) {
	r.payChannels(t)
	app := r.home.NewTab(t, r.relayURL+"/")
	app.WaitFor(t, "#screen-unlock:not([hidden])", 60*time.Second)
	app.Fill(t, "#unlock-password", "password1234")
	app.Click(t, "#unlock-submit")
	app.WaitFor(t, "#screen-app:not([hidden])", 30*time.Second)
	app.Click(t, "#tab-speed")
	app.WaitForFunction(t, `document.querySelector('#services-table tbody tr:nth-child(2)') &&
		!/\?/.test(document.querySelector('#services-table tbody tr:nth-child(2)').textContent)`, 30*time.Second)
	var rows [][]string
	app.Eval(t, `Array.from(document.querySelectorAll('#services-table tbody tr')).map(r => Array.from(r.children).map(c => c.firstChild.textContent))`, &rows)
	if len(rows) != 4 || rows[1][0] != "Payments to pages" || rows[1][1] != "1.5 BTT" || rows[1][2] != "0 BTT" {
		t.Fatalf("services: %v", rows)
	}
	r.wantChannelRows(t, app, rows)
	var made []string
	app.Eval(t, `Array.from(document.querySelectorAll('#payments-table tbody tr:first-child td')).map(c => c.textContent)`, &made)
	if len(made) != 4 || !strings.HasPrefix(made[1], r.shopURL) || made[2] != "1.5 BTT" || made[3] != payMemo {
		t.Fatalf("payments to pages: %q", made)
	}
	app.Screenshot(t, screenshotPath(t, "pay-app-services.png"), true)
	noCSPViolations(t, app)
}

// blocked: in a Chromium with its popup blocker on, a page that asks to
// pay without a click is told to call pay from one, and no window opens.
func (r *payRig) blocked(t *testing.T) {
	p := r.browser.NewPopupBlockingPage(t, r.shopURL+"/shop.html?auto", t.TempDir())
	var res payResult
	select {
	case res = <-r.reports:
	case <-time.After(90 * time.Second):
		t.Fatal("the page did not report its payment's outcome")
	}
	if res.Code != "popup_blocked" || !strings.Contains(res.Message, "call pay() from a click") {
		t.Fatalf("a payment without a click: %+v", res)
	}
	p.Close(t)
	r.unmoved(t, "a blocked window")
}

// noWallet: a browser without a btspeed wallet is told so in the window,
// and the page gets no_wallet.
func (r *payRig) noWallet(t *testing.T) {
	shop := r.browser.NewPage(t, r.shopURL+"/shop.html") // a context of its own: no wallet
	shop.WaitForFunction(t, `window.ready === true`, 60*time.Second)
	shop.Click(t, "#pay-a")
	pop := shop.Popup(t, 30*time.Second)
	pop.WaitFor(t, "#pay-done:not([hidden])", 90*time.Second)
	if title := pop.Text(t, "#pay-done-title"); title != "No wallet" {
		t.Fatalf("the window without a wallet: %q", title)
	}
	shop.WaitForFunction(t, `payResults.length > 0`, 30*time.Second)
	var res []payResult
	shop.Eval(t, `payResults`, &res)
	if res[0].Code != "no_wallet" {
		t.Fatalf("without a wallet: %+v", res)
	}
	shop.Close(t)
}

// btt drops trailing zeros of a BTT string, as the app shows it.
func btt(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" {
		return "0"
	}
	return s
}
