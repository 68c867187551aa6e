// btspeed.js: the browser API of the btspeed peer (docs/js-api.md).
// Loads Go's wasm_exec.js and btspeed.wasm (btspeed-embed.wasm with {embed: true}) from the same place as this
// script, starts the peer, and wraps the functions the wasm registers in a small event-emitting API. Amounts are
// decimal BTT strings.
(function (global) {
  'use strict'
  const here = (document.currentScript && document.currentScript.src) || location.href
  const base = new URL('.', here)

  function loadScript (src) {
    return new Promise((resolve, reject) => {
      if (global.Go) return resolve()
      const s = document.createElement('script')
      s.src = src
      s.onload = resolve
      s.onerror = () => reject(new Error('btspeed: cannot load ' + src))
      document.head.appendChild(s)
    })
  }

  // mark records a step of the peer's start as the performance mark btspeed:<name> (the player reports them).
  function mark (name) {
    try { performance.mark('btspeed:' + name) } catch (e) {}
  }

  // compile downloads and compiles btspeed.wasm, streaming where the browser can.
  async function compile (url) {
    if (WebAssembly.compileStreaming) {
      try {
        return await WebAssembly.compileStreaming(fetch(url))
      } catch (e) {} // served without application/wasm: compile the bytes instead
    }
    return WebAssembly.compile(await (await fetch(url)).arrayBuffer())
  }

  // The two builds of the peer (docs/wasm-size.md): btspeed.wasm, the whole API, and btspeed-embed.wasm, smaller,
  // for players such as embed.html ({embed: true}): no wallet TRON side, no client.fetch, no client.store.
  const BUILDS = { app: 'btspeed.wasm', embed: 'btspeed-embed.wasm' }
  let booted = null
  let bootedBuild = ''
  function boot (build) {
    if (booted) {
      if (build !== bootedBuild) return Promise.reject(new Error('btspeed: this page already loaded the ' + bootedBuild + ' build of the peer; start every client with the same embed option'))
      return booted
    }
    bootedBuild = build
    booted = (async () => {
      // The wasm downloads and compiles while wasm_exec.js loads.
      const compiled = compile(new URL(BUILDS[build], base).href)
      compiled.catch(() => {}) // reported by the await below
      await loadScript(new URL('wasm_exec.js', base).href)
      const go = new global.Go()
      const mod = await compiled
      mark('wasm-compiled')
      go.run(await WebAssembly.instantiate(mod, go.importObject))
      for (let i = 0; i < 100 && !global.BTSpeedGo; i++) await new Promise(resolve => setTimeout(resolve, 10))
      if (!global.BTSpeedGo) throw new Error('btspeed: the wasm did not start')
      mark('wasm-ready')
      return global.BTSpeedGo
    })()
    return booted
  }

  // APP_ONLY names the calls of the peer the embed build leaves out, and the API each serves.
  const APP_ONLY = {
    walletTronBalance: 'client.wallet.tronBalance',
    walletExchange: 'client.wallet.exchange',
    walletDeposit: 'client.wallet.deposit',
    walletWithdraw: 'client.wallet.withdraw',
    walletWithdrawal: 'client.wallet.withdrawal',
    walletTronHistory: 'client.wallet.tronHistory',
    proxyFetch: 'client.fetch',
    storePut: 'client.store.put',
    storeGet: 'client.store.get',
    storeList: 'client.store.list',
    storeCheck: 'client.store.check',
  }

  // withAppOnly gives a peer of the embed build the calls it lacks, each rejecting with what to do (code
  // 'embed_build').
  function withAppOnly (go) {
    for (const [name, api] of Object.entries(APP_ONLY)) {
      if (typeof go[name] === 'function') continue
      go[name] = () => Promise.reject(payError('embed_build', api + ' is not in the embed build; load btspeed.js without {embed: true}'))
    }
    return go
  }

  // worker registers sw.js (once) and resolves when it controls this page.
  let workerOnce = null
  function worker () {
    if (workerOnce) return workerOnce
    if (!('serviceWorker' in navigator)) return Promise.reject(new Error('btspeed: this browser has no service workers; use file.blob()'))
    workerOnce = (async () => {
      await navigator.serviceWorker.register(new URL('sw.js', base).href, { scope: new URL('./', base).pathname })
      await navigator.serviceWorker.ready
      if (!navigator.serviceWorker.controller) {
        await new Promise(resolve => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }))
      }
      mark('worker-ready')
    })()
    return workerOnce
  }

  class Emitter {
    constructor () { this._on = {} }
    on (ev, fn) { (this._on[ev] = this._on[ev] || []).push(fn); return this }
    off (ev, fn) { this._on[ev] = (this._on[ev] || []).filter(f => f !== fn); return this }
    emit (ev, ...args) { for (const fn of this._on[ev] || []) { try { fn(...args) } catch (e) { console.error(e) } } }
  }

  function bytesOf (x) {
    if (x instanceof Uint8Array) return Promise.resolve(x)
    if (x instanceof ArrayBuffer) return Promise.resolve(new Uint8Array(x))
    if (typeof Blob !== 'undefined' && x instanceof Blob) return x.arrayBuffer().then(b => new Uint8Array(b))
    return Promise.resolve(null)
  }

  class Torrent extends Emitter {
    constructor (client, infoHash) {
      super()
      this._client = client
      this.infoHash = infoHash
      this._status = null
    }

    _update (s) {
      const prev = this._status
      this._status = s
      if (!prev || (!prev.metadata && s.metadata)) { if (s.metadata) this.emit('metadata') }
      if (!prev || prev.verified !== s.verified || prev.uploaded !== s.uploaded) this.emit('progress', s.progress)
      if (prev && prev.spent !== s.spent) this.emit('payment', { direction: 'sent', total: s.spent })
      if (prev && prev.earned !== s.earned) this.emit('payment', { direction: 'received', total: s.earned })
      if (!prev || prev.state !== s.state) this.emit('state', s.state, s.hint || '')
      if ((!prev || !prev.done) && s.done) this.emit('done')
      if ((!prev || !prev.error) && s.error) this.emit('error', new Error(s.error))
    }

    get name () { return this._status ? this._status.name : '' }
    get magnetURI () { return this._status ? this._status.magnetURI : '' }
    get length () { return this._status ? this._status.length : 0 }
    get progress () { return this._status ? this._status.progress : 0 }
    get done () { return !!(this._status && this._status.done) }
    get downloaded () { return this._status ? this._status.downloaded : 0 }
    get uploaded () { return this._status ? this._status.uploaded : 0 }
    get spent () { return this._status ? this._status.spent : '0' }
    get earned () { return this._status ? this._status.earned : '0' }
    // budget: what this torrent may spend in all ('0' until the default, 1% of the wallet, is fixed when it first
    // bids); maxPrice: the most it bids, BTT per GiB.
    get budget () { return this._status ? this._status.budget : '0' }
    get maxPrice () { return this._status ? this._status.maxPrice : '0' }
    get numPeers () { return this._status ? this._status.peers : 0 }
    // state: 'looking for peers', 'fetching metadata', 'downloading', 'seeding', 'stalled' or 'stopped'; hint says
    // in words what a stalled torrent means; trying lists where it looks for peers.
    get state () { return this._status ? this._status.state : 'looking for peers' }
    get hint () { return (this._status && this._status.hint) || '' }
    get trying () { return this._status ? (this._status.trying || []) : [] }
    // downloadSpeed and uploadSpeed are bytes per second averaged over the last 5 s; eta is the seconds left at
    // downloadSpeed, null when there is none (done, or nothing arriving).
    get downloadSpeed () { return this._status ? this._status.downloadRate : 0 }
    get uploadSpeed () { return this._status ? this._status.uploadRate : 0 }
    get eta () { return this._status && this._status.eta > 0 ? this._status.eta : null }
    // peerList: the connected peers, busiest first, at most 50: {address, client, transport, downloadRate,
    // uploadRate, progress, account, spent, earned} (amounts in BTT strings).
    get peerList () { return this._status ? (this._status.peerList || []) : [] }
    get connections () { return this._status ? (this._status.connections || {}) : {} }
    get peers () { return this._status ? (this._status.peerAccounts || []) : [] }
    get files () {
      const s = this._status
      if (!s || !s.files) return []
      return s.files.map((f, i) => ({
        path: f.path,
        name: f.path.split('/').pop(),
        length: f.length,
        blob: () => this._blob(i, f),
      }))
    }

    async _blob (i, f) {
      const parts = []
      const chunk = 4 << 20
      for (let off = 0; off < f.length; off += chunk) {
        parts.push(await this._client._go.read(this.infoHash, i, off, Math.min(chunk, f.length - off)))
      }
      return new Blob(parts)
    }

    // buffered(file) resolves to the byte ranges of file (an index, default 0) downloaded and verified:
    // [[start, end], ...], end exclusive, in order (at most 1000).
    async buffered (file) { return JSON.parse(await this._client._go.buffered(this.infoHash, file || 0)) || [] }

    get speed () { return !!(this._status && this._status.speed) }
    get error () { return (this._status && this._status.error) || '' }

    // setSpeed({speed, budget, maxPrice}) overrides the global Speed settings for this torrent.
    async setSpeed (options) {
      await this._client._go.setSpeed(this.infoHash, JSON.stringify(options || {}))
      await this._client._fresh()
    }

    // paused: stopped (no peers, nothing paid or earned) until resume(); kept so across restarts.
    get paused () { return !!(this._status && this._status.paused) }
    // checking: kept from an earlier start, hash-checking its data (paused meanwhile); it then runs.
    get checking () { return !!(this._status && this._status.checking) }
    async pause () { await this._client._go.pause(this.infoHash); await this._client._fresh() }
    async resume () { await this._client._go.resume(this.infoHash); await this._client._fresh() }

    // remove deletes the torrent and its data stored in this browser.
    remove () { return this._client._remove(this) }

    // streamTo plays file (an index or a name; default the first playable one) in a <video> or <audio>
    // element while it downloads: a service worker (sw.js, same origin as this script) turns the element's
    // range requests into reads that download the pieces they need first.
    async streamTo (elem, options) {
      await this._client._streaming()
      const ready = this._status && this._status.metadata ? Promise.resolve() : new Promise(resolve => this.on('metadata', resolve))
      await ready
      const files = this.files
      let i = options && options.file !== undefined ? options.file : files.findIndex(f => /\.(mp4|m4v|webm|mkv|ogv|mp3|m4a|ogg|oga|opus|wav|flac)$/i.test(f.path))
      if (typeof i === 'string') i = files.findIndex(f => f.path === i || f.name === i)
      if (i < 0 || i >= files.length) throw new Error('btspeed: no playable file in this torrent')
      elem.src = new URL('btspeed-stream/' + this.infoHash + '/' + i + '/' + encodeURIComponent(files[i].name), base).href
      return elem
    }
  }

  // ---- payments for pages (docs/speed-protocol.md §13) ----

  // payError is an Error with a code (docs/js-api.md).
  function payError (code, message) {
    const e = new Error(message)
    e.code = code
    return e
  }

  // The checks the confirmation window makes too (web/pay.js): a ledger address, a positive BTT amount with at
  // most 6 decimals, a memo of at most 140 bytes of UTF-8.
  const addressRe = /^T[1-9A-HJ-NP-Za-km-z]{33}$/
  const payAmountRe = /^(0|[1-9][0-9]{0,12})(\.[0-9]{1,6})?$/
  const MEMO_MAX = 140

  // payRequest checks what a page asks to pay and returns it as the confirmation window reads it, or throws.
  function payRequest (o) {
    o = o || {}
    const to = typeof o.to === 'string' ? o.to.trim() : ''
    const amount = typeof o.amount === 'string' ? o.amount.trim() : ''
    const memo = o.memo === undefined || o.memo === null ? '' : o.memo
    if (!addressRe.test(to)) throw payError('bad_address', 'btspeed: pay: to must be a ledger address (T..., 34 characters)')
    if (!payAmountRe.test(amount) || !/[1-9]/.test(amount)) throw payError('bad_amount', 'btspeed: pay: amount must be a positive BTT string with at most 6 decimals, like "1.5"')
    if (typeof memo !== 'string' || new TextEncoder().encode(memo).length > MEMO_MAX || memo.includes('\u0000')) {
      throw payError('bad_memo', 'btspeed: pay: memo must be text of at most 140 bytes of UTF-8')
    }
    return { to, amount, memo }
  }

  let paying = false

  // pay asks the user to pay in the btspeed origin's confirmation window (pay.html, opened here: call it from a
  // click) and resolves with {id, amount} once the ledger made the transfer; the window answers this page only,
  // by postMessage, and only its answers count.
  function pay (options) {
    let req
    try { req = payRequest(options) } catch (e) { return Promise.reject(e) }
    if (paying) return Promise.reject(payError('busy', 'btspeed: pay: a payment is already waiting for the user; wait for its answer'))
    const origin = base.origin
    const win = global.open(new URL('pay.html', base).href, '_blank', 'popup,width=480,height=720')
    if (!win) {
      return Promise.reject(payError('popup_blocked', 'btspeed: pay: the browser blocked the payment window; call pay() from a click handler'))
    }
    paying = true
    const n = Math.random().toString(36).slice(2) + Date.now().toString(36)
    return new Promise((resolve, reject) => {
      let timer = null
      const done = () => {
        paying = false
        global.removeEventListener('message', onMessage)
        clearInterval(timer)
      }
      const onMessage = e => {
        if (e.origin !== origin || e.source !== win) return
        const m = e.data
        if (!m || m.btspeed !== 'pay' || typeof m.type !== 'string') return
        if (m.type === 'ready') {
          win.postMessage({ btspeed: 'pay', type: 'request', n, to: req.to, amount: req.amount, memo: req.memo }, origin)
          return
        }
        if (m.n !== n) return
        if (m.type === 'paid') {
          done()
          resolve({ id: String(m.id), amount: String(m.amount) })
        } else if (m.type === 'error') {
          done()
          reject(payError(String(m.code || 'failed'), 'btspeed: pay: ' + String(m.message || m.code || 'failed')))
        }
      }
      global.addEventListener('message', onMessage)
      // Closed without an answer: nothing was paid.
      timer = setInterval(() => {
        if (!win.closed) return
        done()
        reject(payError('closed', 'btspeed: pay: the payment window was closed without paying'))
      }, 250)
    })
  }

  class Wallet {
    constructor (go, client) { this._go = go; this._client = client }
    get state () { return this._go.walletState() }
    get address () { return this._go.walletAddress() }
    // Creating, restoring, unlocking and locking bring Speed to the running torrents or take it away; each
    // resolves once the torrents' status (torrent.speed) says so.
    async create (password) { return this._changed(JSON.parse(await this._go.walletCreate(String(password)))) }
    async restore (phrase, password) { return this._changed(JSON.parse(await this._go.walletRestore(String(phrase), String(password)))) }
    async unlock (password) { return this._changed(await this._go.walletUnlock(String(password))) }
    async lock () { return this._changed(await this._go.walletLock()) }
    async _changed (v) { await this._client._fresh(); return v }
    async balance () { return JSON.parse(await this._go.walletBalance()) }
    exportKeystore () { return this._go.walletExport() }
    async faucet (opts) {
      const onProgress = opts && opts.onProgress
      const start = Date.now()
      const res = await this._go.walletFaucet(tried => {
        if (onProgress) onProgress({ tried, rate: tried / Math.max(0.001, (Date.now() - start) / 1000) })
      })
      return JSON.parse(res)
    }

    // TRON: the same address on TRON, deposits to the ledger and withdrawals from it through the ledger's
    // exchange. Amounts are decimal BTT strings (TRX too: 6 decimals).
    async tronBalance () { return JSON.parse(await this._go.walletTronBalance()) }
    async exchange () { return JSON.parse(await this._go.walletExchange()) }
    async deposit (amount) { return JSON.parse(await this._go.walletDeposit(String(amount))) }
    async withdraw (amount, opts) {
      const to = opts && opts.to ? String(opts.to) : ''
      return JSON.parse(await this._go.walletWithdraw(String(amount), to))
    }
    async withdrawal (id) { return JSON.parse(await this._go.walletWithdrawal(String(id))) }
    async tronHistory () { return JSON.parse(await this._go.walletTronHistory()) || [] }

    // pay({to, amount, memo}) asks the user to confirm a payment in the btspeed origin's window (call it from a
    // click); transfers() lists this wallet's ledger transfers and its channels' entries (with their service).
    pay (options) { return pay(options) }
    async transfers () { return JSON.parse(await this._go.walletTransfers()) }
    // _transfer pays without asking: only the confirmation window (pay.js) calls it, after the user's click.
    async _transfer (to, amount, memo) { return JSON.parse(await this._go.walletTransfer(String(to), String(amount), String(memo || ''))) }
  }

  // Settings: get() answers from a copy loaded at start and after every set(), so it never waits.
  class Settings {
    constructor (go, client) { this._go = go; this._client = client; this._s = null }
    async _load () { this._s = JSON.parse(await this._go.settingsGet()) }
    get () { return Object.assign({}, this._s) }
    async set (partial) {
      await this._go.settingsSet(JSON.stringify(Object.assign(this.get(), partial)))
      await this._load()
      await this._client._fresh()
    }
  }

  // Store is client.store: paid storage with the relay's provider (docs/js-api.md "Paid storage"), encrypted in the
  // browser with keys from the wallet.
  class Store {
    constructor (go) { this._go = go }
    // put(file, {price, rate, periods, period}): a File, Blob, ArrayBuffer or Uint8Array; resolves to the record.
    async put (file, options) {
      const bytes = await bytesOf(file)
      if (!bytes) throw payError('bad_file', 'btspeed: store.put: give a File, Blob, ArrayBuffer or Uint8Array')
      const name = (file && typeof file.name === 'string') ? file.name : 'file'
      const o = Object.assign({}, options)
      const opts = JSON.stringify({ price: o.price ? String(o.price) : '', rate: o.rate ? String(o.rate) : '', periods: o.periods | 0, period: o.period | 0 })
      return JSON.parse(await this._go.storePut(name, bytes, opts))
    }

    // get(id): resolves to {blob, record, paid}.
    async get (id) {
      const res = await this._go.storeGet(String(id))
      const record = JSON.parse(res.record)
      return { blob: new Blob([res.bytes]), record, paid: res.paid }
    }

    async list () { return JSON.parse(await this._go.storeList()) }
    async check () { await this._go.storeCheck() }
  }

  class Client extends Emitter {
    constructor (go) {
      super()
      this._go = go
      this._torrents = new Map()
      this.wallet = new Wallet(go, this)
      this.settings = new Settings(go, this)
      this.store = new Store(go)
      this.ledgerID = go.ledgerID()
      this._timer = setInterval(() => this._poll(), 500)
    }

    // _poll refreshes every torrent's status; every call into the wasm returns a Promise, so the page's event
    // loop never waits for the peer. Overlapping calls share one request.
    _poll () {
      if (this._polling) return this._polling
      this._polling = this._pollOnce().finally(() => { this._polling = null })
      return this._polling
    }

    // _fresh resolves once a poll that started after the call has finished: what changed before it shows.
    _fresh () { return (this._polling || Promise.resolve()).then(() => this._poll()) }

    async _pollOnce () {
      let list
      try {
        list = JSON.parse(await this._go.torrents()) || []
      } catch (e) {
        // The peer stopped (destroyed, or the wasm exited): stop polling and say so once.
        if (this._timer !== null) {
          clearInterval(this._timer)
          this._timer = null
          this.emit('error', e)
        }
        return
      }
      for (const s of list) {
        let t = this._torrents.get(s.infoHash)
        if (!t) {
          t = new Torrent(this, s.infoHash)
          this._torrents.set(s.infoHash, t)
        }
        t._update(s)
      }
    }

    async _track (infoHash) {
      await this._poll()
      let t = this._torrents.get(infoHash)
      if (!t) {
        t = new Torrent(this, infoHash)
        this._torrents.set(infoHash, t)
      }
      this._watchMetadata()
      return t
    }

    // _watchMetadata polls sooner than every 500 ms while a running torrent waits for its info (25 ms, backing
    // off to 500 ms), so that a player starts as soon as the info arrives.
    _watchMetadata () {
      if (this._quick) return
      let wait = 25
      const tick = async () => {
        await this._poll()
        const waiting = this.torrents.some(t => t._status && !t._status.metadata && !t._status.paused && !t._status.error)
        if (!waiting || this._timer === null || this._destroyed) { this._quick = null; return }
        wait = Math.min(500, Math.round(wait * 1.25))
        this._quick = setTimeout(tick, wait)
      }
      this._quick = setTimeout(tick, wait)
    }

    get torrents () { return Array.from(this._torrents.values()) }

    async add (source, options) {
      let src = source
      if (typeof source !== 'string') src = await bytesOf(source)
      if (src === null) throw new Error('btspeed: add wants a magnet link, a URL, or the bytes of a .torrent')
      const ih = await this._go.add(src, JSON.stringify(options || {}))
      return this._track(ih)
    }

    async seed (input, options) {
      const list = (typeof FileList !== 'undefined' && input instanceof FileList) || Array.isArray(input) ? Array.from(input) : [input]
      const files = []
      for (const f of list) {
        // A picked folder's files carry webkitRelativePath; dropped ones fullPath ("/album/a.mp3", as WebTorrent reads it).
        const path = (f.webkitRelativePath || f.fullPath || f.name || 'file').replace(/^\/+/, '')
        files.push({ path, data: await bytesOf(f) })
      }
      // Several files: the torrent is named options.name, else after the folder they share (the peer decides).
      const name = (options && options.name) || ''
      const ih = await this._go.seed(name, files, JSON.stringify(options || {}))
      return this._track(ih)
    }

    async _remove (t) {
      await this._go.remove(t.infoHash)
      this._torrents.delete(t.infoHash)
    }

    // _streaming registers the service worker once and answers its requests from this peer.
    _streaming () {
      if (this._sw) return this._sw
      this._sw = worker().then(() => navigator.serviceWorker.addEventListener('message', e => this._answer(e)))
      return this._sw
    }

    async _answer (e) {
      const m = e.data
      const port = e.ports && e.ports[0]
      if (!m || !m.btspeed || !port) return
      try {
        const t = this._torrents.get(m.infoHash)
        if (!t) throw new Error('btspeed: no such torrent here')
        if (m.op === 'stat') {
          const f = t.files[m.file]
          if (!f) throw new Error('btspeed: no such file')
          port.postMessage({ length: f.length, name: f.name })
          return
        }
        const bytes = await this._go.read(m.infoHash, m.file, m.offset, m.length, 8 << 20)
        port.postMessage({ bytes: bytes.buffer }, [bytes.buffer])
      } catch (err) {
        port.postMessage({ error: String(err.message || err) })
      }
    }

    // fetch(url, {maxPrice, budget, maxLength, signal, onProgress, stream}): the URL's content through the relay's paid proxy
    // (docs/js-api.md "Paid proxy"), paid per chunk once received whole, resumed from the next chunk after a dropped
    // connection. Resolves to {blob, length, contentType, etag, chunks, chunkSize, paid, rate, payee, resumed}; the
    // content is held in memory, so a file longer than maxLength (default 512 MiB) is refused before any of it is paid.
    // With stream: true, see _fetchStream.
    async fetch (url, options) {
      const o = Object.assign({}, options)
      if (o.stream) return this._fetchStream(url, o)
      const maxLength = o.maxLength > 0 ? o.maxLength : 512 * 1024 * 1024
      const parts = []
      let have = 0
      let length = 0
      let tooLong = null
      const stop = new AbortController()
      const abort = () => stop.abort()
      if (o.signal) {
        if (o.signal.aborted) abort()
        o.signal.addEventListener('abort', abort)
      }
      const onHead = raw => {
        const h = JSON.parse(raw)
        length = h.length
        if (length > maxLength) {
          tooLong = payError('too_large', 'btspeed: fetch: the file is ' + length + ' bytes, more than maxLength (' + maxLength + '): raise maxLength to fetch it')
          abort()
        }
      }
      const onChunk = (offset, bytes) => {
        if (offset < have) return // sent again after a resume: already held
        parts.push(bytes)
        have += bytes.length
        if (typeof o.onProgress === 'function') o.onProgress({ received: have, length })
      }
      const opts = JSON.stringify({ maxPrice: o.maxPrice ? String(o.maxPrice) : '', budget: o.budget ? String(o.budget) : '' })
      try {
        const res = JSON.parse(await this._go.proxyFetch(String(url), opts, onChunk, onHead, stop.signal))
        res.blob = new Blob(parts, { type: res.contentType || 'application/octet-stream' })
        return res
      } catch (e) {
        throw tooLong || e
      } finally {
        if (o.signal) o.signal.removeEventListener('abort', abort)
      }
    }

    // _fetchStream is fetch(url, {stream: true}): it resolves once the content's head is known, to {stream, length,
    // contentType, etag, chunkSize, rate, payee, done}: stream a ReadableStream of the bytes, done a Promise of
    // {chunks, paid, resumed}. A chunk is paid for, and the next asked for, only when the stream has room (1 MiB
    // queued at most); cancelling the stream or options.signal stops the fetch.
    _fetchStream (url, o) {
      const stop = new AbortController()
      if (o.signal) {
        if (o.signal.aborted) stop.abort()
        o.signal.addEventListener('abort', () => stop.abort())
      }
      let controller = null
      let waiting = null
      let have = 0
      const wake = ok => { if (waiting) { const w = waiting; waiting = null; ok ? w.resolve() : w.reject(new Error('stopped')) } }
      stop.signal.addEventListener('abort', () => wake(false))
      const stream = new ReadableStream({
        start (c) { controller = c },
        pull () { wake(true) },
        cancel () { stop.abort() },
      }, new ByteLengthQueuingStrategy({ highWaterMark: 1 << 20 }))
      const onChunk = (offset, bytes) => {
        if (offset < have) return // sent again after a resume: already streamed
        have += bytes.length
        controller.enqueue(bytes)
        if (controller.desiredSize > 0 || stop.signal.aborted) return stop.signal.aborted ? Promise.reject(new Error('stopped')) : undefined
        return new Promise((resolve, reject) => { waiting = { resolve, reject } })
      }
      return new Promise((resolve, reject) => {
        let done = null
        const onHead = raw => resolve(Object.assign(JSON.parse(raw), { stream, done }))
        const opts = JSON.stringify({ maxPrice: o.maxPrice ? String(o.maxPrice) : '', budget: o.budget ? String(o.budget) : '' })
        done = this._go.proxyFetch(String(url), opts, onChunk, onHead, stop.signal).then(raw => {
          controller.close()
          const r = JSON.parse(raw)
          return { chunks: r.chunks, paid: r.paid, resumed: r.resumed }
        }, e => {
          try { controller.error(e) } catch (e2) {}
          reject(e) // before the head: the fetch fails; after it, done does
          throw e
        })
        done.catch(() => {}) // a page reading the stream learns of a failure there
      })
    }

    // storage(): {used, limit, torrents}: the bytes the torrents take in this browser against the storage limit.
    async storage () { return JSON.parse(await this._go.storage()) }

    async history () { return JSON.parse(await this._go.history()) || [] }
    async totals () { return JSON.parse(await this._go.totals()) }

    async destroy () {
      clearInterval(this._timer)
      this._destroyed = true
      clearTimeout(this._quick)
      await this._go.close()
    }
  }

  // defaultRelay is the relay this script came from; at the edge (docs/edge.md) the Worker names its origin relay
  // in edge.json, which holds the WebSocket tracker, the bridge and the ledger.
  let relayOnce = null
  function defaultRelay () {
    relayOnce = relayOnce || (async () => {
      try {
        const r = await fetch(new URL('edge.json', base), { signal: AbortSignal.timeout(5000) })
        if (r.ok) {
          const cfg = await r.json()
          if (cfg && typeof cfg.relay === 'string' && /^https?:\/\//.test(cfg.relay)) return cfg.relay.replace(/\/+$/, '')
        }
      } catch (e) {}
      return base.origin
    })()
    return relayOnce
  }

  global.BTSpeed = {
    defaultRelay,
    pay,
    _payRequest: payRequest,
    async start (options) {
      const o = Object.assign({}, options)
      const booting = boot(o.embed ? 'embed' : 'app')
      booting.catch(() => {}) // reported by the await below
      // A page that will stream gets the service worker ready while the wasm loads.
      if (o.stream && 'serviceWorker' in navigator) worker().catch(() => {}) // streamTo reports a failure
      // relays: [url...] lists relays sharing swarms (docs/self-hosting.md, "Relays on Redis"): the first serves the
      // ledger and bridge, and the tracker fails over along the list.
      const relays = (Array.isArray(o.relays) ? o.relays : []).filter(r => typeof r === 'string' && /^https?:\/\//.test(r)).map(r => r.replace(/\/+$/, ''))
      o.relay = o.relay || relays[0] || await defaultRelay()
      const go = await booting
      const iceServers = (o.rtcConfig && o.rtcConfig.iceServers) || []
      const handle = await go.start(JSON.stringify({ relay: o.relay, relays: relays.filter(r => r !== o.relay), trackers: o.trackers || [], iceServers, keep: o.keep !== false, stallAfter: o.stallAfter || 0 }))
      const client = new Client(withAppOnly(handle))
      client.build = go.build || 'app'
      await client.settings._load()
      await client._poll() // the torrents kept from before are listed at once (checking their data, then running)
      mark('started')
      return client
    },
  }
})(typeof window !== 'undefined' ? window : globalThis)
