// driver.mjs: a line-oriented JSON driver of Debian's Chromium through playwright-core, for the Go browser
// tests (internal/browsertest). Each line on stdin is {id, op, ...}; each answer on stdout is
// {id, ok, value} or {id, ok: false, error}. One browser; every page gets its own context (its own
// storage), as two users would. Console errors and page errors are kept per page ("logs"), with what a
// Content-Security-Policy blocked in any of its frames.
import { chromium } from 'playwright-core'
import readline from 'node:readline'
import { writeFile } from 'node:fs/promises'

const executablePath = process.env.BTSPEED_CHROMIUM || '/usr/bin/chromium'
// Origins in a test's network namespace are plain http on a private address; BTSPEED_SECURE_ORIGINS (comma
// separated) lets them use what needs a secure context (crypto.subtle, service workers, OPFS).
const secure = (process.env.BTSPEED_SECURE_ORIGINS || '').split(',').filter(Boolean)
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns', '--autoplay-policy=no-user-gesture-required',
  ...(secure.length ? ['--unsafely-treat-insecure-origin-as-secure=' + secure.join(',')] : []),
]
const browser = await chromium.launch({ executablePath, args })
const pages = new Map()

// reportCSP makes every frame of context report what its Content-Security-Policy blocks as a console error
// starting "csp violation:" (Page.CSPViolations); init scripts run before the page's own, and no policy applies to
// them.
async function reportCSP (context) {
  await context.addInitScript(() => {
    addEventListener('securitypolicyviolation', e => {
      console.error('csp violation: ' + e.effectiveDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' in ' + e.documentURI +
        (e.sourceFile ? ' from ' + e.sourceFile + ':' + e.lineNumber : ''))
    }, true)
  })
}

// track keeps page p of context under id, with its console.
function track (id, context, p) {
  const entry = { context, page: p, logs: [], popups: [] }
  const keep = line => { if (entry.logs.length < 2000) entry.logs.push(line) }
  p.on('popup', w => { if (entry.popups.length < 20) entry.popups.push(w) })
  p.on('console', m => keep(m.type() + ': ' + m.text()))
  p.on('pageerror', e => keep('pageerror: ' + e.message))
  pages.set(id, entry)
}

function page (id) {
  const p = pages.get(id)
  if (!p) throw new Error('no page ' + id)
  return p
}

const ops = {
  async newPage ({ page: id, url, width, height }) {
    const context = await browser.newContext({ viewport: { width: width || 1280, height: height || 800 }, acceptDownloads: true })
    await reportCSP(context)
    track(id, context, await context.newPage())
    if (url) await page(id).page.goto(url)
    return null
  },
  // newProfilePage starts a Chromium of its own on the profile in userDataDir (its storage kept on disk) and opens
  // url in it; closePage stops that Chromium, and a newProfilePage on the same directory starts it again, as a
  // user restarting the browser.
  // popupBlocking keeps Chromium's popup blocker on (Playwright turns it off).
  async newProfilePage ({ page: id, url, userDataDir, width, height, popupBlocking }) {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath, args, viewport: { width: width || 1280, height: height || 800 }, acceptDownloads: true,
      ...(popupBlocking ? { ignoreDefaultArgs: ['--disable-popup-blocking'] } : {}),
    })
    await reportCSP(context)
    track(id, context, context.pages()[0] || await context.newPage())
    if (url) await page(id).page.goto(url)
    return null
  },
  // newTab opens url in another tab of page of's context (its browser profile: the same storage).
  async newTab ({ page: id, of, url }) {
    const context = page(of).context
    track(id, context, await context.newPage())
    pages.get(id).tab = true
    if (url) await page(id).page.goto(url)
    return null
  },
  // popup takes the oldest window page of opened (window.open) that no popup op took yet, waiting for one up
  // to timeout ms, and keeps it under id; closing it closes only that window.
  async popup ({ page: id, of, timeout }) {
    const opener = page(of)
    const deadline = Date.now() + (timeout || 30000)
    while (!opener.popups.length) {
      if (Date.now() > deadline) throw new Error('popup: no window opened by ' + of + ' in ' + (timeout || 30000) + 'ms')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const w = opener.popups.shift()
    track(id, opener.context, w)
    pages.get(id).tab = true
    await w.waitForLoadState()
    return null
  },
  async goto ({ page: id, url }) { await page(id).page.goto(url); return null },
  async reload ({ page: id }) { await page(id).page.reload(); return null },
  async eval ({ page: id, expr }) { return await page(id).page.evaluate(expr) },
  // click: a click that closes its page (a window's Close button) is done, not failed.
  async click ({ page: id, sel }) {
    const p = page(id).page
    try { await p.click(sel) } catch (e) { if (!p.isClosed()) throw e }
    return null
  },
  async fill ({ page: id, sel, value }) { await page(id).page.fill(sel, value); return null },
  async text ({ page: id, sel }) { return await page(id).page.textContent(sel) },
  async waitFor ({ page: id, sel, state, timeout }) {
    await page(id).page.waitForSelector(sel, { state: state || 'visible', timeout: timeout || 30000 })
    return null
  },
  // waitForFunction polls expr from here: playwright's own would eval it inside the page, which the app's
  // Content-Security-Policy (no 'unsafe-eval') forbids; evaluate is not subject to it.
  async waitForFunction ({ page: id, expr, timeout }) {
    const p = page(id).page
    const deadline = Date.now() + (timeout || 30000)
    for (;;) {
      try {
        if (await p.evaluate(expr)) return null
      } catch (e) {
        // A navigation in between (a reload, a redirect) is no answer; anything else is.
        if (!/Execution context was destroyed|Cannot find context|navigat/i.test(String(e && e.message))) throw e
      }
      if (Date.now() > deadline) throw new Error('waitForFunction: timeout ' + (timeout || 30000) + 'ms exceeded waiting for ' + expr)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  },
  async setFiles ({ page: id, sel, files }) { await page(id).page.setInputFiles(sel, files); return null },
  async screenshot ({ page: id, path, fullPage }) { await page(id).page.screenshot({ path, fullPage: !!fullPage }); return null },
  async setViewport ({ page: id, width, height }) { await page(id).page.setViewportSize({ width, height }); return null },
  async logs ({ page: id }) { return page(id).logs },
  // profileStart starts V8's sampling CPU profiler on the page (Chrome DevTools Protocol Profiler domain, one
  // sample every interval microseconds); profileStop stops it and writes the profile (DevTools' .cpuprofile
  // JSON) to path.
  async profileStart ({ page: id, interval }) {
    const entry = page(id)
    entry.cdp = entry.cdp || await entry.context.newCDPSession(entry.page)
    await entry.cdp.send('Profiler.enable')
    await entry.cdp.send('Profiler.setSamplingInterval', { interval: interval || 1000 })
    await entry.cdp.send('Profiler.start')
    return null
  },
  async profileStop ({ page: id, path }) {
    const entry = page(id)
    if (!entry.cdp) throw new Error('profileStop: no profile started on page ' + id)
    const { profile } = await entry.cdp.send('Profiler.stop')
    await writeFile(path, JSON.stringify(profile))
    return null
  },
  async closePage ({ page: id }) {
    const p = page(id)
    if (p.tab) await p.page.close(); else await p.context.close()
    pages.delete(id)
    return null
  },
}

const rl = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
rl.on('line', line => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: -1, ok: false, error: 'malformed command: ' + e.message }) + '\n')
    return
  }
  // Commands for different pages may run concurrently; answers carry their id.
  ;(async () => {
    try {
      const fn = ops[msg.op]
      if (!fn) throw new Error('unknown op ' + msg.op)
      const value = await fn(msg)
      process.stdout.write(JSON.stringify({ id: msg.id, ok: true, value: value === undefined ? null : value }) + '\n')
    } catch (e) {
      process.stdout.write(JSON.stringify({ id: msg.id, ok: false, error: String(e && e.message || e) }) + '\n')
    }
  })()
})
rl.on('close', async () => {
  await queue
  for (const { context, tab } of pages.values()) if (!tab) await context.close().catch(() => {})
  await browser.close()
  process.exit(0)
})
process.stdout.write(JSON.stringify({ id: 0, ok: true, value: 'ready' }) + '\n')
