// torrents.js: the tabs and the torrents list: adding, seeding, progress, files, peers and the player.
'use strict'

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
  const remove = el('button', { type: 'button', class: 'danger small', title: 'Delete the torrent and the data this browser keeps for it' }, 'Remove')
  remove.addEventListener('click', async () => {
    if (!window.confirm('Remove ' + (t.name || t.infoHash) + '? It is deleted from this browser with its downloaded data (save its files first), and its payment channels close.')) return
    try { await t.remove(); row.remove(); app.rows.delete(t.infoHash); renderTorrents(); renderStorage() } catch (e) { say(errText(e), true) }
  })
  const pause = pauseButton(t)
  row.append(el('div', { class: 'head' }, name, state), bar, meta, cost, el('div', { class: 'actions' }, speedLabel, pause, copy, remove), details)
  const r = { row, name, state, bar, fill, meta, cost, files, peers, pause, speedToggle, speedWhy, speedBusy: false, fileCount: -1 }
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
    r.state.textContent = err ? 'Error: ' + err : t.checking ? 'Checking the data kept…' : t.paused ? 'Paused' + (t.done ? '' : ' at ' + pct + '%') : t.done ? 'Seeding' : t.name ? 'Downloading ' + pct + '%' : 'Finding peers'
    r.state.className = 'state' + (err ? ' failed' : t.paused ? ' paused' : t.done ? ' done' : '')
    r.pause.update(t)
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

