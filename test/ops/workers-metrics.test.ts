// --workers 2: /metrics and /status.json show the whole node whichever worker
// answers. Scrapes taken while skopeo pulls through the CLI from a real
// docker-registry never see a counter go backwards, the figures equal what
// was pulled, the page agrees with /metrics, and a worker killed and
// replaced takes none of its counts with it.
import { join } from 'node:path'
import t from 'tap'
import { request } from '../fixtures/proxy.js'
import { requireTools } from '../fixtures/real/available.js'
import { buildImage, pushImage, skopeo } from '../fixtures/real/images.js'
import { startRegistry } from '../fixtures/real/registry.js'
import type { StatusData } from '../../lib/status/status-data.js'
import { startCliProxy } from '../fixtures/cli-proxy.js'

/** Counter and histogram samples (the ones that must never decrease), by series text. */
function monotonic(text: string): Map<string, number> {
  const types = new Map<string, string>()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) (\w+)$/.exec(line)
    if (typed) types.set(typed[1]!, typed[2]!)
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
    if (!m) continue
    const family = types.has(m[1]!) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, '')
    if (types.get(family) === 'counter' || types.get(family) === 'histogram') out.set(m[1]! + (m[2] ?? ''), Number(m[3]))
  }
  return out
}

t.test('two workers: one node-wide view that never goes backwards', requireTools(['docker-registry', 'skopeo']), async (t) => {
  const dir = t.testdir()
  const reg = await startRegistry({ dir: join(dir, 'registry') })
  t.teardown(() => reg.close())
  const img = buildImage(join(dir, 'oci'), { seed: 'workers-metrics', layers: [64 * 1024, 512 * 1024, 1024 * 1024] })
  await pushImage(img.dir, img.ref, `docker://${reg.host}/team/app:1`)
  const blobBytes = img.blobs.reduce((n, b) => n + img.sizes[b]!, 0)

  const map = join(dir, 'map.json')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(map, JSON.stringify({ default: reg.url }))
  const p = await startCliProxy(['--workers', '2', '--listen', '127.0.0.1:0', '--cache-dir', join(dir, 'cache'), '--registry-map', map], { listen: false })
  t.teardown(() => p.close())
  await p.waitFor(/crproxy listening worker=\d+/, 15_000, 2)

  let last = new Map<string, number>()
  let scrapes = 0
  const backwards: string[] = []
  const scrape = async () => {
    const now = monotonic((await request(p.url, '/metrics')).body.toString())
    for (const [k, v] of last) {
      const n = now.get(k)
      // `name 0` stands for a family with no series yet; its first labelled series replaces it.
      if ((n === undefined && v > 0) || (n !== undefined && n < v)) backwards.push(`${k}: ${v} → ${n}`)
    }
    last = now
    scrapes++
    return now
  }
  let pulling = true
  const scraper = (async () => {
    while (pulling) {
      await scrape()
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  const pulls = 3
  for (let i = 0; i < pulls; i++) {
    await skopeo(['copy', '--src-tls-verify=false', `docker://127.0.0.1:${p.port}/team/app:1`, `dir:${join(dir, `out${i}`)}`])
  }
  pulling = false
  await scraper
  // Six scrapes in a row over fresh connections: each may land on either worker.
  const after: Array<Map<string, number>> = []
  for (let i = 0; i < 6; i++) after.push(await scrape())
  t.ok(scrapes > 10, `${scrapes} scrapes`)
  t.same(backwards, [], 'no counter or histogram series went backwards')
  // The scrapes themselves are requests (upstream="-"), counted once answered.
  const pulled = (m: Map<string, number>) => new Map([...m].filter(([k]) => !k.includes('upstream="-"')))
  for (const s of after) t.same(pulled(s), pulled(after[0]!), 'every scrape shows the same node-wide figures')

  const s = after[0]!
  // A worker's first request for a blob another worker filled is a hit too:
  // the pulls run one after another, so only the first fetched upstream.
  const hits = s.get('crproxy_cache_hits_total')!
  const misses = s.get('crproxy_cache_misses_total')!
  t.equal(hits + misses, pulls * img.blobs.length, 'every blob request of every pull, node-wide')
  t.equal(misses, img.blobs.length, 'a miss per blob of the first pull only')
  t.equal(s.get('crproxy_cache_bytes_served_total{source="upstream"}'), blobBytes)
  t.equal(s.get('crproxy_cache_bytes_served_total{source="cache"}'), (pulls - 1) * blobBytes)

  const d = JSON.parse((await request(p.url, '/status.json')).body.toString()) as StatusData
  t.equal(d.processes, 2)
  t.equal(d.cache!.hits, s.get('crproxy_cache_hits_total'), 'the page agrees with /metrics: hits')
  t.equal(d.cache!.misses, s.get('crproxy_cache_misses_total'), 'misses')
  t.equal(d.cache!.bytesFromUpstream, s.get('crproxy_cache_bytes_served_total{source="upstream"}'), 'bytes fetched upstream')
  t.equal(d.cache!.bytesFromCache, s.get('crproxy_cache_bytes_served_total{source="cache"}'), 'bytes from the cache')
  const upstream = d.upstreams.find((u) => u.host === reg.host)!
  const histogramCount = [...s].filter(([k]) => k.startsWith(`crproxy_upstream_request_duration_seconds_count{host="${reg.host}"`)).reduce((n, [, v]) => n + v, 0)
  t.equal(upstream.requests, histogramCount, 'upstream requests')
  t.equal(d.repositories[0]?.name, 'default/team/app')

  // A worker killed and replaced: its counts stay in the sums.
  // The one that served the most hits.
  const pids = new Map([...p.log().matchAll(/crproxy listening worker=(\d+) pid=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]))
  const served = new Map<string, number>()
  for (const m of p.log().matchAll(/INFO  request worker=(\d+) .*path=\/v2\/team\/app\/blobs\/.*source=cache/g)) served.set(m[1]!, (served.get(m[1]!) ?? 0) + 1)
  const [victim, itsHits] = [...served].sort((a, b) => b[1] - a[1])[0]!
  t.ok(itsHits > 0, `worker ${victim} served ${itsHits} hits`)
  const pid = pids.get(victim)!
  process.kill(pid, 'SIGKILL')
  await p.waitFor(/worker died: restarting/)
  await p.waitFor(/crproxy listening worker=\d+/, 15_000, 3)
  for (let i = 0; i < 6; i++) await scrape()
  t.same(backwards, [], 'nothing went backwards across the restart')
  t.equal(last.get('crproxy_cache_hits_total'), hits, 'the dead worker’s hits are kept')
  t.equal(last.get('crproxy_cache_bytes_served_total{source="cache"}'), (pulls - 1) * blobBytes, 'and its bytes')
  const d2 = JSON.parse((await request(p.url, '/status.json')).body.toString()) as StatusData
  t.equal(d2.processes, 2, 'the replacement is counted in')
  t.equal(d2.cache!.bytesFromCache, (pulls - 1) * blobBytes)
})
