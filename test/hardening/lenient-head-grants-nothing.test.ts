// A HEAD that a lenient registry answers proves nothing about who may read a
// blob: such registries answer HEAD for a digest stored in any repository,
// without asking for credentials (distribution-spec issue 569). So a client
// whose HEAD of a private layer got a 200 is not, for that, served the
// cached layer on its next GET: the upstream is asked, and its refusal
// relayed.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { request, startTestProxy } from '../fixtures/proxy.js'
import { startLenientRegistry } from './fixtures/lenient-registry.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('a lenient HEAD does not open a private cached layer to its client', async (t) => {
  const secret = randomBytes(256 * 1024)
  const S = sha256(secret)
  const reg = await startLenientRegistry({ repos: { 'team-a/private': { token: 'tok-a', blobs: [secret] } } })
  t.teardown(() => reg.close())
  const proxy = await startTestProxy(t, { registryMap: { default: reg.url }, cacheDir: t.testdir() })
  const path = `/v2/team-a/private/blobs/${S}`

  const owner = await request(proxy.url, path, { headers: { authorization: 'Bearer tok-a' } })
  t.ok(owner.status === 200 && owner.body.equals(secret), "the owner's pull fills the cache")

  for (const [label, headers] of [
    ['no token', {}],
    ['a token of someone else', { authorization: 'Bearer tok-b' }],
  ] as const) {
    const head = await request(proxy.url, path, { method: 'HEAD', headers })
    t.equal(head.status, 200, `${label}: the lenient upstream answers the HEAD`)
    for (const range of [undefined, 'bytes=0-1023']) {
      const get = await request(proxy.url, path, { headers: { ...headers, ...(range ? { range } : {}) } })
      t.equal(get.status, 401, `${label}${range ? ' (Range)' : ''}: the GET after it is refused, as the upstream refuses it`)
      t.notOk(get.body.includes(secret.subarray(0, 64)), `${label}${range ? ' (Range)' : ''}: no byte of the layer`)
    }
  }
})
