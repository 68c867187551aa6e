// services.js: the Speed tab's card of every paid service beside Speed (issue 22): payments to pages (this
// wallet's ledger transfers, with the memos of those made through btspeed's confirmation window), and the
// proxy and storage services (the ledger's entries of this wallet's payment channels, which name the service
// each channel paid for).
'use strict'

// SERVICES_EVERY is how often the card asks the ledger for the wallet's transfers (ms).
const SERVICES_EVERY = 10000

// paymentsMade lists the payments made through pay.html in this browser (pay.js keeps them), newest first.
function paymentsMade () {
  try {
    const list = JSON.parse(localStorage.getItem('btspeed.payments'))
    return Array.isArray(list) ? list : []
  } catch (e) { return [] }
}

// transferTotals sums the transfers sent and received, in base units.
function transferTotals (transfers) {
  let sent = 0n; let received = 0n
  for (const t of transfers) { sent += bttUnits(t.sent); received += bttUnits(t.received) }
  return { sent, received }
}

// channelTotals sums this wallet's channel entries for one service, in base units: spent is what the channels
// it paid from and that closed paid out (deposit less refund), held what its open channels still hold (their
// deposits), earned what channels paying it paid out to it.
function channelTotals (entries, service) {
  const mine = new Map() // channel id -> {deposit, refund, refunded}
  let earned = 0n
  for (const e of entries) {
    if (e.service !== service) continue
    if (e.kind === 'channel-payout') { earned += bttUnits(e.credit); continue }
    const c = mine.get(e.channel) || { deposit: null, refund: 0n, refunded: false }
    if (e.kind === 'channel-deposit') c.deposit = bttUnits(e.debit)
    if (e.kind === 'channel-refund') { c.refund += bttUnits(e.credit); c.refunded = true }
    mine.set(e.channel, c)
  }
  let spent = 0n; let held = 0n
  for (const c of mine.values()) {
    if (c.deposit === null) continue // opened before the entries read
    if (c.refunded) spent += c.deposit - c.refund
    else held += c.deposit
  }
  return { spent, held, earned }
}

// serviceRow is the card's row of a channel service (proxy, storage) from the wallet's history.
function serviceRow (row, name, s, service, what) {
  if (!s.channels) return row(name, '?', '?', s.transfers === null ? 'The ledger did not answer; trying again.' : 'No wallet yet.')
  const t = channelTotals(s.channels, service)
  const note = what + (t.held > 0n ? '; ' + fmtUnits(t.held) + ' BTT more is held in channels still open (what they do not pay returns to you)' : '') +
    (s.more ? ', in your latest 1000 ledger entries' : '') + '.'
  return row(name, fmtUnits(t.spent) + ' BTT', fmtUnits(t.earned) + ' BTT', note)
}

// renderServices fills the services card: Speed's totals (given), and the transfers, read from the ledger at
// most every SERVICES_EVERY ms.
async function renderServices (speedTotals) {
  const c = app.client
  const s = app.services || (app.services = { at: 0, transfers: null, channels: null, more: false })
  if (c.wallet.state !== 'none' && Date.now() - s.at > SERVICES_EVERY) {
    s.at = Date.now()
    try {
      const r = await c.wallet.transfers()
      s.transfers = r.transfers || []
      s.channels = r.channels || []
      s.more = !!r.more
    } catch (e) { s.transfers = null; s.channels = null }
  }
  const row = (name, spent, earned, note) => el('tr', {}, el('th', { scope: 'row' }, name, note ? el('div', { class: 'muted small' }, note) : null),
    el('td', {}, spent), el('td', {}, earned))
  const rows = [row('BitTorrent Speed', btt(speedTotals.spent) + ' BTT', btt(speedTotals.earned) + ' BTT')]
  if (s.transfers) {
    const t = transferTotals(s.transfers)
    rows.push(row('Payments to pages', fmtUnits(t.sent) + ' BTT', fmtUnits(t.received) + ' BTT',
      'Ledger transfers: what you paid sites (and sent from the command line), and what others sent you' + (s.more ? ', in your latest 1000 ledger entries' : '') + '.'))
  } else rows.push(row('Payments to pages', '?', '?', c.wallet.state === 'none' ? 'No wallet yet.' : 'The ledger did not answer; trying again.'))
  rows.push(serviceRow(row, 'Proxy', s, 'proxy', 'Pages fetched through paid relays (btspeed fetch) and serving them'),
    serviceRow(row, 'Storage', s, 'storage', 'Files kept by storage providers (btspeed store) and keeping them'))
  $('services-table').tBodies[0].replaceChildren(...rows)
  renderPaymentsMade()
}

// renderPaymentsMade lists the latest payments made to pages from this browser, with their memos.
function renderPaymentsMade () {
  const list = paymentsMade().slice(0, 20)
  const body = $('payments-table').tBodies[0]
  if (!list.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No payments to pages from this browser yet.')))
    return
  }
  body.replaceChildren(...list.map(p => el('tr', {},
    el('td', {}, new Date(p.time).toLocaleString()),
    el('td', {}, String(p.origin), el('div', { class: 'muted small' }, el('code', {}, String(p.to)))),
    el('td', {}, btt(p.amount) + ' BTT'),
    el('td', {}, String(p.memo || '')))))
}
