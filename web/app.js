// app.js: the btspeed web app. Plain JavaScript over the API of btspeed.js (docs/js-api.md): onboarding,
// wallet and faucet, deposits from and withdrawals to TRON, torrents with progress, what Speed spent and earned (per torrent, per peer, over time),
// settings, and the disclosure of what Speed does (M29).
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

// ---- a link asking to download: /#magnet:… (an embed's "Open in btspeed", a shared link) ----

// magnetInfo reads a magnet link's name and info hash for the question (the peer parses it for real).
function magnetInfo (m) {
  const q = new URLSearchParams(m.slice(m.indexOf('?') + 1))
  const xl = q.get('xl') || ''
  return { name: q.get('dn') || '', hash: (q.get('xt') || '').replace(/^urn:btih:/i, ''), length: /^[0-9]{1,16}$/.test(xl) ? Number(xl) : null }
}

// takeLink keeps a magnet link the page was opened with; nothing downloads until the user says so, once past
// the welcome or unlock screen (so a wallet made or unlocked first pays for it with Speed).
function takeLink () {
  let link = ''
  try { link = decodeURIComponent(location.hash.slice(1)) } catch (e) {}
  if (!/^magnet:\?/i.test(link)) return
  history.replaceState(null, '', location.pathname + location.search)
  app.pending = link
  const { name, hash } = magnetInfo(link)
  for (const p of document.querySelectorAll('[data-pending]')) {
    p.textContent = 'A link asked btspeed to download “' + (name || hash) + '”. You will be asked before it starts.'
    p.hidden = false
  }
  if (document.body.dataset.screen === 'app') askPending()
}

function askPending () {
  if (!app.pending) return
  for (const p of document.querySelectorAll('[data-pending]')) p.hidden = true
  if (app.tab !== 'torrents') selectTab('torrents')
  const { name, hash, length } = magnetInfo(app.pending)
  $('confirm-add-name').textContent = name || 'a torrent without a name'
  $('confirm-add-hash').textContent = hash
  $('confirm-add-size').textContent = length === null ? '' : ' (' + bytes(length) + ')'
  $('confirm-add-speed').textContent = speedLine()
  $('confirm-add').hidden = false
  $('confirm-add').focus()
  if (speedOff() === '') {
    const link = app.pending
    app.client.wallet.balance().then(b => {
      if (app.pending !== link) return
      const bal = bttUnits(b.ledger)
      const s = app.client.settings.get()
      // With nothing in the wallet yet, 1% of 0 would say nothing: the budget is named instead.
      let line = 'Speed is on: ' + costLine(length, s.maxPrice, s.torrentBudget, bal === 0n ? null : bal) + ' Change the limits in Settings.'
      if (bal === 0n) line += ' Your balance is 0 BTT: nothing is paid until you claim from the faucet or deposit on the Wallet tab.'
      $('confirm-add-speed').textContent = line
    }, () => {})
  }
}

function wirePending () {
  $('confirm-add-yes').addEventListener('click', () => busy($('confirm-add-yes'), 'Adding…', async () => {
    try {
      await app.client.add(app.pending)
      say('Downloading ' + (magnetInfo(app.pending).name || 'the torrent') + '.')
      app.pending = null
      $('confirm-add').hidden = true
      renderTorrents()
    } catch (e) { say(errText(e), true) }
  }))
  $('confirm-add-no').addEventListener('click', () => { app.pending = null; $('confirm-add').hidden = true })
  window.addEventListener('hashchange', takeLink)
}

// ---- Speed's state in words ----

// speedOff says why Speed pays nothing now, or '' when it is on.
function speedOff () {
  const st = app.client.wallet.state
  if (st === 'none') return 'no wallet'
  if (st === 'locked') return 'wallet locked'
  if (!app.client.settings.get().speed) return 'off in Settings'
  return ''
}

function speedLine () {
  switch (speedOff()) {
    case 'no wallet': return 'Speed is off: without a wallet nothing is paid. Set one up on the Wallet tab to pay for faster downloads.'
    case 'wallet locked': return 'Speed is off while your wallet is locked: nothing is paid.'
    case 'off in Settings': return 'Speed is off in Settings: nothing is paid.'
  }
  return 'Speed is on: this download may pay peers from your wallet, at most ' + btt(app.client.settings.get().maxPrice) + ' BTT per GiB, within its budget.'
}

// ---- what a download may cost (docs/speed-protocol.md §5.1), in base units (BigInt), never floats ----

const GiB = 1n << 30n

// budgetOf is a download's budget: its own or the settings' (a BTT string), else 1% of the balance (null: unknown).
function budgetOf (budget, balance) {
  const b = bttUnits(budget)
  if (b > 0n) return b
  return balance === null ? null : balance / 100n
}

// mostFor is the most a download of length bytes pays at maxPrice (base units per GiB): rounded up.
const mostFor = (length, maxPrice) => (BigInt(length) * maxPrice + GiB - 1n) / GiB

// costLine says what a download may cost: at most size × max price, within its budget. length may be null
// (a link without its size); budget '0' is the default, 1% of balance (base units, null when not known).
function costLine (length, maxPrice, budget, balance) {
  const price = bttUnits(maxPrice)
  const cap = budgetOf(budget, balance)
  const which = bttUnits(budget) > 0n ? 'its budget of ' + (cap === null ? '?' : fmtUnits(cap)) + ' BTT' : 'its budget of ' + (cap === null ? '1% of your balance' : fmtUnits(cap) + ' BTT, 1% of your balance')
  if (length === null) return 'this download pays at most ' + fmtUnits(price) + ' BTT per GiB, within ' + which + '.'
  const most = mostFor(length, price)
  const x = cap !== null && cap < most ? cap : most
  return 'this download pays at most ' + fmtUnits(x) + ' BTT (' + bytes(length) + ' × ' + fmtUnits(price) + ' BTT per GiB, within ' + which + ').'
}

// ---- onboarding ----

// A new password has at least MIN_PASSWORD characters (code points, as the wasm counts them): the keystore is only as
// strong as its password if someone copies it.
const MIN_PASSWORD = 10
const tooShort = pw => [...pw].length < MIN_PASSWORD
const shortPassword = 'The password needs at least ' + MIN_PASSWORD + ' characters: the wallet file is only as safe as its password.'

function wireOnboarding () {
  for (const b of document.querySelectorAll('[data-back]')) b.addEventListener('click', back)
  $('go-create').addEventListener('click', () => show('create'))
  $('go-restore').addEventListener('click', () => show('restore'))
  $('unlock-restore').addEventListener('click', () => show('restore'))
  for (const id of ['go-nowallet', 'unlock-skip']) {
    $(id).addEventListener('click', e => { e.preventDefault(); enterApp() })
  }

  $('create-form').addEventListener('submit', async e => {
    e.preventDefault()
    const pw = $('create-password').value
    const err = $('create-error')
    err.textContent = ''
    if (tooShort(pw)) { err.textContent = shortPassword; return }
    if (pw !== $('create-confirm').value) { err.textContent = 'The two passwords differ.'; return }
    try {
      const w = await busy($('create-submit'), 'Creating…', () => app.client.wallet.create(pw))
      $('create-password').value = $('create-confirm').value = ''
      $('backup-phrase').replaceChildren(...w.phrase.split(' ').map(word => el('li', {}, word)))
      $('backup-done').checked = false
      $('backup-continue').disabled = true
      show('backup')
    } catch (ex) {
      err.textContent = errText(ex)
    }
  })
  $('backup-done').addEventListener('change', e => { $('backup-continue').disabled = !e.target.checked })
  $('backup-continue').addEventListener('click', () => {
    $('backup-phrase').replaceChildren() // the phrase leaves the page
    enterApp()
    say('Wallet ready. Claim some test BTT from the faucet on the Wallet tab.')
  })

  $('restore-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('restore-error')
    err.textContent = ''
    const phrase = $('restore-phrase').value.trim()
    const pw = $('restore-password').value
    if (phrase.split(/\s+/).length !== 12) { err.textContent = 'The recovery phrase has 12 words.'; return }
    if (tooShort(pw)) { err.textContent = shortPassword; return }
    try {
      await busy($('restore-submit'), 'Restoring…', () => app.client.wallet.restore(phrase, pw))
      $('restore-phrase').value = $('restore-password').value = ''
      enterApp()
      say('Wallet restored.')
    } catch (ex) {
      err.textContent = /checksum|word/i.test(errText(ex)) ? 'That is not a valid recovery phrase: ' + errText(ex) : errText(ex)
    }
  })

  $('unlock-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('unlock-error')
    err.textContent = ''
    try {
      await busy($('unlock-submit'), 'Unlocking…', () => app.client.wallet.unlock($('unlock-password').value))
      $('unlock-password').value = ''
      enterApp()
    } catch (ex) {
      err.textContent = errText(ex) === 'wrong password' ? 'Wrong password. Try again, or restore the wallet from its recovery phrase.' : errText(ex)
      $('unlock-password').select()
    }
  })

  $('lock').addEventListener('click', async () => {
    await busy($('lock'), 'Locking…', () => app.client.wallet.lock())
    $('unlock-address').textContent = app.client.wallet.address
    show('unlock')
    refreshAccount()
    renderTorrents()
  })
}

// ---- header and wallet ----

async function refreshAccount () {
  const w = app.client.wallet
  const st = w.state
  $('account').hidden = st === 'none'
  $('hdr-address').textContent = w.address
  $('lock').hidden = st !== 'unlocked'
  $('wallet-none').hidden = st !== 'none'
  $('wallet-locked').hidden = st !== 'locked'
  $('wallet-open').hidden = st !== 'unlocked'
  $('wallet-address').textContent = w.address
  $('hdr-unit').hidden = st !== 'unlocked'
  if (st !== 'unlocked') { $('hdr-balance').textContent = st === 'locked' ? 'Wallet locked' : ''; return }
  try {
    const b = await w.balance()
    app.balance = bttUnits(b.ledger)
    $('hdr-balance').textContent = btt(b.ledger)
    $('wallet-balance').textContent = btt(b.ledger)
    $('wallet-locked-amount').textContent = btt(b.locked)
    placeFaucet()
  } catch (e) {
    $('hdr-balance').textContent = '?'
  }
}

// placeFaucet puts the faucet first on the wallet tab while the balance is
// zero (a newcomer's first step), after the TRON card otherwise; without a
// faucet (a ledger with real money only) the card goes.
function placeFaucet () {
  const card = $('faucet-card')
  card.hidden = app.faucet === false
  if (app.balance === 0n) $('balance-card').before(card)
  else $('tron').after(card)
}

// loadLedgerKind asks whether the ledger has a faucet: only a development
// ledger (whose money is test money) has one.
async function loadLedgerKind () {
  try {
    const r = await fetch((await BTSpeed.defaultRelay()) + '/ledger/v1/faucet')
    app.faucet = r.ok
  } catch (e) { return }
  $('devnet-note').hidden = !app.faucet
  placeFaucet()
}

function wireWallet () {
  $('wallet-setup').addEventListener('click', () => show('welcome'))
  $('wallet-unlock').addEventListener('click', () => { $('unlock-address').textContent = app.client.wallet.address; show('unlock') })
  $('wallet-copy').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(app.client.wallet.address); say('Address copied.') } catch (e) { say('Copy failed: select the address instead.', true) }
  })
  $('faucet').addEventListener('click', async () => {
    const out = $('faucet-progress')
    out.textContent = 'Solving the proof of work…'
    try {
      const res = await busy($('faucet'), 'Working…', () => app.client.wallet.faucet({
        onProgress: p => { out.textContent = 'Solving the proof of work: ' + p.tried.toLocaleString() + ' tries (' + Math.round(p.rate).toLocaleString() + '/s)…' },
      }))
      out.textContent = 'Received ' + btt(res.amount) + ' BTT.'
      refreshAccount()
    } catch (e) {
      // A second claim is not a failure: say when the next one opens, here.
      out.textContent = e.code === 'faucet_claimed' ? errText(e).replace(/^you/, 'You') + '.' : ''
      if (e.code !== 'faucet_claimed') say('Faucet: ' + errText(e), true)
    }
  })
  $('wallet-export').addEventListener('click', async () => {
    try {
      const ks = await app.client.wallet.exportKeystore()
      const a = el('a', { href: URL.createObjectURL(new Blob([ks], { type: 'application/json' })), download: 'btspeed-keystore-' + app.client.wallet.address + '.json' })
      document.body.append(a)
      a.click()
      a.remove()
    } catch (e) {
      say('Export: ' + errText(e), true)
    }
  })
}

// ---- TRON: deposits and withdrawals through the ledger's exchange ----

const amountRe = /^[0-9]+(\.[0-9]{1,6})?$/

function shortAddr (a) { return a && a.length > 14 ? a.slice(0, 6) + '…' + a.slice(-4) : (a || '') }

// movementStatus is a deposit's or withdrawal's state in words, and its style.
function movementStatus (m) {
  if (m.kind === 'deposit') {
    switch (m.status) {
      case 'done': return ['Credited on the ledger', 'st-done']
      case 'confirming': return ['In TRON block ' + m.block + ', confirming', 'st-pending']
      case 'sent': return ['Sent, waiting for a TRON block', 'st-pending']
      case 'expired': return ['Expired on TRON: nothing moved', 'st-bad']
      default: return ['Failed on TRON: nothing moved', 'st-bad']
    }
  }
  switch (m.status) {
    case 'done': return ['Done (TRON block ' + m.block + ')', 'st-done']
    case 'sent': return ['Sent on TRON, confirming', 'st-pending']
    default: return ['Queued at the exchange', 'st-pending']
  }
}

function renderTronHistory (list) {
  const rows = list.slice(0, 10).map(m => {
    const [text, cls] = movementStatus(m)
    const what = m.kind === 'deposit' ? ['Deposit from TRON'] : m.to === app.client.wallet.address ? ['Withdrawal to your address'] : ['Withdrawal to ', el('code', { title: m.to }, shortAddr(m.to))]
    const when = new Date(m.time)
    return el('tr', { 'data-kind': m.kind, 'data-status': m.status, title: m.txid ? 'TRON transaction ' + m.txid : '' },
      el('td', {}, when.toDateString() === new Date().toDateString() ? when.toLocaleTimeString() : when.toLocaleString()),
      el('td', {}, ...what), el('td', {}, btt(m.amount) + ' BTT'), el('td', { class: cls }, text))
  })
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No deposits or withdrawals yet.')))
  $('tron-table').tBodies[0].replaceChildren(...rows)
}

// refreshTron reads the exchange, the TRON balance and the recent movements; when one of them changed state,
// the ledger balance is read again too (a deposit was credited, a withdrawal debited).
async function refreshTron () {
  const w = app.client.wallet
  if (w.state !== 'unlocked' || app.tron.busy) return
  app.tron.busy = true
  try {
    let x
    try {
      x = await w.exchange()
    } catch (e) {
      if (e.code !== 'no_exchange') throw e
      $('tron-none').hidden = false
      $('tron-open').hidden = true
      return
    }
    $('tron-none').hidden = true
    $('tron-open').hidden = false
    $('tron-confirmations').textContent = x.confirmations
    $('tron-min').textContent = btt(x.minWithdrawal)
    app.tron.confirmations = x.confirmations
    const [b, list] = await Promise.all([w.tronBalance(), w.tronHistory()])
    $('tron-btt').textContent = btt(b.btt)
    $('tron-trx').textContent = btt(b.trx)
    renderTronHistory(list)
    const states = list.map(m => m.kind + m.status + (m.txid || m.id)).join()
    if (app.tron.states && states !== app.tron.states) refreshAccount()
    app.tron.states = states
    $('tron-error').textContent = ''
  } catch (e) {
    $('tron-error').textContent = 'TRON: ' + errText(e)
  } finally {
    app.tron.busy = false
  }
}

function wireTron () {
  $('deposit-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('deposit-error')
    err.textContent = ''
    const amount = $('deposit-amount').value.trim()
    if (!amountRe.test(amount) || bttUnits(amount) === 0n) { err.textContent = 'Enter an amount of BTT, like 25 or 2.5 (at most 6 decimals).'; return }
    try {
      const d = await busy($('deposit-submit'), 'Sending…', () => app.client.wallet.deposit(amount))
      $('deposit-amount').value = ''
      say('Deposit of ' + btt(d.amount) + ' BTT sent on TRON. The ledger credits it after ' + (app.tron.confirmations || 'a few') + ' blocks.')
      refreshTron()
    } catch (ex) {
      err.textContent = errText(ex)
    }
  })
  $('withdraw-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('withdraw-error')
    err.textContent = ''
    const amount = $('withdraw-amount').value.trim()
    const to = $('withdraw-to').value.trim()
    if (!amountRe.test(amount) || bttUnits(amount) === 0n) { err.textContent = 'Enter an amount of BTT, like 10 or 2.5 (at most 6 decimals).'; return }
    if (to && !/^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(to)) { err.textContent = 'That is not a TRON address: it starts with T and has 34 characters.'; return }
    try {
      const st = await busy($('withdraw-submit'), 'Sending…', () => app.client.wallet.withdraw(amount, { to }))
      $('withdraw-amount').value = $('withdraw-to').value = ''
      say('Withdrawal of ' + btt(st.amount) + ' BTT debited; the exchange sends it to ' + (st.to === app.client.wallet.address ? 'your TRON address' : st.to) + '.')
      refreshAccount()
      refreshTron()
    } catch (ex) {
      err.textContent = errText(ex)
    }
  })
}

// ---- tabs ----

function selectTab (name) {
  app.tab = name
  for (const t of ['torrents', 'wallet', 'speed', 'settings']) {
    $('tab-' + t).setAttribute('aria-selected', String(t === name))
    $('tab-' + t).tabIndex = t === name ? 0 : -1
    $('panel-' + t).hidden = t !== name
  }
  if (name === 'wallet') { refreshAccount(); refreshTron() }
  if (name === 'speed') renderSpeed()
  if (name === 'settings') loadSettings()
  if (name === 'torrents' && app.pending) askPending() // the estimate follows the balance
}

function wireTabs () {
  const names = ['torrents', 'wallet', 'speed', 'settings']
  for (const t of names) $('tab-' + t).addEventListener('click', () => selectTab(t))
  document.querySelector('.tabs').addEventListener('keydown', e => {
    const i = names.indexOf(app.tab)
    const j = e.key === 'ArrowRight' ? (i + 1) % names.length : e.key === 'ArrowLeft' ? (i + names.length - 1) % names.length : -1
    if (j >= 0) { selectTab(names[j]); $('tab-' + names[j]).focus() }
  })
}

// ---- torrents ----

function wireTorrents () {
  $('add-form').addEventListener('submit', async e => {
    e.preventDefault()
    const src = $('add-source').value.trim()
    $('add-error').textContent = ''
    if (!src) { $('add-error').textContent = 'Paste a magnet link (magnet:?xt=urn:btih:…) or the URL of a .torrent file.'; return }
    try {
      await busy($('add-submit'), 'Adding…', () => app.client.add(src))
      $('add-source').value = ''
      renderTorrents()
    } catch (ex) {
      $('add-error').textContent = errText(ex)
    }
  })
  $('add-file').addEventListener('change', async e => {
    const f = e.target.files[0]
    e.target.value = ''
    if (!f) return
    $('add-error').textContent = ''
    try { await app.client.add(f); renderTorrents() } catch (ex) { $('add-error').textContent = f.name + ': ' + errText(ex) }
  })
  $('seed-files').addEventListener('change', async e => {
    const files = Array.from(e.target.files)
    e.target.value = ''
    if (!files.length) return
    $('add-error').textContent = ''
    say('Hashing ' + files.length + ' file' + (files.length > 1 ? 's' : '') + '…')
    try {
      const t = await app.client.seed(files)
      say('Seeding ' + (t.name || files[0].name) + '. Share its magnet link to let others download it.')
      renderTorrents()
    } catch (ex) {
      $('add-error').textContent = errText(ex)
    }
  })
  $('player-close').addEventListener('click', () => {
    const v = $('player-video')
    v.pause()
    v.removeAttribute('src')
    v.load()
    $('player').hidden = true
  })
}

const playable = /\.(mp4|m4v|webm|mkv|ogv|mp3|m4a|ogg|oga|opus|wav|flac)$/i

function torrentRow (t) {
  const row = el('li', { class: 'torrent', 'data-infohash': t.infoHash })
  const name = el('span', { class: 'name' })
  const state = el('span', { class: 'state' })
  const fill = el('span')
  const bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' }, fill)
  const meta = el('div', { class: 'meta' })
  const cost = el('p', { class: 'cost muted small' })
  const files = el('ul', { class: 'filelist' })
  const peers = el('tbody')
  const details = el('details', {}, el('summary', {}, 'Files and peers'), files,
    el('table', { 'aria-label': 'Speed by peer account' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Peer account'), el('th', { scope: 'col' }, 'You paid'), el('th', { scope: 'col' }, 'Paid you'))), peers))
  const speedToggle = el('input', { type: 'checkbox', class: 'speed-toggle' })
  const speedWhy = el('span', { class: 'speed-why' })
  const speedLabel = el('label', { class: 'check small' }, speedToggle, 'Speed for this torrent ', speedWhy)
  // The box shows what the engine does (t.speed), never what was clicked: while a change is on its way it waits.
  speedToggle.addEventListener('change', async () => {
    const on = speedToggle.checked
    r.speedBusy = true
    speedToggle.disabled = true
    try {
      await t.setSpeed({ speed: on })
      say('Speed ' + (t.speed ? 'on' : 'off') + ' for ' + (t.name || 'this torrent') + '.')
    } catch (e) { say(errText(e), true) } finally {
      r.speedBusy = false
      renderTorrents()
    }
  })
  const copy = el('button', { type: 'button', class: 'ghost small' }, 'Copy magnet link')
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(t.magnetURI); say('Magnet link copied.') } catch (e) { window.prompt('Magnet link', t.magnetURI) }
  })
  const remove = el('button', { type: 'button', class: 'danger small' }, 'Remove')
  remove.addEventListener('click', async () => {
    if (!window.confirm('Remove ' + (t.name || t.infoHash) + '? Its data is dropped and its payment channels close.')) return
    try { await t.remove(); row.remove(); app.rows.delete(t.infoHash); renderTorrents() } catch (e) { say(errText(e), true) }
  })
  row.append(el('div', { class: 'head' }, name, state), bar, meta, cost, el('div', { class: 'actions' }, speedLabel, copy, remove), details)
  const r = { row, name, state, bar, fill, meta, cost, files, peers, speedToggle, speedWhy, speedBusy: false, fileCount: -1 }
  app.rows.set(t.infoHash, r)
  return r
}

function renderFiles (r, t) {
  if (r.fileCount === t.files.length) return
  r.fileCount = t.files.length
  r.files.replaceChildren(...t.files.map((f, i) => {
    const save = el('button', { type: 'button', class: 'ghost small' }, 'Save')
    save.addEventListener('click', () => busy(save, 'Reading…', async () => {
      try {
        const blob = await f.blob()
        const a = el('a', { href: URL.createObjectURL(blob), download: f.name })
        document.body.append(a)
        a.click()
        a.remove()
      } catch (e) { say(errText(e), true) }
    }))
    const actions = el('span', {}, save)
    if (playable.test(f.name)) {
      const play = el('button', { type: 'button', class: 'ghost small' }, 'Play')
      play.addEventListener('click', async () => {
        $('player').hidden = false
        $('player-title').textContent = f.name
        try { await t.streamTo($('player-video'), { file: i }); $('player-video').play().catch(() => {}) } catch (e) { say(errText(e), true) }
      })
      actions.prepend(play)
    }
    return el('li', {}, el('span', {}, f.path + ' ', el('span', { class: 'muted' }, '(' + bytes(f.length) + ')')), actions)
  }))
}

function renderTorrents () {
  const list = app.client.torrents
  $('torrents-empty').hidden = list.length > 0
  const ul = $('torrents')
  for (const t of list) {
    const r = app.rows.get(t.infoHash) || torrentRow(t)
    if (r.row.parentNode !== ul) ul.append(r.row)
    const pct = Math.floor(t.progress * 1000) / 10
    r.name.textContent = t.name || ('Fetching metadata for ' + t.infoHash.slice(0, 12) + '…')
    const err = t.error
    r.state.textContent = err ? 'Error: ' + err : t.done ? 'Seeding' : t.name ? 'Downloading ' + pct + '%' : 'Finding peers'
    r.state.className = 'state' + (err ? ' failed' : t.done ? ' done' : '')
    r.row.classList.toggle('is-done', t.done)
    r.fill.style.width = pct + '%'
    r.bar.setAttribute('aria-valuenow', String(Math.round(pct)))
    r.bar.setAttribute('aria-label', (t.name || 'torrent') + ' progress')
    r.meta.replaceChildren(
      el('span', {}, el('b', {}, bytes(t.length)), t.length ? '' : ' size'),
      el('span', {}, '↓ ', el('b', {}, rate(t.downloadSpeed))),
      el('span', {}, '↑ ', el('b', {}, rate(t.uploadSpeed))),
      el('span', {}, el('b', {}, String(t.numPeers)), t.numPeers === 1 ? ' peer' : ' peers'),
      el('span', {}, 'spent ', el('b', { class: 'spent-amount' }, btt(t.spent)),
        ...(t.speed && bttUnits(t.budget) > 0n ? [' of ', el('b', { class: 'budget-amount' }, btt(t.budget))] : []), ' BTT'),
      el('span', {}, 'earned ', el('b', { class: 'earned-amount' }, btt(t.earned)), ' BTT'))
    r.cost.textContent = t.speed && t.length ? 'Speed: ' + costLine(t.length, t.maxPrice, t.budget, app.balance) : ''
    r.cost.hidden = r.cost.textContent === ''
    const off = speedOff()
    if (!r.speedBusy) {
      r.speedToggle.checked = t.speed
      r.speedToggle.disabled = off !== ''
    }
    r.speedWhy.textContent = off ? '(' + off + ')' : ''
    renderFiles(r, t)
    r.peers.replaceChildren(...(t.peers.length ? t.peers : []).map(p =>
      el('tr', {}, el('td', {}, el('code', {}, p.account)), el('td', {}, btt(p.spent)), el('td', {}, btt(p.earned)))))
    if (!t.peers.length) r.peers.append(el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'No payments with any peer yet.')))
  }
}

// loadFeatured lists what the relay seeds (GET /seeds), one click to download.
async function loadFeatured () {
  let seeds = []
  try { seeds = await (await fetch((await BTSpeed.defaultRelay()) + '/seeds')).json() } catch (e) { return }
  if (!Array.isArray(seeds) || !seeds.length) return
  $('featured-list').replaceChildren(...seeds.map(s => {
    const get = el('button', { type: 'button', class: 'secondary small' }, 'Download')
    get.addEventListener('click', () => busy(get, 'Adding…', async () => {
      try { await app.client.add(s.magnet); renderTorrents() } catch (e) { say(errText(e), true) }
    }))
    return el('li', {}, el('span', {}, s.name + ' ', el('span', { class: 'muted' }, '(' + bytes(s.length) + ')')), get)
  }))
  $('featured').hidden = false
}

// ---- Speed tab ----

async function renderSpeed () {
  const c = app.client
  let totals = { spent: '0', earned: '0' }
  let hist = []
  try { [totals, hist] = await Promise.all([c.totals(), c.history()]) } catch (e) { return }
  $('speed-spent').textContent = btt(totals.spent)
  $('speed-earned').textContent = btt(totals.earned)
  const off = speedOff()
  $('speed-state').textContent = off ? 'off (' + off + ')' : 'on'
  const body = $('speed-table').tBodies[0]
  const rows = []
  for (const t of c.torrents) {
    rows.push(el('tr', {}, el('td', {}, t.name || t.infoHash), el('td', {}, btt(t.spent)), el('td', {}, btt(t.earned))))
    for (const p of t.peers) rows.push(el('tr', { class: 'peer' }, el('td', {}, p.account), el('td', {}, btt(p.spent)), el('td', {}, btt(p.earned))))
  }
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'Nothing spent or earned yet.')))
  body.replaceChildren(...rows)
  // The history starts at zero when the page started; the last point is now.
  drawChart([{ time: app.started, spent: '0', earned: '0' }].concat(hist, [{ time: Date.now(), spent: totals.spent, earned: totals.earned }]))
}

function drawChart (points) {
  const svg = $('chart')
  const ns = 'http://www.w3.org/2000/svg'
  const W = 600; const H = 200; const L = 72; const B = 22; const T = 10; const R = 10
  for (const n of Array.from(svg.childNodes)) if (n.nodeName !== 'title') n.remove()
  const max = points.reduce((m, p) => { const a = bttUnits(p.spent); const b = bttUnits(p.earned); return a > m ? (b > a ? b : a) : (b > m ? b : m) }, 1n)
  const t0 = points[0].time; const t1 = Math.max(points[points.length - 1].time, t0 + 60000)
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0)
  const y = v => H - B - (H - B - T) * Number(bttUnits(v) * 10000n / max) / 10000
  const line = (x1, y1, x2, y2, cls) => { const l = document.createElementNS(ns, 'line'); Object.entries({ x1, y1, x2, y2 }).forEach(([k, v]) => l.setAttribute(k, v)); l.setAttribute('class', cls); return l }
  const text = (xx, yy, s, anchor) => { const e = document.createElementNS(ns, 'text'); e.setAttribute('x', xx); e.setAttribute('y', yy); e.setAttribute('text-anchor', anchor || 'start'); e.textContent = s; return e }
  svg.append(line(L, H - B, W - R, H - B, 'axis'), line(L, T, L, H - B, 'axis'))
  for (const a of svg.querySelectorAll('.axis')) a.setAttribute('stroke', 'currentColor')
  svg.append(text(L - 4, T + 8, btt((Number(max) / 1e6).toFixed(6)), 'end'), text(L - 4, H - B, '0', 'end'))
  svg.append(text(L, H - 6, new Date(t0).toLocaleTimeString()), text(W - R, H - 6, new Date(t1).toLocaleTimeString(), 'end'))
  for (const key of ['spent', 'earned']) {
    const pl = document.createElementNS(ns, 'polyline')
    pl.setAttribute('points', points.map(p => x(p.time).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' '))
    pl.setAttribute('class', key)
    pl.setAttribute('fill', 'none')
    pl.setAttribute('stroke-width', '2')
    svg.append(pl)
  }
}

// ---- settings ----

// The spending rate travels in parts per million of the M5 bid (docs/js-api.md); the page shows a percentage.
function percentOf (ppm) {
  const f = String(ppm % 10000).padStart(4, '0').replace(/0+$/, '')
  return String(Math.floor(ppm / 10000)) + (f ? '.' + f : '')
}

// ppmOf reads a percentage (up to 4 decimals) as parts per million; NaN when it is not one from 0 to 100.
function ppmOf (s) {
  const m = /^([0-9]{1,3})(?:\.([0-9]{1,4}))?$/.exec(String(s).trim())
  if (!m) return NaN
  const v = Number(m[1]) * 10000 + Number((m[2] || '').padEnd(4, '0'))
  return v <= 1000000 ? v : NaN
}

// limitsNow says in BTT what the max price and the budget per download in the form mean now.
async function limitsNow () {
  const out = $('set-limits-now')
  const price = $('set-max-price').value.trim()
  const budget = $('set-torrent-budget').value.trim()
  if (!amountRe.test(price) || bttUnits(price) === 0n || (budget !== '' && !amountRe.test(budget))) { out.textContent = ''; return }
  const perMiB = bttUnits(price) / 1024n
  let line = perMiB === 0n ? 'That is less than 0.000001 BTT per MiB: Speed bids nothing.' : 'That is at most ' + fmtUnits(perMiB) + ' BTT per MiB.'
  if (budget === '' || bttUnits(budget) === 0n) {
    let bal = null
    if (app.client.wallet.state === 'unlocked') {
      try { bal = bttUnits((await app.client.wallet.balance()).ledger) } catch (e) {}
    }
    line += bal === null ? ' Each download may spend 1% of your balance as it starts, in all.' : ' Each download may spend 1% of your balance as it starts, in all: ' + fmtUnits(bal / 100n) + ' BTT now.'
  } else line += ' Each download may spend ' + btt(budget) + ' BTT in all.'
  out.textContent = line
}

function loadSettings () {
  const s = app.client.settings.get()
  $('set-speed').checked = s.speed
  $('set-max-price').value = btt(s.maxPrice)
  $('set-torrent-budget').value = bttUnits(s.torrentBudget) === 0n ? '' : btt(s.torrentBudget)
  $('set-rate').value = percentOf(s.spendingRate)
  $('set-budget').value = btt(s.budget)
  $('set-reserve').value = btt(s.reserve)
  $('set-storage').value = Math.round(s.storageLimit / 1048576)
  limitsNow()
  $('settings-error').textContent = ''
  BTSpeed.defaultRelay().then(r => { $('about-relay').textContent = r })
  $('about-ledger').textContent = app.client.ledgerID
}

// settingsForm reads the form, or says what is wrong with it.
function settingsForm () {
  const v = id => $(id).value.trim()
  const maxPrice = v('set-max-price'); const torrentBudget = v('set-torrent-budget'); const budget = v('set-budget'); const reserve = v('set-reserve')
  if (!amountRe.test(maxPrice) || bttUnits(maxPrice) === 0n) return { error: 'The most you pay is an amount of BTT per GiB above 0, like 1000 or 2.5 (at most 6 decimals).', field: 'set-max-price' }
  if (torrentBudget !== '' && !amountRe.test(torrentBudget)) return { error: 'The budget per download is an amount of BTT, like 5 or 0.5 (at most 6 decimals); leave it empty for 1% of your balance.', field: 'set-torrent-budget' }
  if (!amountRe.test(reserve)) return { error: 'The reserve price is an amount of BTT, like 0.001 (at most 6 decimals).', field: 'set-reserve' }
  const rateV = ppmOf(v('set-rate')); const storage = Number(v('set-storage'))
  if (isNaN(rateV)) return { error: 'The spending rate is a percentage from 0 to 100, like 100 or 2.5 (at most 4 decimals).', field: 'set-rate' }
  if (!amountRe.test(budget)) return { error: 'The budget over all downloads is an amount of BTT, like 10 or 2.5 (at most 6 decimals); 0 for none.', field: 'set-budget' }
  if (!Number.isInteger(storage) || storage < 1) return { error: 'The storage limit is a whole number of MiB, at least 1.', field: 'set-storage' }
  return { settings: { speed: $('set-speed').checked, maxPrice, torrentBudget: torrentBudget || '0', spendingRate: rateV, budget, reserve, storageLimit: storage * 1048576 } }
}

function wireSettings () {
  $('set-max-price').addEventListener('input', limitsNow)
  $('set-torrent-budget').addEventListener('input', limitsNow)
  $('settings-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('settings-error')
    err.textContent = ''
    $('settings-saved').textContent = ''
    for (const f of document.querySelectorAll('#settings-form [aria-invalid]')) f.removeAttribute('aria-invalid')
    const form = settingsForm()
    if (form.error) {
      err.textContent = form.error
      if ($(form.field).closest('details')) $(form.field).closest('details').open = true
      $(form.field).setAttribute('aria-invalid', 'true')
      $(form.field).focus()
      return
    }
    try {
      await busy($('settings-save'), 'Saving…', () => app.client.settings.set(form.settings))
      $('settings-saved').textContent = 'Saved.'
      loadSettings()
    } catch (ex) {
      err.textContent = errText(ex)
    }
  })
}

// ---- start ----

async function main () {
  const tpl = $('disclosure')
  for (const d of document.querySelectorAll('[data-disclosure]')) d.append(tpl.content.cloneNode(true))
  $('failed-retry').addEventListener('click', () => location.reload())
  show('loading')
  try {
    app.client = await BTSpeed.start({ relay: await BTSpeed.defaultRelay() })
  } catch (e) {
    $('failed-message').textContent = errText(e)
    show('failed')
    return
  }
  window.btspeedApp = app // for the browser tests and the curious
  wireOnboarding(); wireWallet(); wireTron(); wireTabs(); wireTorrents(); wireSettings(); wirePending()
  loadFeatured()
  loadLedgerKind()
  app.client.on('error', e => say('The peer stopped: ' + errText(e), true))
  app.timer = setInterval(() => {
    if (document.body.dataset.screen !== 'app') return
    renderTorrents()
    if (app.tab === 'speed') renderSpeed()
  }, 1000)
  app.walletTimer = setInterval(() => { if (document.body.dataset.screen === 'app') refreshAccount() }, 10000)
  // The TRON card follows deposits and withdrawals while the wallet tab is in view.
  app.tronTimer = setInterval(() => { if (document.body.dataset.screen === 'app' && app.tab === 'wallet' && !document.hidden) refreshTron() }, 3000)
  takeLink()
  const st = app.client.wallet.state
  if (st === 'none') show('welcome')
  else if (st === 'locked') { $('unlock-address').textContent = app.client.wallet.address; show('unlock') } else enterApp()
  document.body.dataset.ready = 'true'
}

main()
