// Tag records (the offline fallback) are kept per way of asking for a tag,
// and the client writes the Accept header: thousands of spellings of a few
// requests (order, duplicates, case, spaces, weights, parameters, types
// that are not manifests) leave one record per request that differs for a
// registry, in memory and on disk, and each client still gets the manifest
// its Accept asks for.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { metric, MT, setup } from '../manifests/fixtures/setup.js'
import { prng } from '../fixtures/prng.js'
import { sha256 } from '../fixtures/sha256.js'

const SEED = 4242
const TOTAL = 1000

interface Intent {
  repo: string
  tag: string
  types: string[]
  /** What the upstream answers to it. */
  want: () => { digest: string; mediaType: string }
}

t.test(`${TOTAL} distinct Accept headers: one tag record per way of asking`, async (t) => {
  const { hub, proxy, dir } = await setup(t)
  const list = hub.images['library/multi:1']!
  const amd64 = list.platformManifests!.find((p) => p.platform.architecture === 'amd64')!
  const index = hub.images['library/alpine:3.19']!
  const intents: Intent[] = [
    { repo: 'library/multi', tag: '1', types: [MT.dockerManifest], want: () => ({ digest: amd64.digest, mediaType: MT.dockerManifest }) },
    { repo: 'library/multi', tag: '1', types: [MT.dockerList, MT.dockerManifest], want: () => ({ digest: list.digest, mediaType: MT.dockerList }) },
    {
      repo: 'library/multi',
      tag: '1',
      types: [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest],
      want: () => ({ digest: list.digest, mediaType: MT.dockerList }),
    },
    // A wildcard names nothing: registries answer as to a client without lists.
    { repo: 'library/multi', tag: '1', types: ['*/*'], want: () => ({ digest: amd64.digest, mediaType: MT.dockerManifest }) },
    {
      repo: 'library/alpine',
      tag: '3.19',
      types: [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest],
      want: () => ({ digest: index.digest, mediaType: MT.ociIndex }),
    },
  ]
  const rnd = prng(SEED)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const spell = (types: string[], n: number): string => {
    const parts: string[] = []
    for (const ty of types) {
      for (let k = 0; k < 1 + Math.floor(rnd() * 2); k++) {
        const cased = rnd() < 0.3 ? ty.replace(/^application/, 'Application') : ty
        const q = rnd() < 0.5 ? '' : `;q=${(0.1 + rnd() * 0.9).toFixed(3)}`
        parts.push(cased + q + (rnd() < 0.2 ? ';charset=utf-8' : ''))
      }
    }
    // Something unique in each header, and more that is not a manifest type.
    parts.push(`application/x-spelling-${n}`)
    for (let k = Math.floor(rnd() * 3); k > 0; k--) parts.push(pick(['text/html', 'application/json;q=0.2', 'image/png', 'application/vnd.foo+json']))
    parts.sort(() => rnd() - 0.5)
    return parts.join(pick([',', ', ', ' ,  ', ',\t']))
  }

  const c = new PullClient(proxy.url)
  const seen = new Set<string>()
  let wrong = 0
  const one = async (n: number) => {
    const intent = intents[n % intents.length]!
    const accept = spell(intent.types, n)
    seen.add(accept)
    const r = await c.get(`/v2/${intent.repo}/manifests/${intent.tag}`, { accept })
    const want = intent.want()
    if (r.status !== 200 || sha256(r.body) !== want.digest || r.headers['content-type'] !== want.mediaType) wrong++
  }
  await one(0) // a token first, then in parallel
  for (let n = 1; n < TOTAL; n += 8) await Promise.all(Array.from({ length: Math.min(8, TOTAL - n) }, (_, k) => one(n + k)))
  await proxy.deps.manifests!.settled()

  t.equal(seen.size, TOTAL, 'every Accept header was different')
  t.equal(wrong, 0, 'each client got the manifest (and media type) its Accept asks for')
  const records = (repo: string, tag: string) => readdirSync(join(dir!, 'manifests', 'default', repo, '_manifests', 'tags', tag)).length
  t.equal(records('library/multi', '1'), 4, 'library/multi:1: one file per way of asking (4)')
  t.equal(records('library/alpine', '3.19'), 1, 'library/alpine:3.19: one file')
  t.equal(await metric(proxy, 'crproxy_manifest_tag_records'), 5, 'and as many records in memory')
})
