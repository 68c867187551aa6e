// torrents.js: the tabs and the torrents list: adding, progress, files, peers, share links and the player (in the
// row of the torrent played). Seeding what is picked or dropped is drop.js.
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
      showError($('add-error'), ex)
    }
  })
  $('add-file').addEventListener('change', async e => {
    const f = e.target.files[0]
    e.target.value = ''
    if (!f) return
    $('add-error').textContent = ''
    try { await app.client.add(f); renderTorrents() } catch (ex) { showError($('add-error'), ex); $('add-error').prepend(f.name + ': ') }
  })
}

const playable = /\.(mp4|m4v|webm|mkv|ogv|mp3|m4a|ogg|oga|opus|wav|flac)$/i

// ---- the player: one at a time, in the row of the torrent it plays ----

function closePlayer () {
  const p = app.player
  if (!p) return
  app.player = null
  p.video.pause()
  p.video.removeAttribute('src')
  p.video.load()
  p.box.remove()
}

async function play (r, t, i) {
  closePlayer()
  const video = el('video', { controls: true, playsinline: true })
  const close = el('button', { type: 'button', class: 'ghost small' }, 'Close')
  const box = el('div', { class: 'player' }, el('div', { class: 'player-head' }, el('span', { class: 'player-title' }, t.files[i].path), close), video)
  close.addEventListener('click', closePlayer)
  app.player = { box, video }
  r.playerSlot.append(box)
  box.scrollIntoView({ block: 'nearest' })
  try { await t.streamTo(video, { file: i }); video.play().catch(() => {}) } catch (e) { sayError(e) }
}

// saveFile hands a finished file to the browser's downloads.
function saveFile (button, f) {
  return busy(button, 'Reading…', async () => {
    try {
      const a = el('a', { href: URL.createObjectURL(await f.blob()), download: f.name })
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(a.href), 60000)
    } catch (e) { sayError(e) }
  })
}

// ---- share links: the magnet, and the app opening it (#magnet:…, asked before it starts) ----

const appLink = magnet => location.origin + location.pathname + '#' + magnet

function shareField (label, cls) {
  const input = el('input', { type: 'text', readonly: true, class: cls, 'aria-label': label, spellcheck: 'false' })
  const copy = el('button', { type: 'button', class: 'secondary small', 'aria-label': 'Copy the ' + label.toLowerCase() }, 'Copy')
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(input.value); say(label + ' copied.') } catch (e) {
      input.focus()
      input.select()
      say('Could not copy: the text is selected, copy it with Ctrl+C (⌘C).', true)
    }
  })
  input.addEventListener('focus', () => input.select())
  return { input, box: el('div', { class: 'share-field' }, el('span', { class: 'share-label' }, label), input, copy) }
}

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
  const hint = el('p', { class: 'hint small', role: 'status' })
  const peerList = peersTable()
  const details = el('details', {}, el('summary', {}, 'Peers'),
    el('h4', { class: 'small' }, 'Payments by peer account'),
    el('table', { 'aria-label': 'Speed by peer account' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Peer account'), el('th', { scope: 'col' }, 'You paid'), el('th', { scope: 'col' }, 'Paid you'))), peers),
    el('h4', { class: 'small' }, 'Connected peers'), peerList.table)
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
    } catch (e) { sayError(e) } finally {
      r.speedBusy = false
      renderTorrents()
    }
  })
  const magnet = shareField('Magnet link', 'share-magnet')
  const link = shareField('App link', 'share-app')
  const share = el('div', { class: 'share' }, magnet.box, link.box)
  const playOne = el('button', { type: 'button', class: 'small', hidden: true }, 'Play')
  playOne.addEventListener('click', () => play(r, t, 0))
  const saveOne = el('button', { type: 'button', class: 'small', hidden: true }, 'Save')
  saveOne.addEventListener('click', () => saveFile(saveOne, t.files[0]))
  const remove = el('button', { type: 'button', class: 'danger small', title: 'Delete the torrent and the data this browser keeps for it' }, 'Remove')
  remove.addEventListener('click', async () => {
    if (!window.confirm('Remove ' + (t.name || t.infoHash) + '? It is deleted from this browser with its downloaded data (save its files first), and its payment channels close.')) return
    try { await t.remove(); if (app.player && row.contains(app.player.box)) closePlayer(); row.remove(); app.rows.delete(t.infoHash); renderTorrents(); renderStorage() } catch (e) { sayError(e) }
  })
  const pause = pauseButton(t)
  const playerSlot = el('div', { class: 'player-slot' })
  row.append(el('div', { class: 'head' }, name, state), hint, bar, meta, cost, el('div', { class: 'actions' }, playOne, saveOne, speedLabel, pause, remove),
    playerSlot, files, share, details)
  const r = { row, name, state, hint, bar, fill, meta, cost, files, peers, pause, peerList: peerList.body, speedToggle, speedWhy, speedBusy: false, filesShown: '', playOne, saveOne, playerSlot, magnet: magnet.input, link: link.input }
  app.rows.set(t.infoHash, r)
  return r
}

// renderFiles shows Play (streams while downloading) and, once complete, Save: on the row for one file, per file
// in a list under it for several.
function renderFiles (r, t) {
  const one = t.files.length === 1
  r.playOne.hidden = !one || !playable.test(t.files[0].name)
  r.saveOne.hidden = !one || !t.done
  const key = t.files.length + ':' + t.done
  if (r.filesShown === key) return
  r.filesShown = key
  r.files.hidden = t.files.length < 2
  r.files.replaceChildren(...(one ? [] : t.files).map((f, i) => {
    const actions = el('span', { class: 'file-actions' })
    if (playable.test(f.name)) {
      const p = el('button', { type: 'button', class: 'ghost small' }, 'Play')
      p.addEventListener('click', () => play(r, t, i))
      actions.append(p)
    }
    if (t.done) {
      const save = el('button', { type: 'button', class: 'secondary small' }, 'Save')
      save.setAttribute('aria-label', 'Save ' + f.path)
      save.addEventListener('click', () => saveFile(save, f))
      actions.append(save)
    }
    const path = f.path.startsWith(t.name + '/') ? f.path.slice(t.name.length + 1) : f.path // the row says the folder
    return el('li', {}, el('span', { class: 'file-name' }, path + ' ', el('span', { class: 'muted' }, '(' + bytes(f.length) + ')')), actions)
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
    r.state.textContent = stateText(t)
    r.state.className = stateClass(t)
    r.hint.textContent = stateHint(t)
    r.hint.hidden = r.hint.textContent === ''
    r.pause.update(t)
    r.row.classList.toggle('is-done', t.done)
    r.fill.style.width = pct + '%'
    r.bar.setAttribute('aria-valuenow', String(Math.round(pct)))
    r.bar.setAttribute('aria-label', (t.name || 'torrent') + ' progress')
    r.meta.replaceChildren(
      el('span', {}, el('b', {}, bytes(t.length)), t.length ? '' : ' size'),
      el('span', {}, '↓ ', el('b', {}, rate(t.downloadSpeed))),
      el('span', {}, '↑ ', el('b', {}, rate(t.uploadSpeed))),
      ...(etaText(t) ? [el('span', { class: 'eta' }, el('b', {}, etaText(t)))] : []),
      el('span', {}, el('b', {}, String(t.numPeers)), t.numPeers === 1 ? ' peer' : ' peers'),
      el('span', {}, 'spent ', el('b', { class: 'spent-amount' }, btt(t.spent)),
        ...(t.speed && bttUnits(t.budget) > 0n ? [' of ', el('b', { class: 'budget-amount' }, btt(t.budget))] : []), ' BTT'),
      el('span', {}, 'earned ', el('b', { class: 'earned-amount' }, btt(t.earned)), ' BTT'))
    r.cost.textContent = !t.speed || !t.length ? '' : t.done && !/[1-9]/.test(t.spent) ? 'Speed: peers who pay for pieces pay you while you seed; it shows as earned.' : 'Speed: ' + costLine(t.length, t.maxPrice, t.budget, app.balance)
    r.cost.hidden = r.cost.textContent === ''
    const off = speedOff()
    if (!r.speedBusy) {
      r.speedToggle.checked = t.speed
      r.speedToggle.disabled = off !== ''
    }
    r.speedWhy.textContent = off ? '(' + off + ')' : ''
    renderFiles(r, t)
    if (r.magnet.value !== t.magnetURI) { r.magnet.value = t.magnetURI; r.link.value = appLink(t.magnetURI) }
    renderPeerList(r.peerList, t)
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
      try { await app.client.add(s.magnet); renderTorrents() } catch (e) { sayError(e) }
    }))
    const m = /urn:btih:([0-9a-f]{40})/i.exec(String(s.magnet))
    if (m) app.featured.push({ infoHash: m[1].toLowerCase(), get })
    return el('li', {}, el('span', {}, s.name + ' ', el('span', { class: 'muted' }, '(' + bytes(s.length) + ')')), get)
  }))
  $('featured').hidden = false
  markFeatured()
}

// markFeatured shows "In your list" instead of Download for a relay's torrent the user already has.
function markFeatured () {
  for (const f of app.featured) {
    const has = app.rows.has(f.infoHash)
    if (f.get.dataset.has === String(has)) continue
    f.get.dataset.has = String(has)
    f.get.disabled = has
    f.get.textContent = has ? 'In your list' : 'Download'
  }
}

