// peers.js: a torrent row's status line (state, rate, time left, the hint when it stalls) and its table of
// connected peers (address, client, transport, rates, what they have, BTT with each).
'use strict'

// duration says a number of seconds the way people read a time left: "45 s", "12 min", "2 h 5 min", "3 d 4 h".
function duration (s) {
  s = Math.max(0, Math.round(s))
  if (s < 60) return s + ' s'
  const m = Math.round(s / 60)
  if (m < 60) return m + ' min'
  const h = Math.floor(m / 60)
  if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '')
  return Math.floor(h / 24) + ' d' + (h % 24 ? ' ' + (h % 24) + ' h' : '')
}

// stateText is the row's status line: what the torrent does, in words, with its progress.
function stateText (t) {
  if (t.error) return 'Error: ' + t.error
  const pct = Math.floor(t.progress * 1000) / 10
  if (t.checking) return 'Checking the data kept…'
  if (t.paused) return 'Paused' + (t.done ? '' : ' at ' + pct + '%')
  switch (t.state) {
    case 'seeding': return 'Seeding'
    case 'downloading': return 'Downloading ' + pct + '%'
    case 'fetching metadata': return 'Fetching metadata'
    case 'stalled': return 'Stalled' + (t.length ? ' at ' + pct + '%' : '')
    case 'stopped': return 'Stopped'
    default: return 'Looking for peers' + (t.length && pct > 0 ? ' (' + pct + '%)' : '')
  }
}

// stateClass is the status line's class: done, failed or stalled.
function stateClass (t) {
  if (t.error) return 'state failed'
  if (t.paused || t.checking) return 'state paused'
  if (t.state === 'stopped') return 'state failed'
  if (t.state === 'seeding') return 'state done'
  if (t.state === 'stalled') return 'state stalled'
  return 'state'
}

// stateHint is the line under the status: the hint of a stalled torrent, or where one without peers looks.
function stateHint (t) {
  if (t.state === 'stalled') return t.hint
  if ((t.state === 'looking for peers' || t.state === 'fetching metadata') && t.trying.length) return 'Trying ' + t.trying.join(', ') + '.'
  return ''
}

// etaText is the time left, '' when there is none.
function etaText (t) { return t.eta === null || t.done ? '' : duration(t.eta) + ' left' }

// peersTable returns the peers table of a torrent row and its body.
function peersTable () {
  const body = el('tbody')
  const cols = ['Peer', 'Client', 'Transport', '↓', '↑', 'Has', 'You paid', 'Paid you']
  const table = el('table', { class: 'peers', 'aria-label': 'Connected peers' },
    el('thead', {}, el('tr', {}, ...cols.map(c => el('th', { scope: 'col' }, c)))), body)
  return { table: el('div', { class: 'table-scroll' }, table), body }
}

// renderPeerList fills a peers table with t.peerList (at most 50, busiest first).
function renderPeerList (body, t) {
  const list = t.peerList
  if (!list.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '8', class: 'muted' }, t.done ? 'No peer is downloading from you right now.' : 'No peer connected yet.')))
    return
  }
  const cell = (label, cls, ...c) => el('td', { class: cls, 'data-label': label }, ...c)
  body.replaceChildren(...list.map(p => el('tr', { class: 'peer' },
    cell('Peer', 'peer-addr', el('code', {}, p.address)),
    cell('Client', 'client', p.client || '—'),
    cell('Transport', 'transport', p.transport),
    cell('↓', '', rate(p.downloadRate)),
    cell('↑', '', rate(p.uploadRate)),
    cell('Has', '', Math.floor(p.progress * 100) + '%'),
    cell('You paid', '', p.account ? btt(p.spent) + ' BTT' : '—'),
    cell('Paid you', '', p.account ? btt(p.earned) + ' BTT' : '—'))))
}
