// A Range request for a blob that is not cached, as lazy pullers send them
// (stargz, SOCI and zstd:chunked snapshotters read the footer first): it is
// answered by the upstream at once, not after the whole blob was fetched,
// and the blob is cached behind it by exactly one whole-blob GET (a
// background fill that obeys the cache's rules). A probe from byte 0 buys
// no blob, a refused Range starts no fill, and the fill of wrong bytes is
// never cached; the bytes of the Range itself are the upstream's, passed on
// unverified (docs/security.md, "Lazy pulling").
import t, { type Test } from 'tap'
import { fetchOutcome, startHarness, type Harness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

const MiB = 1024 * 1024

/** CDN GETs only: each blob GET is redirected there once. */
function cdnGets(h: Harness, ranged: boolean, digest = h.digest): number {
  return h.reg.requests.filter((r) => r.role === 'cdn' && r.method === 'GET' && r.path.includes(digest.slice(7)) && (r.headers['range'] !== undefined) === ranged).length
}

async function metric(h: Harness, name: string): Promise<number> {
  const text = (await fetchOutcome(h.proxy.url, '/metrics', { headers: { connection: 'close' } })).body.toString()
  const line = text.split('\n').find((l) => l.startsWith(name + ' '))
  return line ? Number(line.slice(name.length + 1)) : 0
}

async function cachedSoon(h: Harness, digest = h.digest, ms = 20_000): Promise<boolean> {
  return (await waitFor(() => h.proxy.deps.cache?.cached(digest), (v) => v !== undefined, ms)) !== undefined
}

/** A whole pull after it: served from the cache, with no upstream GET of the blob. */
async function hitAfter(t: Test, h: Harness): Promise<void> {
  const before = cdnGets(h, false) + cdnGets(h, true)
  const o = await h.get(h.blobPath)
  t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, 'a later whole pull gets the blob')
  t.equal(cdnGets(h, false) + cdnGets(h, true), before, 'from the cache: the upstream sent nothing more')
}

t.test('a tail Range on a cold blob is answered before the whole-blob fill completes; one GET caches the blob', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 32 * MiB })
  const size = h.blob.length
  // The whole-blob GET takes about 4 s; a Range of it, no time.
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * MiB }, { ranged: false, times: 1 })
  for (const [range, start] of [
    ['bytes=-100', size - 100],
    [`bytes=${size - 64 * 1024}-${size - 1}`, size - 64 * 1024],
    [`bytes=${size - 10}-`, size - 10],
  ] as const) {
    const started = Date.now()
    const o = await h.get(h.blobPath, { headers: { range } })
    const ms = Date.now() - started
    // The moment the Range is answered, the whole blob is not in yet.
    t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, `${range}: answered while the blob is still being fetched (${ms} ms)`)
    t.equal(o.status, 206, `${range}: 206`)
    t.equal(o.headers['content-range'], `bytes ${start}-${size - 1}/${size}`)
    t.ok(o.complete && o.body.equals(h.blob.subarray(start)), `${range}: the right bytes`)
  }
  const fill = await waitFor(() => h.proxy.deps.cache?.fills() ?? [], (f) => f.length === 1, 3000)
  t.equal(fill[0]?.digest, h.digest, 'one fill runs in the background')
  t.ok((fill[0]?.written ?? size) < size, `and it is not done (${fill[0]?.written} of ${size} bytes)`)
  t.ok(await cachedSoon(h), 'the blob is cached afterwards')
  t.equal(cdnGets(h, false), 1, 'by exactly one whole-blob upstream GET')
  t.equal(cdnGets(h, true), 3, 'the Ranges went upstream, as asked')
  t.equal(await metric(h, 'crproxy_cache_background_fills_total{outcome="committed"}'), 1, 'counted as a background fill')
  await hitAfter(t, h)
  const tail = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.ok(tail.status === 206 && tail.body.equals(h.blob.subarray(size - 100)), 'the next tail Range is a hit')
  t.equal(cdnGets(h, true), 3, '(no Range upstream)')
  await h.assertClean(t)
})

t.test('N concurrent tail Ranges on a cold blob: one whole-blob GET', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 32 * MiB })
  const size = h.blob.length
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 16 * MiB }, { ranged: false, times: 1 })
  const ranges = Array.from({ length: 12 }, (_, i) => (i % 2 ? `bytes=-${100 + i}` : `bytes=${size - 4096 * (i + 1)}-${size - 1 - i}`))
  const outs = await Promise.all(ranges.map((range) => h.get(h.blobPath, { headers: { range } })))
  outs.forEach((o, i) => {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(o.headers['content-range']))
    t.ok(o.status === 206 && o.complete && m && o.body.equals(h.blob.subarray(Number(m[1]), Number(m[2]) + 1)), `${ranges[i]}: 206 with the right bytes`)
  })
  // A second wave while the fill runs: the tail is not written yet, so upstream again.
  const again = await Promise.all(ranges.slice(0, 4).map((range) => h.get(h.blobPath, { headers: { range } })))
  t.ok(again.every((o) => o.status === 206 && o.complete), 'a second wave is answered too')
  t.ok(await cachedSoon(h), 'cached')
  t.equal(cdnGets(h, false), 1, 'exactly one whole-blob upstream GET for all of them')
  t.equal(await metric(h, 'crproxy_cache_background_fills_total{outcome="committed"}'), 1, 'one background fill')
  await hitAfter(t, h)
  await h.assertClean(t)
})

t.test('a Range whose bytes a fill in progress has written is read from the fill', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 32 * MiB })
  const size = h.blob.length
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * MiB }, { ranged: false, times: 1 })
  const tail = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.equal(tail.status, 206, 'the footer')
  const fill = await waitFor(() => h.proxy.deps.cache?.fills()[0], (f) => (f?.written ?? 0) > 2 * MiB, 5000)
  t.ok(fill && fill.written > 2 * MiB && fill.written < size, 'the fill is part way')
  const ranged = cdnGets(h, true)
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=1000000-1999999' } })
  t.ok(o.status === 206 && o.complete && o.body.equals(h.blob.subarray(1_000_000, 2_000_000)), 'the right bytes')
  t.equal(o.headers['content-range'], `bytes 1000000-1999999/${size}`)
  t.equal(cdnGets(h, true), ranged, 'from the fill: no Range went upstream')
  const resume = await h.get(h.blobPath, { headers: { range: 'bytes=1048576-' } })
  t.ok(resume.status === 206 && resume.complete && resume.body.equals(h.blob.subarray(1048576)), 'a resume from a written offset follows the fill to the end')
  t.equal(cdnGets(h, true), ranged, '(nothing upstream for it either)')
  t.ok(await cachedSoon(h), 'cached')
  t.equal(cdnGets(h, false), 1, 'one whole-blob GET')
  await h.assertClean(t)
})

t.test('a probe from byte 0 does not buy the whole blob', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 32 * MiB })
  for (const [range, end] of [
    ['bytes=0-0', 0],
    ['bytes=0-1048575', 1048575],
  ] as const) {
    const o = await h.get(h.blobPath, { headers: { range } })
    t.ok(o.status === 206 && o.complete && o.body.equals(h.blob.subarray(0, end + 1)), `${range}: 206 with the right bytes`)
    t.equal(h.proxy.deps.cache?.stats().inflightFills, 0, `${range}: no fill started`)
  }
  await h.assertClean(t)
  t.equal(cdnGets(h, false), 0, 'no whole-blob GET')
  t.ok(h.reg.bodyBytesSent.cdn < 2 * MiB, `the upstream sent the probes' bytes only (${h.reg.bodyBytesSent.cdn})`)
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  t.equal(await metric(h, 'crproxy_cache_background_fills_total{outcome="committed"}'), 0)
})

t.test('a Range the upstream refuses starts no fill', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * MiB, registry: { auth: true } })
  const size = h.blob.length
  const cases: Array<{ label: string; status: number; inject?: () => void; anonymous?: boolean }> = [
    { label: 'no credentials: 401', status: 401, anonymous: true },
    { label: 'the registry says 403', status: 403, inject: () => h.reg.fault('registry', { kind: 'status', status: 403 }, { ranged: true, times: 1 }) },
    { label: 'the CDN says 404', status: 404, inject: () => h.reg.fault('cdn', { kind: 'status', status: 404 }, { ranged: true, times: 1 }) },
    { label: 'the registry says 503', status: 503, inject: () => h.reg.fault('registry', { kind: 'status', status: 503 }, { ranged: true, times: 1 }) },
  ]
  for (const c of cases) {
    c.inject?.()
    const headers = { range: `bytes=${size - 100}-${size - 1}` }
    const o = c.anonymous ? await fetchOutcome(h.proxy.url, h.blobPath, { headers }) : await h.get(h.blobPath, { headers })
    t.equal(o.status, c.status, `${c.label}: relayed`)
    t.equal(h.proxy.deps.cache?.stats().inflightFills, 0, `${c.label}: no fill`)
  }
  const unknown = await h.get(`/v2/${h.repo}/blobs/sha256:${'0'.repeat(64)}`, { headers: { range: 'bytes=-10' } })
  t.equal(unknown.status, 404, 'an unknown blob: the registry says 404')
  await h.assertClean(t)
  t.equal(cdnGets(h, false), 0, 'no whole-blob GET for any of them')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  // The 401 proved nothing: that client is not served from a later fill either.
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 4 * MiB }, { ranged: false, times: 1 })
  const ok = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.equal(ok.status, 206, 'with the token: 206')
  await waitFor(() => h.proxy.deps.cache?.fills()[0], (f) => (f?.written ?? 0) > 1 * MiB, 5000)
  const stranger = await fetchOutcome(h.proxy.url, h.blobPath, { headers: { range: 'bytes=0-999' } })
  t.equal(stranger.status, 401, 'a client without credentials is not served from the fill in progress')
  t.ok(await cachedSoon(h), 'the fill of the accepted Range commits')
  await h.assertClean(t)
})

t.test('the background fill of wrong bytes is not cached; the Range is what the upstream sent', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * MiB })
  const size = h.blob.length
  // Every body gets one byte flipped in its middle, Ranges too.
  h.reg.fault('cdn', { kind: 'wrong' })
  const o = await h.get(h.blobPath, { headers: { range: `bytes=${size - 100}-${size - 1}` } })
  const sent = Buffer.from(h.blob.subarray(size - 100))
  sent[50] = sent[50]! ^ 0xff
  t.equal(o.status, 206)
  t.ok(o.complete && o.body.equals(sent), 'the Range is passed on as the upstream sent it (crproxy cannot check a part)')
  const f = await waitFor(
    () => h.proxy.deps.cache?.stats().inflightFills,
    (n) => n === 0 && cdnGets(h, false) === 1,
    10_000,
  )
  t.equal(f, 0, 'the background fill ended')
  t.equal(await metric(h, 'crproxy_cache_background_fills_total{outcome="failed"}'), 1, 'failed: its digest did not match')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  await h.assertRecovers(t)
})

t.test('an upstream that ignores Range: the range is cut from the verified whole, which is cached', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * MiB, registry: { ranges: false } })
  const size = h.blob.length
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.ok(o.status === 206 && o.complete && o.body.equals(h.blob.subarray(size - 100)), '206 with the right bytes')
  t.equal(o.headers['content-range'], `bytes ${size - 100}-${size - 1}/${size}`)
  t.ok(await cachedSoon(h), 'cached')
  t.equal(cdnGets(h, true), 1, 'one GET (with the Range, answered whole)')
  t.equal(cdnGets(h, false), 0, 'and no other')
  await hitAfter(t, h)

  const other = h.addBlob(4 * MiB)
  h.reg.fault('cdn', { kind: 'wrong' }, { times: 1 })
  const cut = await h.get(other.path, { headers: { range: 'bytes=-100' } })
  t.notOk(cut.complete && cut.status === 206, 'wrong bytes: the range never completes (its last byte waited for the digest)')
  t.equal(h.proxy.deps.cache?.cached(other.digest), undefined, 'nothing cached')
  await h.assertClean(t)
})

t.test('a blob larger than --cache-max-size: the Range is answered, no fill', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 8 * MiB, proxy: { cacheMaxSize: 4 * MiB } })
  const size = h.blob.length
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.ok(o.status === 206 && o.complete && o.body.equals(h.blob.subarray(size - 100)), '206 with the right bytes')
  await h.assertClean(t)
  t.equal(cdnGets(h, false), 0, 'no whole-blob GET')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
})

t.test('a 206 for another range than asked is refused', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 1 * MiB })
  const size = h.blob.length
  const body = h.blob.subarray(0, 100)
  h.reg.fault('cdn', { kind: 'raw', status: 206, lines: [`Content-Range: bytes 0-99/${size}`, 'Content-Length: 100'], body: body.toString('latin1') }, { times: 1 })
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.equal(o.status, 502, 'bad gateway, not the first 100 bytes under the last 100 bytes\' name')
  t.equal(h.proxy.deps.cache?.stats().inflightFills, 0, 'and no fill')
  await h.assertClean(t)
  await h.assertRecovers(t)
})

t.test('a Range read from a fill of wrong bytes never completes the blob', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 8 * MiB })
  const size = h.blob.length
  // The whole-blob GET: slow, with the byte at 4 MiB flipped.
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 4 * MiB, wrong: true }, { ranged: false, times: 1 })
  const tail = await h.get(h.blobPath, { headers: { range: 'bytes=-100' } })
  t.ok(tail.status === 206 && tail.body.equals(h.blob.subarray(size - 100)), 'the footer, from the upstream')
  const fill = await waitFor(() => h.proxy.deps.cache?.fills()[0], (f) => (f?.written ?? 0) > 1 * MiB, 5000)
  t.ok(fill && fill.written > 1 * MiB, 'the fill is part way')
  const ranged = cdnGets(h, true)
  const o = await h.get(h.blobPath, { headers: { range: `bytes=${1 * MiB}-` } })
  t.equal(cdnGets(h, true), ranged, 'read from the fill')
  t.equal(o.status, 206)
  t.notOk(o.complete, `cut: the blob's last byte waited for the fill's digest check, which failed (${o.body.length} of ${size - MiB} bytes)`)
  await waitFor(() => h.proxy.deps.cache?.stats().inflightFills, (n) => n === 0, 5000)
  t.equal(await metric(h, 'crproxy_cache_background_fills_total{outcome="failed"}'), 1, 'the fill failed')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  await h.assertRecovers(t)
})

t.test('a 206 that covers the whole blob is verified', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 1 * MiB })
  const size = h.blob.length
  h.reg.fault('cdn', { kind: 'wrong' }, { times: 1 })
  const o = await h.get(h.blobPath, { headers: { range: `bytes=0-${size - 1}` } })
  t.equal(o.status, 206)
  t.notOk(o.complete, `cut: the whole blob did not match its digest (${o.body.length} of ${size} bytes)`)
  await h.assertClean(t)
  await h.assertRecovers(t)
})
