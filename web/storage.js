// storage.js: what the torrents take of this browser's storage, against the limit set in Settings, and the
// Pause/Resume button of a torrent row. Torrents, their data (IndexedDB) and their settings are kept across
// reloads and browser restarts (docs/js-api.md, "What is kept").
'use strict'

// renderStorage shows "Storage: 12.3 MiB of 2.00 GiB used" under the torrents list.
async function renderStorage () {
  let s
  try { s = await app.client.storage() } catch (e) { return }
  const line = $('storage-use')
  line.replaceChildren('Storage: ', el('b', { id: 'storage-used' }, bytes(s.used)), ' of ', el('b', {}, bytes(s.limit)),
    ' used by ' + s.torrents + (s.torrents === 1 ? ' torrent' : ' torrents') +
    ', kept in this browser across restarts until you remove them. The limit is in Settings.')
  line.hidden = false
}

// pauseButton toggles t between paused and running; update(t) relabels it as the torrent's state changes.
function pauseButton (t) {
  const b = el('button', { type: 'button', class: 'ghost small pause-toggle' }, 'Pause')
  const stopped = t => t.paused && !t.checking // a torrent checking its kept data runs next; Pause keeps it paused
  b.addEventListener('click', () => busy(b, stopped(t) ? 'Resuming…' : 'Pausing…', async () => {
    const was = stopped(t)
    try {
      if (was) await t.resume(); else await t.pause()
      say((was ? 'Resumed ' : 'Paused ') + (t.name || 'the torrent') + (was ? '.' : ': no peers, nothing sent or paid until you resume it.'))
    } catch (e) { say(errText(e), true) }
    renderTorrents()
  }))
  b.update = t => {
    if (b.disabled) return
    b.textContent = stopped(t) ? 'Resume' : 'Pause'
    b.setAttribute('aria-label', (stopped(t) ? 'Resume ' : 'Pause ') + (t.name || 'torrent'))
  }
  return b
}
