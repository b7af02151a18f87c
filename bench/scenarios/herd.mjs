// N concurrent pulls of one cold blob (the herd blob), all started at once,
// from a fresh crproxy on an emptied cache; against the same N pulls once the
// blob is cached and verified (the floor: loopback and the clients' copies),
// one cold pull, and distribution's proxy mode.
import { statSync } from 'node:fs'
import { upstreamBlobGets } from '../lib/access-log.mjs'
import { curlGet, curlParallel } from '../lib/clients.mjs'
import { summary } from '../lib/report.mjs'

/**
 * `goal` picks the targets: 'warm' (cold ≤ 1.25× the same N warm, one
 * upstream GET: issue #13's herd) or 'single' (cold ≤ 1.3× one cold pull,
 * upstream bytes ≤ one blob).
 */
export async function herd(ctx, name, n, goal) {
  const { cfg, img, upstream, distProxy, crp, blob, cacheCold, rows, targets, results, log } = ctx
  const hsize = img.herdSize
  const htag = `${cfg.herdMiB} MiB`
  const herdUrl = (s) => blob(s.url, img.herd)
  const getHerd = (s) => curlGet(herdUrl(s), { expectBytes: hsize })
  const settle = () => new Promise((r) => setTimeout(r, 200)) // the access log line follows the response
  log(`${n} concurrent cold ${htag} pulls × ${cfg.loadRounds}`)
  const t = { single: [], herd: [], warmHerd: [], upstreamGets: [], upstreamBytes: [], distSingle: [], distHerd: [], distUpstreamBytes: [] }
  for (let r = 0; r < cfg.loadRounds; r++) {
    let cold = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
    t.single.push((await getHerd(cold)).seconds)
    await cold.stop()
    cold = await crp({ name: 'crproxy-cold', cacheDir: cacheCold, empty: true })
    const off = statSync(upstream.logPath).size
    const res = await curlParallel(herdUrl(cold), n, { expectBytes: hsize })
    await settle()
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
    await settle()
    t.distUpstreamBytes.push(upstreamBlobGets(upstream, doff, img.herd).bytes / hsize)
  }
  const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
  results.scenarios[name] = s
  const m = (k) => s[k].median
  const sc = `${n} concurrent cold ${htag} pulls (slowest)`
  rows.push(
    {
      scenario: sc,
      system: 'crproxy, cache (emptied)',
      value: m('herd'),
      unit: 's',
      extra: `1 cold pull ${m('single').toFixed(2)} s; same ${n} warm ${m('warmHerd').toFixed(2)} s; upstream sent ${m('upstreamBytes').toFixed(2)} blobs in ${s.upstreamGets.max} GET(s)`,
      ratios: [
        { label: 'of 1 cold pull', value: m('herd') / m('single') },
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
  if (goal === 'warm') {
    targets.push(
      { name: `${n} concurrent cold pulls: wall ÷ the same ${n} warm`, value: m('herd') / m('warmHerd'), op: '<=', threshold: 1.25, unit: 'x' },
      // The worst round: any round with more than one upstream GET.
      { name: `${n} concurrent cold pulls: upstream GETs of the blob`, value: s.upstreamGets.max, op: '==', threshold: 1, unit: 'GETs' },
    )
  } else {
    targets.push(
      { name: `${n} concurrent cold pulls: wall ÷ one cold pull`, value: m('herd') / m('single'), op: '<=', threshold: 1.3, unit: 'x' },
      { name: `${n} concurrent cold pulls: upstream bytes ÷ blob size`, value: s.upstreamBytes.max, op: '<=', threshold: 1.0, unit: 'x' },
    )
  }
}
