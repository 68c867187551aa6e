// serve.mjs runs btspeed's edge Worker (dist/edge) under miniflare, the way
// Cloudflare would: static assets in front, the Worker first for its own
// paths, a D1 database persisted on disk, and no outbound request of its own
// (cf: false). It prints "listening on URL" and runs until SIGTERM.
//
//   node serve.mjs --worker DIR --assets DIR --origin URL --d1 DIR [--port N]
import { Miniflare } from 'miniflare'
import { parseArgs } from 'node:util'

const { values: a } = parseArgs({
  options: {
    worker: { type: 'string' },
    assets: { type: 'string' },
    origin: { type: 'string' },
    d1: { type: 'string' },
    port: { type: 'string', default: '0' },
    interval: { type: 'string', default: '' },
  },
})
for (const k of ['worker', 'assets', 'origin', 'd1']) {
  if (!a[k]) {
    console.error(`serve.mjs: --${k} is required`)
    process.exit(2)
  }
}
const bindings = { ORIGIN: a.origin }
if (a.interval) bindings.ANNOUNCE_INTERVAL = a.interval
const mf = new Miniflare({
  host: '127.0.0.1',
  port: Number(a.port),
  cf: false,
  modules: true,
  modulesRoot: a.worker,
  scriptPath: `${a.worker}/worker.mjs`,
  modulesRules: [
    { type: 'CompiledWasm', include: ['**/*.wasm'] },
    { type: 'ESModule', include: ['**/*.mjs', '**/*.js'] },
  ],
  compatibilityDate: '2025-06-01',
  d1Databases: { DB: 'btspeed-edge' },
  d1Persist: a.d1,
  bindings,
  assets: {
    directory: a.assets,
    routerConfig: {
      has_user_worker: true,
      invoke_user_worker_ahead_of_assets: false,
      static_routing: { user_worker: ['/announce', '/scrape', '/ledger/*', '/tron/*', '/edge.json'] },
    },
  },
})
const url = await mf.ready
console.log(`listening on ${url.origin}`)
const stop = async () => {
  await mf.dispose()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
