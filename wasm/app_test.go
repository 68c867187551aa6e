//go:build !js

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// The web app as a newcomer meets it, in Chromium in a network namespace,
// against a relay that seeds a file with Speed on: create a wallet (the
// phrase shown once, continuing only once it is confirmed), claim from the
// faucet, download the relay's file with Speed, see what was spent per
// torrent and per peer and matching the ledger, change settings, lock and
// meet the unlock screen where a wrong password is refused. Screenshots of
// every main screen, wide and narrow, are saved.
func TestWebApp(t *testing.T) {
	ns, web := appEnv(t)
	url, data, relayKey := seedingRelay(t, ns, web, "relay-demo.bin", 3<<20+123, 1)
	b := browsertest.Start(t, ns.Command, url)
	p := b.NewPage(t, url+"/")

	makeWalletConfirmingPhrase(t, p)
	claimTestBTTTwice(t, p)
	paid := downloadRelayFileWithSpeed(t, p, data, relayKey.Address())
	speedTabShowsSpent(t, p, paid, relayKey.Address())
	downloadShowsItsCost(t, p, paid)
	settingsRefuseBadLimitsAndSaveGood(t, p)

	// Narrow screens.
	p.SetViewport(t, 390, 844)
	p.Click(t, "#tab-torrents")
	appShot(t, p, "7-torrents-phone")

	lockRefusingWrongPassword(t, p)
	// The relay's Content-Security-Policy blocked nothing the app did; it
	// is in force: an inline script is refused (and reported).
	noCSPViolations(t, p)
	ledgerAgreesWithPage(t, p, url, relayKey.Address(), paid)
	checkShots(t, "app", "1-welcome", "2-backup-phrase", "3-wallet-empty", "3-wallet", "4-torrents", "5-speed", "6-settings-refused", "6-settings", "7-torrents-phone", "8-unlock-refused")
}

// makeWalletConfirmingPhrase makes a wallet from the welcome screen:
// mismatched passwords are refused, the backup screen shows 12 words and
// continues only once they are confirmed written down.
func makeWalletConfirmingPhrase(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.WaitFor(t, visible("screen-welcome"), 60*time.Second)
	appShot(t, p, "1-welcome")
	p.Click(t, "#go-create")
	p.Fill(t, "#create-password", "password123")
	p.Fill(t, "#create-confirm", "password124")
	p.Click(t, "#create-submit")
	if msg := p.Text(t, "#create-error"); !strings.Contains(msg, "differ") {
		t.Fatalf("mismatched passwords: %q", msg)
	}
	p.Fill(t, "#create-confirm", "password123")
	p.Click(t, "#create-submit")
	p.WaitFor(t, visible("screen-backup"), 30*time.Second)
	var words int
	p.Eval(t, `document.querySelectorAll('#backup-phrase li').length`, &words)
	var disabled bool
	p.Eval(t, `document.getElementById('backup-continue').disabled`, &disabled)
	if words != 12 || !disabled {
		t.Fatalf("backup screen: %d words, continue disabled %v", words, disabled)
	}
	appShot(t, p, "2-backup-phrase")
	p.Click(t, "#backup-done")
	p.Click(t, "#backup-continue")
	p.WaitFor(t, visible("screen-app"), 10*time.Second)
}

// claimTestBTTTwice claims from the faucet: on a development ledger the
// wallet tab says the BTT are test money, and with a zero balance the
// faucet comes first; funded, it moves below the TRON card, and a second
// claim says when the next grant opens.
func claimTestBTTTwice(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#tab-wallet")
	p.WaitForFunction(t, `!document.getElementById('devnet-note').hidden && document.getElementById('faucet-card').nextElementSibling.id === 'balance-card'`, 30*time.Second)
	appShot(t, p, "3-wallet-empty")
	p.Click(t, "#faucet")
	p.WaitForFunction(t, `/Received/.test(document.getElementById('faucet-progress').textContent)`, 120*time.Second)
	p.WaitForFunction(t, `document.getElementById('wallet-balance').textContent !== '…' && document.getElementById('wallet-balance').textContent !== '0'`, 30*time.Second)
	// Funded, the faucet moves below the TRON card.
	p.WaitForFunction(t, `document.getElementById('tron').nextElementSibling.id === 'faucet-card'`, 30*time.Second)
	appShot(t, p, "3-wallet")
	// A second claim says when the next grant opens, where the first said
	// what was received (it used to say "Received" again, receiving nothing).
	p.Click(t, "#faucet")
	p.WaitForFunction(t, `/already claimed today's test BTT: the next grant opens at/.test(document.getElementById('faucet-progress').textContent)`, 120*time.Second)
}

// downloadRelayFileWithSpeed downloads the relay's featured file with
// Speed, checks it arrived whole and that the page shows what it spent, to
// the relay; it returns what was spent, in base units.
func downloadRelayFileWithSpeed(t *testing.T, p *browsertest.Page, data []byte, relay wallet.Address) uint64 {
	t.Helper()
	p.Click(t, "#tab-torrents")
	p.WaitFor(t, "#featured-list button", 10*time.Second)
	p.Click(t, "#featured-list button")
	p.WaitFor(t, ".torrent.is-done", 120*time.Second)
	p.Eval(t, `(async () => {
		const t = btspeedApp.client.torrents[0]
		for (let i = 0; i < 100 && t.spent === '0.000000'; i++) await new Promise(r => setTimeout(r, 100))
		await new Promise(r => setTimeout(r, 1200)) // one more render of the page
		document.querySelector('.torrent details').open = true
		return null
	})()`, nil)
	appShot(t, p, "4-torrents")
	var seen struct{ Spent, Shown, Peer, Bar, Sha string }
	p.Eval(t, `(async () => {
		const t = btspeedApp.client.torrents[0]
		const blob = await t.files[0].blob()
		const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))).map(b => b.toString(16).padStart(2, '0')).join('')
		return { spent: t.spent, shown: document.querySelector('.torrent .spent-amount').textContent,
			peer: document.querySelector('.torrent tbody code') ? document.querySelector('.torrent tbody code').textContent : '',
			bar: document.querySelector('.torrent .bar').getAttribute('aria-valuenow'), sha }
	})()`, &seen)
	paid, err := speed.ParseBTT(seen.Spent)
	if err != nil || paid == 0 {
		t.Fatalf("the torrent shows spent %q", seen.Spent)
	}
	if shown, _ := speed.ParseBTT(seen.Shown); shown != paid || seen.Peer != relay.String() || seen.Bar != "100" {
		t.Fatalf("the page shows spent %q to %q with the bar at %s; the torrent spent %s to %s", seen.Shown, seen.Peer, seen.Bar, seen.Spent, relay)
	}
	if want := sha256Hex(data); seen.Sha != want {
		t.Fatalf("downloaded file digest %s, want %s", seen.Sha, want)
	}
	return paid
}

// speedTabShowsSpent checks the Speed tab: totals, the per-peer table and
// the chart show what was paid, to the relay.
func speedTabShowsSpent(t *testing.T, p *browsertest.Page, paid uint64, relay wallet.Address) {
	t.Helper()
	p.Click(t, "#tab-speed")
	p.WaitForFunction(t, `document.getElementById('speed-spent').textContent !== '0'`, 10*time.Second)
	var tab struct{ Spent, Row string }
	p.Eval(t, `({spent: document.getElementById('speed-spent').textContent, row: document.querySelector('#speed-table tr.peer td').textContent})`, &tab)
	if v, _ := speed.ParseBTT(tab.Spent); v != paid || tab.Row != relay.String() {
		t.Fatalf("Speed tab: spent %q, peer row %q", tab.Spent, tab.Row)
	}
	appShot(t, p, "5-speed")
}

// downloadShowsItsCost checks what the download may cost, shown on it: at
// most its size at the max price, within its budget (1% of the wallet);
// spent out of that budget.
func downloadShowsItsCost(t *testing.T, p *browsertest.Page, paid uint64) {
	t.Helper()
	var row struct{ Cost, Spent, Budget, TBudget, TPrice string }
	p.Eval(t, `(() => { const t = btspeedApp.client.torrents[0]; return { cost: document.querySelector('.torrent .cost').textContent,
		spent: document.querySelector('.torrent .spent-amount').textContent, budget: document.querySelector('.torrent .budget-amount').textContent,
		tBudget: t.budget, tPrice: t.maxPrice } })()`, &row)
	tb, _ := speed.ParseBTT(row.TBudget)
	if tb == 0 || paid > tb || row.TPrice != "1000.000000" || row.Budget != trimBTT(row.TBudget) ||
		!strings.Contains(row.Cost, "pays at most ") || !strings.Contains(row.Cost, "(3.00 MiB × 1000 BTT per GiB, within its budget of "+trimBTT(row.TBudget)+" BTT") {
		t.Fatalf("the paid torrent shows cost %q, spent %q of %q; the engine's budget %q, max price %q (spent %d)", row.Cost, row.Spent, row.Budget, row.TBudget, row.TPrice, paid)
	}
}

// settingsRefuseBadLimitsAndSaveGood checks the settings: the most to pay
// per GiB and the budget per download; bad input is refused with a
// message and nothing saved, good input is saved and the engine runs the
// torrent by it.
func settingsRefuseBadLimitsAndSaveGood(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#tab-settings")
	p.WaitForFunction(t, `/1% of your balance as it starts, in all: [0-9.]+ BTT now/.test(document.getElementById('set-limits-now').textContent)`, 10*time.Second)
	var form struct{ Price, Budget, Placeholder string }
	p.Eval(t, `({price: document.getElementById('set-max-price').value, budget: document.getElementById('set-torrent-budget').value,
		placeholder: document.getElementById('set-torrent-budget').placeholder})`, &form)
	if form.Price != "1000" || form.Budget != "" || form.Placeholder != "1% of your balance" {
		t.Fatalf("the default limits show as %+v", form)
	}
	for _, c := range []struct{ field, value, msg string }{
		{"#set-max-price", "0", "above 0"},
		{"#set-max-price", "1,000", "BTT per GiB"},
		{"#set-torrent-budget", "1.2345678", "at most 6 decimals"},
		{"#set-torrent-budget", "-5", "budget per download"},
	} {
		p.Fill(t, "#set-max-price", "2000")
		p.Fill(t, "#set-torrent-budget", "5")
		p.Fill(t, c.field, c.value)
		p.Click(t, "#settings-save")
		var bad struct {
			Msg     string
			Invalid bool
			Saved   string
		}
		p.Eval(t, `({msg: document.getElementById('settings-error').textContent, invalid: document.querySelector(`+"`"+c.field+"`"+`).getAttribute('aria-invalid') === 'true',
			saved: btspeedApp.client.settings.get().maxPrice + '/' + btspeedApp.client.settings.get().torrentBudget})`, &bad)
		if !strings.Contains(bad.Msg, c.msg) || !bad.Invalid || bad.Saved != "1000.000000/0.000000" {
			t.Fatalf("%s = %q: message %q, marked %v, settings now %s", c.field, c.value, bad.Msg, bad.Invalid, bad.Saved)
		}
	}
	appShot(t, p, "6-settings-refused")
	p.Fill(t, "#set-max-price", "2000")
	p.Fill(t, "#set-torrent-budget", "5")
	p.Click(t, "#settings-save")
	p.WaitForFunction(t, `document.getElementById('settings-saved').textContent === 'Saved.'`, 10*time.Second)
	var saved struct{ Price, Budget, TPrice, TBudget, Now string }
	p.Eval(t, `(async () => {
		const c = btspeedApp.client
		await c._fresh()
		const t = c.torrents[0]
		return {price: c.settings.get().maxPrice, budget: c.settings.get().torrentBudget, tPrice: t.maxPrice, tBudget: t.budget,
			now: document.getElementById('set-limits-now').textContent}
	})()`, &saved)
	if saved.Price != "2000.000000" || saved.Budget != "5.000000" || saved.TPrice != "2000.000000" || saved.TBudget != "5.000000" ||
		!strings.Contains(saved.Now, "Each download may spend 5 BTT") {
		t.Fatalf("after saving 2000 BTT per GiB and 5 BTT per download: %+v", saved)
	}
	appShot(t, p, "6-settings")
}

// lockRefusingWrongPassword locks the wallet; a wrong password is refused
// with a clear message, the right one opens the app again.
func lockRefusingWrongPassword(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.SetViewport(t, 1280, 800)
	p.Click(t, "#lock")
	p.WaitFor(t, visible("screen-unlock"), 10*time.Second)
	p.Fill(t, "#unlock-password", "not-it-at-all")
	p.Click(t, "#unlock-submit")
	p.WaitForFunction(t, `document.getElementById('unlock-error').textContent.length > 0`, 10*time.Second)
	if msg := p.Text(t, "#unlock-error"); !strings.HasPrefix(msg, "Wrong password") {
		t.Fatalf("wrong password message %q", msg)
	}
	appShot(t, p, "8-unlock-refused")
	p.Fill(t, "#unlock-password", "password123")
	p.Click(t, "#unlock-submit")
	p.WaitFor(t, visible("screen-app"), 10*time.Second)
}

// ledgerAgreesWithPage closes the page's client and waits until the
// relay's ledger balance is what the page showed as spent.
func ledgerAgreesWithPage(t *testing.T, p *browsertest.Page, url string, relay wallet.Address, paid uint64) {
	t.Helper()
	lc := client.New(url+"/ledger", nil)
	var addr string
	p.Eval(t, `btspeedApp.client.wallet.address`, &addr)
	p.Eval(t, `btspeedApp.client.destroy()`, nil)
	a, _ := wallet.ParseAddress(addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := lc.Balance(context.Background(), relay)
		if err == nil && got == paid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay's ledger balance is %d (%v), want the %d the page showed as spent (buyer %s)", got, err, paid, a)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noCSPViolations fails t if the page's Content-Security-Policy blocked
// anything so far, then checks that the policy is there at all: an inline
// script the page adds is blocked and reported.
func noCSPViolations(t *testing.T, p *browsertest.Page) {
	t.Helper()
	if v := p.CSPViolations(t); len(v) > 0 {
		t.Fatalf("the page's Content-Security-Policy blocked what it does:\n%s", strings.Join(v, "\n"))
	}
	var ran bool
	p.Eval(t, `(() => {
		window.inlineRan = false
		document.body.append(Object.assign(document.createElement('script'), {textContent: 'window.inlineRan = true'}))
		return window.inlineRan
	})()`, &ran)
	deadline := time.Now().Add(5 * time.Second)
	for len(p.CSPViolations(t)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if v := p.CSPViolations(t); ran || len(v) != 1 || !strings.Contains(v[0], "script-src") {
		t.Fatalf("an inline script: ran %v, violations reported %q; want it blocked by script-src", ran, v)
	}
}

// trimBTT is a BTT string as the app shows it: trailing zeros dropped.
func trimBTT(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
