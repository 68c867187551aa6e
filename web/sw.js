// sw.js: the service worker behind torrent.streamTo (web/btspeed.js). A media element's range requests for
// /btspeed-stream/<infohash>/<file>/<name> are answered from the page's btspeed peer, which downloads the
// pieces a request needs first; the response streams as pieces arrive, so playback starts before the
// download completes.
'use strict'
const PREFIX = '/btspeed-stream/'
// A response reads FIRST bytes, then twice as many each time up to CHUNK: a read returns once every piece it
// covers is downloaded, so a small first read gets a player its first frame sooner.
const FIRST = 64 << 10
const CHUNK = 1 << 20
const TYPES = {
  mp4: 'video/mp4', m4v: 'video/mp4', webm: 'video/webm', mkv: 'video/x-matroska', ogv: 'video/ogg',
  mp3: 'audio/mpeg', m4a: 'audio/mp4', ogg: 'audio/ogg', oga: 'audio/ogg', opus: 'audio/ogg', wav: 'audio/wav', flac: 'audio/flac',
}

self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', event => event.waitUntil(self.clients.claim()))

// ask sends a request to the page that owns the stream and resolves with its answer.
function ask (client, msg) {
  return new Promise((resolve, reject) => {
    const ch = new MessageChannel()
    const timer = setTimeout(() => reject(new Error('btspeed: the page did not answer')), 120000)
    ch.port1.onmessage = e => {
      clearTimeout(timer)
      if (e.data && e.data.error) reject(new Error(e.data.error))
      else resolve(e.data)
    }
    client.postMessage(Object.assign({ btspeed: true }, msg), [ch.port2])
  })
}

async function pageFor (event) {
  if (event.clientId) {
    const c = await self.clients.get(event.clientId)
    if (c) return c
  }
  const all = await self.clients.matchAll({ type: 'window' })
  return all[0]
}

self.addEventListener('fetch', event => {
  const url = new URL(event.request.url)
  const at = url.pathname.indexOf(PREFIX)
  if (at < 0) return
  event.respondWith((async () => {
    const [infoHash, file, name] = url.pathname.slice(at + PREFIX.length).split('/')
    const client = await pageFor(event)
    if (!client) return new Response('no btspeed page to stream from', { status: 503 })
    let stat
    try {
      stat = await ask(client, { op: 'stat', infoHash, file: Number(file) })
    } catch (e) {
      return new Response(String(e.message), { status: 404 })
    }
    const length = stat.length
    let start = 0
    let end = length - 1
    const range = /bytes=(\d*)-(\d*)/.exec(event.request.headers.get('Range') || '')
    if (range) {
      if (range[1]) start = Number(range[1])
      if (range[2]) end = Math.min(Number(range[2]), length - 1)
      if (!range[1] && range[2]) { start = Math.max(0, length - Number(range[2])); end = length - 1 }
    }
    if (start > end || start >= length) {
      return new Response(null, { status: 416, headers: { 'Content-Range': 'bytes */' + length } })
    }
    const ext = decodeURIComponent(name || '').split('.').pop().toLowerCase()
    const headers = {
      'Content-Type': TYPES[ext] || 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'Content-Length': String(end - start + 1),
    }
    let pos = start
    let chunk = FIRST
    const body = new ReadableStream({
      async pull (ctrl) {
        if (pos > end) { ctrl.close(); return }
        const n = Math.min(chunk, end - pos + 1)
        chunk = Math.min(CHUNK, chunk * 2)
        const res = await ask(client, { op: 'read', infoHash, file: Number(file), offset: pos, length: n })
        pos += res.bytes.byteLength
        ctrl.enqueue(new Uint8Array(res.bytes))
        if (res.bytes.byteLength === 0) ctrl.close()
      },
    }, { highWaterMark: 2 })
    if (range) {
      headers['Content-Range'] = 'bytes ' + start + '-' + end + '/' + length
      return new Response(body, { status: 206, headers })
    }
    return new Response(body, { status: 200, headers })
  })())
})
