// Without --cache-dir manifests are not cached at all: every request goes
// upstream as the client sent it (a GET stays a GET, no extra HEAD).
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, manifestRequests, metric, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('no --cache-dir: every manifest request is forwarded as before', async (t) => {
  const { hub, proxy } = await setup(t, { cache: false, staleIfError: 60_000 })
  t.equal(proxy.deps.manifests, undefined)
  const img = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
  hub.reset()
  for (let i = 0; i < 2; i++) {
    t.equal(sha256((await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })).body), img.digest)
    t.equal(sha256((await c.get(`/v2/library/alpine/manifests/${img.digest}`, { accept: ACCEPT_ALL })).body), img.digest)
  }
  t.equal(manifestRequests(hub, 'GET'), 4, 'every GET went upstream')
  t.equal(manifestRequests(hub, 'HEAD'), 0, 'and no HEAD was added')
  t.equal(await metric(proxy, 'crproxy_manifest_cache_hits_total{reference="digest"}'), 0)

  hub.faults.registryStatus = 503
  const res = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
  t.equal(res.status, 503, 'nothing to fall back on')
  t.notOk(res.headers['warning'])
})
