// A Range on a cold blob: the last 100 bytes of the big blob from a crproxy
// whose cache is empty, then the whole blob, which must come from the fill
// the Range started (one whole-blob GET upstream in all). Its time to first
// byte is compared with a whole cold pull (each from a fresh process on an
// emptied cache, alternating).
import { join } from 'node:path'
import { upstreamBlobGets, logSize } from '../lib/access-log.mjs'
import { curlGet } from '../lib/clients.mjs'
import { httpText, run } from '../lib/procs.mjs'
import { summary } from '../lib/report.mjs'

const TAIL = 100

/** Sum of a counter over its label sets in Prometheus text. */
function counter(text, name) {
  let sum = 0
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1])
  return sum
}

export async function range(ctx) {
  const { cfg, work, img, upstream, crp, blob, rows, targets, results, log } = ctx
  const size = img.bigSize
  const tag = `${cfg.blobMiB} MiB`
  const cacheDir = join(work, 'cache-range')
  const url = (c) => blob(c.url, img.big)
  log(`cold Range (last ${TAIL} bytes of ${tag}) × ${cfg.rounds}`)
  const t = { whole: [], ttfb: [], rangeTotal: [], after: [], upstreamWhole: [], upstreamRanged: [], upstreamBytes: [], hits: [], misses: [] }
  for (let r = 0; r < cfg.rounds; r++) {
    let c = await crp({ name: 'crproxy-range', cacheDir, empty: true })
    if (cfg.coldPrewarm) await ctx.prewarm(c)
    await run('sync', [])
    t.whole.push((await curlGet(url(c), { expectBytes: size })).seconds)
    await c.stop()

    c = await crp({ name: 'crproxy-range', cacheDir, empty: true })
    if (cfg.coldPrewarm) await ctx.prewarm(c)
    await run('sync', [])
    const off = logSize(upstream)
    const m0 = await httpText(`${c.url}/metrics`)
    const part = await curlGet(url(c), { range: `${size - TAIL}-${size - 1}`, expectStatus: 206, expectBytes: TAIL })
    t.ttfb.push(part.ttfb)
    t.rangeTotal.push(part.seconds)
    t.after.push((await curlGet(url(c), { expectBytes: size })).seconds)
    await new Promise((res) => setTimeout(res, 200)) // the access log line follows the response
    const up = upstreamBlobGets(upstream, off, img.big)
    t.upstreamWhole.push(up.whole)
    t.upstreamRanged.push(up.ranged)
    t.upstreamBytes.push(up.bytes / size)
    const m1 = await httpText(`${c.url}/metrics`)
    t.hits.push(counter(m1, 'crproxy_cache_hits_total') - counter(m0, 'crproxy_cache_hits_total'))
    t.misses.push(counter(m1, 'crproxy_cache_misses_total') - counter(m0, 'crproxy_cache_misses_total'))
    await c.stop()
  }
  const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]))
  results.scenarios.range = s
  const m = (k) => s[k].median
  const sc = `cold Range: last ${TAIL} bytes of the ${tag} blob, crproxy, cache emptied`
  rows.push(
    { scenario: sc, system: 'whole cold pull (reference)', value: m('whole'), unit: 's' },
    {
      scenario: sc,
      system: 'Range: time to first byte',
      value: m('ttfb'),
      unit: 's',
      extra: `${(m('ttfb') / m('whole')).toFixed(2)}× the whole cold pull (target ≤ 0.2); Range done in ${m('rangeTotal').toFixed(2)} s`,
    },
    {
      scenario: sc,
      system: 'whole GET right after the Range',
      value: m('after'),
      unit: 's',
      extra: `upstream: ${s.upstreamWhole.max} whole GET(s), ${s.upstreamRanged.max} ranged, ${m('upstreamBytes').toFixed(2)} blobs; cache hits ${s.hits.min}–${s.hits.max}, misses ${s.misses.min}–${s.misses.max} (Range + GET)`,
    },
  )
  targets.push(
    { name: 'cold tail Range: time to first byte ÷ whole cold pull', value: m('ttfb') / m('whole'), op: '<=', threshold: 0.2, unit: 'x' },
    // The worst round: any round with other than one whole-blob GET.
    { name: 'cold tail Range, then the whole blob: whole-blob GETs upstream', value: t.upstreamWhole.find((n) => n !== 1) ?? 1, op: '==', threshold: 1, unit: 'GETs' },
  )
}
