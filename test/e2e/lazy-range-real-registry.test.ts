// Lazy pulling against a real registry (Docker distribution 2.8, filesystem
// storage) through the real CLI: concurrent footer reads of a cold 32 MiB
// layer, as a stargz, SOCI or zstd:chunked snapshotter sends them (`bytes=-N`
// and a closed range to the last byte), are answered by the registry's own
// 206s, and the layer is cached behind them by exactly one whole-blob GET
// (counted in the registry's access log): a whole pull afterwards is a hit.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { request } from '../fixtures/proxy.js'
import { requireTools } from '../fixtures/real/available.js'
import { buildImage, pushImage } from '../fixtures/real/images.js'
import { registryRequests, startRegistry } from '../fixtures/real/registry.js'
import { sha256 } from '../fixtures/sha256.js'

const MiB = 1024 * 1024

t.test('footer Ranges of a cold layer from a real registry: answered by it at once, cached by one whole GET', requireTools(['docker-registry', 'skopeo']), async (t) => {
  const dir = t.testdir()
  const reg = await startRegistry({ dir: join(dir, 'registry') })
  t.teardown(() => reg.close())
  const img = buildImage(join(dir, 'oci'), { seed: 'lazy-range', layers: [32 * MiB] })
  await pushImage(img.dir, img.ref, `docker://${reg.host}/team/app:1`)
  const layer = img.layers[0]!
  const bytes = readFileSync(join(img.dir, 'blobs', 'sha256', layer.slice(7)))
  const size = bytes.length
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: reg.url }))
  const p = await startCliProxy(['--cache-dir', join(dir, 'cache'), '--registry-map', map])
  t.teardown(() => p.close())
  await reg.resetLog()

  const path = `/v2/team/app/blobs/${layer}`
  const ranges: Array<[string, number]> = [
    ['bytes=-100', size - 100],
    ['bytes=-100', size - 100],
    ['bytes=-51', size - 51],
    [`bytes=${size - 64 * 1024}-${size - 1}`, size - 64 * 1024],
  ]
  const outs = await Promise.all(ranges.map(([range]) => request(p.url, path, { headers: { range } })))
  outs.forEach((o, i) => {
    const [range, start] = ranges[i]!
    t.equal(o.status, 206, `${range}: 206`)
    t.equal(o.headers['content-range'], `bytes ${start}-${size - 1}/${size}`, `${range}: its Content-Range`)
    t.ok(o.body.equals(bytes.subarray(start)), `${range}: the layer's last bytes`)
  })

  const deadline = Date.now() + 30_000
  let metrics = ''
  while (Date.now() < deadline) {
    metrics = (await request(p.url, '/metrics')).body.toString()
    if (/^crproxy_cache_blobs 1$/m.test(metrics)) break
    await sleep(50)
  }
  t.match(metrics, /^crproxy_cache_background_fills_total\{outcome="committed"\} 1$/m, 'one background fill, committed')
  const whole = await request(p.url, path)
  t.ok(whole.status === 200 && sha256(whole.body) === layer, 'a whole pull afterwards gets the layer')

  await sleep(200) // the access log line follows the response
  const gets = (await registryRequests(reg)).filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${layer}`))
  t.equal(gets.filter((r) => r.status === 206).length, ranges.length, 'the registry answered each Range itself (206)')
  t.same(
    gets.filter((r) => r.status === 200).map((r) => r.bytes),
    [size],
    'and sent the whole layer exactly once: the later pull was a hit',
  )
})
