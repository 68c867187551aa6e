// onboarding.js: the welcome, create, backup, restore and unlock screens, and links asking to download
// (/#magnet:…).
'use strict'

// ---- a link asking to download: /#magnet:… (an embed's "Open in btspeed", a shared link) ----

// magnetInfo reads a magnet link's name and info hash for the question (the peer parses it for real).
function magnetInfo (m) {
  const q = new URLSearchParams(m.slice(m.indexOf('?') + 1))
  const xl = q.get('xl') || ''
  return { name: q.get('dn') || '', hash: (q.get('xt') || '').replace(/^urn:btih:/i, ''), length: /^[0-9]{1,16}$/.test(xl) ? Number(xl) : null }
}

// takeLink keeps a magnet link the page was opened with; nothing downloads until the user says so, once past
// the welcome or unlock screen (so a wallet made or unlocked first pays for it with Speed).
function takeLink () {
  // The app's share links carry the magnet as it is (#magnet:?xt=…&dn=…); an embed's are percent-encoded.
  let link = location.hash.slice(1)
  if (!/^magnet:\?/i.test(link)) try { link = decodeURIComponent(link) } catch (e) { link = '' }
  if (!/^magnet:\?/i.test(link)) return
  history.replaceState(null, '', location.pathname + location.search)
  app.pending = link
  const { name, hash } = magnetInfo(link)
  for (const p of document.querySelectorAll('[data-pending]')) {
    p.textContent = 'A link asked btspeed to download “' + (name || hash) + '”. You will be asked before it starts.'
    p.hidden = false
  }
  if (document.body.dataset.screen === 'app') askPending()
}

function askPending () {
  if (!app.pending) return
  for (const p of document.querySelectorAll('[data-pending]')) p.hidden = true
  if (app.tab !== 'torrents') selectTab('torrents')
  const { name, hash, length } = magnetInfo(app.pending)
  $('confirm-add-name').textContent = name || 'a torrent without a name'
  $('confirm-add-hash').textContent = hash
  $('confirm-add-size').textContent = length === null ? '' : ' (' + bytes(length) + ')'
  $('confirm-add-speed').textContent = speedLine()
  $('confirm-add').hidden = false
  $('confirm-add').focus()
  if (speedOff() === '') {
    const link = app.pending
    app.client.wallet.balance().then(b => {
      if (app.pending !== link) return
      const bal = bttUnits(b.ledger)
      const s = app.client.settings.get()
      // With nothing in the wallet yet, 1% of 0 would say nothing: the budget is named instead.
      let line = 'Speed is on: ' + costLine(length, s.maxPrice, s.torrentBudget, bal === 0n ? null : bal) + ' Change the limits in Settings.'
      if (bal === 0n) line += ' Your balance is 0 BTT: nothing is paid until you claim from the faucet or deposit on the Wallet tab.'
      $('confirm-add-speed').textContent = line
    }, () => {})
  }
}

function wirePending () {
  $('confirm-add-yes').addEventListener('click', () => busy($('confirm-add-yes'), 'Adding…', async () => {
    try {
      await app.client.add(app.pending)
      say('Downloading ' + (magnetInfo(app.pending).name || 'the torrent') + '.')
      app.pending = null
      $('confirm-add').hidden = true
      renderTorrents()
    } catch (e) { sayError(e) }
  }))
  $('confirm-add-no').addEventListener('click', () => { app.pending = null; $('confirm-add').hidden = true })
  window.addEventListener('hashchange', takeLink)
}

// ---- onboarding ----

// A new password has at least MIN_PASSWORD characters (code points, as the wasm counts them): the keystore is only as
// strong as its password if someone copies it.
const MIN_PASSWORD = 10
const tooShort = pw => [...pw].length < MIN_PASSWORD
const shortPassword = 'The password needs at least ' + MIN_PASSWORD + ' characters: the wallet file is only as safe as its password.'

function wireOnboarding () {
  for (const b of document.querySelectorAll('[data-back]')) b.addEventListener('click', back)
  $('go-create').addEventListener('click', () => show('create'))
  $('go-restore').addEventListener('click', () => show('restore'))
  $('unlock-restore').addEventListener('click', () => show('restore'))
  for (const id of ['go-nowallet', 'unlock-skip']) {
    $(id).addEventListener('click', e => { e.preventDefault(); enterApp() })
  }

  $('create-form').addEventListener('submit', async e => {
    e.preventDefault()
    const pw = $('create-password').value
    const err = $('create-error')
    err.textContent = ''
    if (tooShort(pw)) { err.textContent = shortPassword; return }
    if (pw !== $('create-confirm').value) { err.textContent = 'The two passwords differ.'; return }
    try {
      const w = await busy($('create-submit'), 'Creating…', () => app.client.wallet.create(pw))
      $('create-password').value = $('create-confirm').value = ''
      $('backup-phrase').replaceChildren(...w.phrase.split(' ').map(word => el('li', {}, word)))
      $('backup-done').checked = false
      $('backup-continue').disabled = true
      show('backup')
    } catch (ex) {
      showError(err, ex)
    }
  })
  $('backup-done').addEventListener('change', e => { $('backup-continue').disabled = !e.target.checked })
  $('backup-continue').addEventListener('click', () => {
    $('backup-phrase').replaceChildren() // the phrase leaves the page
    enterApp()
    say('Wallet ready. Claim some test BTT from the faucet on the Wallet tab.')
  })

  $('restore-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('restore-error')
    err.textContent = ''
    const phrase = $('restore-phrase').value.trim()
    const pw = $('restore-password').value
    if (phrase.split(/\s+/).length !== 12) { err.textContent = 'The recovery phrase has 12 words.'; return }
    if (tooShort(pw)) { err.textContent = shortPassword; return }
    try {
      await busy($('restore-submit'), 'Restoring…', () => app.client.wallet.restore(phrase, pw))
      $('restore-phrase').value = $('restore-password').value = ''
      enterApp()
      say('Wallet restored.')
    } catch (ex) {
      showError(err, ex)
    }
  })

  $('unlock-form').addEventListener('submit', async e => {
    e.preventDefault()
    const err = $('unlock-error')
    err.textContent = ''
    try {
      await busy($('unlock-submit'), 'Unlocking…', () => app.client.wallet.unlock($('unlock-password').value))
      $('unlock-password').value = ''
      enterApp()
    } catch (ex) {
      showError(err, ex)
      $('unlock-password').select()
    }
  })

  $('lock').addEventListener('click', async () => {
    await busy($('lock'), 'Locking…', () => app.client.wallet.lock())
    $('unlock-address').textContent = app.client.wallet.address
    show('unlock')
    refreshAccount()
    renderTorrents()
  })
}

