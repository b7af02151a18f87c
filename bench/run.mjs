#!/usr/bin/env node
// `make bench`: crproxy against direct pulls, distribution's pull-through
// cache and nginx, all on 127.0.0.1. See docs/benchmarks.md.
//
//   upstream      distribution 2.8, filesystem storage, no auth; holds
//                 bench/app:latest (a BLOB_MIB layer, a small layer, config)
//   dist-proxy    distribution in proxy mode → upstream
//   nginx         serves the upstream's blob files from its storage dir
//   crproxy       the built CLI (bin/crproxy → dist/), --default-registry upstream
//
// Every figure is the median of several rounds; systems are interleaved
// within a round so that background load hits them alike. Results go to
// bench/out/results.json. Knobs (environment):
//   BENCH_ROUNDS=5           rounds for single transfers and start-up
//   BENCH_LOAD_ROUNDS=3      rounds for the concurrent, herd and wrk scenarios
//   BENCH_BLOB_MIB=256       the big blob
//   BENCH_SMALL_KIB=16       the small blob (wrk scenario)
//   BENCH_CONCURRENCY=32     clients in the concurrent warm scenario
//   BENCH_HERD=50            clients in the concurrent cold scenario
//   BENCH_HERD_MIB=64        the blob they pull (50 copies of 256 MiB take ~10 s a pass here)
//   BENCH_WRK_SECONDS=5      duration of each wrk run (32 connections, 2 threads)
//   BENCH_STARTUP_BLOBS=100000  blobs in the start-up index scenario
//   BENCH_ONLY=cold,warm,...  scenarios to run: cold warm concurrent herd manifest small startup coldrange
//   BENCH_DIR=/path          work directory (default: a fresh temp dir, removed at the end)
//   BENCH_KEEP=1             keep the work directory
//   BENCH_OUT=path           results file (default bench/out/results.json)
//   CRPROXY_BIN=path         the crproxy entry point run with node (default bin/crproxy)
//   CRPROXY_NODE_ARGS="..."  extra node flags for crproxy (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof)
import { createCipheriv, createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { curlGet, curlParallel, curlRange, wrk } from './lib/clients.mjs'
import { makeFakeCache } from './lib/fake-cache.mjs'
import { cpuSeconds, freePort, loadavg, memory, resetPeak, run, sampleRss, startDaemon, waitHttp } from './lib/procs.mjs'
import { checkTargets, markdownTable, mibps, printTable, printTargets, summary } from './lib/report.mjs'
import { cleanEnv, pushBlob, pushManifest, REGISTRY_BIN, startCrproxy, startNginx, startRegistry, startRelay } from './lib/services.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const env = process.env
const int = (name, dflt) => {
  const v = env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(v)}`)
  return n
}
const cfg = {
  rounds: Math.max(1, int('BENCH_ROUNDS', 5)),
  loadRounds: Math.max(1, int('BENCH_LOAD_ROUNDS', 3)),
  blobMiB: Math.max(1, int('BENCH_BLOB_MIB', 256)),
  smallKiB: Math.max(1, int('BENCH_SMALL_KIB', 16)),
  concurrency: Math.max(1, int('BENCH_CONCURRENCY', 32)),
  herd: Math.max(1, int('BENCH_HERD', 50)),
  herdMiB: Math.max(1, int('BENCH_HERD_MIB', 64)),
  wrkSeconds: Math.max(1, int('BENCH_WRK_SECONDS', 5)),
  startupBlobs: int('BENCH_STARTUP_BLOBS', 100_000),
  only: new Set((env.BENCH_ONLY || 'cold,warm,concurrent,herd,manifest,small,startup,coldrange').split(',').map((s) => s.trim())),
  bin: resolve(env.CRPROXY_BIN || join(root, 'bin', 'crproxy')),
  nodeArgs: (env.CRPROXY_NODE_ARGS || '').split(/\s+/).filter(Boolean),
  out: resolve(env.BENCH_OUT || join(root, 'bench', 'out', 'results.json')),
}
const MiB = 1024 * 1024
const REPO = 'bench/app'
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')

const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)

// ---------------------------------------------------------------- tools

async function ensureTools() {
  const need = [REGISTRY_BIN, 'nginx', 'wrk', 'curl']
  const missing = async () => {
    const out = []
    for (const t of need) {
      if (t.startsWith('/')) {
        if (!existsSync(t)) out.push(t)
      } else {
        try {
          await run('sh', ['-c', `command -v ${t}`], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
        } catch {
          out.push(t)
        }
      }
    }
    return out
  }
  let m = await missing()
  if (m.length) {
    log(`missing ${m.join(', ')}: running .ci/install.sh`)
    await run('bash', [join(root, '.ci', 'install.sh')], { timeoutMs: 900_000 })
    m = await missing()
    if (m.length) throw new Error(`still missing after .ci/install.sh: ${m.join(', ')}`)
  }
  if (!existsSync(join(root, 'dist', 'cli.js')) && !env.CRPROXY_BIN) throw new Error('dist/ is not built: run `npm ci` (or `make build`) first')
  const v = async (cmd, args) => (await run(cmd, args).then((r) => (r.stdout + r.stderr).trim().split('\n')[0]).catch(() => '?'))
  return {
    registry: await v(REGISTRY_BIN, ['--version']),
    nginx: await v('sh', ['-c', 'PATH=$PATH:/usr/sbin nginx -v']),
    wrk: await v('sh', ['-c', 'wrk --version || true']),
    curl: await v('curl', ['--version']),
    node: process.version,
  }
}

// ---------------------------------------------------------------- content

/** Deterministic incompressible bytes (AES-256-CTR keystream), written to a file; returns its digest. */
function writeSeeded(path, seed, size) {
  const key = createHash('sha256').update(`crproxy-bench:${seed}`).digest()
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const hash = createHash('sha256')
  const fd = openSync(path, 'w')
  const zero = Buffer.alloc(8 * MiB)
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(zero.length, size - done)
      const chunk = c.update(zero.subarray(0, n))
      hash.update(chunk)
      writeSync(fd, chunk)
      done += n
    }
  } finally {
    closeSync(fd)
  }
  return `sha256:${hash.digest('hex')}`
}

async function pushImage(upstream, work) {
  const bigPath = join(work, 'big.bin')
  const big = writeSeeded(bigPath, `big-${cfg.blobMiB}`, cfg.blobMiB * MiB)
  const smallPath = join(work, 'small.bin')
  const small = writeSeeded(smallPath, `small-${cfg.smallKiB}`, cfg.smallKiB * 1024)
  const configRaw = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [big, small] }, config: {} }),
  )
  const config = `sha256:${createHash('sha256').update(configRaw).digest('hex')}`
  await pushBlob(upstream, REPO, config, configRaw)
  await pushBlob(upstream, REPO, small, smallPath)
  await pushBlob(upstream, REPO, big, bigPath)
  rmSync(bigPath)
  rmSync(smallPath)
  let herd = big
  if (cfg.herdMiB !== cfg.blobMiB) {
    const herdPath = join(work, 'herd.bin')
    herd = writeSeeded(herdPath, `herd-${cfg.herdMiB}`, cfg.herdMiB * MiB)
    await pushBlob(upstream, REPO, herd, herdPath)
    rmSync(herdPath)
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: configRaw.length, digest: config },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: cfg.blobMiB * MiB, digest: big },
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: cfg.smallKiB * 1024, digest: small },
      ],
    }),
  )
  const manifestDigest = await pushManifest(upstream, REPO, 'latest', 'application/vnd.docker.distribution.manifest.v2+json', manifest)
  return { big, small, herd, config, manifestDigest, bigSize: cfg.blobMiB * MiB, smallSize: cfg.smallKiB * 1024, herdSize: cfg.herdMiB * MiB }
}

// ---------------------------------------------------------------- upstream accounting

/** Blob GETs the upstream answered since `offset` in its log: { count, bytes }. */
function upstreamBlobGets(upstream, offset, digest) {
  const fd = openSync(upstream.logPath, 'r')
  let text
  try {
    const size = statSync(upstream.logPath).size
    const buf = Buffer.alloc(Math.max(0, size - offset))
    readSync(fd, buf, 0, buf.length, offset)
    text = buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
  let count = 0
  let bytes = 0
  const re = /"GET (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/g
  for (const m of text.matchAll(re)) {
    if (!m[1].includes(`/blobs/${digest}`)) continue
    count++
    bytes += m[3] === '-' ? 0 : Number(m[3])
  }
  return { count, bytes }
}

// ---------------------------------------------------------------- main

/** The crproxy instances of the warm scenarios: result key, row label. */
const CRPROXY_MODES = [
  ['crproxy', 'crproxy, verify on (once per file state)'],
  ['crproxyEvery', 'crproxy, --verify-every-serve'],
  ['crproxyNoVerify', 'crproxy, --no-verify-on-serve'],
]

async function main() {
  const started = Date.now()
  const loadBefore = loadavg()
  const tools = await ensureTools()
  const work = env.BENCH_DIR ? resolve(env.BENCH_DIR) : mkdtempSync(join(tmpdir(), 'crproxy-bench-'))
  mkdirSync(work, { recursive: true })
  const removeWork = () => {
    if (!env.BENCH_DIR && !env.BENCH_KEEP) rmSync(work, { recursive: true, force: true })
  }
  process.once('exit', removeWork) // also after Ctrl-C (procs.mjs exits on signals)
  log(`work dir ${work}; load average ${loadBefore.join(' ')}; ${cpus().length} cpus`)
  const stops = []
  const results = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: +(totalmem() / 2 ** 30).toFixed(1), loadBefore },
    tools,
    config: { ...cfg, only: [...cfg.only] },
    scenarios: {},
  }
  const rows = []
  const targets = []
  try {
    // -- systems
    const upstream = await startRegistry({ dir: join(work, 'upstream'), name: 'upstream' })
    stops.push(() => upstream.stop())
    log(`upstream ${upstream.url}: pushing ${REPO}:latest (${cfg.blobMiB} MiB layer)`)
    const img = await pushImage(upstream, work)
    results.image = img
    const distProxy = await startRegistry({ dir: join(work, 'dist-proxy'), name: 'dist-proxy', proxy: upstream.url })
    stops.push(() => distProxy.stop())
    const nginx = await startNginx({ dir: work, root: upstream.storage })
    stops.push(() => nginx.stop())
    const cacheA = join(work, 'cache-a')
    const crp = (o) => startCrproxy({ bin: cfg.bin, dir: join(work, 'crproxy'), upstream: upstream.url, nodeArgs: cfg.nodeArgs, ...o })
    const crVerify = await crp({ name: 'crproxy', cacheDir: cacheA })
    stops.push(() => crVerify.stop())
    const crNoCache = await crp({ name: 'crproxy-nocache' })
    stops.push(() => crNoCache.stop())

    const blob = (base, digest) => `${base}/v2/${REPO}/blobs/${digest}`
    const bigUrl = (s) => (s === nginx ? `${nginx.url}${upstream.blobPath(img.big)}` : blob(s.url, img.big))
    const smallUrl = (s) => (s === nginx ? `${nginx.url}${upstream.blobPath(img.small)}` : blob(s.url, img.small))
    const getBig = (s) => curlGet(bigUrl(s), { expectBytes: img.bigSize })
    const cacheCold = join(work, 'cache-cold')

    // Warm crproxy's cache and grants (and dist-proxy's storage) once.
    await getBig(crVerify)
    const crNoVerify = await crp({ name: 'crproxy-noverify', cacheDir: cacheA, verify: false })
    stops.push(() => crNoVerify.stop())
    await getBig(crNoVerify) // grants (a HEAD upstream) for this process
    const crEvery = await crp({ name: 'crproxy-every', cacheDir: cacheA, extraArgs: ['--verify-every-serve'] })
    stops.push(() => crEvery.stop())
    await getBig(crEvery)
    // A file verified whole is trusted while unchanged only once it is older
    // than the kernel clock's racy window (lib/cache/open-blob.ts, 2 s); the
    // warm scenarios measure that steady state (their first serve hashes).
    const filledAt = Date.now()
    const steady = async () => {
      const wait = filledAt + 2100 - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      await getBig(crVerify)
    }
    await getBig(distProxy)
    await getBig(nginx)

    const size = img.bigSize
    const tag = `${cfg.blobMiB} MiB`

    // ------------------------------------------------------------ cold
    if (cfg.only.has('cold')) {
      log(`cold ${tag} pull × ${cfg.rounds}`)
      const relay = await startRelay({ dir: work, upstream: upstream.url })
      stops.push(() => relay.stop())
      const t = { direct: [], relay: [], distProxy: [], crproxy: [], crproxyNoCache: [] }
      const cpu = { crproxyNoCache: [], relay: [] }
      // Each cache writes 256 MiB: flush the dirty pages before the next
      // transfer, so that no system pays for the previous one's writeback.
      const flush = () => run('sync', [])
      for (let r = 0; r < cfg.rounds; r++) {
        await flush()
        t.direct.push((await getBig(upstream)).seconds)
        let c0 = cpuSeconds(relay.pid())
        t.relay.push((await getBig(relay)).seconds)
        cpu.relay.push(cpuSeconds(relay.pid()) - c0)
        await distProxy.restart({ empty: true })
        await flush()
        t.distProxy.push((await getBig(distProxy)).seconds)
        const cold = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
        await flush()
        t.crproxy.push((await getBig(cold)).seconds)
        await cold.stop()
        await flush()
        c0 = cpuSeconds(crNoCache.pid())
        t.crproxyNoCache.push((await getBig(crNoCache)).seconds)
        cpu.crproxyNoCache.push(cpuSeconds(crNoCache.pid()) - c0)
      }
      await relay.stop()
      const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
      s.cpuSeconds = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, summary(v)]))
      results.scenarios.cold = s
      const sc = `cold ${tag} pull (time)`
      const m = (k) => s[k].median
      rows.push(
        { scenario: sc, system: 'direct (upstream)', value: m('direct'), unit: 's', extra: `${mibps(size, m('direct')).toFixed(0)} MiB/s` },
        {
          scenario: sc,
          system: 'bare Node TCP relay (floor: no parsing, no hash)',
          value: m('relay'),
          unit: 's',
          extra: `${mibps(size, m('relay')).toFixed(0)} MiB/s, ${s.cpuSeconds.relay.median.toFixed(2)} CPU-s`,
          ratios: [{ label: 'direct', value: m('direct') / m('relay') }],
        },
        { scenario: sc, system: 'dist-proxy (storage emptied)', value: m('distProxy'), unit: 's', extra: `${mibps(size, m('distProxy')).toFixed(0)} MiB/s` },
        {
          scenario: sc,
          system: 'crproxy, cache (emptied)',
          value: m('crproxy'),
          unit: 's',
          extra: `${mibps(size, m('crproxy')).toFixed(0)} MiB/s`,
          ratios: [
            { label: 'direct', value: m('direct') / m('crproxy') },
            { label: 'dist-proxy', value: m('distProxy') / m('crproxy') },
          ],
        },
        {
          scenario: sc,
          system: 'crproxy, no cache',
          value: m('crproxyNoCache'),
          unit: 's',
          extra: `${mibps(size, m('crproxyNoCache')).toFixed(0)} MiB/s, ${s.cpuSeconds.crproxyNoCache.median.toFixed(2)} CPU-s`,
          ratios: [
            { label: 'direct', value: m('direct') / m('crproxyNoCache') },
            { label: 'relay', value: m('relay') / m('crproxyNoCache') },
          ],
        },
      )
      targets.push(
        { name: 'cold pull, crproxy with cache ÷ direct (speed)', value: m('direct') / m('crproxy'), op: '>=', threshold: 0.85, unit: 'x' },
        { name: 'cold pull, crproxy without cache ÷ direct (speed, reported)', value: m('direct') / m('crproxyNoCache'), op: '>=', threshold: 0.85, unit: 'x' },
      )
    }

    // ------------------------------------------------------------ coldrange: a lazy puller's footer read
    if (cfg.only.has('coldrange')) {
      log(`cold tail Range (bytes=-100) of the ${tag} blob × ${cfg.rounds}`)
      const t = { direct: [], crproxy: [], crproxyTtfb: [], coldPull: [], cached: [], upstreamGets: [], upstreamBytes: [] }
      const flush = () => run('sync', [])
      const committed = async (s) => {
        const deadline = Date.now() + 120_000
        while (Date.now() < deadline) {
          const text = await (await fetch(`${s.url}/metrics`)).text()
          if (/^crproxy_cache_blobs 1$/m.test(text)) return
          await new Promise((r) => setTimeout(r, 20))
        }
        throw new Error('coldrange: the blob was not cached within 120 s')
      }
      for (let r = 0; r < cfg.rounds; r++) {
        t.direct.push((await curlRange(bigUrl(upstream), 'bytes=-100', { expectBytes: 100 })).seconds)
        const cold = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
        await flush()
        const off = statSync(upstream.logPath).size
        const t0 = Date.now()
        const tail = await curlRange(bigUrl(cold), 'bytes=-100', { expectBytes: 100 })
        t.crproxy.push(tail.seconds)
        t.crproxyTtfb.push(tail.ttfb)
        await committed(cold)
        t.cached.push((Date.now() - t0) / 1000)
        await getBig(cold) // a hit: the upstream sends nothing more
        await new Promise((r) => setTimeout(r, 200)) // the access log line follows the response
        const up = upstreamBlobGets(upstream, off, img.big)
        t.upstreamGets.push(up.count)
        t.upstreamBytes.push(up.bytes / size)
        await cold.stop()
        const whole = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
        await flush()
        t.coldPull.push((await getBig(whole)).seconds)
        await whole.stop()
      }
      const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
      results.scenarios.coldrange = s
      const m = (k) => s[k].median
      const sc = `cold tail Range (bytes=-100) of a ${tag} blob (time)`
      rows.push(
        { scenario: sc, system: 'direct (upstream)', value: m('direct'), unit: 's' },
        {
          scenario: sc,
          system: 'crproxy, cache (emptied)',
          value: m('crproxy'),
          unit: 's',
          extra: `first byte ${(m('crproxyTtfb') * 1000).toFixed(1)} ms; cold whole pull ${m('coldPull').toFixed(2)} s; cached after ${m('cached').toFixed(2)} s; upstream sent ${m('upstreamBytes').toFixed(4)} blobs in ${m('upstreamGets')} GETs`,
          ratios: [{ label: 'of a cold whole pull (target ≤ 0.2)', value: m('crproxy') / m('coldPull') }],
        },
      )
      targets.push(
        { name: 'cold tail Range ÷ cold whole pull (time)', value: m('crproxy') / m('coldPull'), op: '<=', threshold: 0.2, unit: 'x' },
        { name: 'cold tail Range, then a whole pull: upstream bytes ÷ blob size', value: Math.max(...t.upstreamBytes), op: '<=', threshold: 1.001, unit: 'x' },
      )
    }

    // ------------------------------------------------------------ warm
    if (cfg.only.has('warm')) {
      log(`warm ${tag} pull × ${cfg.rounds}`)
      const systems = { crproxy: crVerify, crproxyEvery: crEvery, crproxyNoVerify: crNoVerify, nginx, distProxy }
      await getBig(distProxy) // the cold scenario left it freshly restarted
      await steady()
      const t = Object.fromEntries(Object.keys(systems).map((k) => [k, []]))
      const cpu = { crproxy: [], crproxyEvery: [], crproxyNoVerify: [] }
      for (let r = 0; r < cfg.rounds; r++) {
        for (const [k, sys] of Object.entries(systems)) {
          const c0 = cpu[k] ? cpuSeconds(sys.pid()) : 0
          t[k].push((await getBig(sys)).seconds)
          if (cpu[k]) cpu[k].push(cpuSeconds(sys.pid()) - c0)
        }
      }
      const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
      s.cpuSeconds = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, summary(v)]))
      s.sha256 = summary(sha256Seconds(join(upstream.storage, upstream.blobPath(img.big)), cfg.rounds))
      results.scenarios.warm = s
      const m = (k) => s[k].median
      const sc = `warm ${tag} pull (time)`
      const ratios = (k) => [
        { label: 'nginx', value: m('nginx') / m(k) },
        { label: 'dist-proxy', value: m('distProxy') / m(k) },
      ]
      rows.push(
        { scenario: sc, system: 'nginx (sendfile)', value: m('nginx'), unit: 's', extra: `${mibps(size, m('nginx')).toFixed(0)} MiB/s` },
        { scenario: sc, system: 'dist-proxy', value: m('distProxy'), unit: 's', extra: `${mibps(size, m('distProxy')).toFixed(0)} MiB/s` },
        ...CRPROXY_MODES.map(([k, system]) => ({
          scenario: sc,
          system,
          value: m(k),
          unit: 's',
          extra: `${mibps(size, m(k)).toFixed(0)} MiB/s, ${s.cpuSeconds[k].median.toFixed(2)} CPU-s`,
          ratios: ratios(k),
        })),
        {
          scenario: sc,
          system: 'SHA-256 of the blob, one core (verify-on floor)',
          value: m('sha256'),
          unit: 's',
          extra: `${mibps(size, m('sha256')).toFixed(0)} MiB/s`,
        },
      )
      targets.push(
        { name: 'warm pull, crproxy (verify on) ÷ nginx', value: m('nginx') / m('crproxy'), op: '>=', threshold: 0.8, unit: 'x' },
        { name: 'warm pull, crproxy (verify on) ÷ dist-proxy', value: m('distProxy') / m('crproxy'), op: '>=', threshold: 1.0, unit: 'x' },
        { name: 'warm pull, crproxy (--verify-every-serve) ÷ nginx (reported)', value: m('nginx') / m('crproxyEvery'), op: '>=', threshold: 0.8, unit: 'x' },
        { name: 'warm pull, crproxy (verify off) ÷ nginx (reported)', value: m('nginx') / m('crproxyNoVerify'), op: '>=', threshold: 0.8, unit: 'x' },
      )
    }

    // ------------------------------------------------------------ concurrent warm
    if (cfg.only.has('concurrent')) {
      const n = cfg.concurrency
      log(`${n} concurrent warm ${tag} pulls × ${cfg.loadRounds}`)
      const systems = { crproxy: crVerify, crproxyEvery: crEvery, crproxyNoVerify: crNoVerify, nginx, distProxy }
      await steady()
      const t = Object.fromEntries(Object.keys(systems).map((k) => [k, { mibps: [], hwm: [], sampled: [], cpu: [] }]))
      let peakReset = true
      for (let r = 0; r < cfg.loadRounds; r++) {
        for (const [k, sys] of Object.entries(systems)) {
          const pid = sys.pid()
          peakReset = resetPeak(pid) && peakReset
          const stopSampling = sampleRss(pid)
          const c0 = cpuSeconds(pid)
          const res = await curlParallel(bigUrl(sys), n, { expectBytes: size })
          t[k].cpu.push(cpuSeconds(pid) - c0)
          t[k].sampled.push(stopSampling() / MiB)
          t[k].hwm.push((memory(pid)?.hwm ?? NaN) / MiB)
          t[k].mibps.push(mibps(res.bytes, res.slowest))
        }
      }
      const s = Object.fromEntries(
        Object.entries(t).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, summary(vv)]))]),
      )
      s.peakReset = peakReset
      results.scenarios.concurrent = s
      const m = (k, f = 'mibps') => s[k][f].median
      const sc = `${n} concurrent warm ${tag} pulls (aggregate)`
      const extra = (k) => `peak RSS ${m(k, peakReset ? 'hwm' : 'sampled').toFixed(0)} MiB, ${m(k, 'cpu').toFixed(1)} CPU-s`
      rows.push(
        { scenario: sc, system: 'nginx', value: m('nginx'), unit: 'MiB/s', extra: extra('nginx') },
        { scenario: sc, system: 'dist-proxy', value: m('distProxy'), unit: 'MiB/s', extra: extra('distProxy') },
        ...CRPROXY_MODES.map(([k, system]) => ({
          scenario: sc,
          system,
          value: m(k),
          unit: 'MiB/s',
          extra: extra(k),
          ratios: [
            { label: 'nginx', value: m(k) / m('nginx') },
            { label: 'dist-proxy', value: m(k) / m('distProxy') },
          ],
        })),
      )
      targets.push({
        name: `peak RSS of crproxy (every verify mode) under ${n} concurrent ${tag} pulls`,
        value: Math.max(...['crproxy', 'crproxyEvery', 'crproxyNoVerify'].map((k) => m(k, peakReset ? 'hwm' : 'sampled'))),
        op: '<',
        threshold: 150,
        unit: 'MiB',
      })
    }

    // ------------------------------------------------------------ herd: N concurrent cold
    if (cfg.only.has('herd')) {
      const n = cfg.herd
      const hsize = img.herdSize
      const htag = `${cfg.herdMiB} MiB`
      const herdUrl = (s) => blob(s.url, img.herd)
      const getHerd = (s) => curlGet(herdUrl(s), { expectBytes: hsize })
      log(`${n} concurrent cold ${htag} pulls × ${cfg.loadRounds}`)
      const t = { single: [], herd: [], warmHerd: [], upstreamGets: [], upstreamBytes: [], distSingle: [], distHerd: [], distUpstreamBytes: [] }
      for (let r = 0; r < cfg.loadRounds; r++) {
        let cold = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
        t.single.push((await getHerd(cold)).seconds)
        await cold.stop()
        cold = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
        const off = statSync(upstream.logPath).size
        const res = await curlParallel(herdUrl(cold), n, { expectBytes: hsize })
        await new Promise((r) => setTimeout(r, 200)) // the access log line follows the response
        const up = upstreamBlobGets(upstream, off, img.herd)
        t.herd.push(res.slowest)
        t.upstreamGets.push(up.count)
        t.upstreamBytes.push(up.bytes / hsize)
        // The floor: the same N pulls once the blob is cached and verified
        // (past the 2 s racy window, and one serve that verifies it whole).
        await new Promise((r) => setTimeout(r, 2100))
        await getHerd(cold)
        t.warmHerd.push((await curlParallel(herdUrl(cold), n, { expectBytes: hsize })).slowest)
        await cold.stop()
        // distribution's proxy mode, for comparison
        await distProxy.restart({ empty: true })
        t.distSingle.push((await getHerd(distProxy)).seconds)
        await distProxy.restart({ empty: true })
        const doff = statSync(upstream.logPath).size
        t.distHerd.push((await curlParallel(herdUrl(distProxy), n, { expectBytes: hsize })).slowest)
        await new Promise((r) => setTimeout(r, 200))
        t.distUpstreamBytes.push(upstreamBlobGets(upstream, doff, img.herd).bytes / hsize)
      }
      const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
      results.scenarios.herd = s
      const m = (k) => s[k].median
      const sc = `${n} concurrent cold ${htag} pulls (slowest)`
      rows.push(
        {
          scenario: sc,
          system: 'crproxy, cache (emptied)',
          value: m('herd'),
          unit: 's',
          extra: `1 cold pull ${m('single').toFixed(2)} s; same ${n} warm ${m('warmHerd').toFixed(2)} s; upstream sent ${m('upstreamBytes').toFixed(2)} blobs in ${m('upstreamGets')} GET(s)`,
          ratios: [
            { label: `of 1 cold pull (target ≤ 1.3)`, value: m('herd') / m('single') },
            { label: `of ${n} warm`, value: m('herd') / m('warmHerd') },
          ],
        },
        {
          scenario: sc,
          system: 'dist-proxy (storage emptied)',
          value: m('distHerd'),
          unit: 's',
          extra: `1 cold pull ${m('distSingle').toFixed(2)} s; upstream sent ${m('distUpstreamBytes').toFixed(2)} blobs`,
          ratios: [{ label: 'of 1 cold pull', value: m('distHerd') / m('distSingle') }],
        },
      )
      targets.push(
        { name: `${n} concurrent cold pulls: wall ÷ one cold pull`, value: m('herd') / m('single'), op: '<=', threshold: 1.3, unit: 'x' },
        { name: `${n} concurrent cold pulls: upstream bytes ÷ blob size`, value: Math.max(...t.upstreamBytes), op: '<=', threshold: 1.0, unit: 'x' },
      )
    }

    // ------------------------------------------------------------ manifest by tag (wrk)
    const wrkRun = async (label, systems, url, headers) => {
      const t = Object.fromEntries(Object.keys(systems).map((k) => [k, { rps: [], p99: [], p50: [], non2xx: [], errors: [] }]))
      for (const [k, sys] of Object.entries(systems)) {
        const r = await curlGet(url(sys), { headers }) // 200 before measuring
        if (r.status !== 200) throw new Error(`${label}: ${k} answered ${r.status}`)
      }
      for (let r = 0; r < cfg.loadRounds; r++) {
        for (const [k, sys] of Object.entries(systems)) {
          const w = await wrk(url(sys), { seconds: cfg.wrkSeconds, headers })
          for (const f of ['rps', 'p99', 'p50', 'non2xx', 'errors']) t[k][f].push(w[f])
        }
      }
      return Object.fromEntries(
        Object.entries(t).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, summary(vv)]))]),
      )
    }
    const wrkRows = (sc, s, order, crKeys, ratioTo) => {
      const m = (k, f = 'rps') => s[k][f].median
      for (const k of order) {
        const bad = s[k].non2xx.max + s[k].errors.max
        rows.push({
          scenario: sc,
          system: k,
          value: m(k),
          unit: 'req/s',
          extra: `p99 ${m(k, 'p99').toFixed(2)} ms${bad ? `, ${bad} errors/non-2xx` : ''}`,
          ratios: crKeys.includes(k) ? ratioTo.filter((o) => o !== k).map((o) => ({ label: o, value: m(k) / m(o) })) : undefined,
        })
      }
    }

    if (cfg.only.has('manifest')) {
      log(`manifest GET by tag, wrk ${cfg.wrkSeconds}s × ${cfg.loadRounds}`)
      // With --cache-dir crproxy answers a GET by tag with an upstream HEAD and
      // its cached copy; without, it forwards the GET.
      const systems = { direct: upstream, 'dist-proxy': distProxy, crproxy: crVerify, 'crproxy-nocache': crNoCache }
      const s = await wrkRun('manifest', systems, (sys) => `${sys.url}/v2/${REPO}/manifests/latest`, { Accept: ACCEPT })
      results.scenarios.manifest = s
      wrkRows('manifest GET by tag, 32 conns', s, Object.keys(systems), ['crproxy', 'crproxy-nocache'], ['direct', 'dist-proxy'])
      targets.push(
        { name: 'manifest req/s, crproxy ÷ dist-proxy', value: s.crproxy.rps.median / s['dist-proxy'].rps.median, op: '>=', threshold: 3, unit: 'x' },
        { name: 'manifest req/s, crproxy ÷ direct', value: s.crproxy.rps.median / s.direct.rps.median, op: '>=', threshold: 0.6, unit: 'x' },
        { name: 'manifest req/s, crproxy without cache ÷ direct (reported)', value: s['crproxy-nocache'].rps.median / s.direct.rps.median, op: '>=', threshold: 0.6, unit: 'x' },
      )
    }

    if (cfg.only.has('small')) {
      log(`small cached blob GET (${cfg.smallKiB} KiB), wrk ${cfg.wrkSeconds}s × ${cfg.loadRounds}`)
      await getSmallWarm([crVerify, crNoVerify, distProxy], smallUrl, img)
      const systems = { nginx, direct: upstream, 'dist-proxy': distProxy, crproxy: crVerify, 'crproxy-noverify': crNoVerify }
      const s = await wrkRun('small', systems, smallUrl, {})
      results.scenarios.small = s
      wrkRows(`cached ${cfg.smallKiB} KiB blob GET, 32 conns`, s, Object.keys(systems), ['crproxy', 'crproxy-noverify'], ['nginx', 'direct', 'dist-proxy'])
    }

    // ------------------------------------------------------------ start-up
    if (cfg.only.has('startup')) {
      const fakeDir = join(work, 'cache-fake')
      let gen = { count: 0 }
      if (cfg.startupBlobs > 0) {
        log(`generating ${cfg.startupBlobs} cached blobs`)
        const t0 = Date.now()
        gen = makeFakeCache(fakeDir, cfg.startupBlobs)
        gen.ms = Date.now() - t0
      }
      log(`start-up to first healthy /healthz × ${cfg.rounds}`)
      const t = { bareNode: [], empty: [], full: [] }
      const emptyDir = join(work, 'cache-empty')
      for (let r = 0; r < cfg.rounds; r++) {
        t.bareNode.push(await bareNodeStartup(work))
        const e = await crp({ name: 'crproxy-startup', cacheDir: emptyDir, empty: true })
        t.empty.push(e.startupMs)
        await e.stop()
        if (cfg.startupBlobs > 0) {
          const f = await crp({ name: 'crproxy-startup-full', cacheDir: fakeDir })
          t.full.push(f.startupMs)
          await f.stop()
          const ready = /blob cache ready .*blobs=(\d+)/.exec(readFileSync(f.daemon.logPath, 'utf8').split('\n').filter((l) => l.includes('blob cache ready')).pop() ?? '')
          if (!ready || Number(ready[1]) !== cfg.startupBlobs) throw new Error(`start-up: crproxy indexed ${ready?.[1]} blobs, expected ${cfg.startupBlobs}`)
        }
      }
      const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
      s.generated = gen
      results.scenarios.startup = s
      const sc = 'start-up to first 200 /healthz'
      rows.push(
        { scenario: sc, system: 'bare node http server (floor)', value: s.bareNode.median, unit: 'ms' },
        { scenario: sc, system: 'crproxy, empty cache', value: s.empty.median, unit: 'ms' },
      )
      targets.push({ name: 'start-up, empty cache', value: s.empty.median, op: '<', threshold: 300, unit: 'ms' })
      if (cfg.startupBlobs > 0) {
        rows.push({ scenario: sc, system: `crproxy, ${cfg.startupBlobs} cached blobs`, value: s.full.median, unit: 'ms' })
        targets.push({ name: `start-up, ${cfg.startupBlobs} cached blobs`, value: s.full.median, op: '<', threshold: 3000, unit: 'ms' })
      }
    }

    results.rows = rows
    results.targets = checkTargets(targets)
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    results.machine.loadAfter = loadavg()
    results.seconds = Math.round((Date.now() - started) / 1000)
    if (!env.BENCH_DIR && !env.BENCH_KEEP) removeWork()
    else log(`kept ${work}`)
  }

  mkdirSync(dirname(cfg.out), { recursive: true })
  results.markdown = markdownTable(rows)
  writeFileSync(cfg.out, JSON.stringify(results, null, 2) + '\n')
  const m = results.machine
  console.log(
    `\ncrproxy benchmark — ${m.cpus} × ${m.cpuModel}, node ${process.version}; load average before ${m.loadBefore.join(' ')}, after ${m.loadAfter.join(' ')}; ${results.seconds} s\n`,
  )
  console.log(printTable(rows))
  console.log(`\n${printTargets(results.targets)}\n\nwrote ${cfg.out}`)
}

/** Seconds to SHA-256 a file already in memory on this thread (1 MiB updates): a verified pull cannot be faster. */
function sha256Seconds(path, rounds) {
  const data = readFileSync(path)
  const out = []
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint()
    const h = createHash('sha256')
    for (let off = 0; off < data.length; off += MiB) h.update(data.subarray(off, off + MiB))
    h.digest()
    out.push(Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return out
}

async function getSmallWarm(systems, smallUrl, img) {
  for (const s of systems) await curlGet(smallUrl(s), { expectBytes: img.smallSize })
}

/** A node process that answers HTTP as soon as it can: the floor for any Node server's start-up. */
async function bareNodeStartup(work) {
  const port = await freePort()
  const src = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`
  const d = startDaemon(process.execPath, ['-e', src], join(work, 'bare-node.log'), cleanEnv())
  const ms = await waitHttp(`http://127.0.0.1:${port}/`, { daemon: d, intervalMs: 2, accept: (s) => s === 200, since: d.startedAt })
  await d.stop()
  return ms
}

main().catch((err) => {
  console.error(`bench failed: ${err.stack ?? err}`)
  process.exit(1)
})
