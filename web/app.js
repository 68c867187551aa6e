// app.js: the btspeed web app. Plain JavaScript over the API of btspeed.js (docs/js-api.md): onboarding,
// wallet and faucet, deposits from and withdrawals to TRON, torrents with progress, what Speed spent and earned (per torrent, per peer, over time),
// settings, and the disclosure of what Speed does (M29).
'use strict'

const $ = id => document.getElementById(id)
const app = { client: null, timer: null, walletTimer: null, tronTimer: null, rows: new Map(), tab: 'torrents', started: Date.now(), tron: { busy: false, states: '' } }

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
}

// ---- onboarding ----

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
    if (pw.length < 8) { err.textContent = 'The password needs at least 8 characters.'; return }
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
    if (pw.length < 8) { err.textContent = 'The password needs at least 8 characters.'; return }
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
    await app.client.wallet.lock()
    $('unlock-address').textContent = app.client.wallet.address
    show('unlock')
    refreshAccount()
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
    $('hdr-balance').textContent = btt(b.ledger)
    $('wallet-balance').textContent = btt(b.ledger)
    $('wallet-locked-amount').textContent = btt(b.locked)
  } catch (e) {
    $('hdr-balance').textContent = '?'
  }
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
      out.textContent = ''
      say('Faucet: ' + errText(e), true)
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
  const files = el('ul', { class: 'filelist' })
  const peers = el('tbody')
  const details = el('details', {}, el('summary', {}, 'Files and peers'), files,
    el('table', { 'aria-label': 'Speed by peer account' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Peer account'), el('th', { scope: 'col' }, 'You paid'), el('th', { scope: 'col' }, 'Paid you'))), peers))
  const speedToggle = el('input', { type: 'checkbox', class: 'speed-toggle' })
  const speedLabel = el('label', { class: 'check small' }, speedToggle, 'Speed for this torrent')
  speedToggle.addEventListener('change', async () => {
    try {
      await t.setSpeed({ speed: speedToggle.checked })
      say('Speed ' + (speedToggle.checked ? 'on' : 'off') + ' for ' + (t.name || 'this torrent') + '.')
    } catch (e) { say(errText(e), true) }
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
  row.append(el('div', { class: 'head' }, name, state), bar, meta, el('div', { class: 'actions' }, speedLabel, copy, remove), details)
  const r = { row, name, state, bar, fill, meta, files, peers, speedToggle, fileCount: -1 }
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
      el('span', {}, el('b', {}, String(t.numPeers)), ' peers'),
      el('span', {}, 'spent ', el('b', { class: 'spent-amount' }, btt(t.spent)), ' BTT'),
      el('span', {}, 'earned ', el('b', { class: 'earned-amount' }, btt(t.earned)), ' BTT'))
    if (document.activeElement !== r.speedToggle) r.speedToggle.checked = t.speed
    r.speedToggle.disabled = app.client.wallet.state !== 'unlocked'
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
  const s = c.settings.get()
  $('speed-state').textContent = c.wallet.state !== 'unlocked' ? 'off (wallet ' + (c.wallet.state === 'none' ? 'not set up' : 'locked') + ')' : s.speed ? 'on' : 'off'
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

function loadSettings () {
  const s = app.client.settings.get()
  $('set-speed').checked = s.speed
  $('set-rate').value = s.spendingRate
  $('set-budget').value = btt(s.budget)
  $('set-reserve').value = btt(s.reserve)
  $('set-storage').value = Math.round(s.storageLimit / 1048576)
  $('settings-error').textContent = ''
  BTSpeed.defaultRelay().then(r => { $('about-relay').textContent = r })
  $('about-ledger').textContent = app.client.ledgerID
}

function wireSettings () {
  $('settings-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('settings-error')
    err.textContent = ''
    $('settings-saved').textContent = ''
    const amount = /^[0-9]+(\.[0-9]{1,6})?$/
    const budget = $('set-budget').value.trim(); const reserve = $('set-reserve').value.trim()
    if (!amount.test(budget)) { err.textContent = 'The budget is an amount of BTT, like 10 or 2.5 (at most 6 decimals).'; return }
    if (!amount.test(reserve)) { err.textContent = 'The reserve price is an amount of BTT, like 0.001 (at most 6 decimals).'; return }
    const rateV = Number($('set-rate').value); const storage = Number($('set-storage').value)
    if (!Number.isInteger(rateV) || rateV < 0 || rateV > 1000000) { err.textContent = 'The spending rate is a whole number from 0 to 1,000,000.'; return }
    if (!Number.isInteger(storage) || storage < 1) { err.textContent = 'The storage limit is a whole number of MiB, at least 1.'; return }
    try {
      await busy($('settings-save'), 'Saving…', () => app.client.settings.set({ speed: $('set-speed').checked, spendingRate: rateV, budget, reserve, storageLimit: storage * 1048576 }))
      $('settings-saved').textContent = 'Saved.'
    } catch (ex) {
      err.textContent = errText(ex)
    }
  })
}

// ---- start ----

async function main () {
  const tpl = $('disclosure')
  for (const d of document.querySelectorAll('[data-disclosure]')) d.append(tpl.content.cloneNode(true))
  show('loading')
  try {
    app.client = await BTSpeed.start({ relay: await BTSpeed.defaultRelay() })
  } catch (e) {
    $('failed-message').textContent = errText(e)
    show('failed')
    return
  }
  window.btspeedApp = app // for the browser tests and the curious
  wireOnboarding(); wireWallet(); wireTron(); wireTabs(); wireTorrents(); wireSettings()
  loadFeatured()
  app.client.on('error', e => say('The peer stopped: ' + errText(e), true))
  app.timer = setInterval(() => {
    if (document.body.dataset.screen !== 'app') return
    renderTorrents()
    if (app.tab === 'speed') renderSpeed()
  }, 1000)
  app.walletTimer = setInterval(() => { if (document.body.dataset.screen === 'app') refreshAccount() }, 10000)
  // The TRON card follows deposits and withdrawals while the wallet tab is in view.
  app.tronTimer = setInterval(() => { if (document.body.dataset.screen === 'app' && app.tab === 'wallet' && !document.hidden) refreshTron() }, 3000)
  const st = app.client.wallet.state
  if (st === 'none') show('welcome')
  else if (st === 'locked') { $('unlock-address').textContent = app.client.wallet.address; show('unlock') } else enterApp()
  // A link like /#magnet:?xt=... (from an embed's "open in btspeed") adds that torrent.
  const hash = decodeURIComponent(location.hash.slice(1))
  if (hash.startsWith('magnet:')) {
    history.replaceState(null, '', location.pathname)
    app.client.add(hash).then(renderTorrents, e => say(errText(e), true))
  }
  document.body.dataset.ready = 'true'
}

main()
