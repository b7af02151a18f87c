// --stale-if-error: when the upstream answers 5xx, is unreachable or times
// out, a tag resolved within the window is served from the cache with
// `Warning: 110 - "Response is Stale"`; without the flag (or past the window,
// or to a credential the upstream never accepted) the error passes through.
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, request } from '../fixtures/proxy.js'
import { ACCEPT_ALL, metric, setup, startFront } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

const STALE = '110 - "Response is Stale"'
const TAG = '/v2/library/alpine/manifests/3.19'

t.test('503 with --stale-if-error: the last resolution, marked stale', async (t) => {
  const { hub, proxy } = await setup(t, { staleIfError: 60_000 })
  const img = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  const fresh = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(fresh.status, 200)
  t.notOk(fresh.headers['warning'], 'a fresh answer carries no Warning')

  hub.faults.registryStatus = 503
  const stale = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(stale.status, 200)
  t.equal(sha256(stale.body), img.digest)
  t.equal(stale.headers['warning'], STALE)
  t.equal(stale.headers['content-type'], img.mediaType)
  t.equal(stale.headers['docker-content-digest'], img.digest)
  const head = await c.get(TAG, { accept: ACCEPT_ALL }, 'HEAD')
  t.equal(head.status, 200, 'HEAD by tag too (containerd resolves with HEAD)')
  t.equal(head.headers['warning'], STALE)
  t.equal(head.headers['docker-content-digest'], img.digest)
  const child = img.platformManifests![0]!
  t.equal((await c.get(`/v2/library/alpine/manifests/${child.digest}`, { accept: ACCEPT_ALL })).status, 503, 'a digest never fetched: the error')
  t.equal(await metric(proxy, 'crproxy_manifest_stale_served_total'), 2)

  hub.faults.registryStatus = undefined
  const back = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(back.status, 200)
  t.notOk(back.headers['warning'], 'fresh again once the upstream is back')
})

t.test('503 without the flag: the error passes through unchanged; digests still served', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal((await c.get(`/v2/library/alpine/manifests/${img.digest}`, { accept: ACCEPT_ALL })).status, 200)
  hub.faults.registryStatus = 503
  const res = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '7')
  t.notOk(res.headers['warning'])
  t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'UNAVAILABLE', message: 'fake-hub fault: 503' }] })
  const byDigest = await c.get(`/v2/library/alpine/manifests/${img.digest}`, { accept: ACCEPT_ALL })
  t.equal(byDigest.status, 200, 'a cached digest never needs the upstream')
  t.notOk(byDigest.headers['warning'], 'and is never stale')
})

t.test('upstream gone (closed) → stale with the flag, 502 without', async (t) => {
  for (const staleIfError of [60_000, 0]) {
    const hub = await startFakeHub({ bigLayerSize: 64 * 1024 })
    const { proxy } = await setup(t, { hub, staleIfError })
    const c = new PullClient(proxy.url)
    t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 200)
    await hub.close()
    const res = await c.get(TAG, { accept: ACCEPT_ALL })
    if (staleIfError) {
      t.equal(res.status, 200, 'served from the cache')
      t.equal(res.headers['warning'], STALE)
    } else {
      t.equal(res.status, 502)
      t.notOk(res.headers['warning'])
      t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'BAD_GATEWAY' }] })
    }
  }
})

t.test('upstream timing out → stale within the header timeout', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 64 * 1024 })
  t.teardown(() => hub.close())
  const front = await startFront(t, hub)
  const { proxy } = await setup(t, { hub, registryMap: { default: front.url }, staleIfError: 60_000, client: { headerTimeout: 300 } })
  const c = new PullClient(proxy.url)
  t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 200)
  front.mode = 'hang'
  const started = Date.now()
  const res = await c.get(TAG, { accept: ACCEPT_ALL })
  t.equal(res.status, 200)
  t.equal(res.headers['warning'], STALE)
  t.ok(Date.now() - started < 3000, 'no hang')
})

t.test('past the window, or to a credential never accepted: the error', async (t) => {
  const { hub, proxy } = await setup(t, { staleIfError: 1 })
  const c = new PullClient(proxy.url)
  await c.get(TAG, { accept: ACCEPT_ALL })
  await new Promise((r) => setTimeout(r, 20))
  hub.faults.registryStatus = 503
  t.equal((await c.get(TAG, { accept: ACCEPT_ALL })).status, 503, 'resolved longer ago than --stale-if-error')

  const { hub: hub2, proxy: proxy2 } = await setup(t, { staleIfError: 60_000 })
  await new PullClient(proxy2.url).get(TAG, { accept: ACCEPT_ALL })
  hub2.faults.registryStatus = 503
  const stranger = await request(proxy2.url, TAG, { headers: { accept: ACCEPT_ALL, authorization: 'Bearer never-seen' } })
  t.equal(stranger.status, 503, 'a credential the upstream never accepted is not served')
  t.notOk(stranger.headers['warning'])
  const anonymous = await request(proxy2.url, TAG, { headers: { accept: ACCEPT_ALL } })
  t.equal(anonymous.status, 503)
})
