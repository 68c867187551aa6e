// app.js: starts the btspeed web app, plain JavaScript over the API of btspeed.js (docs/js-api.md). The screens
// live beside it, loaded first by index.html: ui.js (helpers, screens), onboarding.js, wallet.js (wallet, faucet,
// TRON), torrents.js (torrents, files, peers, the player, share links), drop.js (seeding what is dropped or
// picked) and speed.js (what Speed spent and earned, settings, and the disclosure of what Speed does, M29).
'use strict'

async function main () {
  const tpl = $('disclosure')
  for (const d of document.querySelectorAll('[data-disclosure]')) d.append(tpl.content.cloneNode(true))
  $('failed-retry').addEventListener('click', () => location.reload())
  show('loading')
  try {
    // ?stallAfter=SECONDS: how soon a torrent with no data says it stalled (default 30; the browser tests shorten it).
    const stallAfter = Number(new URLSearchParams(location.search).get('stallAfter')) || undefined
    app.client = await BTSpeed.start({ relay: await BTSpeed.defaultRelay(), stallAfter })
  } catch (e) {
    showError($('failed-message'), e)
    show('failed')
    return
  }
  window.btspeedApp = app // for the browser tests and the curious
  clearStale()
  wireOnboarding(); wireWallet(); wireTron(); wireTabs(); wireTorrents(); wireDrop(); wireSettings(); wirePending()
  loadFeatured()
  loadLedgerKind()
  app.client.on('error', e => sayError(e, 'The peer stopped'))
  app.timer = setInterval(() => {
    if (document.body.dataset.screen !== 'app') return
    renderTorrents()
    markFeatured()
    followSpending()
    if (app.tab === 'torrents') renderStorage()
    if (app.tab === 'speed') renderSpeed()
  }, 1000)
  app.walletTimer = setInterval(() => { if (document.body.dataset.screen === 'app') refreshAccount() }, 10000)
  // The TRON card follows deposits and withdrawals while the wallet tab is in view.
  app.tronTimer = setInterval(() => { if (document.body.dataset.screen === 'app' && app.tab === 'wallet' && !document.hidden) refreshTron() }, 3000)
  takeLink()
  const st = app.client.wallet.state
  if (st === 'none') show('welcome')
  else if (st === 'locked') { $('unlock-address').textContent = app.client.wallet.address; show('unlock') } else enterApp()
  document.body.dataset.ready = 'true'
}

main()

