// wallet.js: the header balance, the wallet tab, the faucet, and TRON deposits and withdrawals through
// the ledger's exchange.
'use strict'

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
      const trx = res.trx && bttUnits(res.trx) > 0n ? ' and ' + btt(res.trx) + ' TRX for TRON fees' : ''
      out.textContent = 'Received ' + btt(res.amount) + ' BTT' + trx + ' (test money).'
      refreshAccount()
      refreshTron()
    } catch (e) {
      // A second claim is not a failure: say when the next one opens, here.
      out.textContent = e.code === 'faucet_claimed' ? humanError(e).text : ''
      if (e.code !== 'faucet_claimed') sayError(e, 'Faucet')
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
      sayError(e, 'Export')
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
    showError($('tron-error'), e)
    $('tron-error').prepend('TRON: ')
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
      showError(err, ex)
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
      showError(err, ex)
    }
  })
}


// followSpending refreshes the header balance as soon as any torrent's spent or earned total moves (a channel
// opening locks a deposit, a close settles it), instead of at the next 10 s refresh.
function followSpending () {
  const key = app.client.torrents.map(t => t.spent + '/' + t.earned).join(',')
  if (key === app.spentKey) return
  app.spentKey = key
  refreshAccount()
}
