// publisher.js: the example publisher page's own script (publisher.html): it sets the player's torrent from
// ?src= and logs the element's events. External, not inline, so the page works under the relay's
// Content-Security-Policy too.
'use strict'
const player = document.getElementById('player')
// ?src=...&file=... set the player's torrent; a publisher would write src="magnet:..." in the tag itself.
// (Without a src the player says so.) Setting the attributes reloads the player.
const q = new URLSearchParams(location.search)
if (q.get('file')) player.setAttribute('file', q.get('file'))
if (q.get('src')) player.setAttribute('src', q.get('src'))
document.getElementById('src').value = player.getAttribute('src') || ''
document.getElementById('file').value = player.getAttribute('file') || ''

document.getElementById('try').addEventListener('submit', e => {
  e.preventDefault()
  player.setAttribute('src', document.getElementById('src').value.trim())
  const file = document.getElementById('file').value.trim()
  if (file) player.setAttribute('file', file)
  else player.removeAttribute('file')
})

// Every event the element dispatches, kept in window.btspeedEvents and shown (progress and time updates
// only now and then).
window.btspeedEvents = []
const log = document.getElementById('log')
let lastShown = {}
for (const type of ['ready', 'metadata', 'progress', 'playing', 'timeupdate', 'pause', 'ended', 'done', 'error']) {
  player.addEventListener('btspeed-' + type, e => {
    window.btspeedEvents.push({ type: e.type, detail: e.detail, time: Date.now() })
    const now = Date.now()
    if ((type === 'progress' || type === 'timeupdate') && now - (lastShown[type] || 0) < 2000) return
    lastShown[type] = now
    const d = e.detail || {}
    let text = e.type
    if (type === 'metadata') text += ': ' + d.name + ' (' + d.kind + ', ' + d.files.length + ' file' + (d.files.length === 1 ? '' : 's') + ')'
    else if (type === 'progress') text += ': ' + Math.round(d.progress * 100) + '%, ' + d.peers + ' peers'
    else if (type === 'playing' || type === 'timeupdate' || type === 'pause') text += ': ' + d.currentTime.toFixed(1) + ' s'
    else if (type === 'error') text += ': ' + d.message
    log.append(Object.assign(document.createElement('li'), { textContent: text }))
    log.scrollTop = log.scrollHeight
  })
}
