// Tag records are an LRU (MAX_TAG_RECORDS by default): past it the least
// recently used goes, from memory and from disk, and a restart finds no more
// than the bound.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { silentLogger } from '../../lib/log.js'
import { ManifestCache } from '../../lib/manifests/manifest-cache.js'
import { Metrics } from '../../lib/metrics.js'

const digest = `sha256:${'ab'.repeat(32)}`
const mediaType = 'application/vnd.oci.image.manifest.v1+json'
/** A small bound keeps the test quick; the default is the same code. */
const MAX_TAG_RECORDS = 200
const open = (dir: string) =>
  ManifestCache.open({ dir, staleIfError: 60_000, log: silentLogger, metrics: new Metrics(), maxTagRecords: MAX_TAG_RECORDS })

t.test('tag records beyond the bound lose their files', async (t) => {
  const dir = t.testdir()
  const cache = await open(dir)
  const extra = 50
  const writes: Array<Promise<void>> = []
  for (let i = 0; i < MAX_TAG_RECORDS + extra; i++) writes.push(cache.recordTag('default', 'library/app', 't' + i, '-', { digest, mediaType }))
  await Promise.all(writes)
  await cache.settled()
  const tags = join(dir, 'manifests', 'default', 'library', 'app', '_manifests', 'tags')
  const files = readdirSync(tags).reduce((n, tag) => n + readdirSync(join(tags, tag)).length, 0)
  t.equal(files, MAX_TAG_RECORDS, 'as many files as the bound')
  t.equal(await cache.tag('default', 'library/app', 't0', '-'), undefined, 'the oldest is gone')
  t.match(await cache.tag('default', 'library/app', `t${MAX_TAG_RECORDS + extra - 1}`, '-'), { digest }, 'the newest is there')
  await cache.close()

  const again = await open(dir)
  t.equal((await again.scan()).length, MAX_TAG_RECORDS, 'a restart finds the same records')
  t.match(await again.tag('default', 'library/app', `t${extra}`, '-'), { digest }, 'read from disk after the restart')
  await again.close()
})
