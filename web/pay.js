// pay.js: the confirmation window of client.wallet.pay (pay.html; docs/speed-protocol.md §13). The page that
// opened it sends its request by postMessage; the window shows the origin that message came from (never a name
// in the message), checks the request, and pays only on a click on Pay, through this origin's wallet. The
// answer goes back by postMessage to the opener, for that origin only: {type: 'paid', id, amount} or
// {type: 'error', code, message}.
'use strict'

// PAYMENTS_KEY keeps the latest payments made here with the site that asked (the ledger keeps the memo, signed,
// but not the site): the app's Speed tab lists them. At most PAYMENTS_MAX.
const PAYMENTS_KEY = 'btspeed.payments'
const PAYMENTS_MAX = 100

const pay = { origin: '', n: '', source: null, req: null, answered: false, client: null, shown: false }

// answer tells the page that asked, once; the browser drops it if the opener is no longer on that origin.
function answer (msg) {
  if (pay.answered || !pay.source) return
  pay.answered = true
  pay.source.postMessage(Object.assign({ btspeed: 'pay', n: pay.n }, msg), pay.origin)
}

// finish replaces the form with an outcome.
function finish (title, text) {
  $('pay-wait').hidden = true
  $('pay-form').hidden = true
  $('pay-done').hidden = false
  $('pay-done-title').textContent = title
  $('pay-done-text').textContent = text
  $('pay-close').focus()
}

function onMessage (e) {
  if (!window.opener || e.source !== window.opener) return
  const m = e.data
  if (!m || m.btspeed !== 'pay' || m.type !== 'request') return
  if (pay.origin) {
    // One request per window: another one is refused, to its sender only; the one shown stays.
    if ((e.origin !== pay.origin || m.n !== pay.n) && e.origin !== 'null') {
      e.source.postMessage({ btspeed: 'pay', type: 'error', n: m.n, code: 'busy', message: 'another payment is waiting for the user' }, e.origin)
    }
    return
  }
  if (e.origin === 'null') {
    finish('Cannot pay this page', 'The page that asked has no web address (a file or a sandboxed frame), so btspeed cannot tell you who it is. Nothing was paid.')
    return
  }
  pay.origin = e.origin
  pay.n = String(m.n)
  pay.source = e.source
  try {
    pay.req = BTSpeed._payRequest(m)
  } catch (err) {
    answer({ type: 'error', code: err.code, message: err.message.replace(/^btspeed: pay: /, '') })
    finish('Invalid payment request', pay.origin + ' asked for a payment btspeed cannot make (' + err.message.replace(/^btspeed: pay: /, '') + '). Nothing was paid; tell the site.')
    return
  }
  render()
}

// render shows the request once both it and the wallet are ready.
async function render () {
  if (!pay.req || !pay.client || pay.shown) return
  pay.shown = true
  const w = pay.client.wallet
  if (w.state === 'none') {
    answer({ type: 'error', code: 'no_wallet', message: 'no btspeed wallet in this browser' })
    finish('No wallet', 'There is no btspeed wallet in this browser. Open btspeed to create or restore one, then pay again from the site. Nothing was paid.')
    return
  }
  const r = pay.req
  $('pay-origin').textContent = pay.origin
  $('pay-amount').textContent = btt(r.amount)
  $('pay-to').textContent = r.to
  $('pay-memo-row').hidden = r.memo === ''
  $('pay-memo').textContent = r.memo
  $('pay-unlock').hidden = w.state !== 'locked'
  $('pay-wait').hidden = true
  $('pay-form').hidden = false
  try {
    const bal = bttUnits((await w.balance()).ledger)
    const after = bal - bttUnits(r.amount)
    $('pay-balance').textContent = fmtUnits(bal)
    $('pay-after').textContent = after < 0n ? '−' + fmtUnits(-after) : fmtUnits(after)
    if (after < 0n) {
      pay.short = true
      $('pay-unlock').hidden = true
      $('pay-error').textContent = 'Your balance is too low for this payment. Add BTT on the Wallet tab of btspeed, then pay again from the site.'
      $('pay-refuse').textContent = 'Close'
      return
    }
  } catch (e) {
    showError($('pay-error'), e)
  }
  $('pay-ok').disabled = false
  // Never Pay: a page that makes its user press Enter must not pay by it.
  ;(w.state === 'locked' ? $('pay-password') : $('pay-refuse')).focus()
}

// confirm unlocks the wallet if needed and pays.
async function confirmPay (e) {
  e.preventDefault()
  if (pay.answered || !pay.req || pay.paying) return
  pay.paying = true // one transfer per click, however often Enter is pressed
  const w = pay.client.wallet
  const err = $('pay-error')
  err.textContent = ''
  try {
    await busy($('pay-ok'), 'Paying…', async () => {
      if (w.state === 'locked') await w.unlock($('pay-password').value)
      const res = await w._transfer(pay.req.to, pay.req.amount, pay.req.memo)
      remember(res)
      answer({ type: 'paid', id: res.id, amount: res.amount })
      finish('Paid', 'You paid ' + btt(res.amount) + ' BTT to ' + pay.origin + ' (' + res.to + '). Transfer ' + res.id + '. You can close this window.')
    })
  } catch (ex) {
    if (ex.code === 'wrong_password') { showError(err, ex); $('pay-password').focus(); return }
    answer({ type: 'error', code: ex.code || 'failed', message: errText(ex) })
    const h = humanError(ex)
    finish('Not paid', h.text + ' Nothing was paid; try again from the site.')
  } finally {
    pay.paying = false
    // The key stays in this window's memory only while it pays.
    if (w.state === 'unlocked') w.lock().catch(() => {})
  }
}

// remember adds a payment to the local list (newest first, capped).
function remember (res) {
  let list = []
  try { list = JSON.parse(localStorage.getItem(PAYMENTS_KEY)) || [] } catch (e) {}
  if (!Array.isArray(list)) list = []
  list.unshift({ id: res.id, time: res.time, origin: pay.origin, to: res.to, amount: res.amount, memo: pay.req.memo })
  try { localStorage.setItem(PAYMENTS_KEY, JSON.stringify(list.slice(0, PAYMENTS_MAX))) } catch (e) {}
}

function refuse () {
  if (pay.origin) {
    if (pay.short) answer({ type: 'error', code: 'insufficient_funds', message: 'the balance does not cover the payment' })
    else answer({ type: 'error', code: 'refused', message: 'the user refused the payment' })
  }
  window.close()
}

async function startPay () {
  if (window.top !== window) return // never framed (frame-ancestors 'none' too)
  $('pay-form').addEventListener('submit', confirmPay)
  $('pay-refuse').addEventListener('click', refuse)
  $('pay-close').addEventListener('click', () => window.close())
  if (!window.opener) {
    finish('Nothing to pay', 'This window confirms payments that sites ask for with btspeed; none asked. You can close it.')
    return
  }
  window.addEventListener('message', onMessage)
  // Closed, reloaded or sent elsewhere before answering: nothing was paid.
  window.addEventListener('pagehide', () => answer({ type: 'error', code: 'closed', message: 'the payment window was closed without paying' }))
  window.opener.postMessage({ btspeed: 'pay', type: 'ready' }, '*')
  try {
    pay.client = await BTSpeed.start({ relay: await BTSpeed.defaultRelay(), keep: false })
  } catch (e) {
    const h = humanError(e)
    finish('btspeed did not start', 'The wallet could not load: ' + h.text + ' Nothing was paid; close this window and try again.')
    return
  }
  if (!pay.origin) $('pay-wait-text').textContent = 'Waiting for the page\'s request… If nothing comes, close this window and pay again from the site.'
  render()
}

startPay()
