// Cold pulls of the big blob: one transfer at a time, each system in turn
// within a round (interleaved, so that background load hits all alike), with
// `sync` before each transfer so that nobody pays for the previous one's
// writeback. Over plain HTTP (the distribution upstream, with the relays as
// floors) and over HTTPS (nginx with a private CA: the registry serving the
// blob, or answering with a 307 to a CDN).
//
// Each fill reports the wall time (curl's time_total) and the CPU of the
// serving process (utime + stime, all threads); crproxy's also by thread.
import { join } from 'node:path'
import { curlGet } from '../lib/clients.mjs'
import { cpuSeconds, run } from '../lib/procs.mjs'
import { mibps, summary } from '../lib/report.mjs'
import { startRegistry, startRelay } from '../lib/services.mjs'
import { cpuByRole, ROLE_LABELS, ROLES, threadCpu } from '../lib/threads.mjs'
import { startTlsUpstream } from '../lib/tls-upstream.mjs'

/** The transports, in the order of their rows. */
const GROUPS = {
  http: { title: 'HTTP upstream', cpuTarget: 0.55 },
  httpsRegistry: { title: 'HTTPS upstream, the registry serves the blob', cpuTarget: 0.8 },
  httpsCdn: { title: 'HTTPS upstream, 307 to a CDN', cpuTarget: 0.8 },
}

const flush = () => run('sync', [])

/**
 * Builds the systems of the selected transports. A system is { group, key,
 * label, threads?, open() → { url, pid, curlArgs?, close? } }.
 */
async function systems(ctx, { http, https }) {
  const { cfg, work, img, upstream, distProxy, crp, blob, stops } = ctx
  const out = []
  const crproxyPair = (group, upstreamUrl, extra = {}) => {
    const cacheDir = join(work, `cache-cold-${group}`)
    return [
      {
        group,
        key: 'crproxy',
        label: 'crproxy, cache (emptied)',
        threads: true,
        open: async () => {
          const c = await crp({ name: `crproxy-cold-${group}`, cacheDir, empty: true, upstream: upstreamUrl, threadNames: true, ...extra })
          if (cfg.coldPrewarm) await ctx.prewarm(c)
          return { url: blob(c.url, img.big), pid: c.pid(), close: () => c.stop() }
        },
      },
      {
        group,
        key: 'crproxyNoCache',
        label: 'crproxy, no cache',
        threads: true,
        start: async () => {
          const c = await crp({ name: `crproxy-nocache-${group}`, upstream: upstreamUrl, threadNames: true, ...extra })
          stops.push(() => c.stop())
          return c
        },
      },
    ]
  }

  if (http) {
    const relays = {}
    for (const mode of ['pipe', 'pooled', 'hash']) {
      relays[mode] = await startRelay({ dir: join(work, 'relay'), upstream: upstream.url, mode })
      stops.push(() => relays[mode].stop())
    }
    const fixed = (s) => () => ({ url: blob(s.url, img.big), pid: s.pid() })
    out.push(
      { group: 'http', key: 'direct', label: 'direct (upstream: distribution)', open: fixed(upstream) },
      { group: 'http', key: 'relayPipe', label: 'Node TCP relay, pipe() (64 KiB reads)', open: fixed(relays.pipe) },
      { group: 'http', key: 'relayPooled', label: 'pooled onread relay (1 MiB buffers; floor, no cache)', open: fixed(relays.pooled) },
      { group: 'http', key: 'relayHash', label: 'relay + file + worker hash (floor, verified cached pull)', open: fixed(relays.hash) },
      {
        group: 'http',
        key: 'distProxy',
        label: 'dist-proxy (storage emptied)',
        open: async () => {
          await distProxy.restart({ empty: true })
          return { url: blob(distProxy.url, img.big), pid: distProxy.pid() }
        },
      },
      ...crproxyPair('http', upstream.url),
    )
  }

  if (https) {
    const tls = await startTlsUpstream({ dir: work, storage: upstream.storage })
    stops.push(() => tls.stop())
    ctx.tls = tls
    const curlArgs = ['--cacert', tls.caCert, '-L']
    const caEnv = { NODE_EXTRA_CA_CERTS: tls.caCert }
    for (const [group, upstreamUrl] of [
      ['httpsRegistry', tls.registryUrl],
      ['httpsCdn', tls.redirectUrl],
    ]) {
      // Go reads SSL_CERT_FILE as the whole trust store.
      const dist = await startRegistry({ dir: join(work, `dist-proxy-${group}`), name: `dist-proxy-${group}`, proxy: upstreamUrl, env: { SSL_CERT_FILE: tls.caCert } })
      stops.push(() => dist.stop())
      // The CDN is another port of the upstream's (loopback) host: crproxy's
      // egress policy lets a redirect reach it only when it is allowed.
      const extra = { env: caEnv, extraArgs: group === 'httpsCdn' ? ['--redirect-allow', `127.0.0.1:${tls.cdnPort}`] : [] }
      out.push(
        { group, key: 'direct', label: 'direct (curl → nginx over TLS)', open: () => ({ url: blob(upstreamUrl, img.big), pid: tls.pid(), curlArgs }) },
        {
          group,
          key: 'distProxy',
          label: 'dist-proxy (storage emptied)',
          open: async () => {
            await dist.restart({ empty: true })
            return { url: blob(dist.url, img.big), pid: dist.pid() }
          },
        },
        ...crproxyPair(group, upstreamUrl, extra),
      )
    }
  }

  // Long-running instances: open() returns the same process every round.
  for (const s of out) {
    if (!s.start) continue
    const c = await s.start()
    s.open = () => ({ url: blob(c.url, img.big), pid: c.pid() })
  }
  return out
}

/** One cold transfer through a system: { seconds, cpu, byRole?, threads?, upstreamGets? }. */
async function fill(ctx, s) {
  const { img } = ctx
  const h = await s.open()
  try {
    await flush()
    const tlsLog = ctx.tls && s.group !== 'http'
    const logOff = tlsLog ? ctx.tls.logSize() : 0
    const t0 = s.threads ? threadCpu(h.pid) : null
    const c0 = cpuSeconds(h.pid)
    const r = await curlGet(h.url, { expectBytes: img.bigSize, curlArgs: h.curlArgs })
    const out = { seconds: r.seconds, cpu: cpuSeconds(h.pid) - c0 }
    if (t0) Object.assign(out, await cpuByRole(h.pid, t0, threadCpu(h.pid)))
    if (tlsLog) {
      await new Promise((res) => setTimeout(res, 100)) // the access log line follows the response
      out.upstreamGets = ctx.tls.blobGets(logOff, img.big.slice('sha256:'.length)).map((g) => `${g.status}:${g.port}`)
    }
    return out
  } finally {
    await h.close?.()
  }
}

export async function cold(ctx, { http, https }) {
  const { cfg, img, rows, targets, results, log } = ctx
  const size = img.bigSize
  const tag = `${cfg.blobMiB} MiB`
  const list = await systems(ctx, { http, https })

  // One pass that is not measured: every path works (TLS trust, the
  // redirect, the egress policy) before minutes are spent, and the
  // long-running processes have run their code once.
  log(`cold ${tag}: checking ${list.length} systems`)
  for (const s of list) {
    const f = await fill(ctx, s)
    if (s.group === 'httpsCdn' && !(f.upstreamGets.some((g) => g.startsWith('307:')) && f.upstreamGets.some((g) => g === `200:${ctx.tls.cdnPort}`))) {
      throw new Error(`cold ${s.group} ${s.key}: expected a 307 and a CDN GET upstream, the log has ${f.upstreamGets.join(' ')}`)
    }
  }

  log(`cold ${tag} pull × ${cfg.rounds}: ${[...new Set(list.map((s) => s.group))].join(', ')}`)
  const samples = new Map(list.map((s) => [s, []]))
  for (let r = 0; r < cfg.rounds; r++) {
    for (const s of list) samples.get(s).push(await fill(ctx, s))
  }

  // results.json: every sample; per group and system the medians.
  const scenario = {}
  const crproxyRoles = {}
  for (const s of list) {
    const f = samples.get(s)
    const g = (scenario[s.group] ??= {})
    g[s.key] = { seconds: summary(f.map((x) => x.seconds)), cpuSeconds: summary(f.map((x) => x.cpu)) }
    if (s.threads) {
      const roles = Object.fromEntries(ROLES.map((role) => [role, summary(f.map((x) => x.byRole?.[role] ?? 0))]))
      g[s.key].threadCpuSeconds = roles
      g[s.key].threads = f.map((x) => x.threads)
      if (s.key === 'crproxy') crproxyRoles[s.group] = roles
    }
    if (f[0]?.upstreamGets) g[s.key].upstreamGets = f.map((x) => x.upstreamGets.join(' '))
  }
  results.scenarios.cold = scenario

  for (const [group, g] of Object.entries(scenario)) {
    const { title, cpuTarget } = GROUPS[group]
    const sc = `cold ${tag} pull, ${title}`
    const m = (k) => g[k].seconds.median
    const cpu = (k) => g[k].cpuSeconds.median
    const row = (k, ratios) => {
      const s = list.find((x) => x.group === group && x.key === k)
      return { scenario: sc, system: s.label, value: m(k), unit: 's', extra: `${mibps(size, m(k)).toFixed(0)} MiB/s, ${cpu(k).toFixed(2)} CPU-s`, ratios }
    }
    const vs = (k, others) => others.filter((o) => g[o]).map(([o, label]) => ({ label, value: m(o) / m(k) }))
    for (const k of Object.keys(g)) {
      if (k === 'direct' || k === 'distProxy') rows.push(row(k))
      else if (k.startsWith('relay')) rows.push(row(k, vs(k, [['direct', 'direct']])))
      else if (k === 'crproxy') rows.push(row(k, vs(k, [['direct', 'direct'], ['distProxy', 'dist-proxy'], ['relayHash', 'floor']])))
      else if (k === 'crproxyNoCache') rows.push(row(k, vs(k, [['direct', 'direct'], ['distProxy', 'dist-proxy'], ['relayPooled', 'floor']])))
    }
    // CPU targets are per 256 MiB, whatever BENCH_BLOB_MIB is.
    const per256 = (256 * 1024 * 1024) / size
    targets.push(
      { name: `cold verified cached pull, ${title}: crproxy ÷ dist-proxy`, value: m('distProxy') / m('crproxy'), op: '>=', threshold: 1.0, unit: 'x' },
      { name: `cold verified cached pull, ${title}: crproxy ÷ direct`, value: m('direct') / m('crproxy'), op: '>=', threshold: 0.5, unit: 'x' },
      { name: `crproxy CPU per cold 256 MiB fill, ${title}`, value: cpu('crproxy') * per256, op: '<=', threshold: cpuTarget, unit: 'CPU-s' },
    )
  }

  // crproxy's CPU by thread, per cold fill (with a cache).
  const groups = Object.keys(crproxyRoles)
  if (groups.length) {
    const ms = (v) => `${(v * 1000).toFixed(0)}`
    const used = ROLES.filter((role) => groups.some((gr) => crproxyRoles[gr][role].max > 0))
    const body = used.map((role) => [ROLE_LABELS[role], ...groups.map((gr) => ms(crproxyRoles[gr][role].median))])
    body.push(['all threads (process CPU)', ...groups.map((gr) => ms(scenario[gr].crproxy.cpuSeconds.median))])
    ctx.tables.push({
      title: `crproxy CPU per cold ${tag} fill with a cache, by thread (ms, median of ${cfg.rounds})`,
      head: ['thread', ...groups.map((gr) => GROUPS[gr].title)],
      rows: body,
    })
  }
}
