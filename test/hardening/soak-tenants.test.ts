// Mixed-tenant soak: one caching proxy in front of honest, hostile and
// trickling upstreams, for SOAK_SECONDS (default 30; above ~60 raise tap's
// 120 s file timeout too), with SOAK_TENANT_CLIENTS (default 60) clients in a
// loop: owners pulling private
// layers with their token, other tenants asking for those very digests
// through a public repository, without a token, with the wrong token, or
// through the hostile upstream (by Host and by ?ns=), whole, Range and HEAD,
// and public pulls, some given up half way. The cache is small, so blobs are
// evicted and filled again all the time.
//
//   world     default  honest: team-a/private (token A, private layers),
//                      team-b/app (public layers)
//             mirror   honest: team-c/secret (token C: one of A's private
//                      layers and one of its own), mirror/app (some of A's
//                      public layers and one of its own)
//             evil     answers 200 to HEAD and GET of any digest, other bytes
//             slow     team-b/app (two of A's small public layers), one byte
//                      every few ms
//
//   no leak       no response to a request that does not own a private layer
//                 (owner: its upstream, repository and token) carries bytes
//                 of that layer at the offset asked for, complete or cut; an
//                 honest upstream's refusal is never turned into a 2xx
//   no wrong byte every complete 200, and every complete 206 through an
//                 honest upstream, carries exactly the digest's bytes (the
//                 asked range); nothing in the cache's blobs/ fails its
//                 SHA-256 at the end. (A Range on a miss is passed to the
//                 upstream, unverifiable: the hostile one's 206 is its own
//                 bytes, and only "no leak" applies to it.)
//   no hang       every request answered or cut within 20 s
//   flat at the end  sockets and files back to the baseline; RSS within
//                 96 MiB of what it was a quarter of the way in
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startTestProxy } from '../fixtures/proxy.js'
import { describe, extraFiles, fdSnapshot, waitForBaseline } from './fixtures/fds.js'
import { quiesce } from './fixtures/harness.js'
import { startLenientRegistry, type LenientRegistry } from './fixtures/lenient-registry.js'
import { pull, type PullResult } from './fixtures/pull.js'
import { sha256, sha256Hex } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 30)
const CLIENTS = Number(process.env['SOAK_TENANT_CLIENTS'] ?? 60)
const MiB = 1024 * 1024
const KiB = 1024
const DEADLINE = 20_000
const TOKEN_A = 'tok-a'
const TOKEN_C = 'tok-c'

type Up = 'default' | 'mirror' | 'evil' | 'slow'

interface Layer {
  name: string
  bytes: Buffer
  digest: string
}

/** A private layer and who may read it: an upstream, a repository, a token. */
interface Secret extends Layer {
  owners: Array<{ up: Up; repo: string; token: string }>
}

interface Ask {
  label: string
  layer: Layer
  up: Up
  repo: string
  token?: string
  method: 'GET' | 'HEAD'
  range?: [number, number]
  /** Route with ?ns=<host:port> rather than Host. */
  ns?: boolean
  abortAfterMs?: number
  abortAt?: number
}

function layer(name: string, size: number): Layer {
  const bytes = randomBytes(size)
  return { name, bytes, digest: sha256(bytes) }
}

function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(Math.random() * xs.length)]!
}

function randomRange(size: number): [number, number] {
  const start = Math.floor(Math.random() * (size - 1))
  return [start, Math.min(size - 1, start + Math.floor(Math.random() * 32 * KiB))]
}

/** Where a 206 says its bytes start; a 200 starts at 0. */
function contentRange(h: string | undefined): [number, number] | null {
  const m = /^bytes (\d+)-(\d+)\//.exec(h ?? '')
  return m ? [Number(m[1]), Number(m[2])] : null
}

/**
 * Does this chunk, standing at `at` in the layer, repeat the layer's own
 * bytes there? Sampled at the chunk's start and every 4 KiB of the layer.
 */
function repeats(chunk: Buffer, at: number, s: Layer): boolean {
  const same = (p: number) => {
    const pos = at + p
    const len = Math.min(32, chunk.length - p, s.bytes.length - pos)
    return len >= 8 && chunk.subarray(p, p + len).equals(s.bytes.subarray(pos, pos + len))
  }
  if (same(0)) return true
  for (let p = 4096 - (at % 4096); p < chunk.length; p += 4096) if (same(p)) return true
  return false
}

function blobFiles(cacheDir: string): string[] {
  const root = join(cacheDir, 'blobs', 'sha256')
  let shards: string[] = []
  try {
    shards = readdirSync(root)
  } catch {
    return []
  }
  return shards.flatMap((d) => readdirSync(join(root, d)).map((f) => join(root, d, f)))
}

t.test(`mixed-tenant soak: ${CLIENTS} clients for ${SECONDS} s, honest, hostile and trickling upstreams`, async (t) => {
  const P0 = layer('P0', 256 * KiB) // private at both honest upstreams
  const privateA = [P0, layer('P1', 2 * MiB), ...[2, 3, 4, 5].map((i) => layer(`P${i}`, 32 * KiB + Math.floor(Math.random() * 736 * KiB)))]
  const privateC = layer('C1', 128 * KiB)
  const tiny = [layer('T0', 1024), layer('T1', 1536)]
  const publicA = [layer('Q0', 1536 * KiB), ...[1, 2, 3, 4, 5].map((i) => layer(`Q${i}`, 16 * KiB + Math.floor(Math.random() * 496 * KiB))), ...tiny]
  const publicB = layer('M0', 200 * KiB)
  const mirrored = publicA.slice(1, 4)

  const regs: Record<Up, LenientRegistry> = {
    default: await startLenientRegistry({
      repos: { 'team-a/private': { token: TOKEN_A, blobs: privateA.map((l) => l.bytes) }, 'team-b/app': { blobs: publicA.map((l) => l.bytes) } },
    }),
    mirror: await startLenientRegistry({
      repos: {
        'team-c/secret': { token: TOKEN_C, blobs: [P0.bytes, privateC.bytes] },
        'mirror/app': { blobs: [...mirrored, publicB].map((l) => l.bytes) },
      },
    }),
    evil: await startLenientRegistry({ repos: {}, anyDigest: true }),
    slow: await startLenientRegistry({ repos: { 'team-b/app': { blobs: tiny.map((l) => l.bytes) } }, trickle: 3 }),
  }
  t.teardown(() => Promise.all(Object.values(regs).map((r) => r.close())))

  const secrets: Secret[] = [
    ...privateA.map((l) => ({ ...l, owners: [{ up: 'default' as Up, repo: 'team-a/private', token: TOKEN_A }] })),
    { ...privateC, owners: [{ up: 'mirror', repo: 'team-c/secret', token: TOKEN_C }] },
  ]
  secrets[0]!.owners.push({ up: 'mirror', repo: 'team-c/secret', token: TOKEN_C })
  const secretOf = new Map(secrets.map((s) => [s.digest, s]))
  const owns = (a: Ask, s: Secret) => s.owners.some((o) => o.up === a.up && o.repo === a.repo && o.token === a.token)

  const cacheDir = join(t.testdir(), 'cache')
  const proxy = await startTestProxy(t, {
    registryMap: Object.fromEntries(Object.entries(regs).map(([k, r]) => [k, r.url])),
    domainSuffix: 'crproxy.test',
    cacheDir,
    cacheMaxSize: 4 * MiB,
    maxConnsPerClient: 0,
    client: { connectTimeout: 1000, headerTimeout: 2000, idleTimeout: 1000, maxSocketsPerOrigin: 32 },
  })
  const cache = proxy.deps.cache!

  const send = (a: Ask, onData?: (c: Buffer, off: number, res: IncomingMessage) => void): Promise<PullResult> => {
    const base = `/v2/${a.repo}/blobs/${a.layer.digest}`
    const path = a.ns ? `${base}?ns=${encodeURIComponent(regs[a.up].host)}` : base
    const headers: Record<string, string> = {}
    if (!a.ns && a.up !== 'default') headers['host'] = `${a.up}.crproxy.test`
    if (a.token) headers['authorization'] = `Bearer ${a.token}`
    if (a.range) headers['range'] = `bytes=${a.range[0]}-${a.range[1]}`
    return pull(proxy.url, path, {
      method: a.method,
      headers,
      timeoutMs: DEADLINE,
      ...(a.abortAfterMs !== undefined ? { abortAfterMs: a.abortAfterMs } : {}),
      ...(a.abortAt !== undefined ? { abortAt: a.abortAt } : {}),
      ...(onData ? { onData } : {}),
    })
  }

  // Warm up every route (upstream pools, hash workers, cache dirs), then let
  // everything settle and take the baseline.
  for (const a of [
    { label: 'warm', layer: publicA[1]!, up: 'default', repo: 'team-b/app', method: 'GET' },
    { label: 'warm', layer: publicB, up: 'mirror', repo: 'mirror/app', method: 'GET' },
    { label: 'warm', layer: publicB, up: 'evil', repo: 'mirror/app', method: 'GET' },
  ] satisfies Ask[]) {
    await send(a)
  }
  await quiesce(proxy)
  const baseline = fdSnapshot()

  /** One request of the mix: who asks, for what, through which upstream. */
  const nextAsk = (): Ask => {
    const roll = Math.random()
    const shape = Math.random()
    const method = shape < 0.12 ? 'HEAD' : 'GET'
    const ranged = method === 'GET' && shape > 0.65
    const withShape = (a: Omit<Ask, 'method'>): Ask => ({
      ...a,
      method,
      ...(ranged ? { range: randomRange(a.layer.bytes.length) } : {}),
      ...(method === 'GET' && Math.random() < 0.05 ? { abortAt: 8 * KiB } : {}),
    })
    if (roll < 0.2) {
      const l = pick(privateA)
      return withShape({ label: 'owner A', layer: l, up: 'default', repo: 'team-a/private', token: TOKEN_A, ns: Math.random() < 0.2 })
    }
    if (roll < 0.26) return withShape({ label: 'owner C', layer: pick([P0, privateC]), up: 'mirror', repo: 'team-c/secret', token: TOKEN_C })
    if (roll < 0.46) {
      const l = pick(secrets)
      const v = Math.random()
      if (v < 0.3) return withShape({ label: 'other repo', layer: l, up: 'default', repo: 'team-b/app', ...(Math.random() < 0.5 ? { token: TOKEN_A } : {}) })
      if (v < 0.55) return withShape({ label: 'no token', layer: l, up: 'default', repo: 'team-a/private', ...(Math.random() < 0.5 ? { token: TOKEN_C } : {}) })
      if (v < 0.75) return withShape({ label: 'other repo', layer: l, up: 'mirror', repo: 'mirror/app', ...(Math.random() < 0.5 ? { token: TOKEN_C } : {}) })
      return withShape({ label: 'no token', layer: l, up: 'mirror', repo: 'team-c/secret', ...(Math.random() < 0.5 ? { token: TOKEN_A } : {}) })
    }
    if (roll < 0.62) {
      // The hostile upstream, asked for private and public digests alike,
      // sometimes with a token that is good elsewhere.
      const l = Math.random() < 0.75 ? pick(secrets) : pick(publicA)
      const token = pick([undefined, TOKEN_A, TOKEN_C])
      return withShape({ label: 'hostile', layer: l, up: 'evil', repo: pick(['team-a/private', 'team-b/app']), ns: Math.random() < 0.5, ...(token ? { token } : {}) })
    }
    if (roll < 0.8) return withShape({ label: 'public A', layer: pick(publicA), up: 'default', repo: 'team-b/app' })
    if (roll < 0.9) return withShape({ label: 'public mirror', layer: pick([...mirrored, publicB]), up: 'mirror', repo: 'mirror/app' })
    return { label: 'slow', layer: pick(tiny), up: 'slow', repo: 'team-b/app', method: 'GET', abortAfterMs: 1000 + Math.floor(Math.random() * 2000) }
  }

  const leaks: string[] = []
  const wrong: string[] = []
  const hung: string[] = []
  const bad: string[] = []
  const byLabel = new Map<string, Map<string, number>>()
  const count = (label: string, outcome: string) => {
    const m = byLabel.get(label) ?? new Map<string, number>()
    m.set(outcome, (m.get(outcome) ?? 0) + 1)
    byLabel.set(label, m)
  }
  // Non-owners' GETs of a private digest that was in the cache when asked:
  // the ones a cache that forgot whose layer it holds would leak.
  const askedWhileCached = { honest: 0, hostile: 0 }
  let ownerOk = 0
  let ownerGets = 0
  let requests = 0
  const allowed = new Set([200, 206, 401, 404, 416, 429, 502, 503, 504])
  let stop = false

  const client = async () => {
    while (!stop) {
      const a = nextAsk()
      const name = `${a.label} ${a.method} ${a.layer.name} via ${a.up}${a.ns ? ' ?ns' : ''} ${a.repo}${a.token ? ' with ' + a.token : ''}${a.range ? ` bytes=${a.range[0]}-${a.range[1]}` : ''}`
      const foreign = secrets.filter((s) => !owns(a, s))
      const secret = secretOf.get(a.layer.digest)
      const nonOwner = secret !== undefined && !owns(a, secret)
      if (nonOwner && a.method === 'GET' && cache.cached(a.layer.digest)) askedWhileCached[a.up === 'evil' ? 'hostile' : 'honest']++
      let leaked: string | null = null
      const r = await send(a, (chunk, off, res) => {
        if (leaked) return
        // The offsets a leak could sit at: what the 206 says, what was asked, the start.
        const starts = new Set([0, a.range?.[0] ?? 0, contentRange(res.headers['content-range'])?.[0] ?? 0])
        for (const s of foreign) {
          for (const start of starts) {
            if (repeats(chunk, start + off, s)) leaked = `${name}: ${res.statusCode} carried bytes of ${s.name} at ${start + off}`
          }
        }
      })
      requests++
      count(`${a.label} ${a.method}`, r.hung ? 'hung' : r.aborted ? 'gave up' : r.status === null ? 'cut' : `${r.status}${r.complete ? '' : ' cut'}`)
      if (leaked) leaks.push(leaked)
      // An honest upstream refuses these: a 2xx can only come from the cache.
      if (nonOwner && a.up !== 'evil' && a.method === 'GET' && r.status !== null && r.status >= 200 && r.status < 300) {
        leaks.push(`${name}: ${r.status} to a non-owner`)
      }
      if (r.hung) hung.push(name)
      if (r.status !== null && !allowed.has(r.status)) bad.push(`${name}: ${r.status}`)
      if (a.method === 'HEAD') {
        if (r.size !== 0) wrong.push(`${name}: a HEAD with ${r.size} body bytes`)
      } else if (r.complete && r.status === 200) {
        if (r.digest !== a.layer.digest) wrong.push(`${name}: 200 came back as ${r.digest}`)
      } else if (r.complete && r.status === 206 && !(a.up === 'evil' && a.range)) {
        const cr = contentRange(r.headers['content-range'])
        const want = a.range ? a.layer.bytes.subarray(a.range[0], a.range[1] + 1) : null
        if (!a.range || !cr || cr[0] !== a.range[0] || cr[1] !== a.range[1]) wrong.push(`${name}: 206 for ${r.headers['content-range']}`)
        else if (r.digest !== sha256(want!)) wrong.push(`${name}: 206 with other bytes`)
      }
      if (a.label.startsWith('owner') && a.method === 'GET' && a.abortAt === undefined) {
        ownerGets++
        if (r.complete && (r.status === 200 || r.status === 206)) ownerOk++
      }
    }
  }

  const started = Date.now()
  const workers = Array.from({ length: CLIENTS }, client)
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 4))
  const rssQuarter = process.memoryUsage().rss
  await new Promise((r) => setTimeout(r, (SECONDS * 1000 * 3) / 4))
  stop = true
  await Promise.all(workers)
  const ms = Date.now() - started

  t.comment(`${requests} requests in ${ms} ms (${Math.round((requests * 1000) / ms)}/s); cache ${JSON.stringify(cache.stats())}`)
  for (const [label, m] of byLabel) t.comment(`${label}: ${JSON.stringify(Object.fromEntries(m))}`)
  t.comment(`non-owner GETs of a cached private digest: ${JSON.stringify(askedWhileCached)}`)

  t.same(leaks.slice(0, 5), [], `no private byte served to the wrong client (${leaks.length} violations)`)
  t.same(wrong.slice(0, 5), [], `no wrong byte served: every complete 200/206 verified (${wrong.length} violations)`)
  t.same(hung.slice(0, 5), [], `every request answered or cut within ${DEADLINE / 1000} s (${hung.length} hung)`)
  t.same(bad.slice(0, 5), [], `no unexpected status (${bad.length})`)
  t.ok(ownerOk > ownerGets * 0.9, `owners got their layers (${ownerOk} of ${ownerGets})`)
  t.ok(askedWhileCached.honest > 0 && askedWhileCached.hostile > 0, 'non-owners asked for private layers the cache held, through honest and hostile upstreams')
  t.ok(cache.stats().evictions > 0, `the cache evicted (${cache.stats().evictions})`)

  // Fills whose clients gave up go on to the end (the slow upstream's take
  // a few seconds); then nothing may be left behind.
  const fills = await waitFor(() => cache.stats().inflightFills, (n) => n === 0, 20_000)
  t.equal(fills, 0, 'no fill in flight at the end')
  const inflight = await quiesce(proxy)
  t.equal(inflight.connections, 0, 'no client connection left open at the proxy')
  t.same(inflight.pool, { open: 0, idle: 0, queued: 0 }, 'no upstream socket held or queued')
  t.equal(cache.stats().fillBufferBytes, 0, 'every fill read buffer went back to the pool')
  const tmp = await waitFor(() => readdirSync(join(cacheDir, 'tmp')), (l) => l.length === 0, 3000)
  t.same(tmp, [], 'no temp file left in the cache')
  const now = await waitForBaseline(baseline)
  t.ok(now.sockets <= baseline.sockets, `sockets back to baseline (${describe(now)}; baseline ${describe(baseline)})`)
  t.same(extraFiles(baseline, now), [], 'no file left open')
  const rssEnd = process.memoryUsage().rss
  t.ok(rssEnd - rssQuarter < 96 * MiB, `RSS ${(rssEnd / MiB).toFixed(0)} MiB at the end, ${(rssQuarter / MiB).toFixed(0)} MiB a quarter in (tolerance +96 MiB)`)

  const files = blobFiles(cacheDir)
  const corrupt = files.filter((f) => sha256Hex(readFileSync(f)) !== f.slice(-64))
  t.ok(files.length > 0, `blobs in the cache at the end (${files.length})`)
  t.same(corrupt, [], 'every cached blob matches its SHA-256')

  const after = await send({ label: 'after', layer: privateA[1]!, up: 'default', repo: 'team-a/private', token: TOKEN_A, method: 'GET' })
  t.ok(after.complete && after.status === 200 && after.digest === privateA[1]!.digest, 'an owner is served normally afterwards')
  const refused = await send({ label: 'after', layer: privateA[1]!, up: 'default', repo: 'team-b/app', method: 'GET' })
  t.equal(refused.status, 404, 'and another repository is still refused')
})
