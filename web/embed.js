// embed.js: the <bt-speed> element publishers put on any page of any origin (docs/embedding.md).
//
//   <script src="https://RELAY/embed.js"></script>
//   <bt-speed src="magnet:?xt=urn:btih:..."></bt-speed>
//
// The element renders an <iframe> of RELAY/embed.html, which runs the btspeed peer on the relay's origin
// (its wasm, and the service worker that streams video while it downloads, must live there) and plays the
// torrent's video or audio, or offers its file for download. What happens in the player comes back as
// postMessage messages, which the element checks (the relay's origin, its own iframe) and re-dispatches on
// itself as DOM events: btspeed-ready, btspeed-metadata, btspeed-progress, btspeed-playing,
// btspeed-timeupdate, btspeed-pause, btspeed-ended, btspeed-done, btspeed-startup, btspeed-error.
(function () {
  'use strict'
  if (typeof window === 'undefined' || !window.customElements || window.customElements.get('bt-speed')) return

  const script = document.currentScript
  const base = new URL('.', (script && script.src) || location.href)
  const RELAY = base.origin
  // How long the player may take to say hello before the element says it cannot reach the relay.
  const LOAD_TIMEOUT = 20000
  // The events the element dispatches, as btspeed-<type>.
  const TYPES = ['ready', 'metadata', 'progress', 'playing', 'timeupdate', 'pause', 'ended', 'done', 'startup', 'error']

  const style = `
    :host { display: inline-block; position: relative; width: 640px; max-width: 100%; vertical-align: top;
      background: #0e0f12; border-radius: 8px; overflow: hidden; color: #e8e8ea;
      font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    :host([hidden]) { display: none; }
    iframe { display: block; width: 100%; height: 100%; min-height: 140px; aspect-ratio: 16 / 10; border: 0;
      background: #0e0f12; }
    iframe.sized { aspect-ratio: auto; }
    .notice { position: absolute; inset: 0; display: none; align-items: center; justify-content: center;
      padding: 16px; text-align: center; background: #0e0f12; }
    .notice.show { display: flex; }
    .notice p { margin: 0; max-width: 36em; }
    .notice strong { color: #ff8f8f; display: block; margin-bottom: 4px; }
    .notice a { color: #8fc3ff; }
  `

  // cssLength reads a width or height attribute: a number is pixels, else a CSS length ("100%", "40rem",
  // "calc(...)"); anything else is ignored.
  function cssLength (v) {
    v = (v || '').trim()
    if (/^\d+(\.\d+)?$/.test(v)) return v + 'px'
    return /^[\w.%()+\-*/ ]+$/.test(v) ? v : ''
  }

  class BTSpeedElement extends HTMLElement {
    static get observedAttributes () { return ['src', 'file', 'speed', 'autoplay', 'muted', 'loop', 'width', 'height', 'title'] }

    constructor () {
      super()
      this._root = this.attachShadow({ mode: 'open' })
      this._root.innerHTML = '<style>' + style + '</style><style></style><iframe></iframe><div class="notice" role="alert"></div>'
      this._dims = this._root.querySelectorAll('style')[1]
      this._frame = this._root.querySelector('iframe')
      this._notice = this._root.querySelector('.notice')
      this._onMessage = e => this._message(e)
      this._size = null
      this._ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(() => this._fit()) : null
      this._visible = false
      this._io = typeof IntersectionObserver !== 'undefined' ? new IntersectionObserver(entries => {
        this._visible = entries[entries.length - 1].isIntersecting
        if (this._visible) this._watch()
      }) : null
      this.state = 'idle'
      this.error = null
      this.progress = 0
      this.info = null
    }

    get relay () { return RELAY }
    get src () { return this.getAttribute('src') || '' }
    set src (v) { this.setAttribute('src', v) }
    get file () { return this.getAttribute('file') }
    set file (v) { if (v === null || v === undefined) this.removeAttribute('file'); else this.setAttribute('file', v) }

    // play, pause and seek control the player (for a video or audio file).
    play () { this._send({ op: 'play' }) }
    pause () { this._send({ op: 'pause' }) }
    seek (seconds) { this._send({ op: 'seek', time: Number(seconds) }) }

    connectedCallback () {
      window.addEventListener('message', this._onMessage)
      if (this._ro) this._ro.observe(this)
      if (this._io) this._io.observe(this)
      this._layout()
      this._schedule()
    }

    disconnectedCallback () {
      window.removeEventListener('message', this._onMessage)
      if (this._ro) this._ro.disconnect()
      if (this._io) this._io.disconnect()
      clearTimeout(this._timer)
      this._timer = null
      // The frame left the document with the element, and its peer with it; put back, it loads again.
      this._loaded = null
    }

    attributeChangedCallback (name, was, now) {
      if (!this.isConnected || was === now) return
      if (name === 'width' || name === 'height') this._layout()
      else if (name === 'title') this._frame.title = this._title()
      else this._schedule()
    }

    // _schedule reloads the player once for the attributes a script sets in one go.
    _schedule () {
      if (this._pending) return
      this._pending = true
      queueMicrotask(() => {
        this._pending = false
        if (this.isConnected) this._load()
      })
    }

    _title () {
      const name = this.info && this.info.name
      return this.getAttribute('title') || ('BitTorrent Speed player' + (name ? ': ' + name : ''))
    }

    // _url is the player's address for the current attributes.
    _url () {
      const q = new URLSearchParams()
      let src = this.src.trim()
      // A relative URL of a .torrent is relative to the publisher's page, not to the relay's; anything else
      // goes to the player as it is (and the player says what is wrong with it).
      if (!/^[a-z][a-z0-9+.-]*:/i.test(src) && !/\s/.test(src) && (/\.torrent([?#]|$)/i.test(src) || /^\.{0,2}\//.test(src))) {
        try { src = new URL(src, document.baseURI).href } catch (e) {}
      }
      q.set('src', src)
      if (this.hasAttribute('file')) q.set('file', this.getAttribute('file'))
      if ((this.getAttribute('speed') || '').toLowerCase() === 'off') q.set('speed', 'off')
      for (const flag of ['autoplay', 'muted', 'loop']) if (this.hasAttribute(flag)) q.set(flag, '1')
      return new URL('embed.html?' + q.toString(), base).href
    }

    _load () {
      const url = this._url()
      if (url === this._loaded) return
      this._loaded = url
      // The player echoes this load's number in every message, so late ones from the one it replaced are
      // dropped.
      this._n = (this._n || 0) + 1
      this.state = 'loading'
      this.error = null
      this.progress = 0
      this.info = null
      this._size = null
      this.setAttribute('state', 'loading')
      this._hideNotice()
      // A new frame for each load: a lazy frame whose src changes before it loaded may never load the new
      // one (Chromium), and the old player's peer stops with its frame.
      const f = document.createElement('iframe')
      f.setAttribute('allow', 'autoplay; fullscreen; picture-in-picture')
      f.setAttribute('allowfullscreen', '')
      f.setAttribute('referrerpolicy', 'origin')
      // Each player is a whole BitTorrent peer (a large wasm): one far down the page starts when it nears the view.
      f.setAttribute('loading', 'lazy')
      f.title = this._title()
      f.src = url + '#' + this._n
      this._frame.replaceWith(f)
      this._frame = f
      this._layout()
      clearTimeout(this._timer)
      this._timer = null
      this._hello = false
      if (this._visible || !this._io) this._watch()
    }

    // _watch gives a player that should be loading (in view: a lazy frame out of view waits) LOAD_TIMEOUT to
    // say hello, else it shows why it may not have.
    _watch () {
      if (this._hello || this._timer || !this._loaded) return
      this._timer = setTimeout(() => {
        if (this._hello) return
        const msg = 'The player did not load from ' + RELAY + '. The relay may be down, or this page\'s ' +
          'Content-Security-Policy may not allow frames from it (frame-src).'
        this._showNotice(msg)
        this._fail({ message: msg, code: 'load' })
      }, LOAD_TIMEOUT)
    }

    // _layout applies the width and height attributes. They are :host rules, so the page's own CSS for
    // bt-speed wins over them, as it does over an <img>'s width and height.
    _layout () {
      const w = cssLength(this.getAttribute('width'))
      const h = cssLength(this.getAttribute('height'))
      this._dims.textContent = ':host {' + (w ? 'width:' + w + ';' : '') + (h ? 'height:' + h + ';' : '') + '}'
      if (h) {
        this._frame.classList.add('sized')
        this._frame.style.height = ''
      } else {
        this._frame.classList.remove('sized')
        this._fit()
      }
    }

    // _fit sizes the frame to what it plays when the page did not set a height: a video's aspect ratio plus
    // the player's bar, or the fixed height of an audio or download player.
    _fit () {
      if (this.getAttribute('height') || !this._size) return
      const s = this._size
      let h = s.height || 0
      if (s.aspect > 0) h = Math.round(this.clientWidth / s.aspect + (s.extra || 0))
      if (h > 0) {
        this._frame.classList.add('sized')
        this._frame.style.height = h + 'px'
      }
    }

    _send (msg) {
      const w = this._frame.contentWindow
      if (w) w.postMessage(Object.assign({ btspeed: 'command' }, msg), RELAY)
    }

    _message (e) {
      if (e.origin !== RELAY || e.source !== this._frame.contentWindow) return
      const m = e.data
      if (!m || m.btspeed !== 'player' || typeof m.type !== 'string' || m.n !== this._n) return
      const detail = m.detail || {}
      switch (m.type) {
        case 'hello':
          this._hello = true
          clearTimeout(this._timer)
          this._hideNotice()
          return
        case 'size':
          this._size = detail
          this._fit()
          return
        case 'ready':
          this.state = 'ready'
          break
        case 'metadata':
          this.info = detail
          this._frame.title = this._title()
          break
        case 'progress':
          this.progress = detail.progress || 0
          break
        case 'playing':
          this.state = 'playing'
          break
        case 'pause':
          if (this.state === 'playing') this.state = 'paused'
          break
        case 'ended':
          this.state = 'ended'
          break
        case 'done':
          this.progress = 1
          break
        case 'error':
          this._fail(detail)
          return
      }
      if (TYPES.includes(m.type)) {
        if (this.state !== this.getAttribute('state')) this.setAttribute('state', this.state)
        this._emit(m.type, detail)
      }
    }

    _fail (detail) {
      this.state = 'error'
      this.error = detail.message || 'error'
      this.setAttribute('state', 'error')
      this._emit('error', detail)
    }

    _emit (type, detail) {
      this.dispatchEvent(new CustomEvent('btspeed-' + type, { detail, bubbles: true, composed: true }))
    }

    _showNotice (text) {
      this._notice.textContent = ''
      const p = document.createElement('p')
      const strong = document.createElement('strong')
      strong.textContent = 'BitTorrent Speed player unavailable'
      p.append(strong, text)
      this._notice.append(p)
      this._notice.classList.add('show')
    }

    _hideNotice () { this._notice.classList.remove('show') }
  }

  window.customElements.define('bt-speed', BTSpeedElement)
})()
