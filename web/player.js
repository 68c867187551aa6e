// player.js: the script of embed.html, the player a <bt-speed> element (embed.js) shows in an iframe; see the
// comment in embed.html and docs/embedding.md. A file of its own, not inline, so the page's
// Content-Security-Policy allows only scripts from the relay.
'use strict'
;(function () {
  const params = new URLSearchParams(location.search)
  const src = (params.get('src') || '').trim()
  const fileParam = params.get('file')
  const speedOff = (params.get('speed') || '').toLowerCase() === 'off'
  const autoplay = params.has('autoplay')
  const muted = params.has('muted')
  const loop = params.has('loop')
  const app = new URL('./', location.href).href
  const embedded = window.parent !== window
  // The element's load number (embed.js puts it in the hash), echoed in every message.
  const n = Number(location.hash.slice(1)) || 0

  const VIDEO = /\.(mp4|m4v|webm|mkv|ogv|ogg)$/i
  const AUDIO = /\.(mp3|m4a|oga|opus|wav|flac)$/i

  const $ = id => document.getElementById(id)
  const stage = $('stage')
  let torrent = null
  let media = null
  let failed = false

  function el (tag, attrs, ...kids) {
    const e = document.createElement(tag)
    for (const k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k]
      else e.setAttribute(k, attrs[k])
    }
    e.append(...kids)
    return e
  }

  // post tells the page around the player what happened; embed.js checks where it came from and re-dispatches
  // it as a btspeed-<type> event on the element. Nothing here is private: it is what the page shows.
  function post (type, detail) {
    if (embedded) window.parent.postMessage({ btspeed: 'player', type, n, detail: detail || {} }, '*')
  }

  function size (s) {
    if (!(s >= 0)) return ''
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] // binary, as the app shows them
    let i = 0
    while (s >= 1024 && i < units.length - 1) { s /= 1024; i++ }
    return (i === 0 ? s : s.toFixed(s < 10 ? 1 : 0)) + ' ' + units[i]
  }

  function clip (s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s }

  function status (text) {
    const box = $('status')
    if (!box) return
    if (text) {
      $('status-text').textContent = text
      box.hidden = false
    } else {
      box.hidden = true
    }
  }

  // mark records a step of the player's start (performance mark btspeed:<name>); startup posts the steps
  // once, when the first frame (or an audio file's first data) shows: ms since this frame started.
  function mark (name) {
    try { performance.mark('btspeed:' + name) } catch (e) {}
  }
  let startupSent = false
  function startup () {
    if (startupSent) return
    startupSent = true
    mark('first-frame')
    const at = name => {
      const e = performance.getEntriesByName('btspeed:' + name)
      return e.length ? Math.round(e[e.length - 1].startTime) : null
    }
    const d = { origin: performance.timeOrigin }
    for (const [k, name] of [['compiled', 'wasm-compiled'], ['wasm', 'wasm-ready'], ['worker', 'worker-ready'], ['started', 'started'], ['added', 'added'],
      ['metadata', 'metadata'], ['stream', 'stream'], ['firstFrame', 'first-frame']]) d[k] = at(name)
    post('startup', d)
  }

  // tell reports the player's size to embed.js: a video's aspect ratio plus this bar, or a card's height.
  function tell (s) { post('size', s) }

  // fail replaces the player with the error: never a blank box.
  function fail (message, code, opts) {
    if (failed) return
    failed = true
    const o = opts || {}
    const card = el('div', { class: 'card error' },
      el('div', { class: 'icon', 'aria-hidden': 'true', text: '⚠' }),
      el('h1', { text: o.title || 'This torrent cannot be played here' }),
      el('p', { class: 'detail', text: message }))
    const actions = el('div', { class: 'actions' })
    if (o.file) actions.append(saveButton(o.file))
    if (/^magnet:/i.test(src) && code !== 'bad-src') actions.append(el('a', { href: app + '#' + encodeURIComponent(src), target: '_blank', rel: 'noopener', text: 'Open in btspeed ↗' }))
    if (actions.childNodes.length) card.append(actions)
    if (media) media.pause()
    stage.textContent = ''
    stage.className = 'card-stage'
    stage.append(card)
    if (!torrent) $('bar').hidden = true
    tell({ height: torrent ? 260 : 200 })
    post('error', { message, code })
  }

  // saveButton downloads a file of the torrent: its bytes (downloaded first if need be) as a Blob behind an
  // <a download>. A download from a frame needs the user's click, so when the bytes take longer than the
  // click's activation the button becomes a "Save" link to click again.
  function saveButton (f) {
    const label = 'Download ' + f.name + ' (' + size(f.length) + ')'
    const b = el('button', { type: 'button', 'aria-label': label, text: 'Download' })
    let url = null
    const save = () => {
      const a = el('a', { href: url, download: f.name })
      document.body.append(a)
      a.click()
      a.remove()
    }
    b.addEventListener('click', async () => {
      if (url) return save()
      b.disabled = true
      b.textContent = 'Preparing…'
      try {
        url = URL.createObjectURL(await f.blob())
      } catch (e) {
        b.disabled = false
        b.textContent = 'Download'
        b.title = 'The download failed: ' + (e.message || e)
        return
      }
      b.disabled = false
      b.textContent = 'Save ' + clip(f.name, 40)
      b.setAttribute('aria-label', 'Save ' + f.name + ' (' + size(f.length) + ')')
      if (!navigator.userActivation || navigator.userActivation.isActive) save()
    })
    return b
  }

  function friendly (e) {
    // The peer's errors name the Go package they come from; readers need only the rest.
    return String((e && e.message) || e).replace(/\b(btspeed|webpeer|engine): /g, '')
  }

  // The bar: progress, peers, speed, and what BitTorrent Speed does here.
  let last = null
  function refresh () {
    if (!torrent) return
    const p = torrent.progress || 0
    const pct = Math.floor(p * 100)
    const bar = document.querySelector('.progress')
    bar.firstElementChild.style.width = (p * 100).toFixed(1) + '%'
    bar.setAttribute('aria-valuenow', String(pct))
    bar.classList.toggle('done', torrent.done)
    const peers = torrent.numPeers
    const parts = []
    if (!torrent.length) parts.push('finding peers…')
    else if (torrent.done) parts.push(size(torrent.length) + ' downloaded')
    else parts.push(pct + '% of ' + size(torrent.length))
    parts.push(peers + (peers === 1 ? ' peer' : ' peers'))
    if (!torrent.done && torrent.downloadSpeed > 0) parts.push('↓ ' + size(torrent.downloadSpeed) + '/s')
    if (torrent.uploadSpeed > 0) parts.push('↑ ' + size(torrent.uploadSpeed) + '/s')
    $('stats').textContent = parts.join(' · ')
    const now = { progress: p, downloaded: torrent.downloaded, length: torrent.length, peers, downloadSpeed: Math.round(torrent.downloadSpeed || 0), uploadSpeed: Math.round(torrent.uploadSpeed || 0) }
    if (!last || last.progress !== now.progress || last.peers !== now.peers || last.downloaded !== now.downloaded) post('progress', now)
    if (torrent.done && !(last && last.done)) post('done', { length: torrent.length })
    now.done = torrent.done
    last = now
  }

  // streaming: the media plays from sw.js while it downloads (else from a Blob once downloaded).
  let streaming = false
  function playback (type) {
    post(type, {
      streaming,
      currentTime: media.currentTime,
      duration: isFinite(media.duration) ? media.duration : null,
      paused: media.paused,
      ended: media.ended,
      readyState: media.readyState,
      muted: media.muted,
    })
  }

  // play shows a video or audio file and streams it while it downloads.
  async function play (files, i, kind) {
    const f = files[i]
    if (kind === 'video') {
      media = el('video', { controls: '', playsinline: '', preload: 'auto', 'aria-label': f.name })
    } else {
      media = el('audio', { controls: '', preload: 'auto', 'aria-label': f.name })
      stage.className = 'card-stage'
    }
    media.muted = muted
    media.loop = loop
    media.autoplay = autoplay
    let lastTick = 0
    media.addEventListener('playing', () => { status(''); playback('playing') })
    media.addEventListener('pause', () => playback('pause'))
    media.addEventListener('ended', () => playback('ended'))
    media.addEventListener('waiting', () => status('Buffering…'))
    media.addEventListener('loadeddata', () => { if (media.paused) status('') })
    if (media.requestVideoFrameCallback) media.requestVideoFrameCallback(startup)
    else media.addEventListener('loadeddata', startup, { once: true })
    media.addEventListener('timeupdate', () => {
      const t = Date.now()
      if (t - lastTick < 250) return
      lastTick = t
      playback('timeupdate')
    })
    media.addEventListener('loadedmetadata', () => {
      if (kind === 'video' && media.videoWidth > 0 && media.videoHeight > 0) {
        tell({ aspect: media.videoWidth / media.videoHeight, extra: $('bar').offsetHeight })
      }
    })
    media.addEventListener('error', () => {
      const err = media.error
      const why = err && err.message ? ' (' + err.message + ')' : ''
      fail('This browser cannot play “' + f.name + '”' + why + '. You can download it instead.', 'media', { file: f, title: 'Cannot play this file' })
    })
    if (kind === 'video') {
      stage.prepend(media)
      tell({ aspect: 16 / 9, extra: $('bar').offsetHeight })
    } else {
      stage.prepend(el('div', { class: 'card' },
        el('div', { class: 'icon', 'aria-hidden': 'true', text: '♪' }),
        el('h1', { text: f.name }),
        el('p', { text: size(f.length) }),
        media))
      tell({ height: 200 })
    }
    status(torrent.done ? 'Loading…' : 'Buffering…')
    try {
      await torrent.streamTo(media, { file: i })
      mark('stream')
      streaming = true
    } catch (e) {
      // No service worker here (a browser that has none, or blocks it in frames): play once downloaded.
      status('Downloading… the player starts when the file is complete (streaming is not available in this browser)')
      await new Promise(resolve => torrent.done ? resolve() : torrent.on('done', resolve))
      media.src = URL.createObjectURL(await f.blob())
    }
    if (autoplay) {
      try { await media.play() } catch (e) { status('') }
    }
  }

  // offer shows the torrent's files with a download button each.
  function offer (files, only) {
    const list = only === undefined ? files : [files[only]]
    const card = el('div', { class: 'card' },
      el('div', { class: 'icon', 'aria-hidden': 'true', text: '⬇' }),
      el('h1', { text: list.length === 1 ? list[0].name : torrent.name }),
      el('p', { text: list.length === 1 ? size(list[0].length) : list.length + ' files, ' + size(torrent.length) }))
    if (list.length === 1) {
      card.append(el('div', { class: 'actions' }, saveButton(list[0])))
    } else {
      const ul = el('ul', { class: 'files', 'aria-label': 'Files' })
      for (const f of list.slice(0, 200)) {
        ul.append(el('li', {}, el('span', { class: 'fname', title: f.path, text: f.path }), el('span', { class: 'fsize', text: size(f.length) }), saveButton(f)))
      }
      card.append(ul)
    }
    stage.className = 'card-stage'
    stage.prepend(card)
    status('')
    tell({ height: list.length === 1 ? 240 : 320 })
  }

  function pick (files) {
    if (fileParam === null || fileParam === '') return -1
    if (/^\d+$/.test(fileParam)) return Number(fileParam) < files.length ? Number(fileParam) : -2
    const i = files.findIndex(f => f.path === fileParam || f.name === fileParam)
    return i >= 0 ? i : -2
  }

  // Commands from the page around the player (embed.js: element.play(), pause(), seek()).
  window.addEventListener('message', e => {
    if (e.source !== window.parent || !e.data || e.data.btspeed !== 'command' || !media) return
    const m = e.data
    if (m.op === 'play') media.play().catch(() => {})
    else if (m.op === 'pause') media.pause()
    else if (m.op === 'seek' && isFinite(m.time)) media.currentTime = m.time
  })

  async function main () {
    post('hello')
    tell({ aspect: 16 / 9, extra: 0 })
    if (!src) {
      return fail('No torrent given: the bt-speed element needs a src attribute, a magnet link or the URL of a .torrent file.', 'bad-src', { title: 'Nothing to play' })
    }
    if (!/^magnet:\?/i.test(src) && !/^https?:\/\//i.test(src)) {
      return fail('“' + clip(src, 120) + '” is not a magnet link (magnet:?xt=urn:btih:…) or the URL of a .torrent file.', 'bad-src', { title: 'Not a torrent link' })
    }
    if (typeof WebAssembly === 'undefined' || !window.BTSpeed) {
      return fail('This browser cannot run the BitTorrent Speed player (it needs WebAssembly).', 'start')
    }
    let client
    try {
      // keep: false, the app's torrents stay the app's; stream: the service worker gets ready meanwhile.
      client = await BTSpeed.start({ relay: location.origin, keep: false, stream: true, embed: true }) // the smaller build
    } catch (e) {
      return fail('The BitTorrent peer could not start: ' + friendly(e), 'start')
    }
    window.client = client
    // Speed stays off here unless this browser has a wallet on the relay's site that is unlocked (there is
    // no wallet UI in the player); the page can also turn it off with speed="off".
    const wallet = client.wallet.state
    const speedOn = !speedOff && wallet === 'unlocked'
    const line = $('speed')
    if (speedOn) {
      line.textContent = 'BitTorrent Speed: on (paying for a faster download)'
      line.className = 'grow speed-on'
    } else if (speedOff) {
      line.textContent = 'BitTorrent Speed: off (turned off by this site)'
    } else if (wallet === 'locked') {
      line.textContent = 'BitTorrent Speed: off (wallet locked; open btspeed to unlock it)'
    } else {
      line.textContent = 'BitTorrent Speed: off (no wallet on this site)'
    }
    status('Opening the torrent…')
    try {
      torrent = await client.add(src, { speed: speedOn, stream: true }) // stream: its start comes first
    } catch (e) {
      const why = friendly(e)
      if (/^magnet:/i.test(src)) return fail('This magnet link cannot be opened: ' + why, 'bad-src', { title: 'Bad magnet link' })
      if (/Failed to fetch|fetch\(\) failed/i.test(why)) {
        return fail('The .torrent file at ' + clip(src, 120) + ' could not be fetched: the server is unreachable, or it does not allow other sites to read it (it must send Access-Control-Allow-Origin).', 'bad-src', { title: 'Cannot load the .torrent' })
      }
      return fail('The .torrent file could not be loaded: ' + why, 'bad-src', { title: 'Cannot load the .torrent' })
    }
    mark('added')
    window.torrent = torrent
    $('bar').hidden = false
    $('open').href = app + '#' + encodeURIComponent(torrent.magnetURI || src)
    $('name').textContent = torrent.name || 'Looking for the torrent’s peers…'
    post('ready', { infoHash: torrent.infoHash, speed: speedOn, relay: location.origin })
    torrent.on('error', e => fail('The download failed: ' + friendly(e), 'torrent'))
    setInterval(refresh, 500)
    refresh()
    status('Finding peers…')
    if (!torrent.files.length) await new Promise(resolve => torrent.on('metadata', resolve))
    if (failed) return
    mark('metadata')
    const files = torrent.files
    $('name').textContent = torrent.name
    $('name').title = torrent.name
    let i = pick(files)
    if (i === -2) {
      const names = files.slice(0, 5).map(f => f.path).join(', ') + (files.length > 5 ? ', …' : '')
      return fail('This torrent has no file “' + clip(fileParam, 80) + '”. Its files: ' + names + '.', 'no-file', { title: 'No such file' })
    }
    const chosen = i >= 0
    if (!chosen) i = files.findIndex(f => VIDEO.test(f.path) || AUDIO.test(f.path))
    const kind = i < 0 ? 'download' : VIDEO.test(files[i].path) ? 'video' : AUDIO.test(files[i].path) ? 'audio' : 'download'
    post('metadata', {
      name: torrent.name,
      infoHash: torrent.infoHash,
      magnetURI: torrent.magnetURI,
      length: torrent.length,
      files: files.map(f => ({ path: f.path, name: f.name, length: f.length })),
      file: i,
      kind,
    })
    if (kind === 'download') offer(files, chosen ? i : (files.length === 1 ? 0 : undefined))
    else await play(files, i, kind)
  }

  main().catch(e => fail('Something went wrong: ' + friendly(e), 'internal'))
})()
