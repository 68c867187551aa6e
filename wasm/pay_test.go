//go:build !js

package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
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
// each outcome goes to window.payResults. An iframe of thirdURL (another
// origin) sits in it. /evil.html is that third origin's page: told
// {forge: n}, it posts forged answers to the page around it; told {ask: T},
// it asks for a payment itself (window.frameResult in the page around it).
func serveShop(t testing.TB, addr, relayURL, payee, thirdURL string) string {
	t.Helper()
	mux := http.NewServeMux()
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
const outcome = p => p.then(r => { payResults.push({id: r.id, amount: r.amount}) }, e => { payResults.push({code: e.code, message: e.message}) })
window.payFrom = (amount, memo) => outcome(client.wallet.pay({to: payee, amount, memo}))
document.getElementById('pay-a').onclick = () => payFrom('1.5', %q)
document.getElementById('pay-b').onclick = () => payFrom('2', 'second order')
addEventListener('message', e => {
	if (e.data && e.data.forged) window.forgedDone = true
	if (e.data && e.data.frameResult) window.frameResult = e.data.frameResult
})
BTSpeed.start({relay: %q}).then(c => { window.client = c; window.ready = true })
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
	return browsertest.Serve(t, browsertest.Listen(t, addr), mux).URL
}

type payResult struct{ ID, Amount, Code, Message string }

// A page of another origin takes payments through client.wallet.pay: the
// btspeed origin's window shows who asks (the origin the request came
// from), the payee, the amount, the memo as text and the balance after;
// the test unlocks and clicks Pay there, the ledger makes the transfer and
// the page's promise resolves with its id. A second request the user
// refuses rejects with code refused and moves nothing; one whose window
// the user closes rejects with closed. Forged answers from
// a third origin and requests from it or from another sender are ignored.
// The app's Speed tab then shows the payment beside Speed.
func TestPayForPage(t *testing.T) {
	browsertest.Require(t)
	web := webDir(t)
	relayURL := startRelay(t, "127.0.0.1:0", web, rtc.Config{})
	third := serveShop(t, "127.0.0.1:0", relayURL, "", "") // only its /evil.html is used
	payeeKey, _ := wallet.GenerateKey()
	payee := payeeKey.Address()
	shopURL := serveShop(t, "127.0.0.1:0", relayURL, payee.String(), third)
	if shopURL == relayURL || third == relayURL || third == shopURL {
		t.Fatal("the shop, the third page and the relay must be three origins")
	}
	// The confirmation window is never framed: not by the relay's headers.
	resp, err := http.Get(relayURL + "/pay.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "frame-ancestors 'none'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("pay.html: %s, CSP %q, X-Frame-Options %q", resp.Status, csp, resp.Header.Get("X-Frame-Options"))
	}
	b := browsertest.Start(t, nil)
	lc := client.New(relayURL+"/ledger", nil)
	ctx := context.Background()

	// The buyer's wallet, in the relay's origin of this browser profile.
	home := b.NewPage(t, relayURL+"/blank.html")
	var buyerAddr string
	home.Eval(t, `(async () => {
		const c = await BTSpeed.start({relay: location.origin})
		await c.wallet.create('password1234')
		await c.wallet.faucet({})
		const a = c.wallet.address
		await c.destroy()
		return a
	})()`, &buyerAddr)
	buyer, err := wallet.ParseAddress(buyerAddr)
	if err != nil {
		t.Fatal(err)
	}
	balances := func() (uint64, uint64) {
		t.Helper()
		a, err1 := lc.Balance(ctx, buyer)
		p, err2 := lc.Balance(ctx, payee)
		if err1 != nil || err2 != nil {
			t.Fatalf("ledger balances: %v %v", err1, err2)
		}
		return a, p
	}
	buyerWas, payeeWas := balances()

	shop := home.NewTab(t, shopURL+"/shop.html")
	shop.WaitForFunction(t, `window.ready === true`, 60*time.Second)

	// Requests a page cannot make: checked before any window opens.
	var bad []string
	shop.Eval(t, `Promise.all([
		client.wallet.pay({to: 'TnotAnAddress', amount: '1'}),
		client.wallet.pay({to: `+jsString(payee.String())+`, amount: '1.1234567'}),
		client.wallet.pay({to: `+jsString(payee.String())+`, amount: '0'}),
		client.wallet.pay({to: `+jsString(payee.String())+`, amount: '1', memo: 'é'.repeat(71)}),
	].map(p => p.then(() => 'paid', e => e.code)))`, &bad)
	if strings.Join(bad, ",") != "bad_address,bad_amount,bad_amount,bad_memo" {
		t.Fatalf("invalid requests: %v", bad)
	}

	t.Run("the user confirms", func(t *testing.T) {
		shop.Click(t, "#pay-a")
		pop := shop.Popup(t, 30*time.Second)
		pop.WaitFor(t, "#pay-form:not([hidden])", 90*time.Second)
		pop.WaitForFunction(t, `document.getElementById('pay-after').textContent !== '…'`, 30*time.Second)
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
		wantAfter := speed.FormatBTT(buyerWas - 1_500_000)
		if shown.Origin != shopURL || shown.Amount != "1.5" || shown.To != payee.String() || shown.Memo != payMemo || shown.MemoElements != 0 ||
			!shown.Locked || btt(shown.Balance) != btt(speed.FormatBTT(buyerWas)) || btt(shown.After) != btt(wantAfter) {
			t.Fatalf("the confirmation window shows %+v; want origin %s, 1.5 BTT to %s, memo as text, balance after %s", shown, shopURL, payee, wantAfter)
		}

		// A third origin forges answers to the shop with the request's own
		// number: the shop's promise ignores them (they come first).
		var n string
		pop.Eval(t, `pay.n`, &n)
		shop.Eval(t, `document.getElementById('third').contentWindow.postMessage({forge: `+jsString(n)+`}, '*')`, nil)
		shop.WaitForFunction(t, `window.forgedDone === true`, 10*time.Second)
		// Requests from another origin through the opener, or from another
		// window, change nothing in the window.
		pop.Eval(t, `(() => {
			const req = {btspeed: 'pay', type: 'request', n: 'x', to: `+jsString(buyerAddr)+`, amount: '900', memo: 'forged'}
			window.dispatchEvent(new MessageEvent('message', {data: req, origin: `+jsString(third)+`, source: window.opener}))
			window.dispatchEvent(new MessageEvent('message', {data: req, origin: `+jsString(shopURL)+`, source: window}))
			return null
		})()`, nil)
		var still struct{ Origin, Amount string }
		pop.Eval(t, `({origin: document.getElementById('pay-origin').textContent, amount: document.getElementById('pay-amount').textContent})`, &still)
		if still.Origin != shopURL || still.Amount != "1.5" {
			t.Fatalf("after the forged requests the window shows %+v", still)
		}
		pop.Screenshot(t, screenshotPath(t, "pay-confirm.png"), true)

		pop.Fill(t, "#pay-password", "password1234")
		pop.Click(t, "#pay-ok")
		shop.WaitForFunction(t, `payResults.length > 0`, 60*time.Second)
		var res []payResult
		shop.Eval(t, `payResults`, &res)
		if len(res) != 1 || res[0].ID == "" || res[0].ID == "forged" || res[0].Amount != "1.500000" {
			t.Fatalf("the page's promise: %+v", res)
		}
		pop.WaitFor(t, "#pay-done:not([hidden])", 10*time.Second)
		pop.Screenshot(t, screenshotPath(t, "pay-paid.png"), true)
		noCSPViolations(t, pop)
		buyerNow, payeeNow := balances()
		if buyerNow != buyerWas-1_500_000 || payeeNow != payeeWas+1_500_000 {
			t.Fatalf("ledger: buyer %d (was %d), payee %d (was %d): want 1.5 BTT moved", buyerNow, buyerWas, payeeNow, payeeWas)
		}
		hist, err := lc.History(ctx, buyer, 0, 10)
		if err != nil || len(hist) == 0 || hist[0].Kind != "transfer" || hist[0].Ref != res[0].ID || hist[0].Counterparty != payee ||
			hist[0].Memo != payMemo {
			t.Fatalf("the buyer's history (%v): %+v, want the transfer %s first, with the memo", err, hist, res[0].ID)
		}
		if ph, err := lc.History(ctx, payee, 0, 1); err != nil || len(ph) != 1 || ph[0].Memo != payMemo {
			t.Fatalf("the payee's history (%v): %+v, want the memo", err, ph)
		}
		buyerWas, payeeWas = buyerNow, payeeNow
		pop.Close(t)
	})

	t.Run("the user refuses", func(t *testing.T) {
		shop.Click(t, "#pay-b")
		pop := shop.Popup(t, 30*time.Second)
		pop.WaitFor(t, "#pay-form:not([hidden])", 90*time.Second)
		// Another request while this one is open is refused at once.
		var busy payResult
		shop.Eval(t, `client.wallet.pay({to: `+jsString(payee.String())+`, amount: '1'}).then(r => r, e => ({code: e.code}))`, &busy)
		if busy.Code != "busy" {
			t.Fatalf("a second request while one is open: %+v", busy)
		}
		pop.Screenshot(t, screenshotPath(t, "pay-refuse.png"), true)
		pop.Click(t, "#pay-refuse")
		shop.WaitForFunction(t, `payResults.length > 1`, 30*time.Second)
		var res []payResult
		shop.Eval(t, `payResults`, &res)
		if res[1].Code != "refused" {
			t.Fatalf("refused: %+v", res[1])
		}
		if a, p := balances(); a != buyerWas || p != payeeWas {
			t.Fatalf("after a refusal the ledger moved: buyer %d (was %d), payee %d (was %d)", a, buyerWas, p, payeeWas)
		}
		// Closing the window without an answer rejects with closed.
		shop.Click(t, "#pay-b")
		pop = shop.Popup(t, 30*time.Second)
		pop.WaitFor(t, "#pay-form:not([hidden])", 90*time.Second)
		pop.Close(t)
		shop.WaitForFunction(t, `payResults.length > 2`, 30*time.Second)
		shop.Eval(t, `payResults`, &res)
		if res[2].Code != "closed" {
			t.Fatalf("closed: %+v", res[2])
		}
	})

	t.Run("a frame of another origin asks in its own name, for too much", func(t *testing.T) {
		// The third origin's frame inside the shop asks for a payment: the
		// window names the frame's origin, never the shop's.
		shop.Eval(t, `document.getElementById('third').contentWindow.postMessage({ask: `+jsString(payee.String())+`}, '*')`, nil)
		pop := shop.Popup(t, 30*time.Second)
		pop.WaitFor(t, "#pay-form:not([hidden])", 90*time.Second)
		// 900 BTT is more than the wallet holds: the window says so and
		// offers no Pay; closing it answers insufficient_funds.
		pop.WaitForFunction(t, `document.getElementById('pay-error').textContent !== ''`, 30*time.Second)
		var shown struct {
			Origin, Amount, Error string
			Disabled              bool
		}
		pop.Eval(t, `({origin: document.getElementById('pay-origin').textContent, amount: document.getElementById('pay-amount').textContent,
			error: document.getElementById('pay-error').textContent, disabled: document.getElementById('pay-ok').disabled})`, &shown)
		if shown.Origin != third || shown.Amount != "900" || !strings.Contains(shown.Error, "balance is too low") || !shown.Disabled {
			t.Fatalf("a request from the frame shows %+v, want origin %s, too low a balance, no Pay", shown, third)
		}
		pop.Screenshot(t, screenshotPath(t, "pay-insufficient.png"), true)
		pop.Click(t, "#pay-refuse")
		shop.WaitForFunction(t, `window.frameResult !== undefined`, 30*time.Second)
		var got string
		shop.Eval(t, `window.frameResult`, &got)
		if got != "insufficient_funds" {
			t.Fatalf("the frame's request: %q", got)
		}
		if a, p := balances(); a != buyerWas || p != payeeWas {
			t.Fatalf("the ledger moved: buyer %d (was %d), payee %d (was %d)", a, buyerWas, p, payeeWas)
		}
	})

	t.Run("the app shows payments beside Speed", func(t *testing.T) {
		app := home.NewTab(t, relayURL+"/")
		app.WaitFor(t, "#screen-unlock:not([hidden])", 60*time.Second)
		app.Fill(t, "#unlock-password", "password1234")
		app.Click(t, "#unlock-submit")
		app.WaitFor(t, "#screen-app:not([hidden])", 30*time.Second)
		app.Click(t, "#tab-speed")
		app.WaitForFunction(t, `document.querySelector('#services-table tbody') && /Payments to pages/.test(document.querySelector('#services-table tbody').textContent) &&
			!/\?/.test(document.querySelector('#services-table tbody tr:nth-child(2)').textContent)`, 30*time.Second)
		var rows [][]string
		app.Eval(t, `Array.from(document.querySelectorAll('#services-table tbody tr')).map(r => Array.from(r.children).map(c => c.firstChild.textContent))`, &rows)
		if len(rows) != 4 || rows[1][0] != "Payments to pages" || rows[1][1] != "1.5 BTT" || rows[1][2] != "0 BTT" || rows[2][0] != "Proxy" || rows[3][0] != "Storage" {
			t.Fatalf("services: %v", rows)
		}
		var made []string
		app.Eval(t, `Array.from(document.querySelectorAll('#payments-table tbody tr:first-child td')).map(c => c.textContent)`, &made)
		if len(made) != 4 || !strings.HasPrefix(made[1], shopURL) || made[2] != "1.5 BTT" || made[3] != payMemo {
			t.Fatalf("payments to pages: %q", made)
		}
		app.Screenshot(t, screenshotPath(t, "pay-app-services.png"), true)
		noCSPViolations(t, app)
	})
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
