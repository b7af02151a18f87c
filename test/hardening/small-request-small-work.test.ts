// A small or abandoned request does not buy a whole blob's transfer into the
// cache: a one-byte Range cut early drops its fill (where the upstream sends
// the whole blob for it; one that honours Range sends the byte, and no fill
// starts: cold-range.test.ts), and a body of unknown length stops being
// written to tmp/ once it outgrows --cache-max-size.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTestProxy } from '../fixtures/proxy.js'
import { fetchOutcome, startHarness } from './fixtures/harness.js'
import { startLenientRegistry } from './fixtures/lenient-registry.js'
import { sha256 } from '../fixtures/sha256.js'

function tmpBytes(dir: string): number {
  let n = 0
  for (const f of readdirSync(join(dir, 'tmp'))) n += statSync(join(dir, 'tmp', f)).size
  return n
}

t.test('a Range: bytes=0-0 request cut early does not fetch and store the whole blob', async (t) => {
  const size = 32 * 1024 * 1024
  // An upstream that ignores Range: the proxy gets the whole blob, and cuts the byte from it once verified.
  const h = await startHarness(t, { cache: true, blobSize: size, registry: { ranges: false } })
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 16 * 1024 * 1024 }, { times: 1 })
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=0-0' }, abortAfterMs: 300 })
  t.notOk(o.complete, 'the client gave up')
  // Long enough for a fill that went on to finish (32 MiB at 16 MiB/s).
  await sleep(3000)
  t.ok(h.reg.bodyBytesSent.cdn < size / 2, `the upstream transfer stopped (${h.reg.bodyBytesSent.cdn} of ${size} bytes)`)
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
})

t.test('a body of unknown length stops filling tmp/ at the cache bound', async (t) => {
  const blob = Buffer.alloc(1024, 1)
  const reg = await startLenientRegistry({ repos: { 'lib/app': { blobs: [blob] } }, endless: true })
  t.teardown(() => reg.close())
  const dir = t.testdir()
  const bound = 4 * 1024 * 1024
  const proxy = await startTestProxy(t, { registryMap: { default: reg.url }, cacheDir: dir, cacheMaxSize: bound })
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, tmpBytes(dir))), 10)
  const o = await fetchOutcome(proxy.url, `/v2/lib/app/blobs/${sha256(blob)}`, { abortAfterBytes: 24 * 1024 * 1024, timeoutMs: 20_000 })
  clearInterval(sampler)
  t.equal(o.status, 200, 'streamed to the client (its own length check will fail)')
  t.ok(o.body.length >= 20 * 1024 * 1024, `the client read past the bound (${o.body.length} bytes)`)
  t.ok(peak <= bound + 2 * 1024 * 1024, `tmp/ never held much more than the bound (peak ${peak} bytes)`)
  await sleep(300)
  t.equal(tmpBytes(dir), 0, 'and holds nothing afterwards')
})
