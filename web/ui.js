// ui.js: the web app's small helpers (elements, units, messages, busy buttons) and its screens.
// Loaded before the other app scripts (index.html); they share these as globals.
'use strict'

const $ = id => document.getElementById(id)
const app = { featured: [], spentKey: '', client: null, timer: null, walletTimer: null, tronTimer: null, rows: new Map(), balance: null, tab: 'torrents', started: Date.now(), tron: { busy: false, states: '' } }
// ---- small helpers ----

function el (tag, attrs, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c)
  return e
}

function bytes (n) {
  if (!isFinite(n) || n < 0) return '?'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i]
}

const rate = n => bytes(n || 0) + '/s'

// btt shortens a decimal BTT string for display without float arithmetic: trailing zeros go.
function btt (s) {
  s = String(s || '0')
  if (!s.includes('.')) return s
  s = s.replace(/0+$/, '').replace(/\.$/, '')
  return s || '0'
}

// bttUnits is a decimal BTT string in base units (a BigInt), for exact comparisons.
function bttUnits (s) {
  const [i, f = ''] = String(s || '0').split('.')
  return BigInt(i || '0') * 1000000n + BigInt((f + '000000').slice(0, 6))
}

// fmtUnits writes base units (a BigInt) as BTT.
const fmtUnits = n => btt((n / 1000000n).toString() + '.' + (n % 1000000n).toString().padStart(6, '0'))

// say shows a message above the screens: success for a while, a failure (bad) until the user does something else
// (clearStale). detail (may be empty) is the technical cause, behind a "Details" disclosure.
function say (message, bad, detail) {
  const box = $('status')
  box.replaceChildren()
  clearTimeout(say.timer)
  if (!message) return
  box.append(el('p', { class: bad ? 'bad' : '' }, ...errorParts(message, detail)))
  if (!bad) say.timer = setTimeout(() => box.replaceChildren(), 8000)
}

// sayError shows e for people (humanError), what failed first when given ("Faucet").
function sayError (e, what) {
  const h = humanError(e)
  say((what ? what + ': ' : '') + h.text, true, h.detail)
}

// showError writes e for people into an inline error element (a form's), its cause behind "Details".
function showError (box, e) {
  const h = humanError(e)
  box.replaceChildren(...errorParts(h.text, h.detail))
}

function errorParts (text, detail) {
  if (!detail || detail === text) return [text]
  return [text, ' ', el('details', { class: 'why' }, el('summary', {}, 'Details'), el('code', {}, detail))]
}

const errText = e => String((e && e.message) || e).replace(/^webpeer: /, '')

// errorWords are the errors btspeed.js gives a code (wasm errorCodes, ledger/api codes), in words for people:
// what went wrong, then what to do.
const errorWords = {
  insufficient_funds: 'Your ledger balance is too low for this. Claim test BTT from the faucet, deposit BTT from TRON, or use a smaller amount.',
  tron_balance: 'Not enough BTT on TRON for this deposit. Deposit less, or withdraw BTT to TRON first.',
  bad_address: 'That is not a TRON address: it starts with T and has 34 characters. Check it and try again.',
  bad_amount: 'That is not an amount of BTT. Enter one like 10 or 2.5 (at most 6 decimals).',
  bad_memo: 'The memo is not one the ledger keeps: at most 140 bytes of text. Shorten it, then try again.',
  below_minimum: 'That is below the smallest withdrawal. Withdraw a larger amount.',
  reserve: 'The exchange cannot pay out that much right now. Try a smaller amount, or later.',
  too_many_pending: 'You have too many withdrawals on their way. Wait until one is done, then try again.',
  bad_recipient: "That is the exchange's own address. Withdraw to your address or another one.",
  node_mismatch: 'The TRON node offered a different transaction than asked for, so nothing was signed or sent. Try again, or use another relay.',
  locked: 'Your wallet is locked. Unlock it on the Wallet tab, then try again.',
  no_wallet: 'You have no wallet yet. Create or restore one on the Wallet tab.',
  wrong_password: 'Wrong password. Try again, or restore the wallet from its recovery phrase.',
  short_password: 'That password is too short: choose a longer one.',
  no_exchange: "This relay's ledger has no exchange to TRON: deposits and withdrawals are off here.",
  no_tron: 'This relay does not reach TRON right now. Try again later, or use another relay.',
  faucet_claimed: 'You already claimed test BTT in this period. Try again when the next grant opens.',
  faucet_empty: 'The faucet is empty. Try again later, or deposit BTT from TRON.',
  faucet_work: "The faucet did not accept the proof of work. Claim again.",
  faucet_period: "The faucet's period ended while your browser worked. Claim again.",
  rate_limited: 'Too many requests from your network. Wait a little, then try again.',
  unavailable: 'The ledger could not save this just now. Try again in a moment.',
  dev_genesis: 'This ledger is misconfigured (test money on a real TRON network), so withdrawals are off. Tell the relay\'s operator.',
  channel_expired: 'A payment channel ran out of time and was refunded. Nothing is lost; try again.',
  bad_signature: 'The ledger did not accept the signature. Lock and unlock the wallet, then try again.',
}

// errorGuesses recognize errors without a code by their text.
const errorGuesses = [
  [/fee in TRX/, 'Not enough TRX on TRON to pay the fee of this deposit. Get some TRX to your TRON address (on the test network the faucet sends some).'],
  [/not a magnet link, a \.torrent or a URL/, 'That is not a magnet link, a .torrent file or a link to one. Check what you pasted or picked.'],
  [/info is malformed|byte limit/, 'That .torrent file is damaged or too large to be one. Get the file again.'],
  [/is already added/, 'That torrent is already in your list.'],
  [/fetch https?:/, 'Could not download the .torrent from that link. Check the link, or download the file and open it here.'],
  [/failed to fetch|networkerror|connection refused|dial tcp|no such host|unreachable|timeout|HTTP 50[234]/i, 'Cannot reach the relay or its ledger. Check your connection, then try again.'],
  [/checksum|mnemonic|phrase|\bwords?\b/i, 'That is not a valid recovery phrase. Check each word and their order.'],
]

// humanError is e in words for people ({text}) and its technical cause ({detail}: the Go error chain).
function humanError (e) {
  const detail = errText(e)
  let text = e && e.code && errorWords[e.code]
  if (e && e.code === 'tron_balance' && /fee in TRX/.test(detail)) text = errorGuesses[0][1]
  if (e && e.code === 'faucet_claimed') text = detail.replace(/^you/, 'You') + '.'
  if (!text) for (const [re, words] of errorGuesses) if (re.test(detail)) { text = words; break }
  if (!text) text = detail.charAt(0).toUpperCase() + detail.slice(1) + (/[.!?]$/.test(detail) ? '' : '.')
  return { text, detail: e && e.code === 'faucet_claimed' ? '' : detail }
}

// clearStale takes old messages away when the user does something else: a click on a control clears the status
// line and the app's error lines (the action then writes its own); typing in a form clears that form's error.
function clearStale () {
  document.addEventListener('click', e => {
    if (!e.target.closest || !e.target.closest('button, a, [role=tab]') || e.target.closest('#status, details.why')) return
    say('')
    for (const x of document.querySelectorAll('.error')) if (x.id !== 'tron-error') x.replaceChildren()
  }, true)
  document.addEventListener('input', e => {
    const f = e.target.closest && e.target.closest('form')
    if (f) for (const x of f.querySelectorAll('.error')) x.replaceChildren()
  }, true)
}

// busy disables a button while an action runs.
async function busy (button, label, fn) {
  const was = button.textContent
  button.disabled = true
  if (label) button.textContent = label
  try { return await fn() } finally { button.disabled = false; button.textContent = was }
}

// ---- screens ----

const screens = ['loading', 'failed', 'welcome', 'create', 'backup', 'restore', 'unlock', 'app']

function show (name) {
  for (const s of screens) $('screen-' + s).hidden = s !== name
  document.body.dataset.screen = name
  const first = $('screen-' + name).querySelector('input, textarea')
  if (first && name !== 'app') first.focus()
}

function back () {
  const st = app.client.wallet.state
  show(st === 'locked' ? 'unlock' : st === 'unlocked' ? 'app' : 'welcome')
}

function enterApp () {
  show('app')
  refreshAccount()
  selectTab(app.tab)
  renderTorrents()
  askPending()
}

