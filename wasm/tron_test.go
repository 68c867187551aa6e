//go:build !js

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/webpeer/webpeertest"
)

// startTronRelay serves web with an embedded ledger whose exchange runs
// against the embedded TRON devnet (as the relay's -tron devnet
// -tron-block 500ms -tron-confirmations 2), TRON's HTTP API at /tron/.
func startTronRelay(t *testing.T, web string) (string, *webpeertest.Exchange) {
	t.Helper()
	x := webpeertest.Start(t)
	url := startRelayWith(t, "127.0.0.1:0", web, rtc.Config{}, func(c *relay.Config) {
		x.Relay(c) // the exchange's ledger in place of startRelayWith's own
	})
	return url, x
}

// Deposits and withdrawals in a real Chromium, through btspeed.js, against
// the relay's real devnet and exchange: a new wallet's TRON address is
// funded over TRON's gRPC API from the relay's funded key; the page sees
// the TRON balance, deposits (the wasm checks and signs what the node
// built), sees the ledger credit it after the confirmations, withdraws
// back and to another address, follows both to done, and sees every
// balance exact to the base unit, the devnet's fees included. Mistakes get
// errors with codes: too little on TRON, a bad address, below the
// minimum, more than the ledger balance; a relay whose ledger has no
// exchange answers no_exchange.
func TestBrowserDepositsAndWithdraws(t *testing.T) {
	browsertest.Require(t)
	web := webDir(t)
	url, x := startTronRelay(t, web)
	b := browsertest.Start(t, nil)
	p := b.NewPage(t, url+"/blank.html")

	addr := newWalletSeesTheExchange(t, p, x)
	a, err := wallet.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	fundedRefusesBadDeposits(t, p, x, a, addr)
	deposit40Credited(t, p, x)
	badWithdrawalsRefused(t, p)
	withdrawHomeAndToAnother(t, p, x, addr)

	// The ledger's books and the exchange's reserve agree.
	inv, err := client.New(url+"/ledger", nil).Invariant(context.Background())
	if err != nil || !inv.OK || inv.Deposited != 40_000_000 || inv.Withdrawn != 19_000_000 || inv.Reserve == nil || !inv.Reserve.OK ||
		inv.Reserve.Balance != tronsetup.DevBacking+21_000_000 {
		t.Fatalf("invariant %+v reserve %+v %v", inv, inv.Reserve, err)
	}
	relayWithoutExchangeSaysSo(t, b, web)
}

// newWalletSeesTheExchange makes a wallet through btspeed.js on p: its
// TRON balance is nothing, the exchange is the relay's, and a deposit is
// refused for want of BTT on TRON. It returns the wallet's address.
func newWalletSeesTheExchange(t *testing.T, p *browsertest.Page, x *webpeertest.Exchange) string {
	t.Helper()
	var addr string
	p.Eval(t, `(async () => {
		window.client = await BTSpeed.start({relay: location.origin})
		window.failure = async f => { try { await f(); return 'no error' } catch (e) { return (e.code || '?') + ': ' + e.message } }
		return (await client.wallet.create('correct horse battery')).address
	})()`, &addr)
	var start struct {
		Balance  map[string]any
		Exchange map[string]any
		Deposit  string
	}
	p.Eval(t, `(async () => ({
		balance: await client.wallet.tronBalance(),
		exchange: await client.wallet.exchange(),
		deposit: await failure(() => client.wallet.deposit('5')),
	}))()`, &start)
	if start.Balance["trx"] != "0.000000" || start.Balance["btt"] != "0.000000" || start.Balance["address"] != addr || start.Balance["exists"] != false || start.Balance["token"] != webpeertest.Token {
		t.Fatalf("TRON balance of a new wallet: %v", start.Balance)
	}
	if start.Exchange["address"] != x.TRON.Policy.Address.String() || start.Exchange["token"] != webpeertest.Token || start.Exchange["confirmations"] != 2.0 ||
		start.Exchange["minWithdrawal"] != "1.000000" || start.Exchange["available"] != "100000000.000000" {
		t.Fatalf("exchange: %v", start.Exchange)
	}
	if want := "tron_balance: not enough on TRON: " + addr + " has 0.000000 BTT on TRON; the deposit is 5.000000"; start.Deposit != want {
		t.Fatalf("a deposit with nothing on TRON: %q, want %q", start.Deposit, want)
	}
	return addr
}

// fundedRefusesBadDeposits sends 12 TRX and 100 BTT from the relay's key
// to a (addr as the page has it), over gRPC: the page sees them, and
// refuses deposits of more than that, with too many decimals, or of
// nothing.
func fundedRefusesBadDeposits(t *testing.T, p *browsertest.Page, x *webpeertest.Exchange, a wallet.Address, addr string) {
	t.Helper()
	x.Fund(t, a, 12_000_000, 100_000_000)
	var bal map[string]any
	p.Eval(t, `client.wallet.tronBalance()`, &bal)
	if bal["trx"] != "12.000000" || bal["btt"] != "100.000000" || bal["exists"] != true {
		t.Fatalf("funded: %v", bal)
	}
	var errs []string
	p.Eval(t, `(async () => [
		await failure(() => client.wallet.deposit('100.000001')),
		await failure(() => client.wallet.deposit('1.2345678')),
		await failure(() => client.wallet.deposit('0')),
	])()`, &errs)
	if errs[0] != "tron_balance: not enough on TRON: "+addr+" has 100.000000 BTT on TRON; the deposit is 100.000001" ||
		errs[1] != `bad_amount: want a positive amount of BTT ("1.2345678" has more than 6 decimals (the smallest amount is 0.000001 BTT))` ||
		errs[2] != "bad_amount: want a positive amount of BTT" {
		t.Fatalf("bad deposits: %q", errs)
	}
}

// deposit40Credited deposits 40 BTT and waits for the ledger to credit
// it: the history follows it to done, TRON shows the devnet's fee paid.
func deposit40Credited(t *testing.T, p *browsertest.Page, x *webpeertest.Exchange) {
	t.Helper()
	var dep map[string]any
	p.Eval(t, `client.wallet.deposit('40')`, &dep)
	txid, _ := dep["txid"].(string)
	if len(txid) != 64 || dep["amount"] != "40.000000" || dep["exchange"] != x.TRON.Policy.Address.String() || dep["expiration"].(float64) <= float64(time.Now().UnixMilli()) {
		t.Fatalf("deposit: %v", dep)
	}
	var hist []map[string]any
	p.Eval(t, `client.wallet.tronHistory()`, &hist)
	if len(hist) != 1 || hist[0]["kind"] != "deposit" || hist[0]["txid"] != txid || hist[0]["amount"] != "40.000000" || (hist[0]["status"] != "sent" && hist[0]["status"] != "confirming") {
		t.Fatalf("history after the deposit: %v", hist)
	}
	waitTrue(t, p, `client.wallet.balance().then(b => b.ledger === '40.000000')`, 30*time.Second)
	p.Eval(t, `client.wallet.tronHistory()`, &hist)
	if len(hist) != 1 || hist[0]["status"] != "done" || hist[0]["txid"] != txid {
		t.Fatalf("history once credited: %v", hist)
	}
	var bal map[string]any
	p.Eval(t, `client.wallet.tronBalance()`, &bal)
	if bal["trx"] != "11.999000" || bal["btt"] != "60.000000" { // 0.001 TRX: the devnet's fee
		t.Fatalf("TRON after the deposit: %v", bal)
	}
}

// badWithdrawalsRefused checks withdrawals that cannot be: to a bad
// address, below the minimum, more than the ledger balance, and a bad id.
func badWithdrawalsRefused(t *testing.T, p *browsertest.Page) {
	t.Helper()
	var errs []string
	p.Eval(t, `(async () => [
		await failure(() => client.wallet.withdraw('5', {to: 'TnotAnAddress'})),
		await failure(() => client.wallet.withdraw('0.5')),
		await failure(() => client.wallet.withdraw('40.000001')),
		await failure(() => client.wallet.withdrawal('abc')),
	])()`, &errs)
	if !strings.HasPrefix(errs[0], `bad_address: not a TRON address: "TnotAnAddress": `) {
		t.Fatalf("a bad address: %q", errs[0])
	}
	if errs[1] != "below_minimum: below the smallest withdrawal: the smallest is 1.000000 BTT" || errs[2][:len("insufficient_funds: the ledger balance does not cover it")] != "insufficient_funds: the ledger balance does not cover it" ||
		errs[3] != `?: webpeer: withdrawal id "abc": want 64 hex digits` {
		t.Fatalf("bad withdrawals: %q", errs)
	}
}

// withdrawHomeAndToAnother withdraws 15 BTT back to the wallet's TRON
// address (addr) and 4 to another, follows both to done, and checks the
// balances on TRON and the ledger and the history.
func withdrawHomeAndToAnother(t *testing.T, p *browsertest.Page, x *webpeertest.Exchange, addr string) {
	t.Helper()
	other, _ := wallet.GenerateKey()
	var w1, w2 map[string]any
	p.Eval(t, `client.wallet.withdraw('15')`, &w1)
	p.Eval(t, `client.wallet.withdraw('4', {to: `+jsString(other.Address().String())+`})`, &w2)
	if w1["status"] != "queued" || w1["amount"] != "15.000000" || w1["to"] != addr || len(w1["id"].(string)) != 64 || w1["time"].(float64) < float64(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Fatalf("withdrawal: %v", w1)
	}
	if w2["to"] != other.Address().String() || w2["amount"] != "4.000000" {
		t.Fatalf("withdrawal to another address: %v", w2)
	}
	var ledger string
	p.Eval(t, `client.wallet.balance().then(b => b.ledger)`, &ledger)
	if ledger != "21.000000" {
		t.Fatalf("ledger balance after withdrawing 19 of 40: %s", ledger)
	}
	for _, w := range []map[string]any{w1, w2} {
		waitTrue(t, p, `client.wallet.withdrawal(`+jsString(w["id"].(string))+`).then(w => w.status === 'done')`, 30*time.Second)
	}
	var done map[string]any
	p.Eval(t, `client.wallet.withdrawal(`+jsString(w1["id"].(string))+`)`, &done)
	if done["status"] != "done" || len(done["txid"].(string)) != 64 || done["block"].(float64) <= 0 || done["attempts"] != 1.0 || done["amount"] != "15.000000" {
		t.Fatalf("done: %v", done)
	}
	var bal map[string]any
	p.Eval(t, `client.wallet.tronBalance()`, &bal)
	if bal["trx"] != "11.999000" || bal["btt"] != "75.000000" { // the exchange pays the withdrawal's fee
		t.Fatalf("TRON after the withdrawal: %v", bal)
	}
	if trx, btt := x.Balances(t, other.Address()); trx != 0 || btt != 4_000_000 {
		t.Fatalf("the other address on TRON: %d sun, %d BTT", trx, btt)
	}
	historyHasBothWithdrawals(t, p, w1["id"].(string)+" 15.000000 "+addr, w2["id"].(string)+" 4.000000 "+other.Address().String())
}

// historyHasBothWithdrawals checks the TRON history: the deposit first,
// then two withdrawals, both done, these ("ID AMOUNT TO").
func historyHasBothWithdrawals(t *testing.T, p *browsertest.Page, want1, want2 string) {
	t.Helper()
	var hist []map[string]any
	p.Eval(t, `client.wallet.tronHistory()`, &hist)
	if len(hist) != 3 || hist[2]["kind"] != "deposit" || hist[2]["amount"] != "40.000000" || hist[2]["status"] != "done" {
		t.Fatalf("history: %v", hist)
	}
	seen := map[string]bool{}
	for _, h := range hist[:2] {
		if h["kind"] != "withdrawal" || h["status"] != "done" || len(h["txid"].(string)) != 64 {
			t.Fatalf("history: %v", hist)
		}
		seen[h["id"].(string)+" "+h["amount"].(string)+" "+h["to"].(string)] = true
	}
	if !seen[want1] || !seen[want2] {
		t.Fatalf("history's withdrawals: %v", hist)
	}
}

// relayWithoutExchangeSaysSo opens a relay whose ledger has no exchange,
// and no TRON: the exchange calls answer no_exchange, TRON no_tron.
func relayWithoutExchangeSaysSo(t *testing.T, b *browsertest.Browser, web string) {
	t.Helper()
	plain := startRelay(t, "127.0.0.1:0", web, rtc.Config{})
	q := b.NewPage(t, plain+"/blank.html")
	var errs []string
	q.Eval(t, `(async () => {
		window.client = await BTSpeed.start({relay: location.origin})
		window.failure = async f => { try { await f(); return 'no error' } catch (e) { return (e.code || '?') + ': ' + e.message } }
		await client.wallet.create('correct horse battery')
		return [
			await failure(() => client.wallet.exchange()),
			await failure(() => client.wallet.withdraw('5')),
			await failure(() => client.wallet.tronBalance()),
		]
	})()`, &errs)
	if errs[0] != "no_exchange: this relay's ledger has no exchange to TRON" || errs[1] != errs[0] || errs[2] != "no_tron: this relay serves no TRON API (/wallet/getaccount: HTTP 404)" {
		t.Fatalf("no exchange: %q", errs)
	}
}

// waitTrue evaluates expr (which may be a Promise) every 200 ms until it
// is true (an error counts as false); WaitForFunction does not wait for
// Promises.
func waitTrue(t *testing.T, p *browsertest.Page, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		p.Eval(t, `(async () => { try { return (await (`+expr+`)) === true } catch (e) { return false } })()`, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", expr, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The web app's wallet tab, in Chromium, against the relay's devnet and
// exchange, the whole round trip with no TRON funding from outside: a
// wallet made through the onboarding screens claims the faucet, which
// gives 100 test BTT on the ledger and 10 test TRX on TRON; it withdraws
// 30 BTT to its TRON address, followed to done, then deposits 20 back,
// paying the TRON fee with the faucet's TRX, followed to "credited".
// Messages are for people: "Wallet ready" goes when the user moves on, a
// refused deposit says what to do with the cause behind "Details", and
// the error goes when the user does something else. Screenshots of the
// wallet tab with both balances, wide and narrow.
func TestWebAppTron(t *testing.T) {
	browsertest.Require(t)
	if os.Getenv("BTSPEED_SCREENSHOTS") == "" {
		t.Setenv("BTSPEED_SCREENSHOTS", t.TempDir())
	}
	url, x := startTronRelay(t, webDir(t))
	b := browsertest.Start(t, nil)
	p := b.NewPage(t, url+"/")

	p.WaitFor(t, visible("screen-welcome"), 60*time.Second)
	createWallet(t, p)
	p.WaitFor(t, visible("screen-app"), 10*time.Second)
	if msg := p.Text(t, "#status"); !strings.HasPrefix(msg, "Wallet ready.") {
		t.Fatalf("after onboarding: %q", msg)
	}
	var addr string
	p.Eval(t, `btspeedApp.client.wallet.address`, &addr)
	a, err := wallet.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	fileThatIsNoTorrentRefused(t, p)
	movingOnShowsEmptyTronCard(t, p)
	depositWithNothingOnTronExplained(t, p, addr)
	faucetGivesBTTAndTRX(t, p)
	walletMistakesRefused(t, p)
	withdraw30ToOwnTronAddress(t, p)
	deposit20BackPayingTheFee(t, p)
	walletTabShots(t, p)
	if trx, btt := x.Balances(t, a); trx != 9_999_000 || btt != 10_000_000 {
		t.Fatalf("on TRON: %d sun, %d BTT", trx, btt)
	}
	noCSPViolations(t, p) // the wallet tab reaches /tron/ and /ledger/ under the app's policy
}

// textIs is a JS expression: the element with this id reads want.
func textIs(id, want string) string {
	return `document.getElementById('` + id + `').textContent === ` + jsString(want)
}

// errorShown is an error element's words in front (without its Details),
// and the cause behind Details ("" without).
func errorShown(t *testing.T, p *browsertest.Page, sel string) (front, cause string) {
	t.Helper()
	var v []string
	p.Eval(t, `(() => { const e = document.querySelector(`+jsString(sel)+`), d = e.querySelector('details.why');
		return [Array.from(e.childNodes).filter(n => n !== d).map(n => n.textContent).join('').trim(), d ? d.querySelector('code').textContent : ''] })()`, &v)
	return v[0], v[1]
}

// fileThatIsNoTorrentRefused adds a file that is no torrent: words for
// people, the cause behind Details.
func fileThatIsNoTorrentRefused(t *testing.T, p *browsertest.Page) {
	t.Helper()
	junk := filepath.Join(t.TempDir(), "notes.torrent")
	if err := os.WriteFile(junk, []byte("not bencode at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.SetFiles(t, "#add-file", junk)
	p.WaitForFunction(t, `document.getElementById('add-error').textContent !== ''`, 10*time.Second)
	if front, cause := errorShown(t, p, "#add-error"); front != "notes.torrent: That is not a magnet link, a .torrent file or a link to one. Check what you pasted or picked." ||
		!strings.HasPrefix(cause, "not a magnet link, a .torrent or a URL of one: ") {
		t.Fatalf("a file that is no torrent: %q / %q", front, cause)
	}
}

// movingOnShowsEmptyTronCard moves to the wallet tab, which takes "Wallet
// ready" away; the TRON card shows nothing yet and explains itself.
func movingOnShowsEmptyTronCard(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#tab-wallet")
	if msg := p.Text(t, "#status"); msg != "" {
		t.Fatalf("a stale message after the user moved on: %q", msg)
	}
	p.WaitForFunction(t, textIs("tron-btt", "0")+` && `+textIs("tron-trx", "0")+` && `+textIs("wallet-balance", "0"), 30*time.Second)
	if got := p.Text(t, "#tron-confirmations") + "/" + p.Text(t, "#tron-min") + "/" + p.Text(t, "#tron-table tbody"); got != "2/1/No deposits or withdrawals yet." {
		t.Fatalf("the TRON card: %q", got)
	}
	for _, id := range []string{"#ledger-explain", "#tron-explain"} {
		if s := p.Text(t, id); len(s) < 40 {
			t.Fatalf("%s: %q", id, s)
		}
	}
}

// depositWithNothingOnTronExplained deposits with nothing on TRON: words
// for people in front, the cause behind Details (app-16-error-details.png).
func depositWithNothingOnTronExplained(t *testing.T, p *browsertest.Page, addr string) {
	t.Helper()
	p.Fill(t, "#deposit-amount", "60")
	p.Click(t, "#deposit-submit")
	p.WaitForFunction(t, `document.getElementById('deposit-error').textContent !== ''`, 10*time.Second)
	front, cause := errorShown(t, p, "#deposit-error")
	if front != "Not enough BTT on TRON for this deposit. Deposit less, or withdraw BTT to TRON first." ||
		cause != "not enough on TRON: "+addr+" has 0.000000 BTT on TRON; the deposit is 60.000000" {
		t.Fatalf("a deposit over the TRON balance: %q / %q", front, cause)
	}
	p.Eval(t, `(() => { const d = document.querySelector('#deposit-error details.why'); d.open = true; d.scrollIntoView({block: 'center'}) })()`, nil)
	p.Screenshot(t, screenshotPath(t, "app-16-error-details.png"), false)
}

// faucetGivesBTTAndTRX claims from the faucet, which takes the deposit's
// error away: test BTT on the ledger and test TRX on TRON for the fees.
func faucetGivesBTTAndTRX(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Click(t, "#faucet")
	if msg := p.Text(t, "#deposit-error"); msg != "" {
		t.Fatalf("a stale error after the user did something else: %q", msg)
	}
	p.WaitForFunction(t, `/Received/.test(document.getElementById('faucet-progress').textContent)`, 120*time.Second)
	if msg := p.Text(t, "#faucet-progress"); msg != "Received 100 BTT and 10 TRX for TRON fees (test money)." {
		t.Fatalf("faucet: %q", msg)
	}
	p.WaitForFunction(t, textIs("wallet-balance", "100")+` && `+textIs("tron-trx", "10"), 30*time.Second)
}

// walletMistakesRefused checks mistakes on the wallet tab: a malformed
// deposit (its error going as the user types), a withdrawal to a bad
// address and one over the balance.
func walletMistakesRefused(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Fill(t, "#deposit-amount", "1.2345678")
	p.Click(t, "#deposit-submit")
	if msg := p.Text(t, "#deposit-error"); !strings.Contains(msg, "at most 6 decimals") {
		t.Fatalf("a malformed deposit: %q", msg)
	}
	p.Fill(t, "#deposit-amount", "")
	if msg := p.Text(t, "#deposit-error"); msg != "" {
		t.Fatalf("the error stays while the user types: %q", msg)
	}
	p.Fill(t, "#withdraw-amount", "5")
	p.Fill(t, "#withdraw-to", "T"+strings.Repeat("1", 33))
	p.Click(t, "#withdraw-submit")
	p.WaitForFunction(t, `document.getElementById('withdraw-error').textContent !== ''`, 10*time.Second)
	if front, cause := errorShown(t, p, "#withdraw-error"); !strings.HasPrefix(front, "That is not a TRON address") || !strings.HasPrefix(cause, "not a TRON address: ") {
		t.Fatalf("a withdrawal to a bad address: %q / %q", front, cause)
	}
	p.Fill(t, "#withdraw-to", "")
	p.Fill(t, "#withdraw-amount", "100.5")
	p.Click(t, "#withdraw-submit")
	p.WaitForFunction(t, `document.getElementById('withdraw-error').textContent !== ''`, 10*time.Second)
	if front, cause := errorShown(t, p, "#withdraw-error"); !strings.HasPrefix(front, "Your ledger balance is too low for this.") || !strings.HasPrefix(cause, "the ledger balance does not cover it") {
		t.Fatalf("a withdrawal over the balance: %q / %q", front, cause)
	}
}

// withdraw30ToOwnTronAddress withdraws 30 BTT to the wallet's own TRON
// address and follows it to done.
func withdraw30ToOwnTronAddress(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Fill(t, "#withdraw-amount", "30")
	p.Click(t, "#withdraw-submit")
	p.WaitFor(t, `#tron-table tr[data-kind=withdrawal]`, 10*time.Second)
	p.WaitForFunction(t, textIs("wallet-balance", "70"), 10*time.Second)
	p.WaitFor(t, `#tron-table tr[data-kind=withdrawal][data-status=done]`, 30*time.Second)
	p.WaitForFunction(t, textIs("tron-btt", "30")+` && `+textIs("tron-trx", "10"), 15*time.Second)
	if msg := p.Text(t, "#withdraw-error"); msg != "" {
		t.Fatalf("withdraw error %q", msg)
	}
}

// deposit20BackPayingTheFee deposits 20 BTT back, the faucet's TRX paying
// the fee, follows it to credited, and checks the card's history.
func deposit20BackPayingTheFee(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Fill(t, "#deposit-amount", "20")
	p.Click(t, "#deposit-submit")
	p.WaitFor(t, `#tron-table tr[data-kind=deposit]`, 10*time.Second)
	p.WaitFor(t, `#tron-table tr[data-kind=deposit][data-status=done]`, 30*time.Second)
	p.WaitForFunction(t, textIs("wallet-balance", "90")+` && `+textIs("hdr-balance", "90")+` && `+textIs("tron-btt", "10")+` && `+textIs("tron-trx", "9.999"), 15*time.Second)
	if msg := p.Text(t, "#deposit-error"); msg != "" {
		t.Fatalf("deposit error %q", msg)
	}
	var rows []string
	p.Eval(t, `Array.from(document.querySelectorAll('#tron-table tbody tr')).map(r => Array.from(r.cells).slice(1).map(c => c.textContent).join(' | '))`, &rows)
	if len(rows) != 2 || rows[0] != "Deposit from TRON | 20 BTT | Credited on the ledger" || !strings.HasPrefix(rows[1], "Withdrawal to your address | 30 BTT | Done (TRON block ") {
		t.Fatalf("the card's history: %q", rows)
	}
}

// walletTabShots saves the wallet tab with both balances, wide and narrow
// (app-9-wallet.png, app-9-tron.png, app-10-wallet-phone.png), and checks
// them and app-16-error-details.png.
func walletTabShots(t *testing.T, p *browsertest.Page) {
	t.Helper()
	p.Eval(t, `window.scrollTo(0, 0)`, nil)
	p.Screenshot(t, screenshotPath(t, "app-9-wallet.png"), false)
	p.Eval(t, `document.getElementById('tron').scrollIntoView()`, nil)
	p.Screenshot(t, screenshotPath(t, "app-9-tron.png"), true)
	p.SetViewport(t, 390, 844)
	p.Eval(t, `window.scrollTo(0, 0)`, nil)
	p.Screenshot(t, screenshotPath(t, "app-10-wallet-phone.png"), true)
	checkShots(t, "app", "9-wallet", "9-tron", "10-wallet-phone", "16-error-details")
}
