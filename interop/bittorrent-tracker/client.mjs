// Announces to a WebSocket (or HTTP) tracker with WebTorrent's own tracker
// client, then scrapes, and prints what the tracker answered as JSON:
//   node client.mjs URL INFOHASH_HEX PEERID_HEX LEFT
// No WebRTC offers are made (numwant 0): the relay's tests check offers and
// answers with browser-shaped messages of their own.
import Client from 'bittorrent-tracker'

const [url, infoHash, peerId, left] = process.argv.slice(2)
const client = new Client({
  infoHash,
  peerId,
  announce: [url],
  port: 6881,
  wrtc: {} // never used with numwant 0; satisfies the WebRTC-support check
})
const out = {}
const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', ...out })); process.exit(1) }, 10000)
client.on('error', err => { console.log(JSON.stringify({ error: err.message })); process.exit(1) })
client.on('warning', err => { out.warning = err.message })
client.once('update', data => {
  out.update = { complete: data.complete, incomplete: data.incomplete }
  client.scrape()
})
client.once('scrape', data => {
  out.scrape = { complete: data.complete, incomplete: data.incomplete, downloaded: data.downloaded }
  clearTimeout(timer)
  console.log(JSON.stringify(out))
  client.destroy()
  setTimeout(() => process.exit(0), 100)
})
client.start({ numwant: 0, left: Number(left), uploaded: 0, downloaded: 0 })
