//go:build !js

package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// A newcomer follows a link to the web app with a torrent in it
// (/#magnet:…, as an embed's "Open in btspeed" makes), in Chromium in a
// network namespace. Nothing downloads behind the welcome screen: the
// link is named there, and once the wallet is made the app asks, in the
// page, before it starts; the torrent then downloads with Speed and pays.
// The torrent's Speed box shows what the engine does: off and disabled,
// saying why, while the wallet is locked; on again once it is unlocked;
// switched off for the torrent, it stays off across a lock and an unlock.
// The question says what the download may cost (size × max price, within
// the budget) and it spends no more; the settings speak in BTT per GiB and
// BTT and say Speed is on by default. Screenshots of the link, the
// question, the locked torrent and the settings are saved.
func TestWebAppOpenLink(t *testing.T) {
	ns, web := appEnv(t)
	base, _, _ := seedingRelay(t, ns, web, "linked-film.bin", 1<<20+321, 3)
	magnet := relayMagnet(t, base)
	b := browsertest.Start(t, ns.Command, base)
	p := b.NewPage(t, base+"/#"+url.QueryEscape(magnet))

	welcomeNamesTheLink(t, p)
	createWallet(t, p)
	appAsksBeforeStarting(t, p, magnet)
	balance := questionSaysWhatItMayCost(t, p)
	yesDownloadsAndPays(t, p, balance)
	lockedSpeedIsOffSayingWhy(t, p)
	speedOffStaysOffAcrossLock(t, p)
	settingsSpeakBTTPerGiB(t, p)
	checkShots(t, "app", "11-open-link", "12-confirm-link", "13-torrent-locked", "14-settings-speed", "15-confirm-cost")
	if spent, err := speed.ParseBTT(evalString(t, p, `btspeedApp.client.torrents[0].spent`)); err != nil || spent == 0 {
		t.Fatalf("the torrent spent %d (%v)", spent, err)
	}
}

// torrentCount is how many torrents the engine behind the web app on p has.
func torrentCount(t *testing.T, p *browsertest.Page) int {
	t.Helper()
	var n int
	p.Eval(t, `btspeedApp.client._go.torrents().then(s => (JSON.parse(s) || []).length)`, &n)
	return n
}

// welcomeNamesTheLink checks the welcome screen of a page opened on a
// link: nothing started, the link named, gone from the address bar.
func welcomeNamesTheLink(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.WaitFor(t, visible("screen-welcome"), 60*time.Second)
	if n := torrentCount(t, p); n != 0 {
		t.Fatalf("%d torrents started behind the welcome screen", n)
	}
	if note := p.Text(t, "#screen-welcome [data-pending]"); !strings.Contains(note, "linked-film.bin") || !strings.Contains(note, "asked before it starts") {
		t.Fatalf("the welcome screen says %q about the link", note)
	}
	var hash string
	p.Eval(t, `location.hash`, &hash)
	if hash != "" {
		t.Fatalf("the link stays in the address bar: %q", hash)
	}
	appShot(t, p, "11-open-link")
}

// appAsksBeforeStarting checks that, the wallet made, the app asks about
// the link (its name, info hash, Speed on) and starts nothing yet.
func appAsksBeforeStarting(t *testing.T, p *browsertest.Page, magnet string) {
	t.Helper()
	p.WaitFor(t, visible("confirm-add"), 10*time.Second)
	var ask struct{ Name, Hash, Speed string }
	p.Eval(t, `({name: document.getElementById('confirm-add-name').textContent, hash: document.getElementById('confirm-add-hash').textContent,
		speed: document.getElementById('confirm-add-speed').textContent})`, &ask)
	if ask.Name != "linked-film.bin" || !strings.Contains(magnet, ask.Hash) || len(ask.Hash) != 40 || !strings.HasPrefix(ask.Speed, "Speed is on") {
		t.Fatalf("the question: %+v", ask)
	}
	if n := torrentCount(t, p); n != 0 {
		t.Fatalf("%d torrents started before the user said so", n)
	}
	p.WaitForFunction(t, `/balance is 0 BTT/.test(document.getElementById('confirm-add-speed').textContent)`, 10*time.Second)
	appShot(t, p, "12-confirm-link")
}

// questionSaysWhatItMayCost claims from the faucet (money first), then
// checks the question says what the download may cost, from the link's
// size (xl), the max price and the budget (1% of the balance). It returns
// the balance, in base units.
func questionSaysWhatItMayCost(t *testing.T, p *browsertest.Page) uint64 {
	t.Helper()
	p.Click(t, "#tab-wallet")
	p.Click(t, "#faucet")
	p.WaitForFunction(t, `/Received/.test(document.getElementById('faucet-progress').textContent)`, 120*time.Second)
	p.Click(t, "#tab-torrents")
	p.WaitForFunction(t, `/within its budget of [1-9]/.test(document.getElementById('confirm-add-speed').textContent)`, 10*time.Second)
	var bal string
	p.Eval(t, `btspeedApp.client.wallet.balance().then(b => b.ledger)`, &bal)
	balance, _ := speed.ParseBTT(bal)
	wantCost := "Speed is on: this download pays at most 0.976862 BTT (1.00 MiB × 1000 BTT per GiB, within its budget of " +
		trimBTT(speed.FormatBTT(balance/100)) + " BTT, 1% of your balance)."
	if got := p.Text(t, "#confirm-add-speed"); !strings.HasPrefix(got, wantCost) || p.Text(t, "#confirm-add-size") != " (1.00 MiB)" {
		t.Fatalf("the question says %q (size %q), want %q", got, p.Text(t, "#confirm-add-size"), wantCost)
	}
	appShot(t, p, "15-confirm-cost")
	return balance
}

// yesDownloadsAndPays answers yes: the download pays the relay, within
// what the question said, with Speed on in its box.
func yesDownloadsAndPays(t *testing.T, p *browsertest.Page, balance uint64) {
	t.Helper()
	p.Click(t, "#confirm-add-yes")
	p.WaitFor(t, ".torrent.is-done", 120*time.Second)
	p.WaitForFunction(t, `btspeedApp.client.torrents[0].spent !== '0.000000'`, 30*time.Second)
	if visibleNow(t, p, "#confirm-add") {
		t.Fatal("the question stays after yes")
	}
	if s := speedBox(t, p); !s.Checked || s.Disabled || !s.Engine || s.Why != "" {
		t.Fatalf("paying: the Speed box %+v", s)
	}
	if spent, _ := speed.ParseBTT(evalString(t, p, `btspeedApp.client.torrents[0].spent`)); spent > 976_862 || spent > balance/100 {
		t.Fatalf("the download spent %d base units, above what the question said", spent)
	}
	if got := p.Text(t, ".torrent .budget-amount"); got != trimBTT(speed.FormatBTT(balance/100)) {
		t.Fatalf("the torrent shows its budget as %q, want 1%% of %d", got, balance)
	}
}

// speedBoxState is what the first torrent's Speed box shows, and whether
// the engine has Speed on for it.
type speedBoxState struct {
	Checked, Disabled, Engine bool
	Why                       string
}

// speedBox renders the torrents afresh and reads the first one's Speed box.
func speedBox(t *testing.T, p *browsertest.Page) (s speedBoxState) {
	t.Helper()
	p.Eval(t, `(async () => {
		await btspeedApp.client._fresh()
		renderTorrents()
		const b = document.querySelector('.torrent .speed-toggle')
		return {checked: b.checked, disabled: b.disabled, engine: btspeedApp.client.torrents[0].speed,
			why: document.querySelector('.torrent .speed-why').textContent}
	})()`, &s)
	return s
}

// lockedSpeedIsOffSayingWhy locks the wallet and goes on without it: the
// Speed box is off, disabled, saying why; unlocked from the wallet tab, it
// is on again.
func lockedSpeedIsOffSayingWhy(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#lock")
	p.WaitFor(t, visible("screen-unlock"), 30*time.Second)
	p.Click(t, "#unlock-skip")
	p.WaitFor(t, visible("screen-app"), 10*time.Second)
	if s := speedBox(t, p); s.Checked || !s.Disabled || s.Engine || s.Why != "(wallet locked)" {
		t.Fatalf("locked: the Speed box %+v", s)
	}
	appShot(t, p, "13-torrent-locked")
	p.Click(t, "#tab-wallet")
	p.Click(t, "#wallet-unlock")
	p.Fill(t, "#unlock-password", "password123")
	p.Click(t, "#unlock-submit")
	p.WaitFor(t, visible("screen-app"), 30*time.Second)
	p.Click(t, "#tab-torrents")
	if s := speedBox(t, p); !s.Checked || s.Disabled || !s.Engine {
		t.Fatalf("unlocked: the Speed box %+v", s)
	}
}

// speedOffStaysOffAcrossLock switches Speed off for the torrent: it stays
// off across a lock and an unlock.
func speedOffStaysOffAcrossLock(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, ".torrent .speed-toggle")
	p.WaitForFunction(t, `!btspeedApp.client.torrents[0].speed && !document.querySelector('.torrent .speed-toggle').disabled`, 10*time.Second)
	p.Click(t, "#lock")
	p.WaitFor(t, visible("screen-unlock"), 30*time.Second)
	p.Fill(t, "#unlock-password", "password123")
	p.Click(t, "#unlock-submit")
	p.WaitFor(t, visible("screen-app"), 30*time.Second)
	if s := speedBox(t, p); s.Checked || s.Disabled || s.Engine {
		t.Fatalf("switched off for the torrent, then locked and unlocked: the Speed box %+v", s)
	}
}

// settingsSpeakBTTPerGiB checks the settings: in BTT per GiB and BTT, on
// by default, agreeing with the disclosure (docs/speed-protocol.md §5.1);
// the spending rate stays, secondary, under "More Speed settings", a bad
// one refused and a good one saved.
func settingsSpeakBTTPerGiB(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#tab-settings")
	p.WaitForFunction(t, `/1% of your balance as it starts, in all: [0-9.]+ BTT now/.test(document.getElementById('set-limits-now').textContent)`, 10*time.Second)
	var set struct{ Price, PriceLabel, BudgetLabel, Now, Default, Disclosure string }
	p.Eval(t, `({price: document.getElementById('set-max-price').value, priceLabel: document.querySelector('label[for=set-max-price]').parentNode.textContent,
		budgetLabel: document.getElementById('set-torrent-budget').nextElementSibling.textContent,
		now: document.getElementById('set-limits-now').textContent, default: document.getElementById('speed-default').textContent,
		disclosure: document.getElementById('disclosure').innerHTML})`, &set)
	if set.Price != "1000" || !strings.Contains(set.PriceLabel, "Most I pay") || !strings.Contains(set.PriceLabel, "BTT per GiB") ||
		set.BudgetLabel != "BTT (default: 1% of your balance)" || !strings.Contains(set.Now, "at most 0.976562 BTT per MiB") ||
		!strings.Contains(set.Default, "on by default") || strings.Contains(set.Disclosure, "Off until") || !strings.Contains(set.Disclosure, "on by default") ||
		!strings.Contains(set.Disclosure, "1,000 BTT per GiB") || !strings.Contains(set.Disclosure, "4 times the going price") ||
		!strings.Contains(set.Disclosure, "1% of your balance when it starts") {
		t.Fatalf("the settings say %+v", set)
	}
	p.Fill(t, "#set-torrent-budget", "0.5")
	p.WaitForFunction(t, `/Each download may spend 0.5 BTT/.test(document.getElementById('set-limits-now').textContent)`, 10*time.Second)
	appShot(t, p, "14-settings-speed")
	// The spending rate stays, secondary, under "More Speed settings".
	p.Click(t, "#settings-form details.advanced summary")
	p.Fill(t, "#set-rate", "250")
	p.Click(t, "#settings-save")
	if msg := p.Text(t, "#settings-error"); !strings.Contains(msg, "percentage from 0 to 100") {
		t.Fatalf("a rate of 250%%: %q", msg)
	}
	p.Fill(t, "#set-rate", "2.5")
	p.Click(t, "#settings-save")
	p.WaitForFunction(t, `document.getElementById('settings-saved').textContent === 'Saved.'`, 10*time.Second)
	var ppm int
	p.Eval(t, `btspeedApp.client.settings.get().spendingRate`, &ppm)
	if ppm != 25_000 || evalString(t, p, `btspeedApp.client.settings.get().torrentBudget`) != "0.500000" {
		t.Fatalf("2.5%% saved as %d parts per million, the budget per download as %q", ppm, evalString(t, p, `btspeedApp.client.settings.get().torrentBudget`))
	}
}

// relayMagnet is the magnet link of the relay's first seed (GET /seeds).
func relayMagnet(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/seeds")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var seeds []struct{ Magnet string }
	if err := json.NewDecoder(resp.Body).Decode(&seeds); err != nil || len(seeds) == 0 {
		t.Fatalf("the relay's seeds: %v %v", seeds, err)
	}
	return seeds[0].Magnet
}

func visibleNow(t *testing.T, p *browsertest.Page, sel string) bool {
	t.Helper()
	var v bool
	p.Eval(t, `!document.querySelector(`+"`"+sel+"`"+`).hidden`, &v)
	return v
}

func evalString(t *testing.T, p *browsertest.Page, expr string) string {
	t.Helper()
	var s string
	p.Eval(t, expr, &s)
	return s
}

// A paid download in progress in the web app: the relay seeds a 64 MiB
// file with Speed at 1000 base units per MiB, a new funded wallet fetches
// it from the featured list, and while it downloads the torrents list
// shows Speed paying, the spent figure rising from one render to a later
// one, below what the finished download costs. A screenshot of the list
// mid-download is saved (app-17-paying.png).
func TestWebAppPaidDownloadInProgress(t *testing.T) {
	ns, web := appEnv(t)
	const size, reserve = 64 << 20, 1000
	seedPath := filepath.Join(t.TempDir(), "paid-film.bin")
	writeRandomFile(t, seedPath, size, 5)
	relayKey, _ := wallet.GenerateKey()
	base := startSeedingRelay(t, ns, web, seedPath, relayKey, reserve)
	b := browsertest.Start(t, ns.Command, base)
	p := b.NewPage(t, base+"/")
	p.WaitFor(t, visible("screen-welcome"), 60*time.Second)
	createWallet(t, p)
	p.WaitFor(t, visible("screen-app"), 10*time.Second)
	p.Click(t, "#tab-wallet")
	p.Click(t, "#faucet")
	p.WaitForFunction(t, `/Received/.test(document.getElementById('faucet-progress').textContent)`, 120*time.Second)

	p.Click(t, "#tab-torrents")
	p.WaitFor(t, "#featured-list button", 10*time.Second)
	// The header follows spending by itself: with the periodic refresh
	// stopped, it still drops once the channel's deposit is locked.
	p.Eval(t, `(() => { clearInterval(btspeedApp.walletTimer); return document.getElementById('hdr-balance').textContent })()`, new(string))
	p.Click(t, "#featured-list button")
	// The relay's offer now says the torrent is in the list.
	p.WaitForFunction(t, `(() => { const b = document.querySelector('#featured-list button'); return b.disabled && b.textContent === 'In your list' })()`, 30*time.Second)
	p.WaitForFunction(t, `Number(document.getElementById('hdr-balance').textContent) < 100`, 120*time.Second)
	// Mid-download, as rendered: not done, the bar short of 100, spent above 0.
	paying := `(() => {
		const row = document.querySelector('.torrent'), t = btspeedApp.client.torrents[0]
		if (!row || !t || row.classList.contains('is-done')) return null
		const shown = row.querySelector('.spent-amount').textContent
		return /^[0-9.]+$/.test(shown) && Number(shown) > 0 ? {shown, spent: t.spent, done: t.done,
			bar: Number(row.querySelector('.bar').getAttribute('aria-valuenow')), state: row.querySelector('.state').textContent} : null
	})()`
	p.WaitForFunction(t, paying+` !== null`, 120*time.Second)
	var first struct {
		Shown, Spent, State string
		Done                bool
		Bar                 int
	}
	p.Eval(t, paying, &first)
	p.Screenshot(t, screenshotPath(t, "app-17-paying.png"), true)
	if first.Done || first.Bar >= 100 || !strings.HasPrefix(first.State, "Downloading") {
		t.Fatalf("not mid-download when the list showed spent %s: %+v", first.Shown, first)
	}
	// Rising: a later render shows more spent.
	p.WaitForFunction(t, `(() => { const s = document.querySelector('.torrent .spent-amount').textContent; return Number(s) > `+first.Shown+` })()`, 120*time.Second)
	p.WaitFor(t, ".torrent.is-done", 180*time.Second)
	spent0, _ := speed.ParseBTT(first.Spent)
	var final string
	p.Eval(t, `(async () => { for (let i = 0; i < 100 && !btspeedApp.client.torrents[0].done; i++) await new Promise(r => setTimeout(r, 50)); return btspeedApp.client.torrents[0].spent })()`, &final)
	spent, err := speed.ParseBTT(final)
	if err != nil || spent <= spent0 || spent > speed.Price(reserve, size) {
		t.Fatalf("spent %d mid-download, %q (%d) done; the file costs %d at the reserve", spent0, final, spent, speed.Price(reserve, size))
	}
	if st, err := os.Stat(screenshotPath(t, "app-17-paying.png")); err != nil || st.Size() < 5000 {
		t.Fatalf("screenshot: %v", err)
	}
}

// createWallet makes a wallet from the welcome screen in the web app on p
// (password "password123"), through the backup screen, and leaves the
// page where the app goes next.
func createWallet(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#go-create")
	p.Fill(t, "#create-password", "password123")
	p.Fill(t, "#create-confirm", "password123")
	p.Click(t, "#create-submit")
	p.WaitFor(t, "#screen-backup:not([hidden])", 30*time.Second)
	p.Click(t, "#backup-done")
	p.Click(t, "#backup-continue")
}
