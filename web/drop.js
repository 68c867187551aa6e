// drop.js: seeding what the user drops on the page (files or whole folders, with their paths) or picks, and the
// name of a torrent of several files: their folder's, or one the user gives.
'use strict'

const maxSeedFiles = 10000 // more than this in one drop is refused, not read
const drop = { pending: null, depth: 0 }

// sharedFolder is the folder every file's path starts with ("album" for album/a.mp3 and album/b/c.mp3), or ''.
function sharedFolder (files) {
  const paths = files.map(f => (f.webkitRelativePath || f.fullPath || f.name || '').replace(/^\/+/, ''))
  const dir = paths[0].includes('/') ? paths[0].slice(0, paths[0].indexOf('/')) : ''
  return dir && paths.every(p => p.startsWith(dir + '/')) ? dir : ''
}

// seedPicked seeds what was picked or dropped: one file, or a folder, at once (the torrent takes the folder's name);
// several loose files wait for a name first.
function seedPicked (files) {
  $('add-error').textContent = ''
  if (!files.length) { $('add-error').textContent = 'Nothing to seed: the folder is empty.'; return }
  if (files.length > maxSeedFiles) { $('add-error').textContent = 'That is ' + files.length + ' files; btspeed seeds at most ' + maxSeedFiles + ' at once. Seed a smaller folder.'; return }
  if (files.length > 1 && !sharedFolder(files)) { askSeedName(files); return }
  seedNow(files, '')
}

function askSeedName (files) {
  drop.pending = files
  let total = 0
  for (const f of files) total += f.size
  $('seed-name-what').textContent = files.length + ' files (' + bytes(total) + ')'
  $('seed-name').value = ''
  $('seed-name-form').hidden = false
  $('seed-name').focus()
}

async function seedNow (files, name) {
  say('Hashing ' + files.length + ' file' + (files.length > 1 ? 's' : '') + '…')
  try {
    const t = await app.client.seed(files, name ? { name } : undefined)
    say('Seeding ' + (t.name || 'your files') + '. Share its link, shown with it below, to let others download it.')
    renderTorrents()
    const r = app.rows.get(t.infoHash)
    if (r) r.row.scrollIntoView({ block: 'nearest' })
  } catch (ex) {
    say('')
    showError($('add-error'), ex); $('add-error').prepend('Could not seed: ')
  }
}

// entryFiles reads a dropped entry: a file, or a folder's files at any depth, each with its fullPath ("/album/a.mp3").
async function entryFiles (entry, out) {
  if (out.length > maxSeedFiles) return
  if (entry.isFile) {
    const f = await new Promise((resolve, reject) => entry.file(resolve, reject))
    f.fullPath = entry.fullPath
    out.push(f)
    return
  }
  const reader = entry.createReader()
  for (;;) { // readEntries answers in batches until an empty one
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))
    if (!batch.length) return
    for (const e of batch) await entryFiles(e, out)
  }
}

// dropped seeds what a drop carries. The items are read before the event ends (they are gone after it).
async function dropped (dt) {
  const entries = []
  const files = []
  for (const item of Array.from(dt.items || [])) {
    if (item.kind !== 'file') continue
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null
    if (entry) entries.push(entry)
    else if (item.getAsFile()) files.push(item.getAsFile())
  }
  if (!entries.length && !files.length) files.push(...Array.from(dt.files || []))
  try {
    for (const e of entries) await entryFiles(e, files)
  } catch (ex) {
    $('add-error').textContent = 'Could not read what was dropped (' + errText(ex) + '). Try the Seed files button instead.'
    return
  }
  seedPicked(files)
}

function wireDrop () {
  const zone = $('dropzone')
  // Only files, and only in the app (not over the wallet's screens).
  const takes = e => document.body.dataset.screen === 'app' && e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files')
  document.addEventListener('dragenter', e => {
    if (!takes(e)) return
    e.preventDefault()
    drop.depth++
    zone.hidden = false
  })
  document.addEventListener('dragover', e => {
    if (!takes(e)) return
    e.preventDefault()
    e.dataTransfer.dropEffect = 'copy'
    zone.hidden = false
  })
  document.addEventListener('dragleave', e => {
    if (!takes(e)) return
    drop.depth = Math.max(0, drop.depth - 1)
    if (drop.depth === 0) zone.hidden = true
  })
  document.addEventListener('drop', e => {
    if (!takes(e)) return
    e.preventDefault()
    drop.depth = 0
    zone.hidden = true
    if (app.tab !== 'torrents') selectTab('torrents')
    dropped(e.dataTransfer)
  })
  for (const id of ['seed-files', 'seed-folder']) {
    $(id).addEventListener('change', e => {
      const files = Array.from(e.target.files)
      e.target.value = ''
      if (files.length) seedPicked(files)
    })
  }
  $('seed-name-form').addEventListener('submit', e => {
    e.preventDefault()
    const name = $('seed-name').value.trim()
    if (!name) { $('seed-name-error').textContent = 'Give the torrent a name: it is the folder the files download into.'; $('seed-name').focus(); return }
    if (/[/\\]/.test(name)) { $('seed-name-error').textContent = 'A name cannot hold / or \\: it is one folder.'; $('seed-name').focus(); return }
    const files = drop.pending
    drop.pending = null
    $('seed-name-error').textContent = ''
    $('seed-name-form').hidden = true
    if (files) seedNow(files, name)
  })
  $('seed-name-cancel').addEventListener('click', () => {
    drop.pending = null
    $('seed-name-error').textContent = ''
    $('seed-name-form').hidden = true
  })
}
