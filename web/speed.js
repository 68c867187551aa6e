// speed.js: Speed's state in words, what a download may cost, the Speed tab (spent and earned over time)
// and the settings (M29's disclosure).
'use strict'

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
  renderServices(totals)
  const body = $('speed-table').tBodies[0]
  const rows = []
  for (const t of c.torrents) {
    rows.push(el('tr', {}, el('td', {}, t.name || t.infoHash), el('td', {}, btt(t.spent)), el('td', {}, btt(t.earned))))
    for (const p of t.peers) rows.push(el('tr', { class: 'peer' }, el('td', {}, p.account), el('td', {}, btt(p.spent)), el('td', {}, btt(p.earned))))
  }
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'Nothing spent or earned yet.')))
  body.replaceChildren(...rows)
  // The history is kept across restarts: it starts at its oldest point kept, or at zero when the page started if
  // it has none from before; the last point is now.
  const first = hist.length && hist[0].time < app.started ? [] : [{ time: app.started, spent: '0', earned: '0' }]
  drawChart(first.concat(hist, [{ time: Date.now(), spent: totals.spent, earned: totals.earned }]))
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
      showError(err, ex)
    }
  })
}

