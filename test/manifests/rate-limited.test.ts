// Docker Hub's pull quota: a manifest GET may be refused with 429 while HEADs
// (which do not count) still work. A cached tag is then served after a HEAD
// alone, flag or not. When the GET is needed and refused, or the upstream
// answers 429 to everything, --stale-if-error serves the last resolution
// marked stale; without it the 429 passes through with its Retry-After.
import t, { type Test } from 'tap'
import { type FakeHub, startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, MT, setup, startFront } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

const STALE = '110 - "Response is Stale"'
const TAG = '/v2/library/busybox/manifests/1.36'

async function withFront(t: Test, staleIfError: number) {
  const hub = await startFakeHub({ bigLayerSize: 64 * 1024 })
  t.teardown(() => hub.close())
  const front = await startFront(t, hub)
  const { proxy } = await setup(t, { hub, registryMap: { default: front.url }, staleIfError })
  return { hub, front, proxy, c: new PullClient(proxy.url) }
}

function moveTag(hub: FakeHub): string {
  const old = hub.images['library/busybox:1.36']!
  const body = JSON.parse(old.body.toString()) as Record<string, unknown>
  body['annotations'] = { moved: 'yes' }
  return hub.putManifest('library/busybox', '1.36', MT.dockerManifest, Buffer.from(JSON.stringify(body)))
}

t.test('quota used up, tag unchanged: served from the cache after a HEAD, without the flag', async (t) => {
  const { hub, front, c } = await withFront(t, 0)
  const img = hub.images['library/busybox:1.36']!
  t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 200)
  front.mode = 'get-429'
  const res = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(res.status, 200)
  t.equal(sha256(res.body), img.digest)
  t.notOk(res.headers['warning'], 'not stale: the upstream confirmed the digest')
})

t.test('quota used up, tag moved: 429 passes through without the flag', async (t) => {
  const { hub, front, c } = await withFront(t, 0)
  t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 200)
  moveTag(hub)
  front.mode = 'get-429'
  const res = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(res.status, 429)
  t.equal(res.headers['retry-after'], '60')
  t.notOk(res.headers['warning'])
  t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'TOOMANYREQUESTS' }] })
})

t.test('quota used up, tag moved: the last resolution, stale, with the flag', async (t) => {
  const { hub, front, c } = await withFront(t, 60_000)
  const img = hub.images['library/busybox:1.36']!
  t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 200)
  moveTag(hub)
  front.mode = 'get-429'
  const res = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(res.status, 200)
  t.equal(sha256(res.body), img.digest, 'the digest last resolved')
  t.equal(res.headers['warning'], STALE)
})

t.test('429 to every request (HEAD too): stale with the flag, 429 without', async (t) => {
  for (const staleIfError of [60_000, 0]) {
    const { hub, proxy } = await setup(t, { staleIfError })
    const c = new PullClient(proxy.url)
    t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 200)
    hub.faults.registryStatus = 429
    const res = await c.get(TAG, { accept: ACCEPT_ALL })
    if (staleIfError) {
      t.equal(res.status, 200)
      t.equal(res.headers['warning'], STALE)
    } else {
      t.equal(res.status, 429)
      t.equal(res.headers['retry-after'], '7')
      t.notOk(res.headers['warning'])
    }
  }
})
