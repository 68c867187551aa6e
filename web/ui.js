// ui.js: the web app's small helpers (elements, units, messages, busy buttons) and its screens.
// Loaded before the other app scripts (index.html); they share these as globals.
'use strict'

const $ = id => document.getElementById(id)
const app = { client: null, timer: null, walletTimer: null, tronTimer: null, rows: new Map(), balance: null, tab: 'torrents', started: Date.now(), tron: { busy: false, states: '' } }
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

function say (message, bad) {
  const box = $('status')
  box.replaceChildren()
  if (!message) return
  box.append(el('p', { class: bad ? 'bad' : '' }, message))
  clearTimeout(say.timer)
  say.timer = setTimeout(() => box.replaceChildren(), bad ? 10000 : 4000)
}

const errText = e => String((e && e.message) || e).replace(/^webpeer: /, '')

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

