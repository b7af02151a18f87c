// Load and soak: a few hundred concurrent clients pull a mix of cached and
// uncached blobs (whole, Range, HEAD) and manifests for SOAK_SECONDS
// (default 30; above ~90 raise tap's 120 s file timeout too, e.g.
// `SOAK_SECONDS=120 npx tap --timeout 240 test/hardening/soak.test.ts`)
// while faults are injected upstream (resets, short and
// wrong bodies, stalls, slow bodies, 429/503) and cached files are deleted
// behind the cache's back. The LRU bound is small, so blobs are evicted and
// refetched all the time.
//
//   zero wrong bodies   every complete 200/206 is verified (SHA-256 or bytes);
//                       wrong bytes are injected into whole-blob GETs only,
//                       since a Range on a miss is passed to the upstream
//                       and carries what it sent (docs/security.md)
//   every request answered  a status or a cut connection within 30 s, no hang
//   no 500s             only 2xx, 416 and upstream-caused 429/502/503/504
//   flat at the end     sockets and files back to the baseline; RSS within
//                       96 MiB of what it was a quarter of the way in
import { randomBytes } from 'node:crypto'
import { unlinkSync } from 'node:fs'
import t from 'tap'
import { blobFile } from './fixtures/cache-files.js'
import type { Fault, Role } from './fixtures/fault-registry.js'
import { startHarness } from './fixtures/harness.js'
import { pull, type PullResult as Result } from './fixtures/pull.js'

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 30)
const CLIENTS = Number(process.env['SOAK_CLIENTS'] ?? 200)
const MiB = 1024 * 1024

t.test(`soak: ${CLIENTS} clients for ${SECONDS} s with faults`, async (t) => {
  const h = await startHarness(t, {
    cache: true,
    proxy: { maxConnsPerClient: 0, cacheMaxSize: 24 * MiB, client: { connectTimeout: 1000, headerTimeout: 2000, idleTimeout: 1000, maxSocketsPerOrigin: 32 } },
  })
  const blobs = Array.from({ length: 48 }, (_, i) => h.addBlob(i % 8 === 0 ? 2 * MiB : 16 * 1024 + Math.floor(Math.random() * 512 * 1024)))
  const manifests = Array.from({ length: 6 }, (_, i) => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, n: i, layers: blobs.slice(i * 4, i * 4 + 4).map((b) => b.digest), pad: randomBytes(512).toString('hex') }))
    return { tag: `v${i}`, body, digest: h.reg.addManifest(h.repo, `v${i}`, body) }
  })

  const stats = { requests: 0, ok: 0, wrong: [] as string[], hung: 0, bad: [] as string[], statuses: new Map<string, number>() }
  const count = (k: string) => stats.statuses.set(k, (stats.statuses.get(k) ?? 0) + 1)
  const allowedFailures = new Set([416, 429, 502, 503, 504])
  let stop = false

  const client = async () => {
    while (!stop) {
      const roll = Math.random()
      const b = blobs[Math.floor(Math.random() * blobs.length)]!
      let r: Result
      let check: (r: Result) => string | null
      if (roll < 0.55) {
        r = await pull(h.proxy.url, b.path, Math.random() < 0.05 ? { abortAt: 8 * 1024 } : {})
        check = (r) => (r.status === 200 && r.complete && r.digest !== b.digest ? `blob ${b.digest} came back as ${r.digest}` : null)
      } else if (roll < 0.65) {
        const start = Math.floor(Math.random() * (b.bytes.length - 1))
        const end = Math.min(b.bytes.length - 1, start + Math.floor(Math.random() * 32 * 1024))
        r = await pull(h.proxy.url, b.path, { headers: { range: `bytes=${start}-${end}` } })
        check = (r) =>
          r.status === 206 && r.complete && !r.body?.equals(b.bytes.subarray(start, end + 1))
            ? `range ${start}-${end} of ${b.digest} wrong`
            : r.status === 200 && r.complete && r.digest !== b.digest
              ? `range fallback 200 of ${b.digest} wrong`
              : null
      } else if (roll < 0.75) {
        r = await pull(h.proxy.url, b.path, { method: 'HEAD' })
        check = () => null
      } else {
        const m = manifests[Math.floor(Math.random() * manifests.length)]!
        r = await pull(h.proxy.url, `/v2/${h.repo}/manifests/${Math.random() < 0.5 ? m.tag : m.digest}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
        check = (r) => (r.status === 200 && r.complete && r.digest !== m.digest ? `manifest ${m.tag} came back as ${r.digest}` : null)
      }
      stats.requests++
      count(r.hung ? 'hung' : r.status === null ? 'cut' : String(r.status))
      if (r.hung) stats.hung++
      const wrong = check(r)
      if (wrong) stats.wrong.push(wrong)
      if (r.status !== null && r.status >= 200 && r.status < 300 && (r.complete || r.status === 204)) stats.ok++
      else if (r.status !== null && r.status >= 300 && !allowedFailures.has(r.status) && stats.bad.length < 10) stats.bad.push(`${r.status}`)
    }
  }

  const faults: Array<[Role, Fault]> = [
    ['cdn', { kind: 'reset-body', after: 4096 }],
    ['cdn', { kind: 'short', after: 10_000 }],
    ['cdn', { kind: 'wrong' }],
    ['cdn', { kind: 'stall-body', after: 1024 }],
    ['cdn', { kind: 'rate', bytesPerSecond: 512 * 1024 }],
    ['cdn', { kind: 'status', status: 503 }],
    ['registry', { kind: 'status', status: 429 }],
    ['registry', { kind: 'reset-headers' }],
    ['registry', { kind: 'delay', ms: 300 }],
    ['registry', { kind: 'long', extra: 100 }],
  ]
  const injector = setInterval(() => {
    h.reg.clearFaults()
    for (let i = 0; i < 2; i++) {
      const [role, fault] = faults[Math.floor(Math.random() * faults.length)]!
      h.reg.fault(role, fault, { times: 1 + Math.floor(Math.random() * 3), ...(fault.kind === 'wrong' ? { ranged: false } : {}) })
    }
    if (Math.random() < 0.3) {
      const b = blobs[Math.floor(Math.random() * blobs.length)]!
      try {
        unlinkSync(blobFile(h.cacheDir!, b.digest))
      } catch {
        // not cached right now
      }
    }
  }, 250)

  const started = Date.now()
  const workers = Array.from({ length: CLIENTS }, client)
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 4))
  const rssQuarter = process.memoryUsage().rss
  await new Promise((r) => setTimeout(r, (SECONDS * 1000 * 3) / 4))
  stop = true
  clearInterval(injector)
  h.reg.clearFaults()
  await Promise.all(workers)
  const ms = Date.now() - started

  t.comment(`${stats.requests} requests in ${ms} ms (${Math.round((stats.requests * 1000) / ms)}/s); ${JSON.stringify(Object.fromEntries(stats.statuses))}`)
  t.same(stats.wrong.slice(0, 10), [], `zero wrong bodies (${stats.wrong.length})`)
  t.equal(stats.hung, 0, 'every request answered (a status or a cut connection)')
  t.same(stats.bad, [], 'no unexpected statuses (only 2xx, 416, 429, 502, 503, 504)')
  t.ok(stats.ok > stats.requests / 2, `most requests succeeded (${stats.ok} of ${stats.requests})`)
  await h.assertClean(t, 'after the soak')
  const rssEnd = process.memoryUsage().rss
  t.ok(rssEnd - rssQuarter < 96 * MiB, `RSS ${(rssEnd / MiB).toFixed(0)} MiB at the end, ${(rssQuarter / MiB).toFixed(0)} MiB a quarter in (tolerance +96 MiB)`)
  const after = await pull(h.proxy.url, blobs[0]!.path)
  t.ok(after.status === 200 && after.digest === blobs[0]!.digest, 'serving normally afterwards')
})
